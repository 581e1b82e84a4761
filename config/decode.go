package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// decoder walks a yaml.Node tree against the schema by reflection.
// yaml.v3's own strict mode (KnownFields) reports "field x not found in type
// config.RegistrarConfig" with a line but without the key path, and stops at
// the first problem; walking the nodes ourselves gives the dotted key for
// every error, reports them all, and records where each key was set so that
// validation errors can carry lines too.
type decoder struct {
	errs Errors
	// pos maps a dotted key to the line that set it.
	pos map[string]int
	// merging holds the mappings being expanded by merge keys, to stop an
	// anchor that merges itself; budget bounds the pairs merges may bring
	// in, since nested merges of merges grow exponentially.
	merging map[*yaml.Node]bool
	budget  int
}

func newDecoder() *decoder {
	return &decoder{pos: make(map[string]int), merging: make(map[*yaml.Node]bool), budget: 10000}
}

// nodeDecoder is implemented by types whose YAML form is not the shape of
// their Go struct (Duration, Listener).
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, key string)
}

func (d *decoder) fail(line int, key, format string, args ...any) {
	d.errs = append(d.errs, &Error{Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// decode sets v from n. A null node (a key with no value, or ~) leaves v as
// it is, so "registrar:" with nothing under it keeps the defaults.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, key string) {
	n = resolveAlias(n)
	if isNull(n) {
		return
	}
	if v.CanAddr() {
		if nd, ok := v.Addr().Interface().(nodeDecoder); ok {
			nd.decodeNode(d, n, key)
			return
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		// Decode into a copy and keep it only on success, so that a
		// failed override key stays unset rather than set to zero.
		elem := reflect.New(v.Type().Elem())
		if !v.IsNil() {
			elem.Elem().Set(v.Elem())
		}
		before := len(d.errs)
		d.decode(n, elem.Elem(), key)
		if len(d.errs) == before {
			v.Set(elem)
		}
	case reflect.Struct:
		d.decodeStruct(n, v, key)
	case reflect.Slice:
		d.decodeSlice(n, v, key)
	case reflect.Map:
		d.decodeMap(n, v, key)
	case reflect.String:
		if !isScalar(n, "!!str") {
			hint := ""
			if n.Kind == yaml.ScalarNode {
				hint = " (quote it to make it a string)"
			}
			d.fail(n.Line, key, "must be a string, got %s%s", describe(n), hint)
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if !isScalar(n, "!!bool") || n.Decode(&b) != nil {
			d.fail(n.Line, key, "must be true or false, got %s%s", describe(n), unquoteHint(n, "!!bool"))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if !isScalar(n, "!!int") || n.Decode(&i) != nil || v.OverflowInt(i) {
			d.fail(n.Line, key, "must be a whole number, got %s%s", describe(n), unquoteHint(n, "!!int"))
			return
		}
		v.SetInt(i)
	default:
		// Only reachable if the schema gains a field of a kind this walker
		// does not handle; the tests decode every field, so they catch it.
		panic("config: cannot decode into " + v.Type().String())
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, key, "must be a mapping of keys, got %s", describe(n))
		return
	}
	fields := make(map[string]int)
	var names []string
	for i := range v.NumField() {
		name := yamlName(v.Type().Field(i))
		if name == "" {
			continue
		}
		fields[name] = i
		names = append(names, name)
	}
	for _, p := range d.pairs(n, key) {
		name := p.key.Value
		k := join(key, name)
		i, ok := fields[name]
		if !ok {
			d.fail(p.key.Line, k, "unknown key%s", suggest(name, names))
			continue
		}
		d.pos[k] = p.key.Line // the last pair decoded is the one that counts
		d.decode(p.value, v.Field(i), k)
	}
}

// decodeSlice replaces the whole list rather than merging with the
// default's items: a file that lists listeners means exactly those.
func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n.Line, key, "must be a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		k := fmt.Sprintf("%s[%d]", key, i)
		d.pos[k] = item.Line
		if isNull(resolveAlias(item)) {
			d.fail(item.Line, k, "empty list item")
			continue
		}
		d.decode(item, s.Index(i), k)
	}
	v.Set(s)
}

// decodeMap handles string-keyed maps (domain_overrides). Entries are
// merged into the existing map, each overlaid on the entry it replaces.
func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, key, "must be a mapping, got %s", describe(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for _, p := range d.pairs(n, key) {
		name := p.key.Value
		k := join(key, name)
		if name == "" {
			d.fail(p.key.Line, k, "empty key")
			continue
		}
		d.pos[k] = p.key.Line // the last pair decoded is the one that counts
		mk := reflect.ValueOf(name).Convert(v.Type().Key())
		elem := reflect.New(v.Type().Elem()).Elem()
		if old := v.MapIndex(mk); old.IsValid() {
			elem.Set(old)
		}
		d.decode(p.value, elem, k)
		v.SetMapIndex(mk, elem)
	}
}

type pair struct{ key, value *yaml.Node }

// pairs returns a mapping's key/value pairs, those brought in by merge keys
// (<<: *anchor) first, so that the mapping's own keys win without counting
// as duplicates. It reports non-scalar and duplicate keys: yaml.v3
// checks duplicates only when decoding into Go values, not into Nodes.
func (d *decoder) pairs(n *yaml.Node, key string) []pair {
	var merged, own []pair
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolveAlias(n.Content[i]), n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergePairs(v, key)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(k.Line, key, "keys must be plain names, got %s", describe(k))
			continue
		}
		if line, dup := seen[k.Value]; dup {
			d.fail(k.Line, join(key, k.Value), "duplicate key; first set on line %d", line)
			continue
		}
		seen[k.Value] = k.Line
		own = append(own, pair{key: k, value: v})
	}
	return append(merged, own...)
}

// mergePairs expands the value of a merge key: a mapping, or a list of
// mappings in which earlier ones win.
func (d *decoder) mergePairs(v *yaml.Node, key string) []pair {
	if d.budget < 0 {
		return nil // already reported
	}
	v = resolveAlias(v)
	maps := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		maps = maps[:0]
		for i := len(v.Content) - 1; i >= 0; i-- {
			maps = append(maps, resolveAlias(v.Content[i]))
		}
	}
	var out []pair
	for _, m := range maps {
		if m.Kind != yaml.MappingNode {
			d.fail(m.Line, key, "a merge (<<) needs a mapping or a list of mappings, got %s", describe(m))
			continue
		}
		if d.merging[m] {
			d.fail(m.Line, key, "a merge (<<) includes the mapping it is in")
			continue
		}
		d.merging[m] = true
		ps := d.pairs(m, key)
		delete(d.merging, m)
		if d.budget -= len(ps); d.budget < 0 {
			d.fail(m.Line, key, "merges (<<) expand to too many keys")
			return nil
		}
		out = append(out, ps...)
	}
	return out
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func isScalar(n *yaml.Node, tag string) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == tag
}

// unquoteHint explains the commonest type error, a value quoted into a
// string ("true", "5"), which reads as right to anyone but YAML.
func unquoteHint(n *yaml.Node, tag string) string {
	if n.Kind != yaml.ScalarNode || n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 {
		return ""
	}
	plain := yaml.Node{Kind: yaml.ScalarNode, Value: n.Value}
	if plain.ShortTag() != tag {
		return ""
	}
	return " (remove the quotes)"
}

// describe names what the file holds, for "must be X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return strconv.Quote(n.Value)
		case "!!null":
			return "nothing"
		}
		return n.Value
	}
	return "an unexpected YAML node"
}

func join(key, name string) string {
	if key == "" {
		return name
	}
	return key + "." + name
}

func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// suggest points at the nearest valid key, since most unknown keys are
// typos; failing that it lists them all.
func suggest(name string, valid []string) string {
	best, bestDist := "", 3
	for _, v := range valid {
		if dist := editDistance(name, v); dist < bestDist {
			best, bestDist = v, dist
		}
	}
	if best != "" {
		return " (did you mean " + best + "?)"
	}
	return "; valid keys: " + strings.Join(valid, ", ")
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
