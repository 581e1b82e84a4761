package sqlstore

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Path is stored as a JSON array of strings that an operator can read and
// that round-trips every byte: encoding/json would rewrite invalid UTF-8
// and HTML characters (a Path is all angle brackets), so the encoding is
// done here, escaping only what JSON requires.

const hexDigits = "0123456789abcdef"

// pathText encodes p; no Path, the usual case, is the empty string.
func pathText(p []string) string {
	if len(p) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range p {
		if i > 0 {
			b.WriteByte(',')
		}
		writeQuoted(&b, s)
	}
	b.WriteByte(']')
	return b.String()
}

func writeQuoted(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// parsePath decodes what pathText wrote. The common form, with nothing
// escaped, is split without a parser; anything else goes through the
// escape-aware decoder.
func parsePath(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) >= 4 && strings.HasPrefix(s, `["`) && strings.HasSuffix(s, `"]`) && !strings.ContainsRune(s, '\\') {
		parts := strings.Split(s[2:len(s)-2], `","`)
		if !anyQuote(parts) {
			return parts, nil
		}
	}
	return decodePath(s)
}

func anyQuote(parts []string) bool {
	for _, p := range parts {
		if strings.IndexByte(p, '"') >= 0 {
			return true
		}
	}
	return false
}

// decodePath decodes a JSON array of strings byte for byte. A \u escape of
// a byte below 0x80 gives that byte, as pathText writes it; other escapes
// (an operator's edit) are left to encoding/json.
func decodePath(s string) ([]string, error) {
	var out []string
	rest, ok := strings.CutPrefix(s, "[")
	for ok && rest != "]" {
		var elem string
		if elem, rest, ok = unquote(rest); !ok {
			break
		}
		out = append(out, elem)
		if r, more := strings.CutPrefix(rest, ","); more {
			rest = r
		} else if rest != "]" {
			ok = false
		}
	}
	if ok {
		return out, nil
	}
	var p []string
	// encoding/json would turn invalid UTF-8 into U+FFFD: refuse rather
	// than load a Path that differs from the one stored.
	if err := json.Unmarshal([]byte(s), &p); err != nil || !utf8.ValidString(s) {
		return nil, fmt.Errorf("path %q: not a JSON array of strings", s)
	}
	return p, nil
}

// unquote reads one quoted string at the start of s and returns it and
// what follows; ok is false for anything pathText would not have written.
func unquote(s string) (elem, rest string, ok bool) {
	if !strings.HasPrefix(s, `"`) {
		return "", s, false
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], true
		case '\\':
			n, width := unescape(s[i:])
			if width == 0 {
				return "", s, false
			}
			b.WriteByte(n)
			i += width - 1
		default:
			b.WriteByte(c)
		}
	}
	return "", s, false
}

// unescape decodes the escape at the start of s (\" \\ or \u00XX below
// 0x80) and returns the byte and the escape's length, or width 0.
func unescape(s string) (c byte, width int) {
	if len(s) >= 2 && (s[1] == '"' || s[1] == '\\') {
		return s[1], 2
	}
	if len(s) < 6 || s[1] != 'u' || s[2] != '0' || s[3] != '0' {
		return 0, 0
	}
	hi, lo := fromHex(s[4]), fromHex(s[5])
	if hi < 0 || hi > 7 || lo < 0 {
		return 0, 0
	}
	return byte(hi<<4 | lo), 6
}

// fromHex is the value of a hex digit, or -1.
func fromHex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
