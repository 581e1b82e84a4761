package server

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/location/redisstore"
	"github.com/parley-sip/parley/location/redisstore/redistest"
)

// TestAuthOverridesReachThePolicy: a domain's auth_overrides replace only
// the keys they set, and other domains keep the auth block's policy.
func TestAuthOverridesReachThePolicy(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte("auth:\n  methods: [REGISTER, INVITE]\n  allow_unauthenticated_to_local: true\n"+
		"auth_overrides:\n  example.org:\n    allow_unauthenticated_to_local: false\n  example.net:\n    methods: [REGISTER]\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, pol, err := authenticator(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		domain  string
		methods []string
		allow   bool
	}{
		{"example.com", []string{"REGISTER", "INVITE"}, true},
		{"example.org", []string{"REGISTER", "INVITE"}, false},
		{"EXAMPLE.NET", []string{"REGISTER"}, true},
	}
	for _, tc := range tests {
		p := pol.For(tc.domain)
		if !slices.Equal(p.Methods, tc.methods) || p.AllowUnauthenticatedToLocal != tc.allow {
			t.Errorf("%s: policy %+v, want methods %v allow %v", tc.domain, p, tc.methods, tc.allow)
		}
	}
}

// TestDefaultDigestAlgorithms: with auth.enabled and nothing else the
// challenge offers MD5 alone, because baresip 1.0 and other libre-based
// phones give up on a 401 that offers any other algorithm, wherever it
// stands (issue 13, defect 7). SHA-256 is offered only when configured.
func TestDefaultDigestAlgorithms(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"auth enabled and nothing else", "auth:\n  enabled: true\n", []string{"MD5"}},
		{"SHA-256 first, as RFC 8760 advises", "auth:\n  enabled: true\n  algorithms: [SHA-256, MD5]\n", []string{"SHA-256", "MD5"}},
		{"MD5 first, for UAs that read one challenge", "auth:\n  enabled: true\n  algorithms: [MD5, SHA-256]\n", []string{"MD5", "SHA-256"}},
		{"SHA-256 alone", "auth:\n  enabled: true\n  algorithms: [SHA-256]\n", []string{"SHA-256"}},
	}
	algRE := regexp.MustCompile(`algorithm=([A-Za-z0-9-]+)`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse("t.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			cfg.DataDir = t.TempDir()
			a, _, err := authenticator(cfg, &storage{}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ch := range a.Challenge("example.com", false, false) {
				if m := algRE.FindStringSubmatch(ch); m != nil {
					got = append(got, m[1])
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("challenges offer %v, want %v", got, tc.want)
			}
		})
	}
}

// TestOpenRedisLocation: with storage.location redis the bindings go to
// Redis whatever storage.engine is, and the engine keeps the subscribers
// and the call records; a Redis that does not answer is an error naming
// the key.
func TestOpenRedisLocation(t *testing.T) {
	own := redistest.Start(t)
	tests := []struct {
		name, engine string
		url          string
		prefix       string // storage.redis_prefix, "" for the default
		users        bool
		err          string
	}{
		{"memory engine", "memory", own.URL(), "", false, ""},
		{"sqlite engine", "sqlite", own.URL(), "", true, ""},
		{"own prefix", "memory", own.URL(), "acme-prod:", false, ""},
		{"no Redis there", "memory", "redis://127.0.0.1:1/0", "", false, "storage.redis_url: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := ""
			if tc.prefix != "" {
				prefix = fmt.Sprintf("  redis_prefix: %q\n", tc.prefix)
			}
			cfg, err := config.Parse("t.yaml", []byte(fmt.Sprintf("data_dir: %s\nstorage:\n  engine: %s\n  location: redis\n  redis_url: %s\n%s"+
				"cdr:\n  enabled: true\n", t.TempDir(), tc.engine, tc.url, prefix)))
			if err != nil {
				t.Fatal(err)
			}
			st, err := openStorage(cfg, slog.Default(), slog.Default())
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
					t.Fatalf("openStorage = %v, want an error starting %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, ok := st.bindings.(*redisstore.Store); !ok {
				t.Errorf("bindings in a %T, want *redisstore.Store", st.bindings)
			}
			if (st.users != nil) != tc.users {
				t.Errorf("subscribers opened: %v, want %v", st.users != nil, tc.users)
			}
			if st.cdrs == nil {
				t.Error("no call detail record store")
			}
			checkKeyPrefix(t, st.bindings, tc.url, cmp.Or(tc.prefix, config.DefaultRedisPrefix))
		})
	}
}

// checkKeyPrefix stores a binding for an AOR of t's own and checks that
// its key in the Redis at url starts with prefix.
func checkKeyPrefix(t *testing.T, st location.Store, url, prefix string) {
	t.Helper()
	now := time.Now()
	aor := "sip:" + strings.ReplaceAll(t.Name(), "/", "-") + "@example.com"
	if _, err := st.Update(context.Background(), aor, now, func([]location.Binding) ([]location.Binding, error) {
		return []location.Binding{{Contact: "sip:a@192.0.2.1", Q: 1000, Expires: now.Add(time.Minute), Updated: now}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	c := redistest.Client(t, url)
	keys, err := c.Do(context.Background(), c.B().Keys().Pattern("*a:"+aor).Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || !strings.HasPrefix(keys[0], prefix+"loc:{") {
		t.Errorf("keys of %s: %q, want one starting %q", aor, keys, prefix+"loc:{")
	}
}

// TestStorageName: the startup line names where registrations are, and
// never a password.
func TestStorageName(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte("data_dir: /var/lib/parley\nstorage:\n  location: redis\n  redis_url: redis://u:s3cret@10.0.0.5:6379/2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := StorageName(cfg), "sqlite /var/lib/parley/parley.db, registrations in redis 10.0.0.5:6379/2"; got != want {
		t.Errorf("StorageName = %q, want %q", got, want)
	}
}
