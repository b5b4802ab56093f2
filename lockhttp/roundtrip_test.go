package lockhttp_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/redis/go-redis/v9"
)

// rtHook counts Redis round trips: one per command, one per pipeline.
type rtHook struct {
	mu   sync.Mutex
	cmds []string
}

func (h *rtHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *rtHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if redistest.ConnSetup(cmd) {
			return next(ctx, cmd)
		}
		h.mu.Lock()
		h.cmds = append(h.cmds, strings.ToLower(cmd.Name()))
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (h *rtHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if redistest.ConnSetupPipeline(cmds) {
			return next(ctx, cmds)
		}
		h.mu.Lock()
		h.cmds = append(h.cmds, "pipeline")
		h.mu.Unlock()
		return next(ctx, cmds)
	}
}

// take returns and clears the commands seen, leaving out EVALs that follow
// an EVALSHA (the one-off NOSCRIPT fallback of redis.Script.Run) and the
// PINGs of the Locker's own Monitor, which probes on its own clock.
func (h *rtHook) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var c []string
	for i, name := range h.cmds {
		if name == "eval" && i > 0 && h.cmds[i-1] == "evalsha" || name == "ping" {
			continue
		}
		c = append(c, name)
	}
	h.cmds = nil
	return c
}

var _ redis.Hook = (*rtHook)(nil)

// TestRoundTrips: the same counts with and without the auto-pipeliner, for
// requests one at a time (a batch of one is a command sent alone).
func TestRoundTrips(t *testing.T) {
	withAutoPipeline(t, roundTrips)
}

func roundTrips(t *testing.T, auto bool) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		d := deployment{prefix: tg.Prefix}
		hook := &rtHook{}
		c := tg.NewClient(t)
		c.AddHook(hook)
		const ttl = 300 * time.Millisecond
		l, err := lockhttp.New(c, lockhttp.Options{Key: middleware.ByQuery("v"), Prefix: d.prefix + "rt:", TTL: ttl, AutoPipeline: auto})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		sleep := make(chan time.Duration, 1)
		h := middleware.TrustUserHeader("X-User")(l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case d := <-sleep:
				time.Sleep(d)
			default:
			}
			w.WriteHeader(http.StatusCreated)
		})))
		req := func(v, idem string) result {
			r, _ := http.NewRequest(http.MethodPost, "/x?v="+v, strings.NewReader("{}"))
			r.Header.Set("X-User", "u")
			if idem != "" {
				r.Header.Set(idempotencyKeyHeader, idem)
			}
			return do2(h, r)
		}
		// Warm up: load every script (EVALSHA's NOSCRIPT fallback costs an
		// extra EVAL the first time).
		// Warm up. EVALSHA falls back to EVAL the first time a script meets
		// a node (NOSCRIPT): a one-off per script and node, which take()
		// leaves out of the steady-state counts (on a cluster, a new slot
		// can land on a node that has not seen the script yet).
		sleep <- ttl / 2
		req("warm", "warm")
		req("warm2", "")
		hook.take()

		if r := req("a", ""); r.status != http.StatusCreated {
			t.Fatalf("%d", r.status)
		}
		if got := hook.take(); len(got) != 2 || got[0] != "evalsha" || got[1] != "evalsha" {
			t.Fatalf("uncontended lock: %v, want acquire + release (2 round trips)", got)
		}
		// Idempotent first request: claim, acquire, store, release (store
		// and release are sent together: pipelined, they may share a batch).
		req("b", "key-b")
		if got := hook.take(); len(got) != 4 && !(auto && len(got) == 3 && got[2] == "pipeline") {
			t.Fatalf("idempotent request: %v, want 4 round trips", got)
		}
		// Replay: the claim script's answer is the record.
		if r := req("b", "key-b"); r.header.Get(replayedHeader) != "true" {
			t.Fatalf("no replay: %d", r.status)
		}
		if got := hook.take(); len(got) != 1 {
			t.Fatalf("replay: %v, want 1 round trip", got)
		}
		// Contended: acquire fails, redsync's own cleanup compare-and-delete.
		// Watchdog: one extension per TTL/3 while the handler runs.
		sleep <- ttl
		req("c", "")
		got := hook.take()
		if len(got) < 3 || len(got) > 5 {
			t.Fatalf("handler of one TTL: %v, want 2 + about 3 extensions", got)
		}
		t.Logf("round trips: lock 2, idempotent 4, replay 1, one-TTL handler %d", len(got))
	})
}

// TestRoundTripsRedlock: on each master, an uncontended lock costs the
// acquire, the fencing write-back that makes the token known to a quorum,
// and the release.
func TestRoundTripsRedlock(t *testing.T) {
	withAutoPipeline(t, roundTripsRedlock)
}

func roundTripsRedlock(t *testing.T, auto bool) {
	var clients []redis.UniversalClient
	var hooks []*rtHook
	for range 3 {
		s := redistest.StartServer(t)
		c := s.Client(t)
		h := &rtHook{}
		c.AddHook(h)
		clients, hooks = append(clients, c), append(hooks, h)
	}
	l, err := lockhttp.NewRedlock(clients, lockhttp.Options{Key: middleware.ByQuery("v"), DisableWatchdog: true, AutoPipeline: auto})
	if err != nil {
		t.Fatal(err)
	}
	h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) }))
	get(h, "warm")
	for _, hk := range hooks {
		hk.take()
	}
	if r := get(h, "a"); r.status != http.StatusCreated {
		t.Fatalf("%d", r.status)
	}
	for i, hk := range hooks {
		if got := hk.take(); len(got) != 3 {
			t.Fatalf("master %d: %v, want acquire, fence write-back, release", i, got)
		}
	}
}
