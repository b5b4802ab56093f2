package cachehttp

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/redis/go-redis/v9"
)

// The replay fault: Redis executes a command, its reply is lost with the
// connection, and go-redis sends it again (a plain client resends the
// command, the auto-pipeliner the whole batch). Each test below loses the
// reply of one command of the cache's request path and checks that the
// request comes out as if nothing had happened.

// isLeaseFetch matches the SET NX GET that reads an entry or takes its
// fill lease.
func isLeaseFetch(c redis.Cmder) bool {
	args := c.Args()
	if c.Name() != "set" || len(args) == 0 {
		return false
	}
	last, _ := args[len(args)-1].(string)
	return strings.EqualFold(last, "get")
}

// replayCache is a cache on the rig's client, all keys in one hash-tag
// group (one node of a cluster), its monitor on a client of its own (its
// probes never meet the fault), counting what the rig's client sends and
// the cache's events.
type replayCache struct {
	c      *Cache
	srv    http.Handler
	h      *counter
	wire   *redistest.CountHook
	events *events
	group  string // a key in the cache's one hash-tag group
	status atomic.Int64
	during func() // runs inside the handler
}

func newReplayCache(t *testing.T, rg *redistest.ReplayRig, auto bool) *replayCache {
	t.Helper()
	rc := &replayCache{wire: &redistest.CountHook{Filter: redistest.NotPing}, events: &events{}}
	rg.Client.AddHook(rc.wire)
	mon := mustMonitor(fallback.NewMonitor(rg.Target.NewClient(t), fallback.MonitorOptions{CommandTimeout: 5 * time.Second, Logger: quiet}))
	t.Cleanup(func() { _ = mon.Close() })
	// FillWait 1s: a request that found a lease (its own, without the
	// replay recognition) polls for it instead of filling at once, which
	// the command counts show.
	rc.c = newTestCache(t, rg.Client, rg.Target.Prefix+"rp:", Options{
		AutoPipeline: auto, Groups: 1, Monitor: mon, Observer: rc.events, FillWait: time.Second,
	})
	rc.group = rc.c.l.base(0)
	// Every script on every node, so no EVALSHA meets NOSCRIPT (whose
	// error reply would absorb the fault).
	for _, s := range []*redis.Script{storeScript, releaseScript} {
		if err := s.Load(t.Context(), rg.Target.Client).Err(); err != nil {
			t.Fatal(err)
		}
	}
	rc.status.Store(http.StatusOK)
	rc.h = &counter{h: func(w http.ResponseWriter, r *http.Request) {
		if rc.during != nil {
			rc.during()
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(int(rc.status.Load()))
		_, _ = w.Write([]byte("body"))
	}}
	rc.srv = mustRoute(t, rc.c, Route{Name: "rp", TTL: time.Minute}).Handler(rc.h)
	// Warm up: the store script is cached on the group's node and a
	// connection to it is open on the path the cache's commands take.
	expect(t, do(rc.srv, "GET", "/warm"), 200, "MISS", "body")
	expect(t, do(rc.srv, "GET", "/warm"), 200, "HIT", "body")
	rc.wire.Take()
	return rc
}

// expectCmds fails unless the commands counted since the last call are
// exactly want (by name).
func (rc *replayCache) expectCmds(t *testing.T, what string, want map[string]int) {
	t.Helper()
	got, _ := rc.wire.Take()
	if len(got) != len(want) {
		t.Fatalf("%s: commands %v, want %v", what, got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Fatalf("%s: commands %v, want %v", what, got, want)
		}
	}
}

// withAutoPipeline runs fn with Options.AutoPipeline off, then on in a
// subtest named "autopipeline" (redistest.WithAutoPipeline).
var withAutoPipeline = redistest.WithAutoPipeline

// replayTest runs fn with AutoPipeline off and on, on every target, each
// with a rig of its own.
func replayTest(t *testing.T, fn func(t *testing.T, rg *redistest.ReplayRig, auto bool)) {
	withAutoPipeline(t, func(t *testing.T, auto bool) {
		redistest.Run(t, func(t *testing.T, tg redistest.Target) {
			fn(t, redistest.NewReplayRig(t, tg), auto)
		})
	})
}

var (
	missCmds = map[string]int{"set": 1, "evalsha": 1} // SET NX GET, store.lua
	hitCmds  = map[string]int{"set": 1}
)

// TestReplayLease: the SET NX GET that takes a miss's fill lease runs
// twice; the second run returns the lease the first one set, which fetch
// recognises as our own. The miss fills the entry at once (two commands,
// no polling for the lease until FillWait) and the next request is a HIT.
// Without that, the request waits out FillWait for a fill that is its own.
func TestReplayLease(t *testing.T) {
	replayTest(t, func(t *testing.T, rg *redistest.ReplayRig, auto bool) {
		rc := newReplayCache(t, rg, auto)
		check := rg.Lose(t, rc.group)
		expect(t, do(rc.srv, "GET", "/x"), 200, "MISS", "body")
		check()
		rc.expectCmds(t, "miss with a lost lease reply", missCmds)
		expect(t, do(rc.srv, "GET", "/x"), 200, "HIT", "body")
		rc.expectCmds(t, "hit", hitCmds)
		if n := rc.h.n.Load(); n != 2 {
			t.Fatalf("handler runs %d, want 2 (warm-up and one miss)", n)
		}
		if n := rc.events.get(middleware.CacheStore, "rp"); n != 2 {
			t.Fatalf("CacheStore events %d, want 2", n)
		}

		// GetOrLoad's lease is the same command.
		ctx := context.Background()
		var loads atomic.Int64
		load := func(context.Context) (int, error) { loads.Add(1); return 7, nil }
		check = rg.Lose(t, rc.group)
		if v, err := GetOrLoad(ctx, rc.c, "d", time.Minute, load); err != nil || v != 7 {
			t.Fatalf("GetOrLoad with a lost lease reply: %d %v", v, err)
		}
		check()
		rc.expectCmds(t, "GetOrLoad miss with a lost lease reply", missCmds)
		if v, err := GetOrLoad(ctx, rc.c, "d", time.Minute, load); err != nil || v != 7 || loads.Load() != 1 {
			t.Fatalf("GetOrLoad hit: %d %v, loads %d", v, err, loads.Load())
		}
		rc.expectCmds(t, "GetOrLoad hit", hitCmds)
	})
}

// TestReplayStore: the store script of a fill runs twice; its second run
// finds the entry the first one wrote in place of our lease and reports it
// stored (store.lua), so the fill counts as a store (CacheStore, the L1's
// own-write drop), and the next request is a HIT.
func TestReplayStore(t *testing.T) {
	replayTest(t, func(t *testing.T, rg *redistest.ReplayRig, auto bool) {
		rc := newReplayCache(t, rg, auto)
		check := rg.LoseAfter(t, rc.group, isLeaseFetch)
		expect(t, do(rc.srv, "GET", "/x"), 200, "MISS", "body")
		check()
		rc.expectCmds(t, "miss with a lost store reply", missCmds)
		if n := rc.events.get(middleware.CacheStore, "rp"); n != 2 {
			t.Fatalf("CacheStore events %d, want 2 (warm-up and this fill)", n)
		}
		expect(t, do(rc.srv, "GET", "/x"), 200, "HIT", "body")
		rc.expectCmds(t, "hit", hitCmds)

		ctx := context.Background()
		check = rg.LoseAfter(t, rc.group, isLeaseFetch)
		if v, err := GetOrLoad(ctx, rc.c, "d", time.Minute, func(context.Context) (int, error) { return 7, nil }); err != nil || v != 7 {
			t.Fatalf("GetOrLoad with a lost store reply: %d %v", v, err)
		}
		check()
		rc.expectCmds(t, "GetOrLoad miss with a lost store reply", missCmds)
		if v, err := GetOrLoad(ctx, rc.c, "d", time.Minute, func(context.Context) (int, error) { return 8, nil }); err != nil || v != 7 {
			t.Fatalf("GetOrLoad hit: %d %v", v, err)
		}
		rc.expectCmds(t, "GetOrLoad hit", hitCmds)
	})
}

// TestReplayRelease: a fill that stores nothing (a 500) gives its lease
// back; the release script runs twice, the second run finds the lease gone
// and changes nothing, and the next request fills at once.
func TestReplayRelease(t *testing.T) {
	replayTest(t, func(t *testing.T, rg *redistest.ReplayRig, auto bool) {
		rc := newReplayCache(t, rg, auto)
		var check func()
		rc.status.Store(http.StatusInternalServerError)
		rc.during = func() { check = rg.Lose(t, rc.group) }
		if r := do(rc.srv, "GET", "/x"); r.code != http.StatusInternalServerError {
			t.Fatalf("%d", r.code)
		}
		rc.during = nil
		check()
		rc.expectCmds(t, "unstored miss with a lost release reply", missCmds) // SET NX GET, release.lua
		rc.status.Store(http.StatusOK)
		expect(t, do(rc.srv, "GET", "/x"), 200, "MISS", "body")
		rc.expectCmds(t, "the next miss", missCmds)
		expect(t, do(rc.srv, "GET", "/x"), 200, "HIT", "body")
	})
}
