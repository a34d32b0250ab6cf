package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/hardware-exporter/hardware_exporter/internal/daemon/metriccache"
	"github.com/hardware-exporter/hardware_exporter/internal/daemon/respcache"
	"github.com/hardware-exporter/hardware_exporter/internal/probe"
)

// ---------------------------------------------------------------------------
// Metric families. Declared once at package level, as probes declare theirs,
// with the label shapes the real probes use so that body sizes per series are
// representative: long HELP texts, chip/sensor/label on hwmon readings,
// controller/dimm on EDAC, device/serial/model strings on disks.

// family is a descriptor plus what stage 2 needs to rebuild a metric from a
// decoded JSON record: its type and the order of its labels.
type family struct {
	name   string
	desc   *prometheus.Desc
	typ    prometheus.ValueType
	labels []string
}

// families indexes every family by name, for stage 2's decoder.
var families = map[string]*family{}

func newFamily(name, help string, typ prometheus.ValueType, labels ...string) *family {
	f := &family{
		name:   name,
		desc:   prometheus.NewDesc(name, help+" Refreshed on the probe's schedule, not per scrape.", labels, nil),
		typ:    typ,
		labels: labels,
	}
	families[name] = f
	return f
}

var sensorLabels = []string{"chip", "sensor", "label"}

var (
	famDMI = newFamily("hardware_system_dmi_info",
		"Machine identity as the firmware states it in DMI (SMBIOS), verbatim.", prometheus.GaugeValue,
		"sys_vendor", "product_name", "product_version", "board_vendor", "board_name", "bios_vendor", "bios_version", "bios_date")

	famChip = newFamily("hardware_hwmon_chip_info",
		"Hardware monitoring chip, value 1; chip is derived from the device path and stable across reboots, chip_name is the driver's name for it.",
		prometheus.GaugeValue, "chip", "chip_name")
	famTemp = newFamily("hardware_hwmon_temperature_celsius",
		"Temperature the sensor reads (tempN_input).", prometheus.GaugeValue, sensorLabels...)
	famTempMax = newFamily("hardware_hwmon_temperature_max_celsius",
		"High temperature limit of the sensor (tempN_max).", prometheus.GaugeValue, sensorLabels...)
	famTempCrit = newFamily("hardware_hwmon_temperature_crit_celsius",
		"Critical temperature limit of the sensor (tempN_crit).", prometheus.GaugeValue, sensorLabels...)
	famFan = newFamily("hardware_hwmon_fan_rpm",
		"Fan speed the sensor reads (fanN_input); 0 for a stopped or unconnected fan.", prometheus.GaugeValue, sensorLabels...)
	famVolt = newFamily("hardware_hwmon_voltage_volts",
		"Voltage the sensor reads (inN_input), before any scaling the board's resistor dividers would need.", prometheus.GaugeValue, sensorLabels...)

	famDIMMInfo = newFamily("hardware_memory_dimm_info",
		"DIMM as EDAC sees it, value 1; label is the silkscreen name firmware or the driver gives the slot.",
		prometheus.GaugeValue, "controller", "dimm", "label", "mem_type")
	famDIMMSize = newFamily("hardware_memory_dimm_size_bytes",
		"Size of the DIMM as EDAC sees it.", prometheus.GaugeValue, "controller", "dimm")
	famDIMMCE = newFamily("hardware_memory_dimm_correctable_errors_total",
		"Correctable memory errors attributed to the DIMM since boot or the controller's last counter reset.",
		prometheus.CounterValue, "controller", "dimm")
	famDIMMUE = newFamily("hardware_memory_dimm_uncorrectable_errors_total",
		"Uncorrectable memory errors attributed to the DIMM since boot or the controller's last counter reset.",
		prometheus.CounterValue, "controller", "dimm")

	famDiskInfo = newFamily("hardware_disk_info",
		"Disk identity, value 1: model from sysfs, serial and firmware from smartctl.", prometheus.GaugeValue,
		"device", "model", "serial", "firmware")
	famDiskSize = newFamily("hardware_disk_size_bytes",
		"Capacity of the disk (size in 512-byte sectors).", prometheus.GaugeValue, "device")
	famSmartValue = newFamily("hardware_smart_attribute_value",
		"Normalized value of the SMART attribute (VALUE column of smartctl -A); lower is worse.", prometheus.GaugeValue,
		"device", "serial", "id", "attribute")
	famSmartRaw = newFamily("hardware_smart_attribute_raw",
		"Raw value of the SMART attribute (first number of the RAW_VALUE column of smartctl -A); its unit depends on the attribute.",
		prometheus.GaugeValue, "device", "serial", "id", "attribute")
)

func describeAll(ch chan<- *prometheus.Desc) {
	for _, f := range families {
		ch <- f.desc
	}
}

// ---------------------------------------------------------------------------
// The synthetic host: sysfs-like directories held in memory, so that stage 1
// pays for parsing (TrimSpace, strconv, splitting smartctl lines) but not for
// syscalls, which would make the comparison depend on the machine's disk
// cache rather than on the design.

type dirKind int

const (
	dirDMI dirKind = iota
	dirHwmon
	dirDIMM
	dirDisk
)

// sysDir is one directory: the names ReadDir would list, in its order, and
// each file's content as the kernel (or smartctl, for "smartctl") writes it.
type sysDir struct {
	kind  dirKind
	path  string
	names []string
	files map[string]string
}

func (d *sysDir) read(name string) string { return strings.TrimSpace(d.files[name]) }

// host is the whole input. series is how many series reading it yields.
type host struct {
	dirs   []sysDir
	series int
}

// A cycle adds one hwmon chip (1 info + 4 temps x 3 + 2 fans + 4 voltages),
// two DIMMs (4 series each) and one disk (info, size, 6 SMART attributes x 2).
const seriesPerCycle = 19 + 2*4 + 14

type diskModel struct{ model, firmware, serialPrefix, sectors string }

var diskModels = []diskModel{
	{"ST16000NM001G-2KK103", "SN03", "ZL2", "31251759104"},
	{"WDC WUH721816ALE6L4", "PCGNW232", "2CG", "31251759104"},
	{"SAMSUNG MZ7LH3T8HMLT-00005", "HXT7904Q", "S456NY0M", "7501476528"},
	{"INTEL SSDSC2KG960G8", "XCV10132", "PHYG", "1875385008"},
}

// newHost builds a host that yields exactly series series. The seed is
// fixed: every stage and every run reads the same values.
func newHost(series int) *host {
	rng := rand.New(rand.NewPCG(1, 2))
	h := &host{}
	add := func(kind dirKind, path string, files map[string]string) {
		names := make([]string, 0, len(files))
		for n := range files {
			names = append(names, n)
		}
		slices.Sort(names)
		h.dirs = append(h.dirs, sysDir{kind: kind, path: path, names: names, files: files})
	}

	add(dirDMI, "/sys/class/dmi/id", map[string]string{
		"sys_vendor": "Dell Inc.\n", "product_name": "PowerEdge R750xs\n", "product_version": "\n",
		"board_vendor": "Dell Inc.\n", "board_name": "0441XG\n", "bios_vendor": "Dell Inc.\n",
		"bios_version": "1.8.2\n", "bios_date": "09/14/2022\n",
	})
	h.series = 1

	hwmons, dimms := 0, 0
	for c := 0; series-h.series >= seriesPerCycle; c++ {
		f := map[string]string{
			"name":   "coretemp\n",
			"device": fmt.Sprintf("platform/coretemp.%d\n", c),
		}
		for i := 1; i <= 4; i++ {
			s := "temp" + strconv.Itoa(i)
			if i == 1 {
				f[s+"_label"] = fmt.Sprintf("Package id %d\n", c)
			} else {
				f[s+"_label"] = fmt.Sprintf("Core %d\n", i-2)
			}
			f[s+"_input"] = strconv.Itoa(30000+rng.IntN(40)*500) + "\n"
			f[s+"_max"] = "84000\n"
			f[s+"_crit"] = "100000\n"
		}
		for i := 1; i <= 2; i++ {
			f["fan"+strconv.Itoa(i)+"_input"] = strconv.Itoa(800+rng.IntN(4000)) + "\n"
		}
		for i := range 4 {
			f["in"+strconv.Itoa(i)+"_input"] = strconv.Itoa(900+rng.IntN(12000)) + "\n"
			f["in"+strconv.Itoa(i)+"_label"] = []string{"Vcore\n", "VIN1\n", "AVCC\n", "3VCC\n"}[i]
		}
		add(dirHwmon, fmt.Sprintf("/sys/class/hwmon/hwmon%d", hwmons), f)
		hwmons++

		for range 2 {
			mc, slot := dimms/12, dimms%12
			add(dirDIMM, fmt.Sprintf("/sys/devices/system/edac/mc/mc%d/dimm%d", mc, slot), map[string]string{
				"dimm_label":    fmt.Sprintf("CPU_SrcID#%d_MC#%d_Chan#%d_DIMM#%d\n", mc%2, mc/2, slot/2, slot%2),
				"dimm_mem_type": "Registered-DDR4\n",
				"size":          "32768\n", // MiB
				"dimm_ce_count": strconv.Itoa(rng.IntN(3)) + "\n",
				"dimm_ue_count": "0\n",
			})
			dimms++
		}

		m := diskModels[c%len(diskModels)]
		serial := m.serialPrefix + randomSerial(rng, 8)
		add(dirDisk, "/sys/block/"+diskName(c), map[string]string{
			// SCSI pads the model field; the probe must trim it.
			"device/model": fmt.Sprintf("%-40s\n", m.model),
			"size":         m.sectors + "\n",
			"smartctl":     smartctlOutput(rng, serial, m.firmware),
		})
		h.series += seriesPerCycle
	}

	// Make up the rest with the fans of one more chip, so the count is exact.
	if rest := series - h.series; rest > 0 {
		f := map[string]string{"name": "nct6798\n", "device": "platform/nct6775.656\n"}
		for i := 1; i < rest; i++ {
			f["fan"+strconv.Itoa(i)+"_input"] = strconv.Itoa(rng.IntN(3000)) + "\n"
		}
		add(dirHwmon, fmt.Sprintf("/sys/class/hwmon/hwmon%d", hwmons), f)
		h.series += rest
	}
	return h
}

// diskName names the i-th SCSI disk as the kernel does: sda … sdz, sdaa ….
func diskName(i int) string {
	var b []byte
	for i++; i > 0; i /= 26 {
		i--
		b = append([]byte{byte('a' + i%26)}, b...)
	}
	return "sd" + string(b)
}

func randomSerial(rng *rand.Rand, n int) string {
	const alnum = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[rng.IntN(len(alnum))]
	}
	return string(b)
}

// smartctlOutput is what `smartctl -i -A` prints for a SATA disk, trimmed to
// the lines the probe reads plus the ones it has to skip.
func smartctlOutput(rng *rand.Rand, serial, firmware string) string {
	var b strings.Builder
	b.WriteString("smartctl 7.4 2023-08-01 r5530 [x86_64-linux-6.8.0] (local build)\n")
	b.WriteString("=== START OF INFORMATION SECTION ===\n")
	fmt.Fprintf(&b, "Serial Number:    %s\nFirmware Version: %s\n", serial, firmware)
	b.WriteString("\n=== START OF READ SMART DATA SECTION ===\n")
	b.WriteString("ID# ATTRIBUTE_NAME          FLAG     VALUE WORST THRESH TYPE      UPDATED  WHEN_FAILED RAW_VALUE\n")
	temp := 25 + rng.IntN(20)
	attrs := []struct {
		id   int
		name string
		raw  string
	}{
		{1, "Raw_Read_Error_Rate", strconv.Itoa(rng.IntN(300000000))},
		{5, "Reallocated_Sector_Ct", strconv.Itoa(rng.IntN(3))},
		{9, "Power_On_Hours", strconv.Itoa(1000 + rng.IntN(40000))},
		{194, "Temperature_Celsius", fmt.Sprintf("%d (Min/Max %d/%d)", temp, temp-8, temp+12)},
		{197, "Current_Pending_Sector", "0"},
		{199, "UDMA_CRC_Error_Count", strconv.Itoa(rng.IntN(2))},
	}
	for _, a := range attrs {
		fmt.Fprintf(&b, "%3d %-23s 0x%04x   %03d   %03d   %03d    Pre-fail  Always       -       %s\n",
			a.id, a.name, 0x0033, 60+rng.IntN(40), 60, 10, a.raw)
	}
	return b.String()
}

// chipName turns a hwmon device path into a label value, as the hwmon probe
// does: "platform/coretemp.0" -> "platform_coretemp_0".
var chipName = strings.NewReplacer("/", "_", ".", "_", ":", "_", "-", "_")

// emitFunc receives one parsed series. Stages differ only in what they do
// with it: build a const metric, or a JSON record.
type emitFunc func(f *family, v float64, labelValues ...string)

// read is the synthetic probe: it parses every directory the way the real
// probes parse sysfs and smartctl output.
func (h *host) read(emit emitFunc) error {
	for i := range h.dirs {
		d := &h.dirs[i]
		var err error
		switch d.kind {
		case dirDMI:
			emit(famDMI, 1, d.read("sys_vendor"), d.read("product_name"), d.read("product_version"),
				d.read("board_vendor"), d.read("board_name"), d.read("bios_vendor"), d.read("bios_version"), d.read("bios_date"))
		case dirHwmon:
			err = readHwmon(d, emit)
		case dirDIMM:
			err = readDIMM(d, emit)
		case dirDisk:
			err = readDisk(d, emit)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", d.path, err)
		}
	}
	return nil
}

// parseScaled reads an integer sysfs value in the kernel's unit and divides
// it into the base unit (millidegrees to degrees, millivolts to volts).
func parseScaled(s string, div float64) (float64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return float64(n) / div, err
}

func readHwmon(d *sysDir, emit emitFunc) error {
	chip := chipName.Replace(d.read("device"))
	emit(famChip, 1, chip, d.read("name"))
	for _, name := range d.names {
		sensor, ok := strings.CutSuffix(name, "_input")
		if !ok {
			continue
		}
		label := d.read(sensor + "_label")
		var (
			f   *family
			div = 1.0
		)
		switch {
		case strings.HasPrefix(sensor, "temp"):
			f, div = famTemp, 1000
		case strings.HasPrefix(sensor, "fan"):
			f = famFan
		case strings.HasPrefix(sensor, "in"):
			f, div = famVolt, 1000
		default:
			continue
		}
		v, err := parseScaled(d.files[name], div)
		if err != nil {
			return err
		}
		emit(f, v, chip, sensor, label)
		if f != famTemp {
			continue
		}
		for _, lim := range []struct {
			suffix string
			f      *family
		}{{"_max", famTempMax}, {"_crit", famTempCrit}} {
			s, ok := d.files[sensor+lim.suffix]
			if !ok {
				continue
			}
			v, err := parseScaled(s, 1000)
			if err != nil {
				return err
			}
			emit(lim.f, v, chip, sensor, label)
		}
	}
	return nil
}

func readDIMM(d *sysDir, emit emitFunc) error {
	rest, dimm := cutLast(d.path)
	_, controller := cutLast(rest)
	emit(famDIMMInfo, 1, controller, dimm, d.read("dimm_label"), d.read("dimm_mem_type"))
	for _, r := range []struct {
		file string
		f    *family
		mul  float64
	}{{"size", famDIMMSize, 1 << 20}, {"dimm_ce_count", famDIMMCE, 1}, {"dimm_ue_count", famDIMMUE, 1}} {
		v, err := parseScaled(d.files[r.file], 1)
		if err != nil {
			return err
		}
		emit(r.f, v*r.mul, controller, dimm)
	}
	return nil
}

func cutLast(path string) (dir, base string) {
	i := strings.LastIndexByte(path, '/')
	return path[:i], path[i+1:]
}

func readDisk(d *sysDir, emit emitFunc) error {
	_, dev := cutLast(d.path)
	sectors, err := parseScaled(d.files["size"], 1)
	if err != nil {
		return err
	}
	emit(famDiskSize, sectors*512, dev)

	var serial, firmware string
	inTable := false
	for line := range strings.Lines(d.files["smartctl"]) {
		if !inTable {
			if k, v, ok := strings.Cut(line, ":"); ok {
				switch k {
				case "Serial Number":
					serial = strings.TrimSpace(v)
				case "Firmware Version":
					firmware = strings.TrimSpace(v)
				}
			}
			inTable = strings.HasPrefix(line, "ID#")
			continue
		}
		// ID# ATTRIBUTE_NAME FLAG VALUE WORST THRESH TYPE UPDATED WHEN_FAILED RAW_VALUE...
		fields := strings.Fields(line)
		if len(fields) < 10 {
			continue
		}
		value, err := strconv.ParseFloat(fields[3], 64)
		if err != nil {
			return fmt.Errorf("smartctl attribute %s: %w", fields[0], err)
		}
		raw, err := strconv.ParseFloat(fields[9], 64)
		if err != nil {
			return fmt.Errorf("smartctl attribute %s: %w", fields[0], err)
		}
		emit(famSmartValue, value, dev, serial, fields[0], fields[1])
		emit(famSmartRaw, raw, dev, serial, fields[0], fields[1])
	}
	emit(famDiskInfo, 1, dev, d.read("device/model"), serial, firmware)
	return nil
}

// ---------------------------------------------------------------------------
// The stages.

var errDesc = prometheus.NewDesc("hardware_bench_error", "Stage failed.", nil, nil)

// probeCollector is stage 1: the probe runs inside Collect, on every scrape.
type probeCollector struct{ h *host }

func (probeCollector) Describe(ch chan<- *prometheus.Desc) { describeAll(ch) }

func (c probeCollector) Collect(ch chan<- prometheus.Metric) {
	err := c.h.read(func(f *family, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(f.desc, f.typ, v, lv...)
	})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(errDesc, err)
	}
}

// jsonMetric is stage 2's cache record: what a naive cache of probe output
// would store, name, labels by name and value.
type jsonMetric struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"value"`
}

func (h *host) jsonBlob() ([]byte, error) {
	var ms []jsonMetric
	err := h.read(func(f *family, v float64, lv ...string) {
		labels := make(map[string]string, len(lv))
		for i, l := range f.labels {
			labels[l] = lv[i]
		}
		ms = append(ms, jsonMetric{Name: f.name, Labels: labels, Value: v})
	})
	if err != nil {
		return nil, err
	}
	return json.Marshal(ms)
}

// jsonCollector is stage 2: the probe ran earlier and left a JSON blob, which
// every scrape decodes and turns back into const metrics.
type jsonCollector struct{ blob []byte }

func (jsonCollector) Describe(ch chan<- *prometheus.Desc) { describeAll(ch) }

func (c jsonCollector) Collect(ch chan<- prometheus.Metric) {
	var ms []jsonMetric
	if err := json.Unmarshal(c.blob, &ms); err != nil {
		ch <- prometheus.NewInvalidMetric(errDesc, err)
		return
	}
	for _, m := range ms {
		f := families[m.Name]
		if f == nil {
			ch <- prometheus.NewInvalidMetric(errDesc, fmt.Errorf("unknown metric %q", m.Name))
			continue
		}
		lv := make([]string, len(f.labels))
		for i, l := range f.labels {
			lv[i] = m.Labels[l]
		}
		ch <- prometheus.MustNewConstMetric(f.desc, f.typ, m.Value, lv...)
	}
}

// synthProbe is the synthetic host as a probe.Probe, so that stage 3 fills
// the real metric cache the way the scheduler does.
type synthProbe struct{ h *host }

func (synthProbe) Name() string                        { return "synthetic" }
func (synthProbe) Describe(ch chan<- *prometheus.Desc) { describeAll(ch) }

func (p synthProbe) Probe(context.Context, *probe.Skips) ([]prometheus.Metric, error) {
	ms := make([]prometheus.Metric, 0, p.h.series)
	err := p.h.read(func(f *family, v float64, lv ...string) {
		ms = append(ms, prometheus.MustNewConstMetric(f.desc, f.typ, v, lv...))
	})
	return ms, err
}

// handlerFor is /metrics' promhttp handler as internal/daemon/server builds it. Its
// ErrorLog and error counter are left out: they only act on errors.
func handlerFor(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// fixture is everything one metric-set size needs, built once and shared by
// all benchmarks of that size.
type fixture struct {
	regs     [3]*prometheus.Registry // stages 1, 2, 3
	handlers [4]http.Handler         // stages 1 to 4
}

var (
	fixturesMu sync.Mutex
	fixtures   = map[int]*fixture{}
)

func getFixture(tb testing.TB, series int) *fixture {
	tb.Helper()
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if fx := fixtures[series]; fx != nil {
		return fx
	}
	h := newHost(series)
	if h.series != series {
		tb.Fatalf("synthetic host has %d series, want %d", h.series, series)
	}
	blob, err := h.jsonBlob()
	if err != nil {
		tb.Fatal(err)
	}
	p := synthProbe{h}
	ms, err := p.Probe(context.Background(), probe.NewSkips(nil))
	if err != nil {
		tb.Fatal(err)
	}
	// A fixed start and duration keep the status series, and so the bytes,
	// the same in every run.
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	mc := metriccache.New(p)
	mc.Store(p.Name(), metriccache.Result{Metrics: ms, Start: start, Duration: 1500 * time.Millisecond, Expires: start.Add(6 * time.Hour)})

	fx := &fixture{}
	for i, c := range []prometheus.Collector{probeCollector{h}, jsonCollector{blob}, mc} {
		fx.regs[i] = prometheus.NewRegistry()
		if err := fx.regs[i].Register(c); err != nil {
			tb.Fatal(err)
		}
		fx.handlers[i] = handlerFor(fx.regs[i])
	}
	// Options as internal/daemon/server sets them. The generation never changes
	// here, so after the first request every request is a hit.
	fx.handlers[3] = respcache.New(fx.handlers[2], respcache.Options{
		Generation:      mc,
		AcceptedFormats: expfmt.DefaultAcceptedFormats(),
		Compressions:    []string{"identity", "gzip"},
	})
	fixtures[series] = fx
	return fx
}

// ---------------------------------------------------------------------------
// Requests and the writer.

var (
	sizes = []struct {
		name   string
		series int
	}{{"1k", 1000}, {"10k", 10000}}

	stages = []struct {
		name  string
		proto bool // also measured with the protobuf format
	}{{"1_probe", false}, {"2_json", false}, {"3_metriccache", true}, {"4_respcache", true}}

	encodings = []struct{ name, acceptEncoding, contentEncoding string }{
		// Prometheus sends identity when compression is disabled for the job.
		{"identity", "identity", ""},
		{"gzip", "gzip", "gzip"},
	}

	formats = []struct{ name, accept, contentType string }{
		// Prometheus 3's header for the default scrape_protocols, UTF-8
		// names allowed. The exporter does not offer OpenMetrics, so this
		// negotiates text/plain version 1.0.0.
		{"text", "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
			"text/plain"},
		// Prometheus 3's header with PrometheusProto first, as with native
		// histograms enabled.
		{"proto", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
			"application/vnd.google.protobuf"},
	}
)

// discardWriter is the cheapest ResponseWriter that still sees the whole
// response: it counts body bytes and drops them. httptest.ResponseRecorder
// would grow a buffer as large as the body on every request and put that in
// B/op, hiding what the handler itself allocates.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header  { return w.h }
func (w *discardWriter) WriteHeader(code int) { w.status = code }

func (w *discardWriter) Write(p []byte) (int, error) {
	n, err := io.Discard.Write(p)
	w.n += n
	return n, err
}

func record(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// BenchmarkScrape measures one /metrics request per iteration, for every
// stage, metric-set size, content coding and format.
func BenchmarkScrape(b *testing.B) {
	for stage, st := range stages {
		for _, size := range sizes {
			for _, enc := range encodings {
				for _, format := range formats {
					if format.name == "proto" && !st.proto {
						continue
					}
					name := fmt.Sprintf("stage=%s/series=%s/enc=%s/fmt=%s", st.name, size.name, enc.name, format.name)
					b.Run(name, func(b *testing.B) {
						fx := getFixture(b, size.series)
						r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
						r.Header.Set("Accept", format.accept)
						r.Header.Set("Accept-Encoding", enc.acceptEncoding)
						body := verify(b, fx, stage, r, format.contentType, enc.contentEncoding)
						measure(b, fx.handlers[stage], r, len(body))
					})
				}
			}
		}
	}
}

// verify checks, before any timing, that stage answers r with a 200 of the
// expected format and coding, so that no benchmark can quietly measure an
// error page; it warms stage 4 and checks that stage's replay equals a fresh
// render by stage 3 byte for byte, and stage 2's output equals stage 1's.
// stage is an index into fx.handlers: 0 is stage 1, 3 is stage 4.
func verify(b *testing.B, fx *fixture, stage int, r *http.Request, contentType, contentEncoding string) []byte {
	b.Helper()
	h := fx.handlers[stage]
	if stage == 3 {
		record(h, r) // the miss that fills the entry (a hit in later -count runs)
	}
	w := record(h, r)
	if w.Code != http.StatusOK || w.Body.Len() == 0 {
		b.Fatalf("status %d, %d bytes:\n%.500s", w.Code, w.Body.Len(), w.Body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, contentType) {
		b.Fatalf("Content-Type %q, want %s", ct, contentType)
	}
	if ce := w.Header().Get("Content-Encoding"); ce != contentEncoding {
		b.Fatalf("Content-Encoding %q, want %q", ce, contentEncoding)
	}
	if contentEncoding == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(w.Body.Bytes()))
		if err == nil {
			_, err = io.Copy(io.Discard, zr)
		}
		if err != nil {
			b.Fatalf("body is not gzip: %v", err)
		}
	}
	var same int // the stage whose body must equal this one's
	switch stage {
	case 1:
		same = 0
	case 3:
		if x := w.Header().Get("X-Cache"); x != "HIT" {
			b.Fatalf("X-Cache %q after warming, want HIT", x)
		}
		same = 2
	default:
		return w.Body.Bytes()
	}
	want := record(fx.handlers[same], r)
	if !bytes.Equal(w.Body.Bytes(), want.Body.Bytes()) || w.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
		b.Fatalf("stage %d and stage %d answer differently: %d and %d bytes, %q and %q", stage+1, same+1,
			w.Body.Len(), want.Body.Len(), w.Header().Get("Content-Type"), want.Header().Get("Content-Type"))
	}
	return w.Body.Bytes()
}

// measure serves r with h once per iteration. The header map is cleared, not
// replaced, so the writer allocates nothing itself.
func measure(b *testing.B, h http.Handler, r *http.Request, body int) {
	w := &discardWriter{h: make(http.Header, 8)}
	b.SetBytes(int64(body))
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.status, w.n = 0, 0
		h.ServeHTTP(w, r)
	}
	if (w.status != 0 && w.status != http.StatusOK) || w.n != body {
		b.Fatalf("last iteration: status %d, %d bytes, want 200 and %d", w.status, w.n, body)
	}
	b.ReportMetric(float64(body), "body-bytes")
}

// ---------------------------------------------------------------------------
// The benchmarks compare like with like only if every stage serves the same
// series; this checks it once, outside any timing.

func TestStagesServeTheSameSeries(t *testing.T) {
	for _, size := range sizes {
		t.Run(size.name, func(t *testing.T) {
			fx := getFixture(t, size.series)
			var texts [3]string
			for i, reg := range fx.regs {
				mfs, err := reg.Gather()
				if err != nil {
					t.Fatalf("stage %d: %v", i+1, err)
				}
				var buf bytes.Buffer
				enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
				series := 0
				for _, mf := range mfs {
					// Stage 3 adds the metric cache's status series for the
					// probe; they are not part of the synthetic set.
					if strings.HasPrefix(mf.GetName(), "hardware_probe_") {
						continue
					}
					series += len(mf.GetMetric())
					if err := enc.Encode(mf); err != nil {
						t.Fatal(err)
					}
				}
				if series != size.series {
					t.Errorf("stage %d: %d series, want %d", i+1, series, size.series)
				}
				texts[i] = buf.String()
			}
			if texts[0] != texts[1] || texts[0] != texts[2] {
				t.Fatal("stages serve different series")
			}
		})
	}
}

func TestDiskName(t *testing.T) {
	for i, want := range map[int]string{0: "sda", 25: "sdz", 26: "sdaa", 701: "sdzz", 702: "sdaaa"} {
		if got := diskName(i); got != want {
			t.Errorf("diskName(%d) = %q, want %q", i, got, want)
		}
	}
}
