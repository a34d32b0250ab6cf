package kmsg

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// kmsgSeeds splits the /dev/kmsg captures into single records.
func kmsgSeeds(f *testing.F) [][]byte {
	paths, _ := filepath.Glob(filepath.Join("testdata", "captures", "*.kmsg"))
	var seeds [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var s splitter
		s.feed(b, func(rec []byte, _ bool) error { seeds = append(seeds, bytes.Clone(rec)); return nil })
		s.flush(func(rec []byte, _ bool) error { seeds = append(seeds, bytes.Clone(rec)); return nil })
	}
	return seeds
}

func FuzzParseRecord(f *testing.F) {
	for _, s := range kmsgSeeds(f) {
		f.Add(s)
	}
	f.Add([]byte("6,0,18446744073,x,future;m\n K=v\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRecord(b)
		if err != nil {
			return
		}
		if r.Level < 0 || r.Level > 7 || r.Facility < 0 || r.Facility > 255 || r.Timestamp < 0 {
			t.Errorf("out of range: %+v", r)
		}
		if len(r.Dict) > maxDictEntries || strings.Contains(r.Message, "\n") {
			t.Errorf("unbounded: %+v", r)
		}
	})
}

// The stream splitter never hands on more than MaxRecordSize bytes, however
// the input is cut into reads, and the cut does not change the records.
func FuzzSplitter(f *testing.F) {
	for _, s := range kmsgSeeds(f) {
		f.Add(s, uint16(7))
	}
	f.Add([]byte(strings.Repeat("a", MaxRecordSize+10)+"\n6,1,1,-;m\n"), uint16(100))
	f.Fuzz(func(t *testing.T, b []byte, cut uint16) {
		split := func(chunk int) []string {
			var out []string
			emit := func(rec []byte, oversized bool) error {
				if len(rec) > MaxRecordSize {
					t.Fatalf("record of %d bytes", len(rec))
				}
				if oversized {
					out = append(out, "<oversized>")
				} else {
					out = append(out, string(rec))
				}
				return nil
			}
			var s splitter
			for data := b; len(data) > 0; {
				n := min(chunk, len(data))
				s.feed(data[:n], emit)
				data = data[n:]
			}
			s.flush(emit)
			return out
		}
		whole := split(len(b) + 1)
		if pieces := split(int(cut)%64 + 1); !slices.Equal(whole, pieces) {
			t.Errorf("chunking changed the records:\n%q\n%q", whole, pieces)
		}
	})
}

func FuzzClassifyMessage(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "captures", "*.log"))
	for _, p := range paths {
		for _, line := range captureLines(f, filepath.Base(p)) {
			f.Add(dmesgMessage(line))
		}
	}
	sources := []string{SourceMCE, SourceGHES, SourceEDAC, SourceAER, SourceXid, SourceGPUOffBus, SourceNVMe, SourceDiskIO}
	severities := []string{SeverityCorrected, SeverityUncorrected, SeverityFatal, SeverityError}
	f.Fuzz(func(t *testing.T, msg string) {
		e, ok := ClassifyMessage(msg)
		if !ok {
			if e != (Event{}) {
				t.Errorf("non-event carries %+v", e)
			}
			return
		}
		if !slices.Contains(sources, e.Source) || !slices.Contains(severities, e.Severity) || e.Count < 1 {
			t.Errorf("unbounded event %+v", e)
		}
		if len(e.Device) > maxDeviceLen {
			t.Errorf("device of %d bytes", len(e.Device))
		}
		if d := e.Device; d != "" && pciAddress(d) != d && !isNVMeController(d) && !isDiskName(d) && !isDIMMLabel(d) {
			t.Errorf("device %q has no accepted shape", d)
		}
		if (e.Source == SourceXid) != (e.Xid != 0) {
			t.Errorf("xid %d on source %s", e.Xid, e.Source)
		}
	})
}
