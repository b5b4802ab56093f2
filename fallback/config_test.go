package fallback_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aura-platform/redishttp/fallback"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// altURL is a second URL variable a service may list after REDIS_URL.
const altURL = "HOSTED_REDIS_URL"

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		urlVars   []string // LoadConfig's urlVars; nil: the default
		wantMode  string
		wantURL   string
		wantVar   string
		wantAddrs []string
	}{
		{"empty: memory", nil, nil, "memory", "", "", nil},
		{"REDIS_URL", map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/0"}, nil, "redis", "redis://127.0.0.1:6379/0", "REDIS_URL", nil},
		{"other variable not read by default", map[string]string{altURL: "rediss://b:2"}, nil, "memory", "", "", nil},
		{"second URL variable", map[string]string{altURL: "rediss://default:pw@eu1.example.net:6379"}, []string{"REDIS_URL", altURL},
			"redis", "rediss://default:pw@eu1.example.net:6379", altURL, nil},
		{"REDIS_URL wins over the second", map[string]string{"REDIS_URL": "redis://a:1", altURL: "rediss://b:2"}, []string{"REDIS_URL", altURL},
			"redis", "redis://a:1", "REDIS_URL", nil},
		{"blank REDIS_URL falls to the second", map[string]string{"REDIS_URL": "  ", altURL: "rediss://b:2"}, []string{"REDIS_URL", altURL},
			"redis", "rediss://b:2", altURL, nil},
		{"only the named variable", map[string]string{"REDIS_URL": "redis://a:1", altURL: "rediss://b:2"}, []string{altURL},
			"redis", "rediss://b:2", altURL, nil},
		{"URL trimmed", map[string]string{"REDIS_URL": " redis://a:1 \n"}, nil, "redis", "redis://a:1", "REDIS_URL", nil},
		{"cluster", map[string]string{"REDIS_CLUSTER_ADDRS": "127.0.0.1:7001, 127.0.0.1:7002,,127.0.0.1:7003 "}, nil, "cluster", "", "", []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"}},
		{"cluster over URL", map[string]string{"REDIS_CLUSTER_ADDRS": "[::1]:7001", "REDIS_URL": "redis://:pw@x:1"}, nil, "cluster", "redis://:pw@x:1", "REDIS_URL", []string{"[::1]:7001"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := fallback.LoadConfig(env(tt.env), tt.urlVars...)
			if err != nil {
				t.Fatal(err)
			}
			if c.Mode() != tt.wantMode || c.URL != tt.wantURL || c.URLVar != tt.wantVar ||
				strings.Join(c.ClusterAddrs, " ") != strings.Join(tt.wantAddrs, " ") {
				t.Errorf("got %+v (mode %s)", c, c.Mode())
			}
		})
	}
}

const secret = "Zq9xK7wVb2jR"

func TestLoadConfigSentinel(t *testing.T) {
	tests := []struct {
		name       string
		env        map[string]string
		wantMode   string
		wantAddrs  string // SentinelAddrs joined by spaces
		wantMaster string
		wantURL    string
	}{
		{"sentinel", map[string]string{"REDIS_SENTINEL_ADDRS": "10.0.0.1:26379, 10.0.0.2:26379,,10.0.0.3:26379 ", "REDIS_SENTINEL_MASTER": " mymaster\n"},
			"sentinel", "10.0.0.1:26379 10.0.0.2:26379 10.0.0.3:26379", "mymaster", ""},
		{"one sentinel, IPv6", map[string]string{"REDIS_SENTINEL_ADDRS": "[::1]:26379", "REDIS_SENTINEL_MASTER": "m"}, "sentinel", "[::1]:26379", "m", ""},
		{"sentinel over URL, URL kept for credentials", map[string]string{"REDIS_SENTINEL_ADDRS": "s:26379", "REDIS_SENTINEL_MASTER": "m", "REDIS_URL": "redis://:pw@x:1/2"},
			"sentinel", "s:26379", "m", "redis://:pw@x:1/2"},
		{"sentinel over the second URL variable", map[string]string{"REDIS_SENTINEL_ADDRS": "s:26379", "REDIS_SENTINEL_MASTER": "m", altURL: "rediss://b:2"},
			"sentinel", "s:26379", "m", "rediss://b:2"},
		{"cluster over sentinel", map[string]string{"REDIS_CLUSTER_ADDRS": "c:7001", "REDIS_SENTINEL_ADDRS": "s:26379", "REDIS_SENTINEL_MASTER": "m"},
			"cluster", "s:26379", "m", ""},
		{"both blank: not sentinel", map[string]string{"REDIS_SENTINEL_ADDRS": " ", "REDIS_SENTINEL_MASTER": "", "REDIS_URL": "redis://a:1"}, "redis", "", "", "redis://a:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := fallback.LoadConfig(env(tt.env), "REDIS_URL", altURL)
			if err != nil {
				t.Fatal(err)
			}
			if c.Mode() != tt.wantMode || strings.Join(c.SentinelAddrs, " ") != tt.wantAddrs || c.SentinelMaster != tt.wantMaster || c.URL != tt.wantURL {
				t.Errorf("got %+v (mode %s)", c, c.Mode())
			}
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		varName string
	}{
		{"bad scheme", map[string]string{"REDIS_URL": "http://user:" + secret + "@host:6379"}, "REDIS_URL"},
		{"bad port", map[string]string{"REDIS_URL": "redis://:" + secret + "@host:port"}, "REDIS_URL"},
		{"bad db", map[string]string{"REDIS_URL": "redis://:" + secret + "@host:6379/notanumber"}, "REDIS_URL"},
		{"control char", map[string]string{"REDIS_URL": "redis://:" + secret + "@host\n:6379"}, "REDIS_URL"},
		{"password with slash", map[string]string{"REDIS_URL": "redis://user:12/" + secret + "@host:6379"}, "REDIS_URL"},
		{"password with slash and letters", map[string]string{"REDIS_URL": "redis://user:ab/" + secret + "@host:6379"}, "REDIS_URL"},
		{"password with hash", map[string]string{"REDIS_URL": "redis://user:1#" + secret + "@host:6379"}, "REDIS_URL"},
		{"password with question mark", map[string]string{"REDIS_URL": "redis://user:1?" + secret + "@host:6379"}, "REDIS_URL"},
		{"password with percent", map[string]string{"REDIS_URL": "redis://user:%zz" + secret + "@host:6379"}, "REDIS_URL"},
		{"no scheme", map[string]string{"REDIS_URL": secret}, "REDIS_URL"},
		{"bad option", map[string]string{"REDIS_URL": "redis://:" + secret + "@host:6379/0?dial_timeout=forever"}, "REDIS_URL"},
		{"bad second URL variable", map[string]string{altURL: "https://default:" + secret + "@eu1.example.net"}, altURL},
		{"cluster no port", map[string]string{"REDIS_CLUSTER_ADDRS": "127.0.0.1"}, "REDIS_CLUSTER_ADDRS"},
		{"cluster bad port", map[string]string{"REDIS_CLUSTER_ADDRS": "127.0.0.1:7001,127.0.0.1:99999"}, "REDIS_CLUSTER_ADDRS"},
		{"cluster zero port", map[string]string{"REDIS_CLUSTER_ADDRS": "127.0.0.1:0"}, "REDIS_CLUSTER_ADDRS"},
		{"cluster no host", map[string]string{"REDIS_CLUSTER_ADDRS": ":7001"}, "REDIS_CLUSTER_ADDRS"},
		{"cluster URL", map[string]string{"REDIS_CLUSTER_ADDRS": "redis://:" + secret + "@127.0.0.1:7001"}, "REDIS_CLUSTER_ADDRS"},
		{"cluster userinfo", map[string]string{"REDIS_CLUSTER_ADDRS": secret + "@127.0.0.1:7001"}, "REDIS_CLUSTER_ADDRS"},
		{"sentinel addrs without master", map[string]string{"REDIS_SENTINEL_ADDRS": "127.0.0.1:26379"}, "REDIS_SENTINEL_MASTER"},
		{"sentinel master without addrs", map[string]string{"REDIS_SENTINEL_MASTER": "mymaster", "REDIS_URL": "redis://:" + secret + "@h:1"}, "REDIS_SENTINEL_ADDRS"},
		{"sentinel blank master", map[string]string{"REDIS_SENTINEL_ADDRS": "127.0.0.1:26379", "REDIS_SENTINEL_MASTER": " \t"}, "REDIS_SENTINEL_MASTER"},
		{"sentinel half set under cluster", map[string]string{"REDIS_CLUSTER_ADDRS": "127.0.0.1:7001", "REDIS_SENTINEL_ADDRS": "127.0.0.1:26379"}, "REDIS_SENTINEL_MASTER"},
		{"sentinel no port", map[string]string{"REDIS_SENTINEL_ADDRS": "127.0.0.1", "REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINEL_ADDRS"},
		{"sentinel bad port", map[string]string{"REDIS_SENTINEL_ADDRS": "127.0.0.1:26379,127.0.0.1:265790", "REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINEL_ADDRS"},
		{"sentinel no host", map[string]string{"REDIS_SENTINEL_ADDRS": ":26379", "REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINEL_ADDRS"},
		{"sentinel only commas", map[string]string{"REDIS_SENTINEL_ADDRS": " , ,", "REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINEL_ADDRS"},
		{"sentinel URL", map[string]string{"REDIS_SENTINEL_ADDRS": "redis://:" + secret + "@127.0.0.1:26379", "REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINEL_ADDRS"},
		{"sentinel userinfo", map[string]string{"REDIS_SENTINEL_ADDRS": "u:" + secret + "@127.0.0.1:26379", "REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINEL_ADDRS"},
		{"sentinel master with space", map[string]string{"REDIS_SENTINEL_ADDRS": "127.0.0.1:26379", "REDIS_SENTINEL_MASTER": "my " + secret}, "REDIS_SENTINEL_MASTER"},
		{"sentinel master with newline", map[string]string{"REDIS_SENTINEL_ADDRS": "127.0.0.1:26379", "REDIS_SENTINEL_MASTER": secret + "\nx"}, "REDIS_SENTINEL_MASTER"},
		{"sentinel with bad URL", map[string]string{"REDIS_SENTINEL_ADDRS": "127.0.0.1:26379", "REDIS_SENTINEL_MASTER": "m", "REDIS_URL": "redis://:" + secret + "@h:x"}, "REDIS_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := fallback.LoadConfig(env(tt.env), "REDIS_URL", altURL)
			if !errors.Is(err, fallback.ErrInvalidOptions) {
				t.Fatalf("err = %v, want ErrInvalidOptions (config %+v)", err, c)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.varName) {
				t.Errorf("error %q does not name %s", msg, tt.varName)
			}
			// Not even a piece of the password.
			for i := 0; i+4 <= len(secret); i++ {
				if strings.Contains(msg, secret[i:i+4]) {
					t.Fatalf("error %q leaks %q of the password", msg, secret[i:i+4])
				}
			}
			if c.Mode() != "memory" || c.URL != "" {
				t.Errorf("config returned with the error: %+v", c)
			}
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("REDIS_URL", "redis://127.0.0.1:6390/2")
	t.Setenv("REDIS_CLUSTER_ADDRS", "")
	t.Setenv("REDIS_SENTINEL_ADDRS", "")
	t.Setenv("REDIS_SENTINEL_MASTER", "")
	c, err := fallback.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.URL != "redis://127.0.0.1:6390/2" || c.URLVar != "REDIS_URL" || c.Mode() != "redis" {
		t.Errorf("%+v", c)
	}
	t.Setenv("REDIS_URL", "redis://:"+secret+"@h:x")
	if _, err := fallback.ConfigFromEnv(); !errors.Is(err, fallback.ErrInvalidOptions) || strings.Contains(err.Error(), secret) {
		t.Errorf("err = %v", err)
	}
}

func TestConfigStringRedacts(t *testing.T) {
	tests := []struct {
		c    fallback.Config
		want string
	}{
		{fallback.Config{}, "embedded in-memory (no REDIS_URL, REDIS_SENTINEL_ADDRS or REDIS_CLUSTER_ADDRS)"},
		{fallback.Config{URL: "rediss://default:" + secret + "@eu1.example.net:6379", URLVar: altURL}, "redis rediss://default:xxxxx@eu1.example.net:6379 (from " + altURL + ")"},
		{fallback.Config{URL: "redis://u:1/" + secret + "@h:6379", URLVar: "REDIS_URL"}, "redis redis://xxxxx@h:6379 (from REDIS_URL)"},
		{fallback.Config{URL: "redis://:" + secret + "@h:6379", ClusterAddrs: []string{"a:1", "b:2"}}, "redis cluster a:1,b:2"},
		{fallback.Config{URL: "redis://:" + secret + "@h:6379", SentinelAddrs: []string{"a:1", "b:2"}, SentinelMaster: "mymaster"}, `redis sentinel master "mymaster" via a:1,b:2`},
	}
	for _, tt := range tests {
		s := tt.c.String()
		if !strings.Contains(s, tt.want) || strings.Contains(s, secret) {
			t.Errorf("String() = %q, want it to contain %q and no password", s, tt.want)
		}
	}
	// Embedded mode names the URL variables LoadConfig was given.
	c, err := fallback.LoadConfig(env(nil), "REDIS_URL", altURL)
	if want := "embedded in-memory (no REDIS_URL, " + altURL + ", REDIS_SENTINEL_ADDRS or REDIS_CLUSTER_ADDRS)"; err != nil || c.String() != want {
		t.Errorf("String() = %q, %v; want %q", c.String(), err, want)
	}
}

// Credentials put in an address list are refused with a pointer to the
// variable where the password belongs: the first URL variable.
func TestAddrListCredentialsPointToURLVariable(t *testing.T) {
	vars := env(map[string]string{"REDIS_CLUSTER_ADDRS": "u:" + secret + "@127.0.0.1:7001"})
	_, err := fallback.LoadConfig(vars)
	if !errors.Is(err, fallback.ErrInvalidOptions) || !strings.Contains(err.Error(), "give the password in REDIS_URL") {
		t.Errorf("default: %v", err)
	}
	_, err = fallback.LoadConfig(vars, altURL)
	if !errors.Is(err, fallback.ErrInvalidOptions) || !strings.Contains(err.Error(), "give the password in "+altURL) {
		t.Errorf("urlVars %s: %v", altURL, err)
	}
}

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"redis://127.0.0.1:6379/0":               "redis://127.0.0.1:6379/0",
		"redis://:" + secret + "@h:1":            "redis://:xxxxx@h:1",
		"rediss://user:" + secret + "@h:1/0?x=y": "rediss://user:xxxxx@h:1/0?x=y",
		"redis://user:a/" + secret + "@h:1":      "<unparseable URL>",
		"redis://user:1?" + secret + "@h:1":      "redis://xxxxx@h:1",
		"redis://user:1#" + secret + "@h:1":      "redis://xxxxx@h:1",
		"redis://h:1/0?x=@y":                     "redis://xxxxx@y",
		"A:" + secret + "@":                      "A:xxxxx",
		"redis:" + secret:                        "redis:xxxxx",
		secret:                                   "<unparseable URL>",
		"redis://:" + secret + "@h\x7f:1":        "<unparseable URL>",
		"redis://user@h:1":                       "redis://xxxxx@h:1", // a lone userinfo may be a password
		"A://" + secret + "@":                    "a://xxxxx@",
	}
	for in, want := range tests {
		if got := fallback.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewClient(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		c, err := fallback.Config{}.NewClient()
		if c != nil || err != nil {
			t.Errorf("NewClient = %v, %v; want nil, nil", c, err)
		}
	})
	t.Run("single", func(t *testing.T) {
		cfg, err := fallback.LoadConfig(env(map[string]string{"REDIS_URL": "redis://bob:" + secret + "@127.0.0.1:6390/3"}))
		if err != nil {
			t.Fatal(err)
		}
		c, err := cfg.NewClient()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		rc, ok := c.(*redis.Client)
		if !ok {
			t.Fatalf("client is %T, want *redis.Client", c)
		}
		o := rc.Options()
		if o.Addr != "127.0.0.1:6390" || o.DB != 3 || o.Username != "bob" || o.Password != secret || o.TLSConfig != nil || !o.ContextTimeoutEnabled {
			t.Errorf("options %+v", o)
		}
	})
	t.Run("tls", func(t *testing.T) {
		cfg, _ := fallback.LoadConfig(env(map[string]string{"REDIS_URL": "rediss://default:pw@eu1.example.net:6379"}))
		c, err := cfg.NewClient()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		o := c.(*redis.Client).Options()
		if o.TLSConfig == nil || o.TLSConfig.ServerName != "eu1.example.net" {
			t.Errorf("rediss:// without TLS: %+v", o.TLSConfig)
		}
	})
	t.Run("cluster", func(t *testing.T) {
		cfg, _ := fallback.LoadConfig(env(map[string]string{
			"REDIS_CLUSTER_ADDRS": "127.0.0.1:7001,127.0.0.1:7002",
			"REDIS_URL":           "rediss://u:" + secret + "@ignored:1",
		}))
		c, err := cfg.NewClient()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cc, ok := c.(*redis.ClusterClient)
		if !ok {
			t.Fatalf("client is %T, want *redis.ClusterClient", c)
		}
		o := cc.Options()
		if strings.Join(o.Addrs, ",") != "127.0.0.1:7001,127.0.0.1:7002" || o.Username != "u" || o.Password != secret || o.TLSConfig == nil || !o.ContextTimeoutEnabled {
			t.Errorf("cluster options %+v", o)
		}
	})
	t.Run("sentinel", func(t *testing.T) {
		cfg, err := fallback.LoadConfig(env(map[string]string{
			"REDIS_SENTINEL_ADDRS":  "127.0.0.1:26379,127.0.0.1:26380",
			"REDIS_SENTINEL_MASTER": "mymaster",
			"REDIS_URL":             "rediss://u:" + secret + "@redis.internal:1/4",
		}))
		if err != nil {
			t.Fatal(err)
		}
		c, err := cfg.NewClient()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		rc, ok := c.(*redis.Client)
		if !ok {
			t.Fatalf("client is %T, want a failover *redis.Client", c)
		}
		o := rc.Options()
		// go-redis names a failover client's address "FailoverClient": it
		// dials whatever the sentinels name as the primary.
		if o.Addr != "FailoverClient" || o.Username != "u" || o.Password != secret || o.DB != 4 ||
			o.TLSConfig == nil || o.TLSConfig.ServerName != "redis.internal" || !o.ContextTimeoutEnabled {
			t.Errorf("failover options %+v", o)
		}
		if o.MaxRetries != 3 || o.MinRetryBackoff != 8*time.Millisecond || o.DialTimeout != time.Second || o.PoolTimeout != time.Second {
			t.Errorf("failover retry and timeout settings: retries %d, backoff %v, dial %v, pool %v",
				o.MaxRetries, o.MinRetryBackoff, o.DialTimeout, o.PoolTimeout)
		}
	})
	t.Run("sentinel without URL", func(t *testing.T) {
		cfg, _ := fallback.LoadConfig(env(map[string]string{"REDIS_SENTINEL_ADDRS": "127.0.0.1:26379", "REDIS_SENTINEL_MASTER": "m"}))
		c, err := cfg.NewClient()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		o := c.(*redis.Client).Options()
		if o.Password != "" || o.TLSConfig != nil || o.DB != 0 || !o.ContextTimeoutEnabled {
			t.Errorf("failover options %+v", o)
		}
	})
	t.Run("hand-made bad URL", func(t *testing.T) {
		for _, cfg := range []fallback.Config{
			{URL: "redis://:" + secret + "@h:x", URLVar: "REDIS_URL"},
			{URL: "redis://u:1/" + secret + "@h:1", URLVar: "REDIS_URL", ClusterAddrs: []string{"a:1"}},
			{URL: "redis://u:1/" + secret + "@h:1", URLVar: "REDIS_URL", SentinelAddrs: []string{"a:1"}, SentinelMaster: "m"},
		} {
			c, err := cfg.NewClient()
			if c != nil || !errors.Is(err, fallback.ErrInvalidOptions) || strings.Contains(err.Error(), secret[:4]) {
				t.Errorf("NewClient(%s) = %v, %v", cfg.Mode(), c, err)
			}
		}
	})
}

func FuzzLoadConfigNoPasswordLeak(f *testing.F) {
	f.Add("redis://user:", "@h:1/0")
	f.Add("redis://:", "@h:x")
	f.Add("redis://u:1/", "@h:1")
	f.Add("http://u:", "@h")
	f.Add("A://", "@")
	f.Add("redis://", "@127.0.0.1:6379/0")
	f.Fuzz(func(t *testing.T, before, after string) {
		raw := before + secret + after
		if !strings.Contains(raw, "@") {
			return
		}
		for _, name := range []string{"REDIS_URL", "REDIS_CLUSTER_ADDRS", "REDIS_SENTINEL_ADDRS"} {
			vars := map[string]string{name: raw}
			if name == "REDIS_SENTINEL_ADDRS" {
				vars["REDIS_SENTINEL_MASTER"] = "m"
			}
			c, err := fallback.LoadConfig(env(vars))
			var out string
			if err != nil {
				out = err.Error()
			} else {
				out = c.String()
			}
			// The password sits between the scheme and the last '@' (or
			// before the last '@' of a cluster address); it must never
			// come out whole.
			if strings.LastIndex(raw, "@") > strings.Index(raw, secret) && strings.Contains(out, secret) {
				t.Fatalf("%s=%q: %q leaks the password", name, raw, out)
			}
		}
	})
}

// A password pasted into an address list by mistake (no '@' to give it
// away) is not echoed: bad entries are named by position.
func TestAddrListErrorsDoNotEcho(t *testing.T) {
	for _, name := range []string{"REDIS_CLUSTER_ADDRS", "REDIS_SENTINEL_ADDRS"} {
		for _, v := range []string{secret, "127.0.0.1:7001," + secret, "127.0.0.1:7001,h:" + secret} {
			vars := map[string]string{name: v, "REDIS_SENTINEL_MASTER": "m"}
			_, err := fallback.LoadConfig(env(vars))
			if err == nil || !errors.Is(err, fallback.ErrInvalidOptions) {
				t.Fatalf("%s=%q: err %v, want ErrInvalidOptions", name, v, err)
			}
			if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "entry") {
				t.Errorf("%s=%q: %q echoes the entry or does not name it", name, v, err)
			}
		}
	}
}
