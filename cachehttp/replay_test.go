package cachehttp

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
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

// replayRig is a client whose every connection (to each node of a
// cluster) goes through a redistest.Proxy, so a test can lose the next
// reply of the node that holds a given key.
type replayRig struct {
	tg      redistest.Target
	client  redis.UniversalClient
	proxies map[string]*redistest.Proxy // by the node address the client dials
	broken  atomic.Int64                // connections the far end closed

	mu    sync.Mutex
	after func(redis.Cmder) bool // run on each reply until it returns true
}

func newReplayRig(t *testing.T, tg redistest.Target) *replayRig {
	t.Helper()
	rg := &replayRig{tg: tg, proxies: map[string]*redistest.Proxy{}}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		px, ok := rg.proxies[addr]
		if !ok {
			return nil, fmt.Errorf("replay rig: no proxy for %s", addr)
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, px.Addr)
		if err != nil {
			return nil, err
		}
		return &watchedConn{Conn: c, broken: &rg.broken}, nil
	}
	switch c := tg.Client.(type) {
	case *redis.ClusterClient:
		o := c.Options()
		var mu sync.Mutex
		addrs := append([]string(nil), o.Addrs...)
		if err := c.ForEachShard(t.Context(), func(_ context.Context, n *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			addrs = append(addrs, n.Options().Addr)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			if rg.proxies[a] == nil {
				rg.proxies[a] = redistest.StartProxy(t, a)
			}
		}
		rg.client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: o.Addrs, Username: o.Username, Password: o.Password,
			Dialer: dial, ContextTimeoutEnabled: true})
	case *redis.Client:
		o := c.Options()
		rg.proxies[o.Addr] = redistest.StartProxy(t, o.Addr)
		rg.client = redis.NewClient(&redis.Options{Addr: o.Addr, DB: o.DB, Username: o.Username, Password: o.Password,
			Dialer: dial, ContextTimeoutEnabled: true})
	default:
		t.Fatalf("replay rig: client %T", tg.Client)
	}
	rg.client.AddHook(afterHook{rg})
	t.Cleanup(func() { _ = rg.client.Close() })
	return rg
}

// watchedConn counts its connection into broken when a read fails on a
// connection the client did not close itself: the proxy dropped it.
type watchedConn struct {
	net.Conn
	broken *atomic.Int64
	closed atomic.Bool
	once   sync.Once
}

func (c *watchedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && !c.closed.Load() {
		c.once.Do(func() { c.broken.Add(1) })
	}
	return n, err
}

func (c *watchedConn) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}

// proxyFor returns the proxy in front of the node that holds key.
func (rg *replayRig) proxyFor(t *testing.T, key string) *redistest.Proxy {
	t.Helper()
	addr := ""
	switch c := rg.tg.Client.(type) {
	case *redis.ClusterClient:
		m, err := c.MasterForKey(t.Context(), key)
		if err != nil {
			t.Fatal(err)
		}
		addr = m.Options().Addr
	case *redis.Client:
		addr = c.Options().Addr
	}
	px := rg.proxies[addr]
	if px == nil {
		t.Fatalf("no proxy for %s (key %s)", addr, key)
	}
	return px
}

// lose makes the proxy of key's node lose its next reply. The returned
// check, called once the operation is over, disarms the fault and fails the
// test unless a reply was lost (the proxy closed a connection).
func (rg *replayRig) lose(t *testing.T, key string) func() {
	t.Helper()
	px := rg.proxyFor(t, key)
	before := rg.broken.Load()
	px.LoseReplies(1)
	return func() {
		t.Helper()
		px.LoseReplies(0)
		if rg.broken.Load() == before {
			t.Fatalf("no reply of %s's node was lost: the fault missed the operation", key)
		}
	}
}

// loseAfter makes key's node lose the reply that follows the reply of the
// first command sent from now on that match accepts. The returned check,
// called once the operation is over, disarms the fault and fails the test
// unless such a command was seen and a reply was lost.
func (rg *replayRig) loseAfter(t *testing.T, key string, match func(redis.Cmder) bool) func() {
	t.Helper()
	px := rg.proxyFor(t, key)
	before := rg.broken.Load()
	var seen atomic.Bool
	rg.mu.Lock()
	rg.after = func(c redis.Cmder) bool {
		if !match(c) {
			return false
		}
		px.LoseReplies(1)
		seen.Store(true)
		return true
	}
	rg.mu.Unlock()
	return func() {
		t.Helper()
		rg.mu.Lock()
		rg.after = nil
		rg.mu.Unlock()
		px.LoseReplies(0)
		if !seen.Load() {
			t.Fatalf("the command to lose the next reply after was not seen")
		}
		if rg.broken.Load() == before {
			t.Fatalf("no reply of %s's node was lost: the fault missed the operation", key)
		}
	}
}

// afterHook runs the rig's after-action once the reply of a command is in
// (after next returns, in both the plain and the pipelined paths).
type afterHook struct{ rg *replayRig }

func (h afterHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h afterHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.fire([]redis.Cmder{cmd})
		return err
	}
}

func (h afterHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.fire(cmds)
		return err
	}
}

func (h afterHook) fire(cmds []redis.Cmder) {
	h.rg.mu.Lock()
	defer h.rg.mu.Unlock()
	for _, c := range cmds {
		if h.rg.after != nil && h.rg.after(c) {
			h.rg.after = nil
		}
	}
}

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
	wire   *wireHook
	events *events
	group  string // a key in the cache's one hash-tag group
	status atomic.Int64
	during func() // runs inside the handler
}

func newReplayCache(t *testing.T, rg *replayRig, auto bool) *replayCache {
	t.Helper()
	rc := &replayCache{wire: &wireHook{}, events: &events{}}
	rg.client.AddHook(rc.wire)
	mon := mustMonitor(fallback.NewMonitor(rg.tg.NewClient(t), fallback.MonitorOptions{CommandTimeout: 5 * time.Second, Logger: quiet}))
	t.Cleanup(func() { _ = mon.Close() })
	// FillWait 1s: a request that found a lease (its own, without the
	// replay recognition) polls for it instead of filling at once, which
	// the command counts show.
	rc.c = newTestCache(t, rg.client, rg.tg.Prefix+"rp:", Options{
		AutoPipeline: auto, Groups: 1, Monitor: mon, Observer: rc.events, FillWait: time.Second,
	})
	rc.group = rc.c.l.base(0)
	// Every script on every node, so no EVALSHA meets NOSCRIPT (whose
	// error reply would absorb the fault).
	for _, s := range []*redis.Script{storeScript, releaseScript} {
		if err := s.Load(t.Context(), rg.tg.Client).Err(); err != nil {
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
	rc.wire.take()
	return rc
}

// expectCmds fails unless the commands counted since the last call are
// exactly want (by name).
func (rc *replayCache) expectCmds(t *testing.T, what string, want map[string]int) {
	t.Helper()
	got, _ := rc.wire.take()
	if len(got) != len(want) {
		t.Fatalf("%s: commands %v, want %v", what, got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Fatalf("%s: commands %v, want %v", what, got, want)
		}
	}
}

func replayTest(t *testing.T, fn func(t *testing.T, rg *replayRig, auto bool)) {
	withAutoPipeline(t, func(t *testing.T, auto bool) {
		redistest.Run(t, func(t *testing.T, tg redistest.Target) {
			fn(t, newReplayRig(t, tg), auto)
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
	replayTest(t, func(t *testing.T, rg *replayRig, auto bool) {
		rc := newReplayCache(t, rg, auto)
		check := rg.lose(t, rc.group)
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
		check = rg.lose(t, rc.group)
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
	replayTest(t, func(t *testing.T, rg *replayRig, auto bool) {
		rc := newReplayCache(t, rg, auto)
		check := rg.loseAfter(t, rc.group, isLeaseFetch)
		expect(t, do(rc.srv, "GET", "/x"), 200, "MISS", "body")
		check()
		rc.expectCmds(t, "miss with a lost store reply", missCmds)
		if n := rc.events.get(middleware.CacheStore, "rp"); n != 2 {
			t.Fatalf("CacheStore events %d, want 2 (warm-up and this fill)", n)
		}
		expect(t, do(rc.srv, "GET", "/x"), 200, "HIT", "body")
		rc.expectCmds(t, "hit", hitCmds)

		ctx := context.Background()
		check = rg.loseAfter(t, rc.group, isLeaseFetch)
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
	replayTest(t, func(t *testing.T, rg *replayRig, auto bool) {
		rc := newReplayCache(t, rg, auto)
		var check func()
		rc.status.Store(http.StatusInternalServerError)
		rc.during = func() { check = rg.lose(t, rc.group) }
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
