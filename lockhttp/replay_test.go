package lockhttp_test

import (
	"errors"
	"fmt"
	"io/fs"
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

// newReplayRig is a redistest.ReplayRig on tg with every script of lua/
// loaded on every node, so no EVALSHA meets NOSCRIPT (whose error reply
// would absorb the fault).
func newReplayRig(t *testing.T, tg redistest.Target) *redistest.ReplayRig {
	t.Helper()
	rg := redistest.NewReplayRig(t, tg)
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

func newReplayLocker(t *testing.T, rg *redistest.ReplayRig, auto bool, o lockhttp.Options) *replayLocker {
	t.Helper()
	rl := &replayLocker{prefix: rg.Target.Prefix + "rp:"}
	o.Prefix = rl.prefix
	o.AutoPipeline = auto
	o.Key = func(r *http.Request) (string, error) { return r.URL.Query().Get("v"), nil }
	o.IdempotencyScope = func(*http.Request) (string, error) { return "s", nil }
	if o.CommandTimeout == 0 {
		o.CommandTimeout = 5 * time.Second // a loaded machine under -race: this is about replays
	}
	mon := mustMonitor(fallback.NewMonitor(rg.Target.NewClient(t), fallback.MonitorOptions{CommandTimeout: 5 * time.Second}))
	t.Cleanup(func() { _ = mon.Close() })
	o.Monitor = mon
	l, err := lockhttp.New(rg.Client, o)
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

// reqLosing sends a warm-up request on lock "a" (with the idempotency key
// "warm" when idem is set), then a request on "a" with idempotency key
// idem ("" for none) whose handler calls inside (when set; its answer, if
// not 0, is the handler's status) and makes key's node lose its next reply
// (the release or completion that ends the request). It fails unless a
// reply was lost, and returns the second request's answer.
func (rl *replayLocker) reqLosing(t *testing.T, rg *redistest.ReplayRig, idem, key string, inside func(*http.Request) int) result {
	t.Helper()
	warm := ""
	if idem != "" {
		warm = "warm"
	}
	if r := rl.req("a", warm); r.status != http.StatusCreated {
		t.Fatalf("warm-up: %d %s", r.status, r.body)
	}
	var check func()
	rl.during = func(r *http.Request) int {
		status := 0
		if inside != nil {
			status = inside(r)
		}
		check = rg.Lose(t, key)
		return status
	}
	r := rl.req("a", idem)
	rl.during = nil
	check()
	return r
}

// withAutoPipeline runs fn with Options.AutoPipeline off, then on in a
// subtest named "autopipeline" (redistest.WithAutoPipeline).
var withAutoPipeline = redistest.WithAutoPipeline

// replayTest runs fn with AutoPipeline off and on, on every target, each
// with its own rig and warmed connections.
func replayTest(t *testing.T, fn func(t *testing.T, rg *redistest.ReplayRig, auto bool)) {
	withAutoPipeline(t, func(t *testing.T, auto bool) {
		redistest.Run(t, func(t *testing.T, tg redistest.Target) {
			rg := newReplayRig(t, tg)
			rg.Warm(t, auto)
			fn(t, rg, auto)
		})
	})
}

// expectReleased fails unless the lock on v is free: its key is gone and
// a new request takes it at once (Wait is 0: a held lock answers 409).
func expectReleased(t *testing.T, rg *redistest.ReplayRig, rl *replayLocker, v string) {
	t.Helper()
	if n, err := rg.Target.Client.Exists(t.Context(), rl.lockName(v)).Result(); err != nil || n != 0 {
		t.Fatalf("lock key %s after the request: exists=%d (%v), want released", rl.lockName(v), n, err)
	}
	before := rl.runs.Load()
	if r := rl.req(v, ""); r.status != http.StatusCreated || rl.runs.Load() != before+1 {
		t.Fatalf("next request on %s: %d %s, want 201 (lock released)", v, r.status, r.body)
	}
}

// expectReplayed fails unless a retry on lock "a" with idempotency key
// idem is answered with the stored 201 (the body of first, marked
// replayed) without running the handler again (its runs stay at 2).
func expectReplayed(t *testing.T, rl *replayLocker, idem string, first result) {
	t.Helper()
	again := rl.req("a", idem)
	if again.status != http.StatusCreated || again.header.Get(replayedHeader) != "true" || string(again.body) != string(first.body) {
		t.Fatalf("retry: %d %q %s, want the stored 201 replayed (%s)", again.status, again.header.Get(replayedHeader), again.body, first.body)
	}
	if rl.runs.Load() != 2 {
		t.Fatalf("the retry ran the handler")
	}
}

// TestReplayAcquire: the lock's acquire script runs twice; its second run
// finds our own value and answers "taken, with your token" (acquire.lua),
// so the request gets its lock, runs its handler once and releases it.
// Without that, the second run reports the lock held (by us) and the
// request is answered 409 while the lock stays taken until its TTL.
func TestReplayAcquire(t *testing.T) {
	replayTest(t, func(t *testing.T, rg *redistest.ReplayRig, auto bool) {
		rl := newReplayLocker(t, rg, auto, lockhttp.Options{})
		if r := rl.req("a", ""); r.status != http.StatusCreated {
			t.Fatalf("warm-up: %d %s", r.status, r.body)
		}
		warmTok := rl.fence("a")
		check := rg.Lose(t, rl.lockName("a"))
		r := rl.req("a", "")
		check()
		if r.status != http.StatusCreated || rl.runs.Load() != 2 {
			t.Fatalf("acquire with a lost reply: %d %s, handler runs %d; want 201 and one run", r.status, r.body, rl.runs.Load()-1)
		}
		tok := rl.fence("a")
		stored, err := rg.Target.Client.Get(t.Context(), rl.lockName("a")+":fence").Int64()
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
	replayTest(t, func(t *testing.T, rg *redistest.ReplayRig, auto bool) {
		rl := newReplayLocker(t, rg, auto, lockhttp.Options{})
		if r := rl.req("a", "warm"); r.status != http.StatusCreated {
			t.Fatalf("warm-up: %d %s", r.status, r.body)
		}
		check := rg.Lose(t, rl.idemKey("k1"))
		r := rl.req("a", "k1")
		check()
		if r.status != http.StatusCreated || r.header.Get(replayedHeader) != "" || rl.runs.Load() != 2 {
			t.Fatalf("claim with a lost reply: %d %q %s, handler runs %d; want an original 201 and one run",
				r.status, r.header.Get(replayedHeader), r.body, rl.runs.Load()-1)
		}
		expectReplayed(t, rl, "k1", r)
		expectReleased(t, rg, rl, "a")
	})
}

// TestReplayRelease: redsync's release runs twice; the second run finds no
// key (-1, "already expired"), which the lease takes as released.
func TestReplayRelease(t *testing.T) {
	replayTest(t, func(t *testing.T, rg *redistest.ReplayRig, auto bool) {
		rl := newReplayLocker(t, rg, auto, lockhttp.Options{})
		r := rl.reqLosing(t, rg, "", rl.lockName("a"), nil)
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
	replayTest(t, func(t *testing.T, rg *redistest.ReplayRig, auto bool) {
		rl := newReplayLocker(t, rg, auto, lockhttp.Options{})
		r := rl.reqLosing(t, rg, "k1", rl.idemKey("k1"), nil)
		if r.status != http.StatusCreated || rl.runs.Load() != 2 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		expectReplayed(t, rl, "k1", r)
		expectReleased(t, rg, rl, "a")
	})
}

// TestReplayUnclaim: a handler that applied nothing gives its claim back;
// the unclaim script (and the release sent with it) runs twice, the second
// run finds nothing to delete, and a retry runs the handler at once.
func TestReplayUnclaim(t *testing.T) {
	replayTest(t, func(t *testing.T, rg *redistest.ReplayRig, auto bool) {
		rl := newReplayLocker(t, rg, auto, lockhttp.Options{})
		r := rl.reqLosing(t, rg, "k1", rl.idemKey("k1"), func(r *http.Request) int {
			lockhttp.NotApplied(r.Context())
			return http.StatusServiceUnavailable
		})
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
	replayTest(t, func(t *testing.T, rg *redistest.ReplayRig, auto bool) {
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
					check = rg.Lose(t, rl.lockName("a")) // the first extension: the lock's
				} else {
					check = rg.LoseAfter(t, rl.idemKey(idem), redistest.IsScript(extendSHAs(t)...)) // the claim's, which follows
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
				rigs    []*redistest.ReplayRig
				clients []redis.UniversalClient
			)
			for range 3 {
				s := redistest.StartServer(t)
				c := s.Client(t)
				tg := redistest.Target{Name: "redlock", Client: c, Prefix: "rp:"}
				rg := newReplayRig(t, tg)
				rg.Warm(t, auto)
				rigs, clients = append(rigs, rg), append(clients, rg.Client)
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
				checks = append(checks, rg.Lose(t, name))
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
				checks = append(checks, rg.LoseAfter(t, name, redistest.IsScript(scriptSHA(t, "acquire"))))
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
				fence, err := rg.Target.Client.Get(t.Context(), name+":fence").Int64()
				if err != nil || fence < second {
					t.Fatalf("master %d: fence counter %d (%v), below the token %d", i, fence, err, second)
				}
				if n, _ := rg.Target.Client.Exists(t.Context(), name).Result(); n != 0 {
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
