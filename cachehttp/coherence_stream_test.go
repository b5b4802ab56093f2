package cachehttp

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// namedClient returns a client to tg's deployment whose connections carry a
// unique client name (so a test can find its log reader's connection in
// CLIENT LIST), and that name. On miniredis, which has no CLIENT LIST, the
// client goes through a proxy instead (returned; nil elsewhere).
func namedClient(t *testing.T, tg redistest.Target) (redis.UniversalClient, string, *redistest.Proxy) {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "coh-" + hex.EncodeToString(b[:])
	var c redis.UniversalClient
	var proxy *redistest.Proxy
	switch {
	case tg.Mini != nil:
		proxy = redistest.StartProxy(t, tg.Mini.Addr())
		c = redis.NewClient(&redis.Options{Addr: proxy.Addr, ContextTimeoutEnabled: true})
	case tg.Cluster:
		addrs := strings.Split(os.Getenv(redistest.EnvClusterAddrs), ",")
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ClientName: name, ContextTimeoutEnabled: true})
	default:
		opt, err := redis.ParseURL(os.Getenv(redistest.EnvRedisURL))
		if err != nil {
			t.Fatal(err)
		}
		opt.ClientName, opt.ContextTimeoutEnabled = name, true
		c = redis.NewClient(opt)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, name, proxy
}

// logNode returns a client to the node holding the invalidation log of c.
func logNode(t *testing.T, client redis.UniversalClient, c *Cache) redis.UniversalClient {
	t.Helper()
	if cc, ok := client.(*redis.ClusterClient); ok {
		n, err := cc.MasterForKey(context.Background(), c.l.logKey())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return client
}

// killReader kills, on node, the connections blocked in XREAD whose client
// name is name ("" any), and returns how many it killed.
func killReader(t *testing.T, node redis.UniversalClient, name string) int {
	t.Helper()
	ctx := context.Background()
	var ids []string
	deadline := time.Now().Add(5 * time.Second)
	for len(ids) == 0 {
		list, err := node.ClientList(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(strings.NewReader(list))
		for sc.Scan() {
			f := map[string]string{}
			for _, kv := range strings.Fields(sc.Text()) {
				k, v, _ := strings.Cut(kv, "=")
				f[k] = v
			}
			if f["cmd"] == "xread" && (name == "" || f["name"] == name) {
				ids = append(ids, f["id"])
			}
		}
		if len(ids) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("no log reader connection found in CLIENT LIST")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for _, id := range ids {
		if err := node.Do(ctx, "client", "kill", "id", id).Err(); err != nil {
			t.Fatal(err)
		}
	}
	return len(ids)
}

// TestCoherenceReaderKilled: the log reader's connection is killed while
// another instance invalidates. After the reconnection the instance serves
// no stale entry, and the entries nobody invalidated are still in its L1
// and served from it without a round trip (no flush).
func TestCoherenceReaderKilled(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		a := newL1Cache(t, tg, nil, Options{})
		bc, name, proxy := namedClient(t, tg)
		cnt := &cmdCounter{}
		bc.AddHook(cnt)
		b := newTestCache(t, bc, tg.Prefix, Options{L1Bytes: 8 << 20, L1TTL: time.Hour, CoherencePing: 200 * time.Millisecond, Logger: quiet})
		waitFor(t, 5*time.Second, "b's log reader", b.coherent)
		var gen atomic.Int64
		load := func(context.Context) (int64, error) { return gen.Load(), nil }
		get := func(c *Cache, k string) int64 {
			v, err := GetOrLoad(ctx, c, k, time.Hour, load, WithTags("t:"+k), WithNamespace("ns"))
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		const keep, stale = 50, 10
		key := func(i int) string { return fmt.Sprintf("k%d", i) }
		for round := range 3 {
			// b holds every key in its L1.
			vals := make([]int64, keep+stale)
			for i := range keep + stale {
				waitFor(t, 5*time.Second, "the L1 to hold "+key(i), func() bool { vals[i] = get(b, key(i)); return b.l1Has(key(i)) })
			}
			old := gen.Load()
			gen.Add(1)
			syncs, caught := b.coh.syncs.Load(), b.coh.caughtUp.Load()
			if proxy != nil {
				proxy.DropConnections()
			} else if n := killReader(t, logNode(t, bc, b), name); n != 1 {
				t.Fatalf("killed %d reader connections, want 1", n)
			}
			// Invalidations by a while b's reader reconnects: tags, a soft
			// purge, an overwrite.
			for i := keep; i < keep+stale-2; i++ {
				if _, err := a.InvalidateTags(ctx, "t:"+key(i)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := a.SoftPurgeTags(ctx, "t:"+key(keep+stale-2)); err != nil {
				t.Fatal(err)
			}
			if err := Set(ctx, a, key(keep+stale-1), gen.Load(), time.Hour, WithTags("t:"+key(keep+stale-1)), WithNamespace("ns")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "b's reader to reconnect", func() bool { return b.coh.syncs.Load() > syncs && b.coherent() })
			kept := 0
			for i := range keep {
				if b.l1Has(key(i)) {
					kept++
				}
			}
			// No stale entry: every invalidated key reads the new value.
			for i := keep; i < keep+stale; i++ {
				if v := get(b, key(i)); v == vals[i] || v != old+1 {
					t.Fatalf("round %d: %s served stale (%d) after the reconnection", round, key(i), v)
				}
			}
			cnt.take()
			for i := range keep {
				if v := get(b, key(i)); v != vals[i] {
					t.Fatalf("round %d: %s = %d, want %d", round, key(i), v, vals[i])
				}
			}
			trips, _ := cnt.take()
			t.Logf("%s round %d: L1 entries kept across the reconnection %d/%d; Redis round trips for them afterwards %d (a flush would cost %d); entries missed while away and applied on catch-up: %d",
				tg.Name, round, kept, keep, trips, keep, b.coh.caughtUp.Load()-caught)
			if kept != keep || trips != 0 {
				t.Fatalf("round %d: %d/%d untouched L1 entries kept, %d round trips to read them; want all, 0", round, kept, keep, trips)
			}
			if n := b.coh.flushes.Load(); n != 0 {
				t.Fatalf("%d gap flushes, want 0", n)
			}
		}
	})
}

// TestCoherencePropagation measures how long an invalidation made on one
// instance takes to drop another instance's L1 copy, over many rounds.
func TestCoherencePropagation(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		a := newL1Cache(t, tg, nil, Options{})
		b := newL1Cache(t, tg, nil, Options{})
		load := func(context.Context) (int64, error) { return 1, nil }
		const rounds = 200
		lat := make([]time.Duration, 0, rounds)
		for i := range rounds {
			k := fmt.Sprintf("p%d", i)
			for !b.l1Has(k) {
				if _, err := GetOrLoad(ctx, b, k, time.Hour, load, WithTags("t:"+k), WithNamespace("ns")); err != nil {
					t.Fatal(err)
				}
			}
			start := time.Now()
			if _, err := a.InvalidateTags(ctx, "t:"+k); err != nil {
				t.Fatal(err)
			}
			for b.l1Has(k) {
				if time.Since(start) > 2*time.Second {
					t.Fatalf("round %d: the invalidation had not reached the other instance after 2s", i)
				}
				time.Sleep(20 * time.Microsecond)
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		t.Logf("%s: propagation of InvalidateTags to another instance's L1 over %d rounds: median %v, p90 %v, max %v",
			tg.Name, rounds, lat[rounds/2], lat[rounds*9/10], lat[rounds-1])
	})
}

// TestCoherenceLogEntries: each invalidation appends exactly one entry, in
// the format of encodeMsg, on every target; stores append overwrites only
// with coherence on.
func TestCoherenceLogEntries(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		c := newTestCache(t, tg.NewClient(t), tg.Prefix, Options{Logger: quiet})
		entries := func() []string {
			ms, err := tg.Client.XRange(ctx, c.l.logKey(), "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, m := range ms {
				out = append(out, m.Values["m"].(string))
			}
			return out
		}
		load := func(context.Context) (int, error) { return 1, nil }
		for i := range 3 {
			if _, err := GetOrLoad(ctx, c, fmt.Sprintf("e%d", i), time.Hour, load, WithTags("a", "b")); err != nil {
				t.Fatal(err)
			}
		}
		if got := entries(); len(got) != 0 {
			t.Fatalf("stores without coherence logged %q", got)
		}
		mustN := func(_ int, err error) {
			if err != nil {
				t.Fatal(err)
			}
		}
		mustN(c.InvalidateTags(ctx, "a", "b"))
		mustN(c.SoftPurgeTags(ctx, "x"))
		mustN(c.InvalidatePattern(ctx, "e*"))
		mustN(c.Delete(ctx, "e0"))
		if _, err := c.BumpVersion(ctx, "ns"); err != nil {
			t.Fatal(err)
		}
		e0 := escapeKey("e0")
		want := []string{
			string(encodeMsg(msgTags, []string{"a", "b"})),
			string(encodeMsg(msgTags, []string{"x"})),
			string(encodeMsg(msgPattern, []string{"e*"})),
			string(encodeMsg(msgKeys, []string{c.l.key(kindData, e0).name, c.l.key(kindHTTP, e0).name})),
			string(encodeMsg(msgTags, []string{variantTag(e0)})),
			string(encodeMsg(msgVersion, []string{"ns", "1"})),
		}
		got := entries()
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("log entries %q, want %q", got, want)
		}
		// With coherence, a store logs an overwrite of its key.
		cc := newTestCache(t, tg.NewClient(t), tg.Prefix, Options{Coherence: true, Logger: quiet})
		if err := Set(ctx, cc, "s", 1, time.Hour); err != nil {
			t.Fatal(err)
		}
		got = entries()
		if last := got[len(got)-1]; last != overwriteMsg(cc.l.logKey(), cc.redis.origin, cc.l.key(kindData, escapeKey("s")).name) {
			t.Fatalf("last entry %q, want the overwrite of s", last)
		}
		if n, err := tg.Client.XLen(ctx, c.l.logKey()).Result(); err != nil || n != int64(len(want)+1) {
			t.Fatalf("XLEN %d, %v; want %d", n, err, len(want)+1)
		}
	})
}

// TestCoherenceLogBound: the log is trimmed to about CoherenceLog entries.
func TestCoherenceLogBound(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		c := newTestCache(t, tg.NewClient(t), tg.Prefix, Options{CoherenceLog: 200, Logger: quiet})
		for i := range 1000 {
			if _, err := c.InvalidateTags(ctx, fmt.Sprintf("t%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		n, err := tg.Client.XLen(ctx, c.l.logKey()).Result()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: XLEN after 1000 invalidations with CoherenceLog 200: %d", tg.Name, n)
		if n < 200 || n > 400 {
			t.Fatalf("XLEN %d, want about 200", n)
		}
	})
}

// BenchmarkLogAppend measures the invalidation log's append rate against
// the deployments of the environment: "xadd" appends entries (XADD MAXLEN ~,
// what a cluster adds after each script) from parallel goroutines,
// "invalidate" runs whole InvalidateTags calls of one tag each.
func BenchmarkLogAppend(b *testing.B) {
	for _, tg := range redistest.Targets(b) {
		c := newTestCache(b, tg.NewClient(b), tg.Prefix, Options{Logger: quiet})
		ctx := context.Background()
		msg := encodeMsg(msgTags, []string{"bench:tag"})
		b.Run(tg.Name+"/xadd", func(b *testing.B) {
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.redis.appendLog(ctx, msg); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
		b.Run(tg.Name+"/invalidate", func(b *testing.B) {
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.InvalidateTags(ctx, "bench:tag"); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}

// TestCoherenceIdle: an idle cache with an L1 (log reader at the default
// CoherencePing) sends at most one command per five seconds on average,
// counted by the server (a private one: nothing else talks to it).
func TestCoherenceIdle(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t)
	admin := srv.Client(t)
	c := newTestCache(t, srv.Client(t), "idle:", Options{L1Bytes: 1 << 20, Logger: quiet})
	waitFor(t, 5*time.Second, "the log reader", c.coherent)
	ctx := context.Background()
	processed := func() int {
		info, err := admin.Info(ctx, "stats").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(l, "total_commands_processed:"); ok {
				var n int
				fmt.Sscan(v, &n)
				return n
			}
		}
		t.Fatal("no total_commands_processed in INFO")
		return 0
	}
	const window = 10 * time.Second
	before := processed()
	time.Sleep(window)
	n := processed() - before - 1 // the first INFO counts
	t.Logf("%d commands in %v idle (cache with an L1 and its log reader, monitor included)", n, window)
	if n > int(window/(5*time.Second)) {
		t.Fatalf("%d commands in %v idle, want at most %d", n, window, window/(5*time.Second))
	}
}
