package redistest

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func TestRunTargets(t *testing.T) { testRunTargets(t) }

func testRunTargets(t *testing.T) {
	var seen []string
	Run(t, func(t *testing.T, tg Target) {
		seen = append(seen, tg.Name)
		ctx := t.Context()
		if want := "rt:" + sanitize(t.Name()) + ":"; !strings.HasPrefix(tg.Prefix, want) {
			t.Errorf("Prefix %q does not start with %q", tg.Prefix, want)
		}
		if strings.ContainsAny(tg.Prefix, "{}*?[]\\^ ") {
			t.Errorf("Prefix %q has hash tag or glob characters", tg.Prefix)
		}
		if (tg.Mini != nil) != (tg.Name == NameMiniredis) {
			t.Errorf("Mini set = %v for %s", tg.Mini != nil, tg.Name)
		}
		if tg.Cluster != (tg.Name == NameCluster) {
			t.Errorf("Cluster = %v for %s", tg.Cluster, tg.Name)
		}
		key := tg.Prefix + "k"
		if err := tg.Client.Set(ctx, key, "v", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		if got, err := tg.Client.Get(ctx, key).Result(); err != nil || got != "v" {
			t.Fatalf("GET = %q, %v", got, err)
		}
		// A second instance sees the first one's writes.
		other := tg.NewClient(t)
		if got, err := other.Get(ctx, key).Result(); err != nil || got != "v" {
			t.Fatalf("NewClient GET = %q, %v", got, err)
		}
		if err := other.Incr(ctx, tg.Prefix+"n").Err(); err != nil {
			t.Fatal(err)
		}
		if got, _ := tg.Client.Get(ctx, tg.Prefix+"n").Int(); got != 1 {
			t.Fatalf("counter = %d, want 1", got)
		}
		if tg.Mini != nil {
			tg.Mini.FastForward(2 * time.Minute)
			if err := tg.Client.Get(ctx, key).Err(); err != redis.Nil {
				t.Fatalf("after FastForward GET err = %v, want redis.Nil", err)
			}
		}
	})
	want := kinds()
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("Run visited %v, want %v", seen, want)
	}
	if os.Getenv(EnvRedisURL) != "" && want[0] != NameRedis {
		t.Fatalf("REDIS_URL set but first target is %s", want[0])
	}
}

func TestNewTargetKind(t *testing.T) {
	tg := New(t)
	if tg.Cluster {
		t.Fatal("New returned the cluster target")
	}
	if wantReal := os.Getenv(EnvRedisURL) != ""; (tg.Name == NameRedis) != wantReal {
		t.Fatalf("New returned %s with REDIS_URL=%q", tg.Name, os.Getenv(EnvRedisURL))
	}
}

func TestPrefixesUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 3 {
		for _, tg := range Targets(t) {
			if seen[tg.Prefix] {
				t.Fatalf("prefix %q handed out twice", tg.Prefix)
			}
			seen[tg.Prefix] = true
		}
	}
	if got := sanitize("TestX/sub case{a}*?[b]:c\\d"); got != "TestX/sub_case_a____b__c_d" {
		t.Fatalf("sanitize = %q", got)
	}
	if got := sanitize(strings.Repeat("a", 200)); len(got) != 64 {
		t.Fatalf("sanitize did not truncate: %d", len(got))
	}
}

// TestCleanupDeletesOnlyPrefix checks that when a test ends every key under
// its prefix is gone, on the real server and the cluster (checked from an
// outer client after the inner test's cleanups ran), while other keys stay.
func TestCleanupDeletesOnlyPrefix(t *testing.T) { testCleanup(t) }

func testCleanup(t *testing.T) {
	outer := Targets(t)
	ctx := t.Context()
	const n = 1234 // several SCAN/UNLINK batches
	prefixes := map[string]string{}
	t.Run("inner", func(t *testing.T) {
		for _, tg := range Targets(t) {
			prefixes[tg.Name] = tg.Prefix
			_, err := tg.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i := range n {
					p.Set(ctx, fmt.Sprintf("%skey:%d", tg.Prefix, i), i, time.Hour)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	for _, o := range outer {
		p, ok := prefixes[o.Name]
		if !ok || o.Mini != nil { // a miniredis goes with its test; checked below
			continue
		}
		if keys := Keys(t, o.Client, p+"*"); len(keys) != 0 {
			t.Errorf("%s: %d keys left under %s, e.g. %v", o.Name, len(keys), p, keys[:1])
		}
	}

	// Direct check of the deletion, including that it leaves other keys.
	for _, tg := range outer {
		t.Run(tg.Name, func(t *testing.T) {
			keep := tg.Prefix + "other:" // same test, different prefix
			mine := tg.Prefix + "mine:"
			for i := range 700 {
				tg.Client.Set(ctx, fmt.Sprintf("%s%d", mine, i), 1, time.Hour)
			}
			tg.Client.Set(ctx, keep+"x", 1, time.Hour)
			if err := deletePrefix(tg.newClient, mine); err != nil {
				t.Fatal(err)
			}
			if keys := Keys(t, tg.Client, mine+"*"); len(keys) != 0 {
				t.Fatalf("%d keys left", len(keys))
			}
			if n, _ := tg.Client.Exists(ctx, keep+"x").Result(); n != 1 {
				t.Fatal("deletePrefix removed a key outside its prefix")
			}
		})
	}
}

// TestCleanupAfterClientClosed: a test that closes its own client must not
// break the key cleanup.
func TestCleanupAfterClientClosed(t *testing.T) {
	m := miniredis.RunT(t)
	var prefix string
	t.Run("inner", func(t *testing.T) {
		t.Setenv(EnvRedisURL, "redis://"+m.Addr()+"/0")
		t.Setenv(EnvClusterAddrs, "")
		tg := New(t)
		prefix = tg.Prefix
		tg.Client.Set(t.Context(), prefix+"a", 1, 0)
		tg.Client.Close()
	})
	if keys := m.Keys(); len(keys) != 0 {
		t.Fatalf("keys left: %v (prefix %s)", keys, prefix)
	}
}

func TestInCI(t *testing.T) {
	for v, want := range map[string]bool{"true": true, "1": true, "": false, "false": false, "yes": false} {
		t.Setenv(EnvCI, v)
		if InCI() != want {
			t.Errorf("CI=%q: InCI() = %v", v, !want)
		}
	}
}

func TestClusterAddrsParsing(t *testing.T) {
	t.Setenv(EnvClusterAddrs, " 127.0.0.1:7001, ,127.0.0.1:7002 ")
	if got := clusterAddrs(); fmt.Sprint(got) != "[127.0.0.1:7001 127.0.0.1:7002]" {
		t.Fatalf("clusterAddrs = %v", got)
	}
	t.Setenv(EnvClusterAddrs, "")
	if clusterAddrs() != nil {
		t.Fatal("empty REDIS_CLUSTER_ADDRS gave addresses")
	}
}

// fakeTB records Skip/Fatal instead of stopping the goroutine.
type fakeTB struct {
	testing.TB
	skipped, fatal string
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Skip(args ...any)  { f.skipped = fmt.Sprint(args...) }
func (f *fakeTB) Fatal(args ...any) { f.fatal = fmt.Sprint(args...) }

func TestRequireRedisServerMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(EnvCI, "")
	f := &fakeTB{TB: t}
	RequireRedisServer(f)
	if f.fatal != "" || !strings.Contains(f.skipped, "redis-server") {
		t.Fatalf("outside CI: skipped=%q fatal=%q", f.skipped, f.fatal)
	}
	t.Setenv(EnvCI, "true")
	f = &fakeTB{TB: t}
	RequireRedisServer(f)
	if f.skipped != "" || !strings.Contains(f.fatal, "redis-server") {
		t.Fatalf("in CI: skipped=%q fatal=%q", f.skipped, f.fatal)
	}
}

func TestFreePort(t *testing.T) {
	seen := map[int]bool{}
	for range 20 {
		p := FreePort(t)
		if seen[p] || p <= 0 || p > 65535 {
			t.Fatalf("bad or repeated port %d", p)
		}
		seen[p] = true
		if !portFree(p) {
			t.Fatalf("port %d not free", p)
		}
	}
}

func itoa(n int) string { return fmt.Sprint(n) }
