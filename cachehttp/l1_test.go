package cachehttp

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	"go.uber.org/goleak"
)

// newL1Cache returns a cache with an L1 whose subscription is confirmed.
func newL1Cache(t testing.TB, tg redistest.Target, client func() any, o Options) *Cache {
	t.Helper()
	if o.L1Bytes == 0 {
		o.L1Bytes = 8 << 20
	}
	if o.L1TTL == 0 {
		o.L1TTL = time.Hour // only coherence may drop entries in these tests
	}
	c := newTestCache(t, tg.NewClient(t), tg.Prefix, o)
	waitFor(t, 5*time.Second, "the coherence subscription", c.coherent)
	return c
}

// With L1 a hot hit costs no Redis command at all.
func TestL1RoundTrips(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		cnt := &cmdCounter{}
		client := tg.NewClient(t)
		client.AddHook(cnt)
		c := newTestCache(t, client, tg.Prefix, Options{L1Bytes: 1 << 20})
		waitFor(t, 5*time.Second, "subscription", c.coherent)
		srv := mustRoute(t, c, Route{Name: "rt", Tags: []string{"a"}}).Handler(textHandler("body"))
		expect(t, do(srv, "GET", "/warm"), 200, "MISS", "body")
		cnt.take()
		expect(t, do(srv, "GET", "/x"), 200, "MISS", "body")
		// On a cluster the store's log entry is a separate XADD (to the
		// log's node), after the store script.
		want := 2
		if tg.Cluster {
			want = 3
		}
		if n, cmds := cnt.take(); n != want {
			t.Fatalf("miss with L1: %d round trips %v; want %d", n, cmds, want)
		}
		expect(t, do(srv, "GET", "/x"), 200, "HIT", "body") // from Redis, fills L1
		if n, cmds := cnt.take(); n != 1 {
			t.Fatalf("first hit: %d round trips %v; want 1", n, cmds)
		}
		for range 5 {
			expect(t, do(srv, "GET", "/x"), 200, "HIT", "body")
		}
		if n, cmds := cnt.take(); n != 0 {
			t.Fatalf("L1 hits: %d round trips %v; want 0", n, cmds)
		}
		ctx := context.Background()
		load := func(context.Context) (int, error) { return 7, nil }
		for range 4 {
			if v, err := GetOrLoad(ctx, c, "d", time.Minute, load); v != 7 || err != nil {
				t.Fatal(v, err)
			}
		}
		if n, cmds := cnt.take(); n != want+1 { // miss: read + store (+ log), first hit: read, then L1
			t.Fatalf("GetOrLoad with L1: %d round trips %v; want %d", n, cmds, want+1)
		}
	})
}

// Every kind of invalidation made on one instance drops the L1 copies of
// the others: tags, soft purge, pattern, delete, overwrite (Set), version.
func TestL1Coherence(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		ctx := context.Background()
		a := newL1Cache(t, tg, nil, Options{})
		b := newL1Cache(t, tg, nil, Options{})
		var gen atomic.Int64
		load := func(context.Context) (int64, error) { return gen.Load(), nil }
		get := func(c *Cache, k string) int64 {
			v, err := GetOrLoad(ctx, c, k, time.Hour, load, WithTags("tag:"+k), WithNamespace("ns"))
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		cases := []struct {
			name string
			inv  func(k string)
		}{
			{"tags", func(k string) { _, _ = a.InvalidateTags(ctx, "tag:"+k) }},
			{"soft", func(k string) { _, _ = a.SoftPurgeTags(ctx, "tag:"+k) }},
			{"pattern", func(k string) { _, _ = a.InvalidatePattern(ctx, EscapeGlob(k)+"*") }},
			{"overwrite", func(k string) {
				_ = Set(ctx, a, k, gen.Load(), time.Hour, WithTags("tag:"+k), WithNamespace("ns"))
			}},
			{"version", func(string) { _, _ = a.BumpVersion(ctx, "ns") }},
		}
		for i, tc := range cases {
			k := fmt.Sprintf("k%d[x]", i)
			get(b, k)
			old := get(b, k) // now in b's L1
			if !b.l1Has(k) {
				t.Fatalf("%s: entry not in L1", tc.name)
			}
			gen.Add(1)
			time.Sleep(2 * time.Millisecond)
			tc.inv(k)
			waitFor(t, 5*time.Second, tc.name+" to reach b", func() bool { return get(b, k) != old })
		}
		// Delete reaches entries without a namespace.
		v1, _ := GetOrLoad(ctx, b, "plain", time.Hour, load)
		GetOrLoad(ctx, b, "plain", time.Hour, load)
		gen.Add(1)
		if n, err := a.Delete(ctx, "plain"); n != 1 || err != nil {
			t.Fatal(n, err)
		}
		waitFor(t, 5*time.Second, "delete to reach b", func() bool {
			v, _ := GetOrLoad(ctx, b, "plain", time.Hour, load)
			return v != v1
		})
	})
}

// l1Has reports whether the data entry k (namespace "ns") is in the L1.
func (c *Cache) l1Has(k string) bool {
	suffix, _ := c.keySuffix(context.Background(), "ns")
	return c.l1Get(c.l.key(kindData, escapeKey(k)+suffix).name) != nil
}

// The staleness window: three instances, each with an L1 holding the entry;
// after InvalidateTags returns on one of them, how long until every instance
// serves the new data. Measured over many rounds; the bound asserted is far
// below the L1 TTL (an hour), so only coherence can meet it.
func TestL1StalenessWindow(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		var gen atomic.Int64
		h := &counter{h: func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "v%d", gen.Load()) }}
		var srv []http.Handler
		var caches []*Cache
		for range 3 {
			c := newL1Cache(t, tg, nil, Options{})
			caches = append(caches, c)
			srv = append(srv, mustRoute(t, c, Route{Name: "item", Tags: []string{"item:1"}, TTL: time.Hour}).Handler(h))
		}
		ctx := context.Background()
		var windows []time.Duration
		for round := range 30 {
			want := fmt.Sprintf("v%d", gen.Load())
			for i, s := range srv {
				do(s, "GET", "/item/1")
				// An overwrite message from another instance's fill may void
				// this fill of the L1 (it raced it): request until it holds.
				// A fill rejected by the previous round's invalidation stamp
				// is a MISS with the right body: only the body must hold.
				waitFor(t, 5*time.Second, "the L1 to hold the entry", func() bool {
					got := do(s, "GET", "/item/1")
					if got.code != 200 || got.body != want {
						t.Fatalf("got %d %q, want 200 %q", got.code, trunc(got.body), want)
					}
					return caches[i].l1.c.EstimatedSize() > 0
				})
			}
			gen.Add(1)
			want = fmt.Sprintf("v%d", gen.Load())
			time.Sleep(2 * time.Millisecond)
			if _, err := caches[round%3].InvalidateTags(ctx, "item:1"); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			var worst time.Duration
			for _, s := range srv {
				for do(s, "GET", "/item/1").body != want {
					if time.Since(start) > 2*time.Second {
						t.Fatalf("round %d: an instance still served old data after 2s", round)
					}
					time.Sleep(100 * time.Microsecond)
				}
				worst = max(worst, time.Since(start))
			}
			windows = append(windows, worst)
		}
		slices.Sort(windows)
		t.Logf("staleness window over %d rounds (3 instances with L1): median %v, p90 %v, max %v",
			len(windows), windows[len(windows)/2], windows[len(windows)*9/10], windows[len(windows)-1])
	})
}

// When the log reader's connection drops, the L1 is bypassed (not
// flushed) until the reader has reconnected and caught up; then the L1
// serves its entries again, without a round trip.
func TestL1SubscriptionLoss(t *testing.T) {
	srv := redistest.StartServer(t)
	admin := srv.Client(t)
	cnt := &cmdCounter{}
	client := srv.Client(t)
	client.AddHook(cnt)
	c := newTestCache(t, client, "loss:", Options{L1Bytes: 1 << 20, L1TTL: time.Hour, CoherencePing: 100 * time.Millisecond, Logger: quiet})
	waitFor(t, 5*time.Second, "the log reader", c.coherent)
	h := mustRoute(t, c, Route{Name: "r", TTL: time.Hour}).Handler(textHandler("x"))
	do(h, "GET", "/a")
	do(h, "GET", "/a")
	cnt.take()
	expect(t, do(h, "GET", "/a"), 200, "HIT", "x")
	if n, _ := cnt.take(); n != 0 {
		t.Fatalf("L1 hit took %d round trips", n)
	}
	syncs := c.coh.syncs.Load()
	killReader(t, admin, "")
	waitFor(t, 5*time.Second, "the reader to reconnect", func() bool { return c.coh.syncs.Load() > syncs && c.coherent() })
	if c.l1.c.EstimatedSize() == 0 {
		t.Fatal("L1 flushed when the log reader reconnected")
	}
	if n := c.coh.flushes.Load(); n != 0 {
		t.Fatalf("%d gap flushes after a reconnection with nothing missed", n)
	}
	cnt.take()
	expect(t, do(h, "GET", "/a"), 200, "HIT", "x")
	if n, _ := cnt.take(); n != 0 {
		t.Fatalf("after the reconnection an L1 hit took %d round trips", n)
	}
}

// Close stops the subscriber goroutine (and otter's), and leaks nothing.
func TestL1CloseNoLeak(t *testing.T) {
	tg := redistest.New(t)
	client := tg.NewClient(t)
	if err := client.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	// A miniredis server keeps a blocked XREAD's goroutines after the
	// client closed its connection, until its next command: not ours.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(), goleak.IgnoreAnyFunction("github.com/alicebob/miniredis/v2.blocking"),
		goleak.IgnoreTopFunction("github.com/alicebob/miniredis/v2.setCondTimer"),
		goleak.IgnoreTopFunction("github.com/alicebob/miniredis/v2.blocking.func2"))
	for range 3 {
		c, err := New(client, Options{Prefix: tg.Prefix, L1Bytes: 1 << 20, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "subscription", c.coherent)
		_ = c.Close()
		_ = c.Close()
	}
	_ = client.Close()
}
