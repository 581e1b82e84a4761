package guard

import "strings"

func lowerAll(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if s != "" {
			out = append(out, strings.ToLower(s))
		}
	}
	return out
}

// matchAny reports whether s contains any of the lower-case patterns,
// ignoring ASCII case, without allocating a lower-case copy of s.
func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if containsFold(s, p) {
			return true
		}
	}
	return false
}

// containsFold reports whether s contains lower (already lower case),
// comparing ASCII letters case-insensitively.
func containsFold(s, lower string) bool {
	n := len(lower)
	for i := 0; i+n <= len(s); i++ {
		if equalFoldAt(s[i:i+n], lower) {
			return true
		}
	}
	return false
}

func equalFoldAt(s, lower string) bool {
	for j := 0; j < len(lower); j++ {
		c := s[j]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[j] {
			return false
		}
	}
	return true
}
