package procfile

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// MdstatMaxSize bounds /proc/mdstat: a few lines per array, and a host has
// at most some hundreds of arrays.
const MdstatMaxSize = 1 << 20

// MDArray is what /proc/mdstat says of one md array.
type MDArray struct {
	Name string
	// State is the word after the name: active, inactive, or broken (a
	// raid0 or linear array that lost a member, on kernels that say so).
	State string
	// ReadOnly is "read-only" or "auto-read-only" when the state is
	// followed by one of them in parentheses, else "".
	ReadOnly string
	Level    string // raid1, raid5, linear...; "" where an inactive array names none
	// Blocks is the count of 1 KiB blocks on the status line: the array's
	// size while it runs, the sum of its members' sizes while inactive.
	Blocks uint64
	// Redundant says the status line has slot counts ("[3/2] [UU_]"): the
	// array's personality keeps redundancy and can sync. raid0 and linear
	// print none.
	Redundant bool
	// Disks is the number of slots the array has when complete ("3" of
	// [3/2]); for raid0 and linear, every member. 0 for an inactive array,
	// whose slot counts are those of its last run.
	Disks       int
	DisksActive int // slots with an in-sync disk ("2" of [3/2])
	DisksDown   int // slots without one ("_" in [UU_])
	DisksFailed int // members flagged (F)
	DisksSpare  int // members flagged (S)
	// Sync is the sync action under way or waiting, nil when none is.
	Sync *MDSync
}

// MDSync is the progress line of an md array's sync action.
type MDSync struct {
	// Action is the sync action in md/sync_action's words: resync,
	// recover, check or reshape. mdstat prints a repair as resync.
	Action string
	// Waiting is "DELAYED" (the action waits for another array on the same
	// disks) or "PENDING" (a resync owed by a read-only array) while the
	// action has not started, and then nothing below is known.
	Waiting string
	// DoneBlocks of TotalBlocks 1 KiB blocks are done.
	DoneBlocks, TotalBlocks uint64
	// SpeedBytesPerSecond is the recent speed ("speed=259783K/sec"), -1
	// when not printed.
	SpeedBytesPerSecond float64
	// RemainingSeconds is the kernel's estimate of the time left
	// ("finish=17.0min"), to a tenth of a minute; -1 when not printed.
	RemainingSeconds float64
}

// ParseMdstat parses /proc/mdstat as md_seq_show writes it: per array a line
// "md0 : active raid1 sdb2[1](F) sda2[0]", then indented lines: the
// personality's status ("1046528 blocks super 1.2 [2/1] [U_]"), a progress
// line while a sync action runs or waits, a bitmap line. An array whose
// lines do not parse is left out and counted in the error; the others are
// returned. The loop stops when ctx ends.
func ParseMdstat(ctx context.Context, b []byte) ([]MDArray, error) {
	var (
		arrays []MDArray
		bad    []string
		lc     = lineCounter{ctx: ctx}
	)
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		if err := lc.done(); err != nil {
			return arrays, err
		}
		line := lines[i]
		if strings.TrimSpace(line) == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		f := strings.Fields(line)
		if f[0] == "Personalities" || f[0] == "unused" {
			continue
		}
		// The array's own lines are the indented ones that follow.
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) != "" && (lines[j][0] == ' ' || lines[j][0] == '\t') {
			j++
		}
		if len(f) < 3 || f[1] != ":" {
			// md_seq_show prints nothing else at the start of a line: a
			// head line that lost its shape is an array that did not
			// parse, not a line to pass over.
			bad = append(bad, fmt.Sprintf("line %.64q: not an array's \"mdN : state ...\" line", line))
			i = j - 1
			continue
		}
		a, err := parseMDArray(f, lines[i+1:j])
		if err != nil {
			bad = append(bad, fmt.Sprintf("%.64q: %v", f[0], err))
		} else {
			arrays = append(arrays, a)
		}
		i = j - 1
	}
	if len(bad) > 0 {
		return arrays, fmt.Errorf("%d arrays not parsed, first %s", len(bad), bad[0])
	}
	return arrays, nil
}

// mdstatSlots finds the slot counts of a status line, "[3/2] [UU_]".
var mdstatSlots = regexp.MustCompile(`\[(\d+)/(\d+)\] \[([U_]*)\]`)

func parseMDArray(head []string, body []string) (MDArray, error) {
	a := MDArray{Name: head[0], State: head[2]}
	switch a.State {
	case "active", "inactive", "broken": // what md_seq_show prints
	default:
		return a, fmt.Errorf("state %.32q is none of active, inactive, broken", a.State)
	}
	rest := head[3:]
	// "(read-only)" or "(auto-read-only)" may follow the state word.
	for len(rest) > 0 && strings.HasPrefix(rest[0], "(") {
		a.ReadOnly = strings.Trim(rest[0], "()")
		rest = rest[1:]
	}
	// Members are "name[slot]" with flags such as (F), (S), (W); a word
	// without a slot before them is the level, which inactive arrays lack.
	if len(rest) > 0 && !strings.Contains(rest[0], "[") {
		a.Level, rest = rest[0], rest[1:]
	}
	for _, m := range rest {
		if strings.Contains(m, "(F)") {
			a.DisksFailed++
		}
		if strings.Contains(m, "(S)") {
			a.DisksSpare++
		}
	}
	if len(body) == 0 {
		return a, errors.New("no status line")
	}
	status := strings.Fields(body[0])
	if len(status) < 2 || status[1] != "blocks" {
		return a, fmt.Errorf("status line %.80q", strings.TrimSpace(body[0]))
	}
	blocks, err := strconv.ParseUint(status[0], 10, 64)
	if err != nil {
		return a, fmt.Errorf("status line: %w", err)
	}
	a.Blocks = blocks
	switch m := mdstatSlots.FindStringSubmatch(body[0]); {
	case m != nil:
		a.Redundant = true
		a.Disks, err = strconv.Atoi(m[1])
		if err == nil {
			a.DisksActive, err = strconv.Atoi(m[2])
		}
		if err != nil {
			return a, fmt.Errorf("slots: %w", err)
		}
		a.DisksDown = strings.Count(m[3], "_")
	case a.State != "inactive":
		// raid0 and linear have no redundancy and print no slots: every
		// member is needed and active.
		a.Disks, a.DisksActive = len(rest), len(rest)
	}
	if a.State == "inactive" {
		// The slot counts an inactive array prints are those it had when
		// it last ran: none of its members is active now, and it has no
		// personality to say how many it needs (procfs reads it so too).
		a.Disks, a.DisksActive, a.DisksDown = 0, 0, 0
	}
	for _, l := range body[1:] {
		s, ok, err := parseMDSync(strings.TrimSpace(l))
		if err != nil {
			return a, err
		}
		if ok {
			a.Sync = &s
			break
		}
	}
	return a, nil
}

// mdstatSyncWords maps the words a progress line starts with to
// md/sync_action's words.
var mdstatSyncWords = []struct{ word, action string }{
	{"recovery", "recover"}, {"reshape", "reshape"}, {"check", "check"}, {"resync", "resync"},
}

// mdstatProgress matches the parts of a progress line after its bar:
// "recovery =  8.5% (16775552/195310144) finish=17.0min speed=259783K/sec".
var mdstatProgress = regexp.MustCompile(`^(\w+) *= *[0-9.]+% \((\d+)/(\d+)\)(?: finish=([0-9.]+)min)?(?: speed=(\d+)K/sec)?`)

// parseMDSync parses one indented line after the status line; ok is false
// for lines that are no progress line (bitmap, journal).
func parseMDSync(l string) (MDSync, bool, error) {
	if word, waiting, found := strings.Cut(l, "="); found && !strings.Contains(word, " ") &&
		(waiting == "DELAYED" || waiting == "PENDING") {
		for _, w := range mdstatSyncWords {
			if word == w.word {
				return MDSync{Action: w.action, Waiting: waiting, SpeedBytesPerSecond: -1, RemainingSeconds: -1}, true, nil
			}
		}
		return MDSync{}, false, fmt.Errorf("progress line %.80q", l)
	}
	// The bar, "[=>....]", comes first when the action runs.
	if !strings.HasPrefix(l, "[") || strings.HasPrefix(l, "[U") {
		return MDSync{}, false, nil
	}
	_, after, _ := strings.Cut(l, "]")
	m := mdstatProgress.FindStringSubmatch(strings.TrimSpace(after))
	if m == nil {
		return MDSync{}, false, fmt.Errorf("progress line %.80q", l)
	}
	s := MDSync{SpeedBytesPerSecond: -1, RemainingSeconds: -1}
	for _, w := range mdstatSyncWords {
		if m[1] == w.word {
			s.Action = w.action
		}
	}
	if s.Action == "" {
		return MDSync{}, false, fmt.Errorf("progress line %.80q: action %q", l, m[1])
	}
	var err1, err2 error
	s.DoneBlocks, err1 = strconv.ParseUint(m[2], 10, 64)
	s.TotalBlocks, err2 = strconv.ParseUint(m[3], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return MDSync{}, false, fmt.Errorf("progress line: %w", err)
	}
	if m[4] != "" {
		// The kernel prints minutes and tenths of a minute; counting in
		// tenths keeps the seconds exact.
		whole, tenth, _ := strings.Cut(m[4], ".")
		minutes, err1 := strconv.ParseUint(whole, 10, 32)
		tenths, err2 := strconv.ParseUint(tenth+"0", 10, 32)
		if err := errors.Join(err1, err2); err != nil || len(tenth) > 1 {
			return MDSync{}, false, fmt.Errorf("progress line: finish %q", m[4])
		}
		s.RemainingSeconds = float64(minutes*60 + tenths/10*6)
	}
	if m[5] != "" {
		kib, err := strconv.ParseUint(m[5], 10, 64)
		if err != nil {
			return MDSync{}, false, fmt.Errorf("progress line: speed %q", m[5])
		}
		s.SpeedBytesPerSecond = float64(kib) * 1024
	}
	return s, true, nil
}
