package lockhttp_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/aura-platform/redishttp/middleware"
)

const burst = 200

// instances builds n instances of the demo route on d, sharing one store
// (the database) and one observer.
func instances(t *testing.T, d deployment, n int, store *orderStore, o lockhttp.Options) []http.Handler {
	t.Helper()
	if o.Key == nil {
		o.Key = orderKey()
	}
	if o.Route == "" {
		o.Route = "create_order"
	}
	if o.CommandTimeout == 0 {
		// 200 requests at once on 2 cores under -race, with cold pools and
		// miniredis compiling Lua per call, can queue past the default:
		// these tests are about exclusion, not latency.
		o.CommandTimeout = 5 * time.Second
	}
	hs := make([]http.Handler, n)
	for i := range hs {
		hs[i] = serve(d.newLocker(t, o), store.handler())
	}
	return hs
}

// fire sends burst identical requests spread over the instances at once.
func fire(hs []http.Handler, user, idemKey, body string, mid func()) []result {
	res := make([]result, burst)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range burst {
		st := start
		wg.Go(func() {
			<-st
			res[i] = do(context.Background(), hs[i%len(hs)], user, idemKey, body)
		})
		if mid != nil && i == burst/2 {
			close(start)
			start = make(chan struct{})
			mid()
		}
	}
	close(start)
	wg.Wait()
	return res
}

// checkOneCreation asserts: exactly one 201 creation, every other answer a
// 409 or a byte-identical replay of the 201, and no 5xx.
func checkOneCreation(t *testing.T, store *orderStore, res []result) {
	t.Helper()
	if c := store.created.Load(); c != 1 {
		counts := map[int]int{}
		var sample string
		for _, r := range res {
			counts[r.status]++
			if r.status != http.StatusConflict {
				sample = string(r.body)
			}
		}
		t.Fatalf("creations = %d, want exactly 1; answers %v; sample %s", c, counts, sample)
	}
	var first *result
	counts := map[int]int{}
	for i := range res {
		r := &res[i]
		counts[r.status]++
		switch {
		case r.status == http.StatusCreated && r.header.Get(replayedHeader) == "":
			if first != nil {
				t.Fatalf("two original 201s")
			}
			first = r
		case r.status == http.StatusCreated:
		case r.status == http.StatusConflict:
			if err := isProblem(*r, http.StatusConflict); err != nil {
				t.Fatalf("409: %v", err)
			}
			// The lock's 409s carry Retry-After; the handler's own
			// "order exists" 409 (the lock was free, the order was there)
			// does not.
			if r.header.Get("Retry-After") == "" && !bytes.Contains(r.body, []byte("order exists")) {
				t.Fatalf("lock 409 without Retry-After: %s", r.body)
			}
		default:
			t.Fatalf("unexpected answer %d: %s", r.status, r.body)
		}
	}
	if first == nil {
		t.Fatalf("no original 201 among %v", counts)
	}
	for _, r := range res {
		if r.status == http.StatusCreated && r.header.Get(replayedHeader) == "true" {
			if !bytes.Equal(r.body, first.body) || r.header.Get("Location") != first.header.Get("Location") ||
				r.header.Get("Content-Type") != first.header.Get("Content-Type") {
				t.Fatalf("replay differs: %q %v vs %q %v", r.body, r.header, first.body, first.header)
			}
		}
	}
	t.Logf("answers: %v", counts)
}

func TestConcurrentCreatesExactlyOnce(t *testing.T) {
	withAutoPipeline(t, concurrentCreatesExactlyOnce)
}

func concurrentCreatesExactlyOnce(t *testing.T, auto bool) {
	forEachDeployment(t, func(t *testing.T, d deployment) {
		for _, mode := range []string{"no-key", "same-key"} {
			t.Run(mode, func(t *testing.T) {
				store := newOrderStore(20 * time.Millisecond)
				obs := newCounter()
				hs := instances(t, d, 3, store, lockhttp.Options{Observer: obs, Prefix: d.prefix + mode + ":", AutoPipeline: auto})
				key := ""
				if mode == "same-key" {
					key = "create-blue-1"
				}
				body := `{"name":"blue"}`
				checkOneCreation(t, store, fire(hs, "alice", key, body, nil))
				if obs.get(middleware.LockAcquired) < 1 || obs.get(middleware.LockContended) < 1 {
					t.Fatalf("events: %v", obs.n)
				}
				if len(obs.rt) != 1 || !obs.rt["create_order"] {
					t.Fatalf("routes in events: %v", obs.rt)
				}
				if mode == "no-key" {
					return
				}
				// A retry after completion is replayed by any instance and
				// creates nothing.
				runs := store.runs.Load()
				for i, h := range hs {
					r := do(context.Background(), h, "alice", key, body)
					if r.status != http.StatusCreated || r.header.Get(replayedHeader) != "true" {
						t.Fatalf("retry on instance %d: %d %s", i, r.status, r.body)
					}
				}
				if store.runs.Load() != runs || store.created.Load() != 1 {
					t.Fatalf("a replay ran the handler")
				}
				if obs.get(middleware.LockReplayed) < 3 {
					t.Fatalf("replays counted: %d", obs.get(middleware.LockReplayed))
				}
				// Same key, another body: 422, whatever the lock key.
				for _, other := range []string{`{"name":"red"}`, `{"name":"blue","x":1}`} {
					r := do(context.Background(), hs[1], "alice", key, other)
					if err := isProblem(r, http.StatusUnprocessableEntity); err != nil {
						t.Fatalf("body %s: %v", other, err)
					}
				}
				// The key is scoped per user: bob's identical key is his own.
				r := do(context.Background(), hs[2], "bob", key, body)
				if r.status != http.StatusCreated || r.header.Get(replayedHeader) != "" {
					t.Fatalf("bob: %d %v %s", r.status, r.header, r.body)
				}
				if store.created.Load() != 2 {
					t.Fatalf("creations after bob = %d", store.created.Load())
				}
			})
		}
	})
}

// TestWithoutLockDuplicates is the control: the same burst against the bare
// store creates duplicates, so the tests above can fail.
func TestWithoutLockDuplicates(t *testing.T) {
	store := newOrderStore(20 * time.Millisecond)
	h := middleware.TrustUserHeader("X-User")(store.handler())
	fire([]http.Handler{h}, "alice", "", `{"name":"blue"}`, nil)
	if store.created.Load() < 2 {
		t.Fatalf("bare store created %d; the race window is too small to test the lock", store.created.Load())
	}
}

func TestRedlockMinorityDown(t *testing.T) {
	d := redlockDeployment(t)
	for _, mode := range []string{"before", "during"} {
		t.Run(mode, func(t *testing.T) {
			store := newOrderStore(20 * time.Millisecond)
			hs := instances(t, d, 3, store, lockhttp.Options{Prefix: "rl:" + mode + ":"})
			victim := d.servers[map[string]int{"before": 0, "during": 2}[mode]]
			defer victim.Restart() // also when the subtest fails
			var mid func()
			if mode == "before" {
				victim.Kill()
			} else {
				mid = victim.Kill
			}
			res := fire(hs, "alice", "k-"+mode, `{"name":"blue"}`, mid)
			checkOneCreation(t, store, res)
		})
	}
}

func TestDifferentNamesDoNotContend(t *testing.T) {
	forEachDeployment(t, func(t *testing.T, d deployment) {
		store := newOrderStore(5 * time.Millisecond)
		hs := instances(t, d, 3, store, lockhttp.Options{})
		var wg sync.WaitGroup
		res := make([]result, 30)
		for i := range res {
			wg.Go(func() {
				res[i] = do(context.Background(), hs[i%3], "alice", "", fmt.Sprintf(`{"name":"n%d"}`, i))
			})
		}
		wg.Wait()
		for i, r := range res {
			if r.status != http.StatusCreated {
				t.Fatalf("request %d: %d %s", i, r.status, r.body)
			}
		}
		store.tokensMu.Lock()
		defer store.tokensMu.Unlock()
		for _, tok := range store.tokens {
			if tok <= 0 {
				t.Fatalf("handler ran without a fencing token")
			}
		}
	})
}
