package config

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestEveryKeyHasAReloadClass is what keeps a reload honest as the schema
// grows: a new key without reload:"live" or reload:"restart" fails here,
// so nobody can add a setting that a SIGHUP silently ignores.
func TestEveryKeyHasAReloadClass(t *testing.T) {
	keys := Keys()
	if len(keys) < 50 {
		t.Fatalf("Keys found %d keys; the walk lost some", len(keys))
	}
	for _, k := range keys {
		if k.Reload == "" {
			t.Errorf(`%s has no reload class: tag its field reload:"live" (and apply it in server.Reload) or reload:"restart"`, k.Name)
		}
	}
	checkNoBlockTag(t, reflect.TypeFor[Config](), "")
}

// checkNoBlockTag fails on a reload tag on a block, which Keys ignores:
// the class belongs on each of its keys.
func checkNoBlockTag(t *testing.T, typ reflect.Type, prefix string) {
	for i := range typ.NumField() {
		f := typ.Field(i)
		if name := yamlName(f); name != "" && f.Type.Kind() == reflect.Struct {
			if f.Tag.Get("reload") != "" {
				t.Errorf("%s%s is a block: tag its keys, not the block", prefix, name)
			}
			checkNoBlockTag(t, f.Type, prefix+name+".")
		}
	}
}

// TestReferenceListsRestartKeys keeps the README's list of the keys a
// reload cannot change equal to the schema's.
func TestReferenceListsRestartKeys(t *testing.T) {
	data, err := os.ReadFile(referenceDoc)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(string(data)), " ")
	m := regexp.MustCompile("keep their running value until then: (.*?)\\. ").FindStringSubmatch(text + " ")
	if m == nil {
		t.Fatalf("%s does not list the keys that need a restart", referenceDoc)
	}
	var documented []string
	for _, k := range regexp.MustCompile("`([a-z_0-9.]+)`").FindAllStringSubmatch(m[1], -1) {
		documented = append(documented, k[1])
	}
	var restart []string
	for _, k := range Keys() {
		if k.Reload == ReloadRestart {
			restart = append(restart, k.Name)
		}
	}
	if !slices.Equal(documented, restart) {
		t.Errorf("%s lists %v as needing a restart; the schema says %v", referenceDoc, documented, restart)
	}
}

// TestReloadClasses pins the classes issue 14 asks for: what an operator
// changes while phones are registered applies at once.
func TestReloadClasses(t *testing.T) {
	class := map[string]Reload{}
	for _, k := range Keys() {
		class[k.Name] = k.Reload
	}
	for _, name := range []string{
		"domains", "aliases", "log_level", "trace", "server_header", "shutdown_timeout",
		"registrar.min_expires", "registrar.max_contacts", "domain_overrides",
		"proxy.forking", "proxy.record_route", "proxy.timer_c",
		"auth.enabled", "auth.algorithms", "auth.methods", "auth.nonce_ttl", "auth_overrides",
		"security.rate", "security.trusted", "security.drop_user_agents",
		"tls.cert_file", "tls.key_file",
	} {
		if class[name] != ReloadLive {
			t.Errorf("%s is %q, want live", name, class[name])
		}
	}
	for _, name := range []string{"listen", "mode", "data_dir", "storage.engine", "admin.listen", "hep.address"} {
		if class[name] != ReloadRestart {
			t.Errorf("%s is %q, want restart", name, class[name])
		}
	}
}

func TestForReload(t *testing.T) {
	running := Default()
	for _, tc := range []struct {
		name        string
		edit        func(c *Config)
		wantPending []string
		check       func(t *testing.T, got *Config)
	}{
		{
			name: "nothing changed",
			edit: func(*Config) {},
		},
		{
			name: "live keys pass through",
			edit: func(c *Config) {
				c.Auth.Enabled = true
				c.Auth.Algorithms = []string{"MD5"}
				c.Domains = []string{"example.com"}
				c.Registrar.MaxContacts = 3
			},
			check: func(t *testing.T, got *Config) {
				if !got.Auth.Enabled || !slices.Equal(got.Auth.Algorithms, []string{"MD5"}) ||
					!slices.Equal(got.Domains, []string{"example.com"}) || got.Registrar.MaxContacts != 3 {
					t.Errorf("live keys not taken: %+v", got)
				}
			},
		},
		{
			name: "restart keys keep the running value",
			edit: func(c *Config) {
				c.Listen = []Listener{{Proto: ProtoUDP, Host: "127.0.0.1", Port: 5070}}
				c.Mode = ModeStateless
				c.Admin.Listen = ""
				c.Security.MaxSources = 7
				c.LogLevel = LogDebug
			},
			wantPending: []string{"listen", "mode", "admin.listen", "security.max_sources"},
			check: func(t *testing.T, got *Config) {
				if !reflect.DeepEqual(got.Listen, running.Listen) || got.Mode != running.Mode ||
					got.Admin.Listen != running.Admin.Listen || got.Security.MaxSources != running.Security.MaxSources {
					t.Errorf("restart keys changed: %+v", got)
				}
				if got.LogLevel != LogDebug {
					t.Errorf("log_level = %s, want debug (live)", got.LogLevel)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := Default()
			tc.edit(next)
			got, pending := ForReload(running, next)
			if !slices.Equal(pending, tc.wantPending) {
				t.Errorf("pending = %v, want %v", pending, tc.wantPending)
			}
			if tc.check != nil {
				tc.check(t, got)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("result does not validate: %v", err)
			}
		})
	}
}

// TestForReloadLeavesItsArgumentsAlone: the server keeps running as it is
// until the result is applied, so neither input may change.
func TestForReloadLeavesItsArgumentsAlone(t *testing.T) {
	running, next := Default(), Default()
	next.Mode = ModeStateless
	ForReload(running, next)
	if next.Mode != ModeStateless || running.Mode != ModeStateful {
		t.Errorf("ForReload changed its arguments: running %s, next %s", running.Mode, next.Mode)
	}
}

// TestChanged: a reload's log line names what it changed, live keys and
// blocks' leaves alike, and nothing when the file did not change.
func TestChanged(t *testing.T) {
	a := Default()
	b := Default()
	if got := Changed(a, b); len(got) != 0 {
		t.Fatalf("Changed of equal configs = %v, want none", got)
	}
	b.Auth.Enabled = true
	b.Mode = "stateless"
	if got, want := strings.Join(Changed(a, b), ","), "mode,auth.enabled"; got != want {
		t.Errorf("Changed = %q, want %q", got, want)
	}
}
