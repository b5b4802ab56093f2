package cachehttp

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// faultPair builds two caches with an L1 over their own clients (short
// CoherencePing, a monitor with a short command timeout) and returns them
// once both log readers are in sync.
func faultPair(t *testing.T, ca, cb redis.UniversalClient, prefix string) (*Cache, *Cache) {
	t.Helper()
	mk := func(client redis.UniversalClient) *Cache {
		mon, err := fallback.NewMonitor(client, fallback.MonitorOptions{CommandTimeout: 500 * time.Millisecond, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = mon.Close() })
		c := newTestCache(t, client, prefix, Options{L1Bytes: 8 << 20, L1TTL: time.Hour, CoherencePing: 200 * time.Millisecond,
			Monitor: mon, Logger: quiet})
		waitFor(t, 10*time.Second, "the log reader", c.coherent)
		return c
	}
	return mk(ca), mk(cb)
}

// fillL1 makes c hold n keys (tag "t:<key>", namespace "ns") in its L1, with
// the value load returns, and returns their names.
func fillL1(t *testing.T, c *Cache, n int, load func(context.Context) (int64, error)) []string {
	t.Helper()
	ctx := context.Background()
	keys := make([]string, n)
	for i := range keys {
		k := fmt.Sprintf("f%d", i)
		keys[i] = k
		waitFor(t, 10*time.Second, "the L1 to hold "+k, func() bool {
			_, _ = GetOrLoad(ctx, c, k, time.Hour, load, WithTags("t:"+k), WithNamespace("ns"))
			return c.l1Has(k)
		})
	}
	return keys
}

// TestCoherenceRestartEmpty: Redis restarts with no data. Every instance's
// log reader sees the new epoch and flushes its L1 exactly once; nothing
// afterwards (more invalidations, reconnections) flushes it again.
func TestCoherenceRestartEmpty(t *testing.T) {
	srv := redistest.StartServer(t)
	a, b := faultPair(t, srv.Client(t), srv.Client(t), "restart:")
	var gen atomic.Int64
	load := func(context.Context) (int64, error) { return gen.Load(), nil }
	fillL1(t, b, 20, load)
	if _, err := a.InvalidateTags(context.Background(), "t:f0"); err != nil { // b's position is an entry
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the invalidation to reach b", func() bool { return !b.l1Has("f0") })
	syncs := b.coh.syncs.Load()
	srv.Restart()
	waitFor(t, 15*time.Second, "b's reader to reconnect", func() bool { return b.coh.syncs.Load() > syncs && b.coherent() })
	waitFor(t, 15*time.Second, "a's reader to reconnect", a.coherent)
	if n := b.l1.c.EstimatedSize(); n != 0 {
		t.Fatalf("b's L1 holds %d entries after Redis restarted empty", n)
	}
	// New traffic, new invalidations, another reconnection: no more flushes.
	gen.Add(1)
	ctx := context.Background()
	keys := fillL1(t, b, 5, load)
	for _, k := range keys[:2] {
		if _, err := a.InvalidateTags(ctx, "t:"+k); err != nil {
			t.Fatal(err)
		}
	}
	syncs = b.coh.syncs.Load()
	killReader(t, srv.Client(t), "")
	waitFor(t, 10*time.Second, "b's reader to reconnect", func() bool { return b.coh.syncs.Load() > syncs && b.coherent() })
	for _, c := range []*Cache{a, b} {
		if n := c.coh.flushes.Load(); n != 1 {
			t.Fatalf("%d L1 flushes after one restart, want 1", n)
		}
	}
	if !b.l1Has(keys[3]) || !b.l1Has(keys[4]) || b.l1Has(keys[0]) {
		t.Fatal("after the restart, the L1 does not follow the log")
	}
}

// TestCoherenceTrimmedPastReader: while b's reader is cut off (a proxy
// holding all its traffic), a invalidates and the log is trimmed to
// nothing. When the reader is back it cannot know what it missed: its L1
// is flushed once, and no stale entry is served.
func TestCoherenceTrimmedPastReader(t *testing.T) {
	for _, kind := range []string{redistest.NameMiniredis, redistest.NameRedis} {
		t.Run(kind, func(t *testing.T) {
			var addr string
			if kind == redistest.NameMiniredis {
				m := miniredis.RunT(t)
				addr = m.Addr()
			} else {
				addr = redistest.StartServer(t).Addr
			}
			proxy := redistest.StartProxy(t, addr)
			direct := redis.NewClient(&redis.Options{Addr: addr})
			t.Cleanup(func() { _ = direct.Close() })
			via := redis.NewClient(&redis.Options{Addr: proxy.Addr, ContextTimeoutEnabled: true, MaxRetries: -1})
			t.Cleanup(func() { _ = via.Close() })
			a, b := faultPair(t, redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true}), via, "trim:")
			t.Cleanup(func() { _ = a.client.Close() })
			trimmedPast(t, a, b, direct, func(on bool) { proxy.SetBlackhole(on) })
		})
	}
}

// trimmedPast runs the trim scenario; cut(true) cuts b's reader off,
// cut(false) lets it back.
func trimmedPast(t *testing.T, a, b *Cache, admin redis.UniversalClient, cut func(bool)) {
	t.Helper()
	ctx := context.Background()
	var gen atomic.Int64
	load := func(context.Context) (int64, error) { return gen.Load(), nil }
	keys := fillL1(t, b, 20, load)
	if _, err := a.InvalidateTags(ctx, "t:"+keys[0]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the invalidation to reach b", func() bool { return !b.l1Has(keys[0]) })
	syncs := b.coh.syncs.Load()
	cut(true)
	waitFor(t, 10*time.Second, "b's reader to notice", func() bool { return !b.coherent() })
	old := gen.Load()
	gen.Add(1)
	for _, k := range keys[1:5] {
		if _, err := a.InvalidateTags(ctx, "t:"+k); err != nil {
			t.Fatal(err)
		}
	}
	if err := admin.XTrimMaxLen(ctx, a.l.logKey(), 0).Err(); err != nil {
		t.Fatal(err)
	}
	cut(false)
	waitFor(t, 15*time.Second, "b's reader to reconnect", func() bool { return b.coh.syncs.Load() > syncs && b.coherent() })
	if n := b.coh.flushes.Load(); n != 1 {
		t.Fatalf("%d L1 flushes, want 1", n)
	}
	for _, k := range keys[1:5] {
		v, err := GetOrLoad(ctx, b, k, time.Hour, load, WithTags("t:"+k), WithNamespace("ns"))
		if err != nil || v == old {
			t.Fatalf("%s = %d, %v after the reconnection; want %d", k, v, err, old+1)
		}
	}
	// Back in sync: later invalidations are applied, with no more flushes.
	k := keys[10]
	waitFor(t, 5*time.Second, "the L1 to hold "+k, func() bool {
		_, _ = GetOrLoad(ctx, b, k, time.Hour, load, WithTags("t:"+k), WithNamespace("ns"))
		return b.l1Has(k)
	})
	if _, err := a.InvalidateTags(ctx, "t:"+k); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a later invalidation to reach b", func() bool { return !b.l1Has(k) })
	if n := b.coh.flushes.Load(); n != 1 {
		t.Fatalf("%d L1 flushes, want 1", n)
	}
}

// TestCoherenceTrimmedPastReaderTargets runs the trim scenario on every
// target, the reader held before it syncs again (its connection killed;
// on the cluster, on the log's node).
func TestCoherenceTrimmedPastReaderTargets(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		a := newL1Cache(t, tg, nil, Options{CoherencePing: 200 * time.Millisecond})
		bc, name, proxy := namedClient(t, tg)
		b := newTestCache(t, bc, tg.Prefix, Options{L1Bytes: 8 << 20, L1TTL: time.Hour, CoherencePing: 200 * time.Millisecond, Logger: quiet})
		waitFor(t, 5*time.Second, "b's log reader", b.coherent)
		release := make(chan struct{})
		var held atomic.Bool
		trimmedPast(t, a, b, tg.Client, func(on bool) {
			if !on {
				close(release)
				return
			}
			f := func() {
				if held.CompareAndSwap(false, true) {
					<-release
				}
			}
			b.coh.hold.Store(&f)
			if proxy != nil {
				proxy.DropConnections()
			} else {
				killReader(t, logNode(t, bc, b), name)
			}
		})
	})
}

// failoverCoherence: b holds keys in its L1; failover() moves the log's
// node to its replica; a then invalidates half of the keys. Once b's reader
// is back, b serves none of the invalidated entries stale, and the others
// from its L1 unless the reader found a gap.
func failoverCoherence(t *testing.T, name string, ca, cb redis.UniversalClient, failover func()) {
	t.Helper()
	ctx := context.Background()
	a, b := faultPair(t, ca, cb, "failover:")
	var gen atomic.Int64
	load := func(context.Context) (int64, error) { return gen.Load(), nil }
	keys := fillL1(t, b, 20, load)
	// The replica has everything before the failover (WAIT on every master).
	waitAll := func(c redis.UniversalClient) error { return c.Do(ctx, "wait", 1, 2000).Err() }
	if cc, ok := ca.(*redis.ClusterClient); ok {
		if err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return waitAll(m) }); err != nil {
			t.Fatal(err)
		}
	} else if err := waitAll(ca); err != nil {
		t.Fatal(err)
	}
	syncs := b.coh.syncs.Load()
	start := time.Now()
	failover()
	old := gen.Load()
	gen.Add(1)
	for _, k := range keys[:10] {
		waitFor(t, 20*time.Second, "an invalidation to succeed after the failover", func() bool {
			_, err := a.InvalidateTags(ctx, "t:"+k)
			return err == nil
		})
	}
	waitFor(t, 20*time.Second, "b's reader to reconnect", func() bool { return b.coh.syncs.Load() > syncs && b.coherent() })
	back := time.Since(start)
	kept := 0
	for _, k := range keys[10:] {
		if b.l1Has(k) {
			kept++
		}
	}
	for _, k := range keys[:10] {
		var v int64
		waitFor(t, 20*time.Second, "b to read "+k, func() bool {
			var err error
			v, err = GetOrLoad(ctx, b, k, time.Hour, load, WithTags("t:"+k), WithNamespace("ns"))
			return err == nil
		})
		if v == old {
			t.Fatalf("%s served stale after the failover", k)
		}
	}
	t.Logf("%s failover: reader back in sync after %v; L1 entries kept %d/10; gap flushes %d", name, back.Round(time.Millisecond), kept, b.coh.flushes.Load())
	if n := b.coh.flushes.Load(); n > 1 {
		t.Fatalf("%d L1 flushes after one failover", n)
	}
}

// TestCoherenceSentinelFailover: coherence holds across a Sentinel
// failover (SENTINEL FAILOVER: the replica is promoted, the old primary's
// clients are disconnected).
func TestCoherenceSentinelFailover(t *testing.T) {
	s := redistest.StartSentinel(t, "cohmaster")
	from, err := s.MasterAddr()
	if err != nil {
		t.Fatal(err)
	}
	failoverCoherence(t, "sentinel", s.Client(t), s.Client(t), func() {
		if err := s.Failover(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.WaitSwitch(from, 20*time.Second); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCoherenceClusterFailover: coherence holds when the master holding
// the log is killed and its replica takes over.
func TestCoherenceClusterFailover(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 1)
	ca, cb := cl.Client(t), cl.Client(t)
	failoverCoherence(t, "cluster", ca, cb, func() {
		cl.MasterFor("failover:{inv}log").Kill()
		if err := cl.WaitHealthy(30 * time.Second); err != nil {
			t.Fatal(err)
		}
	})
}
