package config

import (
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written in YAML as a Go duration string
// ("32s", "500ms"). A bare number is refused rather than guessed at: SIP
// mixes seconds (Expires) and milliseconds (T1), so "60" is ambiguous.
type Duration time.Duration

// Duration returns d as a time.Duration, for passing to the time package.
func (d Duration) Duration() time.Duration { return time.Duration(d) }

// String writes whole seconds as "3600s" rather than time.Duration's
// "1h0m0s", so that dumped configs read like the documentation.
func (d Duration) String() string {
	td := time.Duration(d)
	switch {
	case td == 0:
		return "0s"
	case td%time.Second == 0:
		return strconv.FormatInt(int64(td/time.Second), 10) + "s"
	case td%time.Millisecond == 0:
		return strconv.FormatInt(int64(td/time.Millisecond), 10) + "ms"
	}
	return td.String()
}

// MarshalYAML writes the String form, so marshalled configs parse back.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML lets other YAML documents (stage configs, tests) use
// Duration with plain yaml.v3 decoding.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	dec := newDecoder()
	d.decodeNode(dec, n, "")
	if len(dec.errs) > 0 {
		return dec.errs
	}
	return nil
}

func (d *Duration) decodeNode(dec *decoder, n *yaml.Node, key string) {
	if isScalar(n, "!!int") || isScalar(n, "!!float") {
		dec.fail(n.Line, key, "must be a duration with a unit, like 60s or 500ms, got %s", n.Value)
		return
	}
	if !isScalar(n, "!!str") {
		dec.fail(n.Line, key, "must be a duration like 60s, got %s", describe(n))
		return
	}
	td, err := time.ParseDuration(n.Value)
	if err != nil {
		dec.fail(n.Line, key, "must be a duration like 60s, got %q", n.Value)
		return
	}
	*d = Duration(td)
}
