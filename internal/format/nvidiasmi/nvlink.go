package nvidiasmi

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hardware-exporter/hardware_exporter/internal/format/lines"
)

// NVLinkCounter is one error counter of one NVLink of one GPU, as
// `nvidia-smi nvlink -e` prints it:
//
//	GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-…)
//		 Link 0: Replay Errors: 0
//		 Link 0: Recovery Errors: 0
//		 Link 0: CRC Errors: 0
type NVLinkCounter struct {
	GPU  int    // index, as in --query-gpu=index
	UUID string // "" when the GPU line names none
	Link int
	// Counter is the counter's name in lower case, words joined by "_",
	// without "errors": "replay", "recovery", "crc", "crc_flit", ...
	Counter string
	Value   float64
}

// maxNVLinkCounters bounds what one output may yield: 8 GPUs of 18 links
// with a handful of counters each is under 1,000.
const maxNVLinkCounters = 16384

// ParseNVLinkErrors parses `nvidia-smi nvlink -e`. A counter line before
// any GPU line, or whose value is not a number ("N/A" on an inactive
// link), is left out; a malformed line is returned as an error, one per
// line, and the lines after it are read.
func ParseNVLinkErrors(out []byte) ([]NVLinkCounter, []error) {
	var counters []NVLinkCounter
	var errs []error
	gpu, uuid := -1, ""
	for l := range lines.NonBlank(out, MaxLineLength, &errs) {
		if len(counters) >= maxNVLinkCounters {
			break
		}
		n, line := l.N, strings.TrimSpace(l.Text)
		if head, ok := strings.CutPrefix(line, "GPU "); ok {
			idx, desc, _ := strings.Cut(head, ":")
			i, err := strconv.Atoi(idx)
			if err != nil || i < 0 {
				errs = append(errs, fmt.Errorf("line %d: malformed GPU line %q", n, line))
				gpu = -1
				continue
			}
			gpu, uuid = i, ""
			if _, u, ok := strings.Cut(desc, "(UUID: "); ok {
				uuid, _, _ = strings.Cut(u, ")")
			}
			continue
		}
		head, ok := strings.CutPrefix(line, "Link ")
		if !ok {
			continue // a heading or message nvidia-smi prints, not a counter
		}
		parts := strings.SplitN(head, ":", 3)
		if len(parts) != 3 {
			errs = append(errs, fmt.Errorf("line %d: malformed link line %q", n, line))
			continue
		}
		link, err := strconv.Atoi(strings.TrimSpace(parts[0]))
		name := counterName(parts[1])
		if err != nil || link < 0 || name == "" {
			errs = append(errs, fmt.Errorf("line %d: malformed link line %q", n, line))
			continue
		}
		if gpu < 0 {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSpace(parts[2]), 10, 64)
		if err != nil {
			continue // N/A: the link is down or the counter unsupported
		}
		counters = append(counters, NVLinkCounter{GPU: gpu, UUID: uuid, Link: link, Counter: name, Value: float64(v)})
	}
	return counters, errs
}

// counterName turns "Replay Errors" into "replay" and "CRC Flit Errors"
// into "crc_flit"; anything but letters, digits and spaces, or longer
// than 32 bytes, yields "" (not a label value taken from the host).
func counterName(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(s, " Errors")
	s = strings.TrimSuffix(s, " Error")
	if s == "" || len(s) > 32 {
		return ""
	}
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-':
			b.WriteByte('_')
		default:
			return ""
		}
	}
	return b.String()
}
