// Package storcli decodes the JSON that Broadcom's storcli64 (and Dell's
// perccli64, which prints the same JSON) writes when given the J option:
//
//	storcli64 /call show all J nolog        controllers, their virtual and physical drives
//	storcli64 /call show J nolog            the same, shorter (no status, temperature or memory errors)
//	storcli64 /call/eall/sall show all J nolog   physical drives with error counters, serials, temperatures
//
// It only decodes: bytes in, plain structs out. Every controller in the
// "Controllers" array is decoded, not only the first, and one malformed
// controller, drive or list row costs that item only.
//
// Sizes: storcli prints binary multiples with decimal names ("558.375 GB" is
// 558.375 GiB: two 600 GB disks in RAID 0 make a "1.089 TB" volume, and a
// drive's "111.281 GB [0xde90000 Sectors]" is 0xde90000*512 bytes), and newer
// builds print GiB and TiB outright. So every unit is taken as a power of 1024.
// Where a drive's detailed output gives a sector count, the size is computed
// from it instead. One exception seen in captures: storcli 007.2408 printed an
// NVMe drive behind an MR216i-a as "800.00 GB" (two decimals) for an 800e9-byte
// drive; that size is read as binary like the rest, so it is 7% high.
package storcli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// MaxInputBytes bounds what the parsers accept; a 240-drive controller's
// detailed drive output is under 1 MiB.
const MaxInputBytes = 32 << 20

// ErrNoController is returned when storcli answered, but found no controller
// (or not the one asked for). It is not a parse failure: the host simply has
// no MegaRAID controller.
var ErrNoController = errors.New("storcli: no controller found")

// CommandError is a command-status block that says Failure for a reason other
// than a missing controller.
type CommandError struct {
	Controller  int // -1 when the block names none
	Description string
}

func (e *CommandError) Error() string {
	if e.Controller < 0 {
		return "storcli: command failed: " + e.Description
	}
	return fmt.Sprintf("storcli: command failed on controller %d: %s", e.Controller, e.Description)
}

// PartialError is storcli answering "Status": "Failure" for a controller
// while still printing its Response Data: storcli 007.2309 does so for a
// controller with an incomplete foreign configuration (ErrCd 59), and for a
// failed drive's "show" (ErrCd 45). The parsers return the data with this
// error, which carries storcli's own words: the caller uses the data and
// counts the failure.
type PartialError struct {
	Failures []CommandError
}

func (e *PartialError) Error() string {
	parts := make([]string, 0, len(e.Failures))
	for _, f := range e.Failures {
		if f.Controller < 0 {
			parts = append(parts, f.Description)
			continue
		}
		parts = append(parts, fmt.Sprintf("controller %d: %s", f.Controller, f.Description))
	}
	return "storcli answered Failure yet printed its data (data used): " + strings.Join(parts, "; ")
}

// Controller is one controller of `/call show all J` (or `/call show J`).
type Controller struct {
	Index int // the N of /cN
	// Failure holds the description when storcli answered Failure for this
	// controller while others answered; the other fields are then empty.
	Failure string

	Model           string
	Serial          string
	FirmwarePackage string // "FW Package Build": the release operators compare
	FirmwareVersion string
	BIOSVersion     string
	DriverName      string
	DriverVersion   string
	// Status is the controller's own word ("Optimal", "Needs Attention", "OK"
	// on HBAs); empty in the short `show` output.
	Status string

	TemperatureCelsius        *float64 // ROC temperature; nil where the card has no sensor
	MemoryCorrectableErrors   *uint64
	MemoryUncorrectableErrors *uint64

	Backup *Backup // nil when no BBU or CacheVault is reported

	VirtualDrives  []VirtualDrive
	PhysicalDrives []PhysicalDrive
}

// Backup is the cache's power backup: a battery (BBU) or a CacheVault
// (supercapacitor and flash).
type Backup struct {
	Kind  string // "bbu" or "cachevault"
	Model string
	State string // as printed: "Optimal", "Failed", "Learning", ...
	// Healthy is true for states that protect the cache (optimal, or a
	// battery in its learn or charge cycle).
	Healthy            bool
	TemperatureCelsius *float64
}

// VirtualDrive is a row of the VD LIST.
type VirtualDrive struct {
	DriveGroup  int
	ID          int
	Name        string
	RAIDLevel   string // lowercase TYPE: "raid1", "raid10", "raid6", ...
	SizeBytes   uint64
	State       string // see NormalizeVirtualDriveState
	RawState    string
	Access      string // "RW", "RO", "Blocked"
	Consistent  *bool
	CachePolicy string // the Cache column as printed, e.g. "RWBD" (read ahead, write back, direct)
}

// PhysicalDrive is a drive behind a controller: a row of the PD LIST, filled
// in further by the detailed drive output where that was read.
type PhysicalDrive struct {
	Controller int
	Enclosure  string // EID; empty for a drive attached without an enclosure
	Slot       int
	// DeviceID is the DID, the N of smartctl -d megaraid,N.
	DeviceID   int
	DriveGroup int // -1 when the drive is in none
	State      string
	RawState   string
	Interface  string // "SAS", "SATA", "NVMe"
	Medium     string // "HDD", "SSD"
	Model      string
	SizeBytes  uint64

	// From the detailed output (/call/eall/sall show all, or the HBA's
	// show all); empty or nil where storcli did not say.
	Serial             string
	Firmware           string
	WWN                string
	TemperatureCelsius *float64
	MediaErrors        *uint64
	OtherErrors        *uint64
	PredictiveFailures *uint64
	SMARTAlert         *bool
}

// EnclosureSlot is the drive's "EID:Slt" name, as storcli prints it.
func (d PhysicalDrive) EnclosureSlot() string {
	return d.Enclosure + ":" + strconv.Itoa(d.Slot)
}

// Status reads only the command-status blocks. It returns nil when at least
// one controller answered Success, ErrNoController (wrapped with storcli's
// words) when none did because there is no controller, a *CommandError for
// any other failure, and a plain error when the bytes are not storcli JSON.
func Status(b []byte) error {
	blocks, err := controllerBlocks(b)
	if err != nil {
		return err
	}
	statuses, err := commandStatus(blocks)
	if err != nil {
		return err
	}
	return partial(statuses)
}

// partial returns a *PartialError for the blocks that said Failure but
// carried data, or nil.
func partial(statuses []blockStatus) error {
	var pe PartialError
	for _, st := range statuses {
		if st.partial {
			pe.Failures = append(pe.Failures, CommandError{Controller: st.index, Description: st.description})
		}
	}
	if len(pe.Failures) == 0 {
		return nil
	}
	return &pe
}

// ParseControllers decodes `/call show all J` or `/call show J`.
// It returns ErrNoController when storcli found none.
func ParseControllers(b []byte) ([]Controller, error) {
	blocks, err := controllerBlocks(b)
	if err != nil {
		return nil, err
	}
	statuses, err := commandStatus(blocks)
	if err != nil {
		return nil, err
	}
	out := make([]Controller, 0, len(blocks))
	for i, blk := range blocks {
		st := statuses[i]
		if st.failed {
			if st.index >= 0 {
				out = append(out, Controller{Index: st.index, Failure: st.description})
			}
			continue
		}
		var data map[string]json.RawMessage
		if json.Unmarshal(blk.ResponseData, &data) != nil {
			out = append(out, Controller{Index: st.index, Failure: "storcli answered Success with no readable Response Data"})
			continue
		}
		out = append(out, decodeController(st.index, data))
	}
	return out, partial(statuses)
}

// ParseDrives decodes `/call/eall/sall show all J`: every drive of every
// controller, with its detailed state and attributes.
// It returns ErrNoController when storcli found none.
func ParseDrives(b []byte) ([]PhysicalDrive, error) {
	blocks, err := controllerBlocks(b)
	if err != nil {
		return nil, err
	}
	statuses, err := commandStatus(blocks)
	if err != nil {
		return nil, err
	}
	var out []PhysicalDrive
	for i, blk := range blocks {
		if statuses[i].failed {
			continue
		}
		var data map[string]json.RawMessage
		if json.Unmarshal(blk.ResponseData, &data) != nil {
			continue
		}
		out = append(out, drivesIn(statuses[i].index, data)...)
	}
	return out, partial(statuses)
}

// MergeDrives fills the controllers' physical drives with what the detailed
// drive output says, matching by controller and enclosure:slot; a drive the
// controller list lacks is appended to its controller.
func MergeDrives(ctrls []Controller, drives []PhysicalDrive) {
	for _, d := range drives {
		for ci := range ctrls {
			c := &ctrls[ci]
			if c.Index != d.Controller || c.Failure != "" {
				continue
			}
			found := false
			for pi := range c.PhysicalDrives {
				p := &c.PhysicalDrives[pi]
				if p.Enclosure == d.Enclosure && p.Slot == d.Slot {
					mergeDrive(p, d)
					found = true
					break
				}
			}
			if !found {
				c.PhysicalDrives = append(c.PhysicalDrives, d)
			}
			break
		}
	}
}

// mergeDrive lets the detailed drive win where it says something: it was
// read later and from the drive's own page.
func mergeDrive(p *PhysicalDrive, d PhysicalDrive) {
	setString := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	setString(&p.Serial, d.Serial)
	setString(&p.Firmware, d.Firmware)
	setString(&p.WWN, d.WWN)
	setString(&p.Model, d.Model)
	setString(&p.Interface, d.Interface)
	setString(&p.Medium, d.Medium)
	if d.RawState != "" {
		p.State, p.RawState = d.State, d.RawState
	}
	if d.SizeBytes != 0 {
		p.SizeBytes = d.SizeBytes
	}
	if d.TemperatureCelsius != nil {
		p.TemperatureCelsius = d.TemperatureCelsius
	}
	if d.MediaErrors != nil {
		p.MediaErrors = d.MediaErrors
	}
	if d.OtherErrors != nil {
		p.OtherErrors = d.OtherErrors
	}
	if d.PredictiveFailures != nil {
		p.PredictiveFailures = d.PredictiveFailures
	}
	if d.SMARTAlert != nil {
		p.SMARTAlert = d.SMARTAlert
	}
}

// --- envelope ---------------------------------------------------------------

type controllerBlock struct {
	CommandStatus map[string]flex `json:"Command Status"`
	ResponseData  json.RawMessage `json:"Response Data"`
	// detailed is the status's "Detailed Status" rows, where storcli puts
	// its error code and message (ErrCd, ErrMsg) per drive or controller.
	detailed []map[string]flex
}

func controllerBlocks(b []byte) ([]controllerBlock, error) {
	if len(b) > MaxInputBytes {
		return nil, fmt.Errorf("storcli: output of %d bytes exceeds the %d-byte limit", len(b), MaxInputBytes)
	}
	var env struct {
		Controllers []json.RawMessage `json:"Controllers"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(b), &env); err != nil {
		return nil, fmt.Errorf("storcli: output is not JSON: %w", err)
	}
	if len(env.Controllers) == 0 {
		return nil, errors.New("storcli: output has no Controllers array")
	}
	blocks := make([]controllerBlock, 0, len(env.Controllers))
	for _, raw := range env.Controllers {
		var blk controllerBlock
		if json.Unmarshal(raw, &blk) != nil || blk.CommandStatus == nil {
			// A block without a status cannot be told apart from garbage;
			// it costs that controller only.
			continue
		}
		var ds struct {
			Status struct {
				Detailed json.RawMessage `json:"Detailed Status"`
			} `json:"Command Status"`
		}
		if json.Unmarshal(raw, &ds) == nil {
			blk.detailed = rowsOf(ds.Status.Detailed)
		}
		blocks = append(blocks, blk)
	}
	if len(blocks) == 0 {
		return nil, errors.New("storcli: no controller block has a Command Status")
	}
	return blocks, nil
}

type blockStatus struct {
	index int
	// failed: no data to use. partial: Failure, with data used anyway.
	failed, partial bool
	description     string
}

func commandStatus(blocks []controllerBlock) ([]blockStatus, error) {
	out := make([]blockStatus, len(blocks))
	anySuccess := false
	for i, blk := range blocks {
		st := blockStatus{index: -1, description: describe(blk)}
		if n, ok := blk.CommandStatus["Controller"].Int(); ok {
			st.index = n
		}
		if !strings.EqualFold(blk.CommandStatus["Status"].String(), "Success") {
			st.partial = hasData(blk.ResponseData)
			st.failed = !st.partial
		}
		anySuccess = anySuccess || !st.failed
		out[i] = st
	}
	if anySuccess {
		return out, nil
	}
	for _, st := range out {
		d := strings.ToLower(st.description)
		if strings.Contains(d, "not found") || strings.Contains(d, "no controller") {
			return nil, fmt.Errorf("%w: %s", ErrNoController, st.description)
		}
	}
	return nil, &CommandError{Controller: out[0].index, Description: out[0].description}
}

// describe is a status's Description followed by its detailed rows'
// error codes and messages, in storcli's words: "Show Drive Information
// Failed. (/c0/e4/s3: ErrCd 45)", "None (ErrCd 59: Incomplete foreign
// configuration)". storcli writes "-" for no message.
func describe(blk controllerBlock) string {
	desc := blk.CommandStatus["Description"].String()
	var details []string
	for _, row := range blk.detailed {
		code, msg := row["ErrCd"].String(), row["ErrMsg"].String()
		if code == "" && (msg == "" || msg == "-") {
			continue
		}
		d := "ErrCd " + code
		if code == "" {
			d = msg
		} else if msg != "" && msg != "-" {
			d += ": " + msg
		}
		if drive := row["Drive"].String(); drive != "" {
			d = drive + ": " + d
		}
		details = append(details, d)
	}
	if len(details) == 0 {
		return desc
	}
	return strings.TrimSpace(desc + " (" + strings.Join(details, "; ") + ")")
}

// hasData says whether a Response Data holds anything: an object with at
// least one key.
func hasData(raw json.RawMessage) bool {
	var data map[string]json.RawMessage
	return json.Unmarshal(raw, &data) == nil && len(data) > 0
}

// --- controllers ------------------------------------------------------------

func decodeController(index int, data map[string]json.RawMessage) Controller {
	c := Controller{Index: index}
	basics := object(data["Basics"])
	version := object(data["Version"])
	status := object(data["Status"])
	hwcfg := object(data["HwCfg"])
	top := object(nil)
	// The short `show` output puts the same facts at the top level under
	// other names; read both so either command works.
	for k, v := range data {
		var f flex
		if json.Unmarshal(v, &f) == nil {
			top[k] = f
		}
	}
	if idx, ok := basics["Controller"].Int(); ok && c.Index < 0 {
		c.Index = idx
	}
	c.Model = first(basics["Model"], top["Product Name"])
	c.Serial = first(basics["Serial Number"], top["Serial Number"])
	c.FirmwarePackage = first(version["Firmware Package Build"], top["FW Package Build"])
	c.FirmwareVersion = first(version["Firmware Version"], top["FW Version"])
	c.BIOSVersion = first(version["Bios Version"], top["BIOS Version"])
	c.DriverName = first(version["Driver Name"], top["Driver Name"])
	c.DriverVersion = first(version["Driver Version"], top["Driver Version"])
	c.Status = status["Controller Status"].String()
	c.TemperatureCelsius = hwcfg["ROC temperature(Degree Celsius)"].Celsius()
	c.MemoryCorrectableErrors = status["Memory Correctable Errors"].Uint()
	c.MemoryUncorrectableErrors = status["Memory Uncorrectable Errors"].Uint()

	if rows := rowsOf(data["Cachevault_Info"]); len(rows) > 0 {
		c.Backup = backupFrom("cachevault", rows[0])
	} else if rows := rowsOf(data["BBU_Info"]); len(rows) > 0 {
		c.Backup = backupFrom("bbu", rows[0])
	}

	for _, row := range rowsOf(data["VD LIST"]) {
		if vd, ok := virtualDriveFrom(row); ok {
			c.VirtualDrives = append(c.VirtualDrives, vd)
		}
	}
	for _, row := range rowsOf(data["PD LIST"]) {
		if pd, ok := physicalDriveFrom(index, row); ok {
			c.PhysicalDrives = append(c.PhysicalDrives, pd)
		}
	}
	// HBAs (mpt3sas) print their drives in full inside show all.
	var pdi map[string]json.RawMessage
	if json.Unmarshal(data["Physical Device Information"], &pdi) == nil {
		MergeDrivesInto(&c, drivesIn(c.Index, pdi))
	}
	return c
}

// MergeDrivesInto is MergeDrives for one controller.
func MergeDrivesInto(c *Controller, drives []PhysicalDrive) {
	one := []Controller{*c}
	for i := range drives {
		drives[i].Controller = c.Index
	}
	MergeDrives(one, drives)
	*c = one[0]
}

func backupFrom(kind string, row map[string]flex) *Backup {
	b := &Backup{
		Kind:               kind,
		Model:              first(row["Model"], row["Type"]),
		State:              row["State"].String(),
		TemperatureCelsius: row["Temp"].Celsius(),
	}
	switch strings.ToLower(b.State) {
	case "optimal", "ok", "learning", "charging", "learn cycle active":
		b.Healthy = true
	}
	return b
}

var dgvd = regexp.MustCompile(`^\s*(\d+)\s*/\s*(\d+)\s*$`)

func virtualDriveFrom(row map[string]flex) (VirtualDrive, bool) {
	m := dgvd.FindStringSubmatch(row["DG/VD"].String())
	if m == nil {
		return VirtualDrive{}, false
	}
	vd := VirtualDrive{
		Name:        row["Name"].String(),
		RAIDLevel:   strings.ToLower(row["TYPE"].String()),
		RawState:    row["State"].String(),
		Access:      row["Access"].String(),
		CachePolicy: row["Cache"].String(),
	}
	vd.DriveGroup, _ = strconv.Atoi(m[1])
	vd.ID, _ = strconv.Atoi(m[2])
	vd.State = NormalizeVirtualDriveState(vd.RawState)
	vd.SizeBytes, _ = ParseSize(row["Size"].String())
	vd.Consistent = row["Consist"].YesNo()
	return vd, true
}

var eidSlot = regexp.MustCompile(`^\s*(\d*)\s*:\s*(\d+)\s*$`)

func physicalDriveFrom(ctrl int, row map[string]flex) (PhysicalDrive, bool) {
	m := eidSlot.FindStringSubmatch(row["EID:Slt"].String())
	if m == nil {
		return PhysicalDrive{}, false
	}
	pd := PhysicalDrive{
		Controller: ctrl,
		Enclosure:  m[1],
		DriveGroup: -1,
		RawState:   row["State"].String(),
		Interface:  row["Intf"].String(),
		Medium:     row["Med"].String(),
		Model:      clean(row["Model"].String()),
	}
	pd.Slot, _ = strconv.Atoi(m[2])
	did, ok := row["DID"].Int()
	if !ok {
		return PhysicalDrive{}, false
	}
	pd.DeviceID = did
	if dg, ok := row["DG"].Int(); ok {
		pd.DriveGroup = dg
	}
	pd.State = NormalizePhysicalDriveState(pd.RawState)
	pd.SizeBytes, _ = ParseSize(row["Size"].String())
	return pd, true
}

// --- detailed drives --------------------------------------------------------

var (
	driveKey    = regexp.MustCompile(`^Drive (/c\d+(?:/e\d+)?/s\d+)$`)
	detailKey   = regexp.MustCompile(`^Drive (/c\d+(?:/e\d+)?/s\d+) - Detailed Information$`)
	sectorCount = regexp.MustCompile(`\[\s*0x([0-9a-fA-F]+)\s+Sectors\s*\]`)
)

// drivesIn reads a map in the shape of `/cN/eall/sall show all`: "Drive
// /c0/e252/s0" holds the list row, "Drive /c0/e252/s0 - Detailed Information"
// the drive's state, attributes and policies.
func drivesIn(ctrl int, data map[string]json.RawMessage) []PhysicalDrive {
	byPath := map[string]*PhysicalDrive{}
	var order []string
	get := func(path string) *PhysicalDrive {
		if d, ok := byPath[path]; ok {
			return d
		}
		d := &PhysicalDrive{Controller: ctrl, DriveGroup: -1}
		byPath[path] = d
		order = append(order, path)
		return d
	}
	// Keys are visited sorted so the result does not depend on map order.
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if m := driveKey.FindStringSubmatch(k); m != nil {
			rows := rowsOf(data[k])
			if len(rows) == 0 {
				continue
			}
			pd, ok := physicalDriveFrom(ctrl, rows[0])
			if !ok {
				continue
			}
			d := get(m[1])
			detail := *d
			*d = pd
			mergeDrive(d, detail)
			continue
		}
		if m := detailKey.FindStringSubmatch(k); m != nil {
			var detail map[string]json.RawMessage
			if json.Unmarshal(data[k], &detail) != nil {
				continue
			}
			fillDetail(get(m[1]), m[1], detail)
			continue
		}
		if k == "Drive Information" {
			for _, row := range rowsOf(data[k]) {
				if pd, ok := physicalDriveFrom(ctrl, row); ok {
					path := fmt.Sprintf("/c%d/e%s/s%d", ctrl, pd.Enclosure, pd.Slot)
					*get(path) = pd
				}
			}
		}
	}
	out := make([]PhysicalDrive, 0, len(order))
	for _, path := range order {
		d := byPath[path]
		if d.RawState == "" && d.Serial == "" && d.Model == "" {
			continue // a detail block whose list row was malformed and that said nothing
		}
		if d.Enclosure == "" && d.Slot == 0 {
			d.Enclosure, d.Slot = enclosureSlotOf(path)
		}
		out = append(out, *d)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Enclosure != out[j].Enclosure {
			return out[i].Enclosure < out[j].Enclosure
		}
		return out[i].Slot < out[j].Slot
	})
	return out
}

var pathParts = regexp.MustCompile(`^/c\d+(?:/e(\d+))?/s(\d+)$`)

func enclosureSlotOf(path string) (string, int) {
	m := pathParts.FindStringSubmatch(path)
	if m == nil {
		return "", 0
	}
	slot, _ := strconv.Atoi(m[2])
	return m[1], slot
}

func fillDetail(d *PhysicalDrive, path string, detail map[string]json.RawMessage) {
	prefix := "Drive " + path + " "
	state := object(detail[prefix+"State"])
	attrs := object(detail[prefix+"Device attributes"])

	d.MediaErrors = state["Media Error Count"].Uint()
	d.OtherErrors = state["Other Error Count"].Uint()
	d.PredictiveFailures = state["Predictive Failure Count"].Uint()
	d.SMARTAlert = state["S.M.A.R.T alert flagged by drive"].YesNo()
	d.TemperatureCelsius = state["Drive Temperature"].Celsius()

	d.Serial = clean(attrs["SN"].String())
	d.Firmware = clean(attrs["Firmware Revision"].String())
	d.WWN = clean(attrs["WWN"].String())
	if m := clean(attrs["Model Number"].String()); m != "" {
		d.Model = m
	}
	if n := sizeFromSectors(attrs); n != 0 {
		d.SizeBytes = n
	}
}

// sizeFromSectors reads the coerced size's sector count, the size the
// controller uses. The count is taken in logical sectors, and checked against
// the printed size so a count in other units cannot mislead.
func sizeFromSectors(attrs map[string]flex) uint64 {
	text := attrs["Coerced size"].String()
	m := sectorCount.FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	sectors, err := strconv.ParseUint(m[1], 16, 64)
	if err != nil {
		return 0
	}
	printed, _ := ParseSize(strings.TrimSpace(text[:strings.Index(text, "[")]))
	for _, ss := range []uint64{512, 4096} {
		n := sectors * ss
		if n/ss != sectors {
			continue
		}
		if printed == 0 || math.Abs(float64(n)-float64(printed)) <= 0.01*float64(printed) {
			return n
		}
	}
	return printed
}

// --- states -----------------------------------------------------------------

// NormalizeVirtualDriveState maps storcli's virtual drive states to optimal,
// degraded, partially_degraded, offline or rebuilding ("Rec", recovery: a
// rebuild is restoring redundancy); any other word comes back lowercase with
// spaces as underscores.
func NormalizeVirtualDriveState(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "optl", "optimal":
		return "optimal"
	case "dgrd", "degraded":
		return "degraded"
	case "pdgd", "partially degraded", "partially_degraded":
		return "partially_degraded"
	case "ofln", "offln", "offline":
		return "offline"
	case "rec", "recovery", "rebuild", "rebuilding":
		return "rebuilding"
	}
	return word(s)
}

// NormalizePhysicalDriveState maps storcli's physical drive states to online,
// offline, failed, rebuild, hot_spare, unconfigured_good, unconfigured_bad,
// jbod, copyback, missing; a drive an HBA passes through without a state
// ("-") is unconfigured; any other word comes back lowercase.
func NormalizePhysicalDriveState(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "onln", "online", "conf":
		return "online"
	case "offln", "ofln", "offline":
		return "offline"
	case "failed", "f", "dead":
		return "failed"
	case "rbld", "rebuild":
		return "rebuild"
	case "ghs", "dhs", "hotspare", "hot spare":
		return "hot_spare"
	case "ugood", "unconfigured good", "unconf good", "ug":
		return "unconfigured_good"
	case "ubad", "unconfigured bad", "unconf bad", "ub":
		return "unconfigured_bad"
	case "jbod":
		return "jbod"
	case "cpybck", "copyback":
		return "copyback"
	case "msng", "missing":
		return "missing"
	case "-", "":
		return "unconfigured"
	}
	return word(s)
}

func word(s string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), " ", "_")
}

// --- sizes ------------------------------------------------------------------

var sizeRE = regexp.MustCompile(`(?i)^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTPE]?)I?B\s*$`)

// ParseSize converts a storcli size ("558.375 GB", "744.687 GiB", "512B")
// to bytes, taking every unit as a power of 1024 (see the package comment).
func ParseSize(s string) (uint64, bool) {
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	exp := 0
	if m[2] != "" {
		exp = strings.Index("KMGTPE", strings.ToUpper(m[2])) + 1
	}
	n := v * math.Pow(1024, float64(exp))
	if n >= math.MaxUint64 {
		return 0, false
	}
	return uint64(math.Round(n)), true
}

// --- flexible JSON leaves ---------------------------------------------------

// flex is a JSON leaf whose type storcli varies between builds and rows
// (DID 34 or "-", ROC temperature 62 or "55C"): its text form.
type flex string

func (f *flex) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flex(s)
	case '{', '[':
		*f = "" // not a leaf
	default:
		if string(b) != "null" {
			*f = flex(b)
		}
	}
	return nil
}

func (f flex) String() string { return strings.TrimSpace(string(f)) }

func (f flex) Int() (int, bool) {
	n, err := strconv.Atoi(f.String())
	return n, err == nil
}

func (f flex) Uint() *uint64 {
	n, err := strconv.ParseUint(f.String(), 10, 64)
	if err != nil {
		return nil
	}
	return &n
}

func (f flex) YesNo() *bool {
	var v bool
	switch strings.ToLower(f.String()) {
	case "yes", "true":
		v = true
	case "no", "false":
		v = false
	default:
		return nil
	}
	return &v
}

var leadingNumber = regexp.MustCompile(`^\s*(-?[0-9]+(?:\.[0-9]+)?)\s*C?\b`)

// Celsius reads 62, "55C", "48 C" or " 28C (82.40 F)"; "N/A" and the like
// are nil.
func (f flex) Celsius() *float64 {
	m := leadingNumber.FindStringSubmatch(f.String())
	if m == nil {
		return nil
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return nil
	}
	return &v
}

func object(raw json.RawMessage) map[string]flex {
	out := map[string]flex{}
	if len(raw) == 0 {
		return out
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return out
	}
	for k, v := range m {
		var f flex
		if json.Unmarshal(v, &f) == nil {
			out[k] = f
		}
	}
	return out
}

// rowsOf decodes a list of rows one by one, so a malformed row is dropped
// alone.
func rowsOf(raw json.RawMessage) []map[string]flex {
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil
	}
	out := make([]map[string]flex, 0, len(items))
	for _, it := range items {
		var probe map[string]json.RawMessage
		if json.Unmarshal(it, &probe) != nil {
			continue
		}
		out = append(out, object(it))
	}
	return out
}

func first(vals ...flex) string {
	for _, v := range vals {
		if s := clean(v.String()); s != "" {
			return s
		}
	}
	return ""
}

// clean trims the padding storcli keeps from fixed-width SCSI inquiry fields
// ("            ZL2PVFA8", "SN03    ").
func clean(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
