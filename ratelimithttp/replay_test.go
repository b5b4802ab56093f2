package ratelimithttp

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// The replay fault: Redis runs the rate-limit script, its reply is lost
// with the connection, and go-redis sends the script again (a plain client
// resends the command, the auto-pipeliner the whole batch).

// replayRig is a client whose every connection (to each node of a
// cluster) goes through a redistest.Proxy, so a test can lose the next
// reply of the node that holds a given key.
type replayRig struct {
	tg      redistest.Target
	client  redis.UniversalClient
	proxies map[string]*redistest.Proxy // by the node address the client dials
	broken  atomic.Int64                // connections the far end closed
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

// lose makes the proxy in front of key's node lose its next reply. The
// returned check, called once the operation is over, disarms the fault and
// fails the test unless a reply was lost (the proxy closed a connection).
func (rg *replayRig) lose(t *testing.T, key string) func() {
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

// TestReplayCountsTwice documents the accepted outcome of a replayed
// rate-limit script: the request is counted twice (Used goes up by 2 for
// one request), and the answer is the second run's. It errs on the strict
// side only: a request that the first run admitted on the last unit is
// refused by the second run (which, refusing, counts nothing more), never
// the other way round.
func TestReplayCountsTwice(t *testing.T) {
	withAutoPipeline(t, func(t *testing.T, auto bool) {
		redistest.Run(t, func(t *testing.T, tg redistest.Target) {
			rg := newReplayRig(t, tg)
			for _, algo := range []Algorithm{FixedWindow, SlidingWindow} {
				for _, limit := range []int64{10, 2} {
					prefix := fmt.Sprintf("%s%v%d:", tg.Prefix, algo, limit)
					l := newLimiter(t, tg, rg.client, Options{
						Prefix: prefix, AutoPipeline: auto,
						Policies: []Policy{{Name: "api", Rate: rate(limit, time.Hour), Algorithm: algo}},
					})
					// The first request loads the script and opens the
					// connection, so the lost reply below is the script's.
					if res, err := l.Take(t.Context(), "alice", 1, ""); err != nil || !res.Allowed || res.States[0].Used != 1 {
						t.Fatalf("%v/%d: first request: %+v %v", algo, limit, res, err)
					}
					stored := prefix + "{alice}:f:api"
					if algo == SlidingWindow {
						stored = prefix + "{alice}:s:api:sum"
					}
					check := rg.lose(t, stored)
					res, err := l.Take(t.Context(), "alice", 1, "")
					check()
					if err != nil {
						t.Fatalf("%v/%d: %v (go-redis should have resent the script)", algo, limit, err)
					}
					n, err := tg.Client.Get(t.Context(), stored).Int64()
					if err != nil {
						t.Fatal(err)
					}
					switch limit {
					case 10: // room for both runs: the one request counts twice
						if !res.Allowed || res.States[0].Used != 3 || res.States[0].Remaining != 7 || n != 3 {
							t.Fatalf("%v/%d: second request with a lost reply: allowed %v, used %d, remaining %d, stored %d; want allowed, 3, 7, 3",
								algo, limit, res.Allowed, res.States[0].Used, res.States[0].Remaining, n)
						}
					case 2: // the first run took the last unit; the second refuses
						if res.Allowed || !res.States[0].Exceeded || n != 2 {
							t.Fatalf("%v/%d: second request with a lost reply: allowed %v, used %d, stored %d; want refused, stored 2",
								algo, limit, res.Allowed, res.States[0].Used, n)
						}
					}
				}
			}
		})
	})
}
