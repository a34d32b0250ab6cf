package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/hardware-exporter/hardware_exporter/internal/probe"
	"github.com/hardware-exporter/hardware_exporter/internal/probe/confval"
)

// decode applies the YAML document b onto v, which holds the defaults.
//
// yaml.v3's own strict mode (Decoder.KnownFields) is lost as soon as a
// custom UnmarshalYAML calls Node.Decode, and its type errors name no key.
// So the document is parsed to nodes and walked here against the Go
// types: every mapping key must be a field's yaml tag, every scalar is
// decoded into its field alone, and each problem names the dotted key and
// its line.
func decode(b []byte, v reflect.Value) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		msg, _ := strings.CutPrefix(err.Error(), "yaml: ")
		return fmt.Errorf("invalid YAML: %s", msg)
	}
	var second yaml.Node
	if err := dec.Decode(&second); err == nil {
		return fmt.Errorf("line %d: a config file holds one YAML document, not several", second.Line)
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) { // empty document: all defaults
		return nil
	}
	var e errs
	decodeStruct(doc.Content[0], "", v, &e)
	return e.err()
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// pairs yields the key and value nodes of mapping n, reporting keys given
// twice.
func pairs(n *yaml.Node, prefix string, e *errs, fn func(key string, k, v *yaml.Node)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := join(prefix, k.Value)
		if first, dup := seen[k.Value]; dup {
			e.add(k.Line, key, "given twice (first on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		fn(key, k, v)
	}
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// field finds the field of struct value v whose yaml tag is name.
func field(v reflect.Value, name string) (reflect.Value, reflect.StructField, bool) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); tag == name && tag != "" {
			return v.Field(i), f, true
		}
	}
	return reflect.Value{}, reflect.StructField{}, false
}

// decodeStruct decodes mapping n into struct v. A null value (a key with
// nothing after it) keeps the defaults.
func decodeStruct(n *yaml.Node, prefix string, v reflect.Value, e *errs) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		e.add(n.Line, orTop(prefix), "want a mapping of keys, got a %s", confval.KindName(n))
		return
	}
	pairs(n, prefix, e, func(key string, k, val *yaml.Node) {
		if v.Type() == reflect.TypeFor[Probes]() {
			decodeProbes(k, val, key, v.Addr().Interface().(*Probes), e)
			return
		}
		fv, sf, ok := field(v, k.Value)
		if !ok {
			e.add(k.Line, key, "unknown key (known here: %s)", strings.Join(keysOf(v.Type()), ", "))
			return
		}
		decodeValue(val, key, fv, sf, e)
	})
}

func orTop(prefix string) string {
	if prefix == "" {
		return "the document"
	}
	return prefix
}

// keysOf lists the yaml keys of struct type t.
func keysOf(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" {
			keys = append(keys, tag)
		}
	}
	return keys
}

// decodeValue decodes n into the field fv (described by sf) and applies
// its check tag.
func decodeValue(n *yaml.Node, key string, fv reflect.Value, sf reflect.StructField, e *errs) {
	if _, custom := fv.Addr().Interface().(yaml.Unmarshaler); !custom && fv.Kind() == reflect.Struct {
		decodeStruct(n, key, fv, e)
		return
	}
	if isNull(n) {
		e.add(n.Line, key, "needs a value")
		return
	}
	if n.Kind != yaml.ScalarNode {
		e.add(n.Line, key, "want %s, got a %s", want(fv.Type()), confval.KindName(n))
		return
	}
	// Decode into a fresh value so a bad one leaves the default in place.
	nv := reflect.New(fv.Type())
	if err := n.Decode(nv.Interface()); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			e.add(n.Line, key, "want %s, got %q", want(fv.Type()), n.Value)
		} else {
			e.add(n.Line, key, "%v", err)
		}
		return
	}
	if msg := check(sf.Tag.Get("check"), nv.Elem()); msg != "" {
		e.add(n.Line, key, "%s", msg)
		return
	}
	fv.Set(nv.Elem())
}

// want names what a value of type t is written as.
func want(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Duration]():
		return `a duration like "30s"`
	case reflect.TypeFor[confval.Path]():
		return "an absolute path"
	case reflect.TypeFor[confval.Regexp]():
		return "a regular expression"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return want(t.Elem())
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64:
		return "a whole number"
	case reflect.String:
		return "a string"
	}
	return "a " + t.String()
}

// check applies a field's check tag to v, returning what is wrong or "".
func check(rule string, v reflect.Value) string {
	switch rule {
	case "":
	case "positive":
		if d, ok := v.Interface().(Duration); ok && d <= 0 {
			return fmt.Sprintf("must be positive, got %s", d)
		}
		if v.CanInt() && v.Int() < 1 {
			return fmt.Sprintf("must be at least 1, got %d", v.Int())
		}
	case "nonempty":
		if v.String() == "" {
			return "must not be empty"
		}
	default:
		panic("unknown check rule " + rule)
	}
	return ""
}

// decodeProbes decodes one key of the probes mapping: "defaults" or a
// registered probe's section.
func decodeProbes(k, n *yaml.Node, key string, p *Probes, e *errs) {
	if k.Value == "defaults" {
		decodeStruct(n, key, reflect.ValueOf(&p.Defaults).Elem(), e)
		return
	}
	cur, ok := p.ByName[k.Value]
	if !ok {
		e.add(k.Line, key, "unknown probe (known: %s)", strings.Join(probe.Names(), ", "))
		return
	}
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		e.add(n.Line, key, "want a mapping of the probe's settings, got a %s", confval.KindName(n))
		return
	}
	common := reflect.ValueOf(cur).Elem()
	var opts reflect.Value
	if cur.Options != nil {
		opts = reflect.ValueOf(cur.Options).Elem()
	}
	pairs(n, key, e, func(key string, k, val *yaml.Node) {
		if fv, sf, ok := field(common, k.Value); ok {
			decodeValue(val, key, fv, sf, e)
			return
		}
		if opts.IsValid() {
			if fv, sf, ok := field(opts, k.Value); ok {
				decodeValue(val, key, fv, sf, e)
				return
			}
		}
		if owners := optionOwners(k.Value); len(owners) > 0 {
			e.add(k.Line, key, "applies only to %s", strings.Join(owners, ", "))
			return
		}
		known := keysOf(common.Type())
		if opts.IsValid() {
			known = append(known, keysOf(opts.Type())...)
		}
		e.add(k.Line, key, "unknown key (known here: %s)", strings.Join(known, ", "))
	})
}

// optionOwners lists the probes that have an option called key.
func optionOwners(key string) []string {
	var owners []string
	for _, s := range probe.Specs() {
		if o := s.DefaultOptions(); o != nil && slices.Contains(keysOf(reflect.TypeOf(o).Elem()), key) {
			owners = append(owners, s.Name)
		}
	}
	sort.Strings(owners)
	return owners
}
