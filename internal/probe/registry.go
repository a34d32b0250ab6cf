package probe

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"
)

// Spec declares a probe: everything the daemon, the config loader, the
// shipped example config, the flags and the docs know of it. Each probe's
// file registers its Spec from init, and nothing else lists probe names or
// option keys.
type Spec struct {
	// Name is the probe's config key and the value of its "probe" label.
	Name string
	// Summary says in a line what the probe exports; it heads the probe's
	// section of the example config and its --probe.NAME flag.
	Summary string
	// Reads and Privilege fill README's probe table (Markdown).
	Reads     string
	Privilege string
	// Interval and Timeout are the probe's own defaults; zero inherits
	// probes.defaults.
	Interval, Timeout time.Duration
	// Kind says what one run costs, which sets the shortest interval and
	// timeout the config accepts for the probe (Kind.Floor).
	Kind Kind
	// Options returns a new options struct holding the defaults, as a
	// pointer; nil when the probe has no options of its own. Its exported
	// fields carry yaml tags (the config keys) and help tags (the example
	// config's comments); their types decode and check themselves
	// (internal/probe/confval).
	Options func() any
	// New builds the probe. It is called once per daemon.
	New func() Probe
}

// Kind is what one run of a probe costs.
type Kind int

const (
	// KindRead probes read sysfs, procfs or files: a run costs
	// milliseconds of this process.
	KindRead Kind = iota
	// KindTool probes start an external tool (smartctl, ipmitool,
	// nvidia-smi, storcli, ssacli), which may wake disks or ask a BMC that
	// answers one request at a time.
	KindTool
)

// Floor returns the shortest interval and timeout the config accepts for
// a probe of this kind unless its section says allow_fast: true. An
// interval of "1ms", one character from "1m", ran ipmitool hundreds of
// times a second; a timeout shorter than a tool takes to start fails every
// run.
func (k Kind) Floor() (interval, timeout time.Duration) {
	if k == KindTool {
		return time.Minute, 5 * time.Second
	}
	return 5 * time.Second, time.Second
}

// String names the kind in messages: what a probe of the kind does.
func (k Kind) String() string {
	if k == KindTool {
		return "runs a tool"
	}
	return "reads files"
}

var specs = map[string]Spec{}

// Register makes a probe known. Probe files call it from init.
func Register(s Spec) {
	if _, dup := specs[s.Name]; dup {
		panic(fmt.Sprintf("probe %q registered twice", s.Name))
	}
	if s.New == nil || s.Summary == "" || s.Reads == "" || s.Privilege == "" {
		panic(fmt.Sprintf("probe %q: Spec needs New, Summary, Reads and Privilege", s.Name))
	}
	if s.Options != nil {
		if t := reflect.TypeOf(s.Options()); t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
			panic(fmt.Sprintf("probe %q: Options must return a pointer to a struct, not %s", s.Name, t))
		}
	}
	specs[s.Name] = s
}

// Lookup returns the Spec registered as name.
func Lookup(name string) (Spec, bool) {
	s, ok := specs[name]
	return s, ok
}

// Specs lists every registered probe, sorted by name.
func Specs() []Spec {
	out := make([]Spec, 0, len(specs))
	for _, s := range specs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names lists the probes this build knows, sorted.
func Names() []string {
	names := make([]string, 0, len(specs))
	for _, s := range Specs() {
		names = append(names, s.Name)
	}
	return names
}

// DefaultOptions returns a new options struct of the named probe holding
// its defaults, or nil when it has none.
func (s Spec) DefaultOptions() any {
	if s.Options == nil {
		return nil
	}
	return s.Options()
}

// optionsOf returns env's options as the probe's own type, or its defaults
// when env carries none (a test that builds an Env by hand).
func optionsOf[O any](env Env, defaults func() *O) *O {
	if o, ok := env.Options.(*O); ok && o != nil {
		return o
	}
	return defaults()
}

// toolOptions are a tool probe's options (P is *O): available says why the
// tool they name cannot start (not installed, not executable), or nil.
type toolOptions[O any] interface {
	*O
	available() error
}

// openTool begins a run of a tool probe (gpu, ipmi, raid, sel, smart), the
// same way for each: the probe's options (env's, or its defaults), then a
// run already called off fails with ctx.Err(), then a tool that cannot
// start fails with the reason, then mu is locked, for a probe whose state
// between runs a whole run must hold (nil: none). On success the caller
// defers unlock.
func openTool[O any, P toolOptions[O]](ctx context.Context, env Env, defaults func() *O, mu *sync.Mutex) (o *O, unlock func(), err error) {
	o = optionsOf(env, defaults)
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if err := P(o).available(); err != nil {
		return nil, nil, err
	}
	if mu == nil {
		return o, func() {}, nil
	}
	mu.Lock()
	return o, mu.Unlock, nil
}

// New builds the probe registered as name.
func New(name string) (Probe, error) {
	s, ok := specs[name]
	if !ok {
		return nil, fmt.Errorf("unknown probe %q", name)
	}
	return s.New(), nil
}
