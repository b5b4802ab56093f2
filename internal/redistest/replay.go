package redistest

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

// ReplayRig is the rig for the replay fault: Redis executes a command, its
// reply is lost with the connection, and go-redis sends it again (a plain
// client resends the command, the auto-pipeliner the whole batch).
//
// Client reaches every node (each node of a cluster) through a Proxy of
// its own, so a test can lose the next reply of the node that holds a
// given key (Lose, LoseAfter) and then check that a reply was really lost.
// Target's own client goes around the proxies: use it to inspect what
// Redis holds, or to load scripts on every node.
type ReplayRig struct {
	// Target is the deployment the rig is in front of.
	Target Target
	// Client is a client of the same kind as Target.Client (plain or
	// cluster) whose connections all go through the rig's proxies.
	Client redis.UniversalClient

	proxies map[string]*Proxy // by the node address the client dials
	broken  atomic.Int64      // connections the far end closed

	mu    sync.Mutex
	after func(redis.Cmder) bool // run on each reply until it returns true
}

// NewReplayRig starts a proxy in front of every node of tg and returns a
// rig whose Client dials them. The client is closed when the test ends.
func NewReplayRig(t testing.TB, tg Target) *ReplayRig {
	t.Helper()
	rg := &ReplayRig{Target: tg, proxies: map[string]*Proxy{}}
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
		addrs := slices.Clone(o.Addrs)
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
				rg.proxies[a] = StartProxy(t, a)
			}
		}
		rg.Client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: o.Addrs, Username: o.Username, Password: o.Password,
			Dialer: dial, ContextTimeoutEnabled: true})
	case *redis.Client:
		o := c.Options()
		rg.proxies[o.Addr] = StartProxy(t, o.Addr)
		rg.Client = redis.NewClient(&redis.Options{Addr: o.Addr, DB: o.DB, Username: o.Username, Password: o.Password,
			Dialer: dial, ContextTimeoutEnabled: true})
	default:
		t.Fatalf("replay rig: client %T", tg.Client)
	}
	rg.Client.AddHook(afterHook{rg})
	t.Cleanup(func() { _ = rg.Client.Close() })
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

// ProxyFor returns the proxy in front of the node that holds key.
func (rg *ReplayRig) ProxyFor(t testing.TB, key string) *Proxy {
	t.Helper()
	addr := ""
	switch c := rg.Target.Client.(type) {
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

// Warm opens a connection to every node on the path a component's
// commands take (Client's pool, and its auto-pipeliner when auto), so a
// lost reply is a command's and not a new connection's handshake.
func (rg *ReplayRig) Warm(t testing.TB, auto bool) {
	t.Helper()
	ctx := t.Context()
	var keys []string
	if cc, ok := rg.Target.Client.(*redis.ClusterClient); ok {
		seen := map[string]bool{}
		var masters atomic.Int64
		_ = cc.ForEachMaster(ctx, func(context.Context, *redis.Client) error { masters.Add(1); return nil })
		for i := 0; int64(len(seen)) < masters.Load() && i < 10000; i++ {
			k := fmt.Sprintf("%swarm%d", rg.Target.Prefix, i)
			m, err := cc.MasterForKey(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			if !seen[m.Options().Addr] {
				seen[m.Options().Addr] = true
				keys = append(keys, k)
			}
		}
	} else {
		keys = []string{rg.Target.Prefix + "warm"}
	}
	var ap *redis.AutoPipeliner
	if auto {
		var err error
		if ap, err = rg.Client.AsyncAutoPipeline(); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range keys {
		if err := rg.Client.Get(ctx, k).Err(); err != nil && err != redis.Nil {
			t.Fatal(err)
		}
		if ap != nil {
			if err := ap.Submit(ctx, redis.NewCmd(ctx, "get", k)).WaitContext(ctx); err != nil && err != redis.Nil {
				t.Fatal(err)
			}
		}
	}
}

// Lose makes the proxy of key's node lose its next reply. The returned
// check, called once the operation is over, disarms the fault and fails
// the test unless a reply was lost (the proxy closed a connection).
func (rg *ReplayRig) Lose(t testing.TB, key string) func() {
	t.Helper()
	px := rg.ProxyFor(t, key)
	before := rg.broken.Load()
	px.LoseReplies(1)
	return func() {
		t.Helper()
		px.LoseReplies(0)
		rg.expectLost(t, key, before)
	}
}

// LoseAfter makes key's node lose the reply that follows the reply of the
// first command sent from now on that match accepts. The returned check,
// called once the operation is over, disarms the fault and fails the test
// unless such a command was seen and a reply was lost. One LoseAfter at a
// time per rig.
func (rg *ReplayRig) LoseAfter(t testing.TB, key string, match func(redis.Cmder) bool) func() {
	t.Helper()
	px := rg.ProxyFor(t, key)
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
		rg.expectLost(t, key, before)
	}
}

func (rg *ReplayRig) expectLost(t testing.TB, key string, before int64) {
	t.Helper()
	if rg.broken.Load() == before {
		t.Fatalf("no reply of %s's node was lost: the fault missed the operation", key)
	}
}

// IsScript returns a matcher for LoseAfter that accepts an EVALSHA of one
// of the scripts whose SHA1 is in shas.
func IsScript(shas ...string) func(redis.Cmder) bool {
	return func(c redis.Cmder) bool {
		args := c.Args()
		if len(args) < 2 || c.Name() != "evalsha" {
			return false
		}
		sha, _ := args[1].(string)
		return slices.Contains(shas, sha)
	}
}

// afterHook runs the rig's after-action once the reply of a command is in
// (after next returns, in both the plain and the pipelined paths).
type afterHook struct{ rg *ReplayRig }

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
