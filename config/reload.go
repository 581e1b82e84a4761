package config

import "reflect"

// Reload says what a SIGHUP does with a key. Every key of Config carries
// one in its `reload` struct tag (a test walks the schema), so that a key
// added later cannot be silently ignored by a reload: its author has to
// decide, and the server has to honour the decision.
type Reload string

// Reload classes.
const (
	// ReloadLive keys take effect when the configuration is reloaded.
	ReloadLive Reload = "live"
	// ReloadRestart keys shape state built once at start (sockets,
	// databases, tables sized at start); a reload keeps their running
	// value and reports the new one as waiting for a restart.
	ReloadRestart Reload = "restart"
)

// Key is one leaf key of the schema.
type Key struct {
	// Name is the dotted YAML name, as errors and the README spell it.
	Name string
	// Reload is the key's class; empty when the field has no valid tag,
	// which TestEveryKeyHasAReloadClass forbids.
	Reload Reload

	index []int // the field's path for reflect.Value.FieldByIndex
}

// Keys lists every leaf key of Config in schema order. A struct-valued
// field is a block of keys and is walked into; anything else (scalars,
// lists, maps) is one key.
func Keys() []Key {
	return appendKeys(nil, reflect.TypeFor[Config](), "", nil)
}

func appendKeys(keys []Key, t reflect.Type, prefix string, index []int) []Key {
	for i := range t.NumField() {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" {
			continue
		}
		idx := append(append([]int(nil), index...), i)
		if f.Type.Kind() == reflect.Struct {
			keys = appendKeys(keys, f.Type, prefix+name+".", idx)
			continue
		}
		class := Reload(f.Tag.Get("reload"))
		if class != ReloadLive && class != ReloadRestart {
			class = ""
		}
		keys = append(keys, Key{Name: prefix + name, Reload: class, index: idx})
	}
	return keys
}

// ForReload returns what to run after a reload from running to next: next,
// with every key that cannot change without a restart set back to its
// running value, and the names of those keys whose value in next differs
// (in schema order). A key without a class counts as restart-only, the
// safe side: a value kept and reported, never a value claimed and ignored.
//
// Because running holds the values the process started with for those
// keys, a file that changes a key and later changes it back stops
// reporting it.
func ForReload(running, next *Config) (*Config, []string) {
	out := *next
	cur, want := reflect.ValueOf(running).Elem(), reflect.ValueOf(&out).Elem()
	var pending []string
	for _, k := range Keys() {
		if k.Reload == ReloadLive {
			continue
		}
		if k.differs(cur, want) {
			pending = append(pending, k.Name)
			want.FieldByIndex(k.index).Set(cur.FieldByIndex(k.index))
		}
	}
	return &out, pending
}

// Changed names the keys whose values differ between a and b, in schema
// order, so that a reload can say what it changed.
func Changed(a, b *Config) []string {
	av, bv := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	var out []string
	for _, k := range Keys() {
		if k.differs(av, bv) {
			out = append(out, k.Name)
		}
	}
	return out
}

// differs reports whether the key holds different values in two Configs.
func (k Key) differs(a, b reflect.Value) bool {
	return !reflect.DeepEqual(a.FieldByIndex(k.index).Interface(), b.FieldByIndex(k.index).Interface())
}
