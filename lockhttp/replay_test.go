package lockhttp_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/redis/go-redis/v9"
)

// The replay fault: Redis executes a script, its reply is lost with the
// connection, and go-redis sends the script again (a plain client resends
// the command, the auto-pipeliner the whole batch). Each test below loses
// the reply of one script of the lock path and checks that the request
// comes out as if nothing had happened.

// replayRig is a client whose every connection (to each node of a
// cluster) goes through a redistest.Proxy, so a test can lose the next
// reply of the node that holds a given key.
type replayRig struct {
	tg      redistest.Target
	client  redis.UniversalClient
	proxies map[string]*redistest.Proxy // by the node address the client dials
	broken  atomic.Int64                // connections the far end closed

	mu    sync.Mutex
	after map[string]func() // script SHA -> action run once after its reply
}

func newReplayRig(t *testing.T, tg redistest.Target) *replayRig {
	t.Helper()
	rg := &replayRig{tg: tg, proxies: map[string]*redistest.Proxy{}, after: map[string]func(){}}
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
	// Every script on every node, so no EVALSHA meets NOSCRIPT (whose
	// error reply would absorb the fault).
	files, err := filepath.Glob("lua/*.lua")
	if err != nil || len(files) == 0 {
		t.Fatalf("lua/*.lua: %v", err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := tg.Client.ScriptLoad(t.Context(), string(src)).Err(); err != nil {
			t.Fatal(err)
		}
	}
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

// warm opens a connection to every node on the path the Locker's commands
// take (the plain pool, and the auto-pipeliner when auto), so the lost
// reply is a script's and not a new connection's handshake.
func (rg *replayRig) warm(t *testing.T, auto bool) {
	t.Helper()
	ctx := t.Context()
	var keys []string
	if cc, ok := rg.tg.Client.(*redis.ClusterClient); ok {
		seen := map[string]bool{}
		var masters atomic.Int64
		_ = cc.ForEachMaster(ctx, func(context.Context, *redis.Client) error { masters.Add(1); return nil })
		for i := 0; int64(len(seen)) < masters.Load() && i < 10000; i++ {
			k := fmt.Sprintf("%swarm%d", rg.tg.Prefix, i)
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
		keys = []string{rg.tg.Prefix + "warm"}
	}
	var ap *redis.AutoPipeliner
	if auto {
		var err error
		if ap, err = rg.client.AsyncAutoPipeline(); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range keys {
		if err := rg.client.Get(ctx, k).Err(); err != nil && err != redis.Nil {
			t.Fatal(err)
		}
		if ap != nil {
			if err := ap.Submit(ctx, redis.NewCmd(ctx, "get", k)).WaitContext(ctx); err != nil && err != redis.Nil {
				t.Fatal(err)
			}
		}
	}
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
// first script sent from now on whose SHA is one of shas. The returned
// check, called once the operation is over, disarms the fault and fails the
// test unless such a script was seen and a reply was lost.
func (rg *replayRig) loseAfter(t *testing.T, key string, shas ...string) func() {
	t.Helper()
	px := rg.proxyFor(t, key)
	before := rg.broken.Load()
	var done atomic.Bool
	f := func() {
		if done.CompareAndSwap(false, true) {
			px.LoseReplies(1)
		}
	}
	rg.mu.Lock()
	for _, sha := range shas {
		rg.after[sha] = f
	}
	rg.mu.Unlock()
	return func() {
		t.Helper()
		rg.mu.Lock()
		for _, sha := range shas {
			delete(rg.after, sha)
		}
		rg.mu.Unlock()
		px.LoseReplies(0)
		if !done.Load() {
			t.Fatalf("none of the scripts %v was seen", shas)
		}
		if rg.broken.Load() == before {
			t.Fatalf("no reply of %s's node was lost: the fault missed the operation", key)
		}
	}
}

// afterHook runs the rig's after-actions once the reply of their script is
// in (after next returns, in both the plain and the pipelined paths).
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
	for _, c := range cmds {
		args := c.Args()
		if len(args) < 2 || !strings.EqualFold(c.Name(), "evalsha") {
			continue
		}
		sha, _ := args[1].(string)
		h.rg.mu.Lock()
		f := h.rg.after[sha]
		delete(h.rg.after, sha)
		h.rg.mu.Unlock()
		if f != nil {
			f()
		}
	}
}

// touchSHA is the SHA1 of redsync v4's lock extension script
// (touchScript).
const touchSHA = "d75bb8b5bd13532ddedd17762e772346e39b321e"

// scriptSHA returns the SHA1 of lua/<name>.lua, or "" when there is no
// such script.
func scriptSHA(t *testing.T, name string) string {
	t.Helper()
	src, err := os.ReadFile("lua/" + name + ".lua")
	if errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return redis.NewScript(string(src)).Hash()
}

// extendSHAs are the scripts that may extend a lock: lockhttp's own
// (lua/extend.lua) or redsync's.
func extendSHAs(t *testing.T) []string {
	shas := []string{touchSHA}
	if s := scriptSHA(t, "extend"); s != "" {
		shas = append(shas, s)
	}
	return shas
}

// replayLocker is the Locker under test: on the rig's client, its monitor
// on a client of its own (its probes never meet the fault), keyed by the
// query parameter v, idempotency scope "s".
type replayLocker struct {
	prefix string
	h      http.Handler
	runs   atomic.Int64
	fences sync.Map // v -> last fencing token seen by the handler
	// during runs inside the handler, before it answers.
	during func(r *http.Request) int
}

func newReplayLocker(t *testing.T, rg *replayRig, auto bool, o lockhttp.Options) *replayLocker {
	t.Helper()
	rl := &replayLocker{prefix: rg.tg.Prefix + "rp:"}
	o.Prefix = rl.prefix
	o.AutoPipeline = auto
	o.Key = func(r *http.Request) (string, error) { return r.URL.Query().Get("v"), nil }
	o.IdempotencyScope = func(*http.Request) (string, error) { return "s", nil }
	if o.CommandTimeout == 0 {
		o.CommandTimeout = 5 * time.Second // a loaded machine under -race: this is about replays
	}
	mon := mustMonitor(fallback.NewMonitor(rg.tg.NewClient(t), fallback.MonitorOptions{CommandTimeout: 5 * time.Second}))
	t.Cleanup(func() { _ = mon.Close() })
	o.Monitor = mon
	l, err := lockhttp.New(rg.client, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	rl.h = l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := rl.runs.Add(1)
		tok, _ := lockhttp.Fence(r.Context())
		rl.fences.Store(r.URL.Query().Get("v"), tok)
		status := http.StatusCreated
		if rl.during != nil {
			if s := rl.during(r); s != 0 {
				status = s
			}
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, "run %d token %d", n, tok)
	}))
	return rl
}

func (rl *replayLocker) lockName(v string) string { return rl.prefix + "{" + v + "}" }
func (rl *replayLocker) idemKey(k string) string  { return rl.prefix + "idem:s:" + k }

func (rl *replayLocker) req(v, idem string) result {
	r, _ := http.NewRequest(http.MethodPost, "/x?v="+v, strings.NewReader("{}"))
	if idem != "" {
		r.Header.Set(idempotencyKeyHeader, idem)
	}
	return do2(rl.h, r)
}

func (rl *replayLocker) fence(v string) int64 {
	tok, _ := rl.fences.Load(v)
	n, _ := tok.(int64)
	return n
}

// replayTest runs fn with AutoPipeline off and on, on every target, each
// with its own rig and warmed connections.
func replayTest(t *testing.T, fn func(t *testing.T, rg *replayRig, auto bool)) {
	withAutoPipeline(t, func(t *testing.T, auto bool) {
		redistest.Run(t, func(t *testing.T, tg redistest.Target) {
			rg := newReplayRig(t, tg)
			rg.warm(t, auto)
			fn(t, rg, auto)
		})
	})
}

// expectReleased fails unless the lock on v is free: its key is gone and
// a new request takes it at once (Wait is 0: a held lock answers 409).
func expectReleased(t *testing.T, rg *replayRig, rl *replayLocker, v string) {
	t.Helper()
	if n, err := rg.tg.Client.Exists(t.Context(), rl.lockName(v)).Result(); err != nil || n != 0 {
		t.Fatalf("lock key %s after the request: exists=%d (%v), want released", rl.lockName(v), n, err)
	}
	before := rl.runs.Load()
	if r := rl.req(v, ""); r.status != http.StatusCreated || rl.runs.Load() != before+1 {
		t.Fatalf("next request on %s: %d %s, want 201 (lock released)", v, r.status, r.body)
	}
}

// TestReplayAcquire: the lock's acquire script runs twice; its second run
// finds our own value and answers "taken, with your token" (acquire.lua),
// so the request gets its lock, runs its handler once and releases it.
// Without that, the second run reports the lock held (by us) and the
// request is answered 409 while the lock stays taken until its TTL.
func TestReplayAcquire(t *testing.T) {
	replayTest(t, func(t *testing.T, rg *replayRig, auto bool) {
		rl := newReplayLocker(t, rg, auto, lockhttp.Options{})
		if r := rl.req("a", ""); r.status != http.StatusCreated {
			t.Fatalf("warm-up: %d %s", r.status, r.body)
		}
		warmTok := rl.fence("a")
		check := rg.lose(t, rl.lockName("a"))
		r := rl.req("a", "")
		check()
		if r.status != http.StatusCreated || rl.runs.Load() != 2 {
			t.Fatalf("acquire with a lost reply: %d %s, handler runs %d; want 201 and one run", r.status, r.body, rl.runs.Load()-1)
		}
		tok := rl.fence("a")
		stored, err := rg.tg.Client.Get(t.Context(), rl.lockName("a")+":fence").Int64()
		if err != nil || tok <= warmTok || tok != stored {
			t.Fatalf("fencing token %d (warm-up %d), counter %d (%v): want the token the first run drew", tok, warmTok, stored, err)
		}
		expectReleased(t, rg, rl, "a")
		if rl.fence("a") <= tok {
			t.Fatalf("next token %d not above %d", rl.fence("a"), tok)
		}
	})
}

// TestReplayClaim: the idempotency claim runs twice; its second run finds
// our own running record and answers "claimed" (claim.lua), so the request
// runs its handler once and a retry with the same key is replayed. Without
// that, the request is answered 409 "still being processed" and its claim
// blocks the key until it expires.
func TestReplayClaim(t *testing.T) {
	replayTest(t, func(t *testing.T, rg *replayRig, auto bool) {
		rl := newReplayLocker(t, rg, auto, lockhttp.Options{})
		if r := rl.req("a", "warm"); r.status != http.StatusCreated {
			t.Fatalf("warm-up: %d %s", r.status, r.body)
		}
		check := rg.lose(t, rl.idemKey("k1"))
		r := rl.req("a", "k1")
		check()
		if r.status != http.StatusCreated || r.header.Get(replayedHeader) != "" || rl.runs.Load() != 2 {
			t.Fatalf("claim with a lost reply: %d %q %s, handler runs %d; want an original 201 and one run",
				r.status, r.header.Get(replayedHeader), r.body, rl.runs.Load()-1)
		}
		again := rl.req("a", "k1")
		if again.status != http.StatusCreated || again.header.Get(replayedHeader) != "true" || string(again.body) != string(r.body) {
			t.Fatalf("retry: %d %q %s, want the stored 201 replayed (%s)", again.status, again.header.Get(replayedHeader), again.body, r.body)
		}
		if rl.runs.Load() != 2 {
			t.Fatalf("the retry ran the handler")
		}
		expectReleased(t, rg, rl, "a")
	})
}

// TestReplayRelease: redsync's release runs twice; the second run finds no
// key (-1, "already expired"), which the lease takes as released.
func TestReplayRelease(t *testing.T) {
	replayTest(t, func(t *testing.T, rg *replayRig, auto bool) {
		rl := newReplayLocker(t, rg, auto, lockhttp.Options{})
		if r := rl.req("a", ""); r.status != http.StatusCreated {
			t.Fatalf("warm-up: %d %s", r.status, r.body)
		}
		var check func()
		rl.during = func(*http.Request) int { check = rg.lose(t, rl.lockName("a")); return 0 }
		r := rl.req("a", "")
		rl.during = nil
		check()
		if r.status != http.StatusCreated || rl.runs.Load() != 2 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		expectReleased(t, rg, rl, "a")
	})
}

// TestReplayComplete: the completion record's script (and the release sent
// with it) runs twice; complete.lua's second run finds the completed
// record and keeps it, so a retry is replayed.
func TestReplayComplete(t *testing.T) {
	replayTest(t, func(t *testing.T, rg *replayRig, auto bool) {
		rl := newReplayLocker(t, rg, auto, lockhttp.Options{})
		if r := rl.req("a", "warm"); r.status != http.StatusCreated {
			t.Fatalf("warm-up: %d %s", r.status, r.body)
		}
		var check func()
		rl.during = func(*http.Request) int { check = rg.lose(t, rl.idemKey("k1")); return 0 }
		r := rl.req("a", "k1")
		rl.during = nil
		check()
		if r.status != http.StatusCreated || rl.runs.Load() != 2 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		again := rl.req("a", "k1")
		if again.status != http.StatusCreated || again.header.Get(replayedHeader) != "true" || string(again.body) != string(r.body) {
			t.Fatalf("retry: %d %q %s, want the stored 201 replayed", again.status, again.header.Get(replayedHeader), again.body)
		}
		if rl.runs.Load() != 2 {
			t.Fatalf("the retry ran the handler")
		}
		expectReleased(t, rg, rl, "a")
	})
}

// TestReplayUnclaim: a handler that applied nothing gives its claim back;
// the unclaim script (and the release sent with it) runs twice, the second
// run finds nothing to delete, and a retry runs the handler at once.
func TestReplayUnclaim(t *testing.T) {
	replayTest(t, func(t *testing.T, rg *replayRig, auto bool) {
		rl := newReplayLocker(t, rg, auto, lockhttp.Options{})
		if r := rl.req("a", "warm"); r.status != http.StatusCreated {
			t.Fatalf("warm-up: %d %s", r.status, r.body)
		}
		var check func()
		rl.during = func(r *http.Request) int {
			lockhttp.NotApplied(r.Context())
			check = rg.lose(t, rl.idemKey("k1"))
			return http.StatusServiceUnavailable
		}
		r := rl.req("a", "k1")
		rl.during = nil
		check()
		if r.status != http.StatusServiceUnavailable {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if r := rl.req("a", "k1"); r.status != http.StatusCreated || r.header.Get(replayedHeader) != "" || rl.runs.Load() != 3 {
			t.Fatalf("retry after NotApplied: %d %s, runs %d; want the handler run again", r.status, r.body, rl.runs.Load())
		}
		expectReleased(t, rg, rl, "a")
	})
}

// TestReplayExtend: the watchdog's extensions (redsync's for the lock,
// extendclaim.lua for the claim) run twice; a second PEXPIRE of our own
// key changes nothing, and the handler keeps its lock and claim.
func TestReplayExtend(t *testing.T) {
	replayTest(t, func(t *testing.T, rg *replayRig, auto bool) {
		const ttl = 300 * time.Millisecond
		rl := newReplayLocker(t, rg, auto, lockhttp.Options{TTL: ttl})
		if r := rl.req("a", "warm"); r.status != http.StatusCreated {
			t.Fatalf("warm-up: %d %s", r.status, r.body)
		}
		for _, target := range []string{"lock", "claim"} {
			var (
				check   func()
				stillOK bool
			)
			idem := "k-" + target
			rl.during = func(r *http.Request) int {
				if target == "lock" {
					check = rg.lose(t, rl.lockName("a")) // the first extension: the lock's
				} else {
					check = rg.loseAfter(t, rl.idemKey(idem), extendSHAs(t)...) // the claim's, which follows
				}
				time.Sleep(ttl) // three extensions
				stillOK = r.Context().Err() == nil
				return 0
			}
			r := rl.req("a", idem)
			rl.during = nil
			check()
			if r.status != http.StatusCreated || !stillOK {
				t.Fatalf("%s extension with a lost reply: %d %s, handler context alive %v", target, r.status, r.body, stillOK)
			}
			if again := rl.req("a", idem); again.header.Get(replayedHeader) != "true" {
				t.Fatalf("%s: retry %d %s, want a replay", target, again.status, again.body)
			}
		}
		expectReleased(t, rg, rl, "a")
	})
}

// TestReplayRedlock: on three Redlock masters, every master runs the
// acquire script twice (without acquire.lua's recognition of our own value,
// all three report the lock held and the request is answered 409); then
// every master runs the fencing write-back twice, which raises nothing
// further.
func TestReplayRedlock(t *testing.T) {
	withAutoPipeline(t, func(t *testing.T, auto bool) {
		t.Run("redlock", func(t *testing.T) {
			var (
				rigs    []*replayRig
				clients []redis.UniversalClient
			)
			for range 3 {
				s := redistest.StartServer(t)
				c := s.Client(t)
				tg := redistest.Target{Name: "redlock", Client: c, Prefix: "rp:"}
				rg := newReplayRig(t, tg)
				rg.warm(t, auto)
				rigs, clients = append(rigs, rg), append(clients, rg.client)
			}
			var runs atomic.Int64
			var tok atomic.Int64
			l, err := lockhttp.NewRedlock(clients, lockhttp.Options{
				Prefix: "rp:", AutoPipeline: auto, CommandTimeout: 5 * time.Second,
				Key: func(r *http.Request) (string, error) { return "a", nil },
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = l.Close() })
			h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				runs.Add(1)
				n, _ := lockhttp.Fence(r.Context())
				tok.Store(n)
				w.WriteHeader(http.StatusCreated)
			}))
			if r := get(h, "a"); r.status != http.StatusCreated {
				t.Fatalf("warm-up: %d %s", r.status, r.body)
			}
			const name = "rp:{a}"
			var checks []func()
			for _, rg := range rigs {
				checks = append(checks, rg.lose(t, name))
			}
			r := get(h, "a")
			for _, c := range checks {
				c()
			}
			if r.status != http.StatusCreated || runs.Load() != 2 {
				t.Fatalf("acquire with lost replies on every master: %d %s, runs %d", r.status, r.body, runs.Load()-1)
			}
			first := tok.Load()
			// The fencing write-back follows the acquire on each master.
			checks = checks[:0]
			for _, rg := range rigs {
				checks = append(checks, rg.loseAfter(t, name, scriptSHA(t, "acquire")))
			}
			r = get(h, "a")
			for _, c := range checks {
				c()
			}
			if r.status != http.StatusCreated || runs.Load() != 3 {
				t.Fatalf("fence write-back with lost replies: %d %s", r.status, r.body)
			}
			second := tok.Load()
			for i, rg := range rigs {
				fence, err := rg.tg.Client.Get(t.Context(), name+":fence").Int64()
				if err != nil || fence < second {
					t.Fatalf("master %d: fence counter %d (%v), below the token %d", i, fence, err, second)
				}
				if n, _ := rg.tg.Client.Exists(t.Context(), name).Result(); n != 0 {
					t.Fatalf("master %d: lock not released", i)
				}
			}
			if second <= first {
				t.Fatalf("tokens %d then %d", first, second)
			}
			if r := get(h, "a"); r.status != http.StatusCreated {
				t.Fatalf("after: %d", r.status)
			}
		})
	})
}
