package lockhttp_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/aura-platform/redishttp/middleware"
)

// slowWriter is a handler that announces it holds the lock, waits for
// release, then writes to the fenced store with its token.
type slowWriter struct {
	store   *FencedStore
	started chan int64
	release chan struct{}
	result  chan error
	ctxErr  chan error
}

func (h *slowWriter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok, _ := lockhttp.Fence(r.Context())
	if h.started != nil {
		h.started <- tok
		<-h.release
	}
	if h.ctxErr != nil {
		h.ctxErr <- context.Cause(r.Context())
	}
	err := h.store.Put("order", tok, r.URL.Query().Get("v"))
	if h.result != nil {
		h.result <- err
	}
	if err != nil {
		middleware.Error(w, r, http.StatusConflict, "stale")
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func get(h http.Handler, v string) result {
	r, _ := http.NewRequest(http.MethodPost, "/x?v="+v, nil)
	return do2(h, r)
}

func do2(h http.Handler, r *http.Request) result {
	w := newRec()
	h.ServeHTTP(w, r)
	return result{status: w.Code, header: w.Result().Header, body: w.Body.Bytes()}
}

func TestWatchdogKeepsLock(t *testing.T) {
	forEachDeployment(t, func(t *testing.T, d deployment) {
		d.advance(t)
		const ttl = time.Second
		obs := newCounter()
		o := lockhttp.Options{Key: middleware.Static("order"), TTL: ttl, Observer: obs, CommandTimeout: time.Second}
		store := &FencedStore{token: map[string]int64{}, value: map[string]string{}}
		a := &slowWriter{store: store, started: make(chan int64, 1), release: make(chan struct{}), result: make(chan error, 1), ctxErr: make(chan error, 1)}
		ha := d.newLocker(t, o).Handler(a)
		hb := d.newLocker(t, o).Handler(&slowWriter{store: store})
		done := make(chan result, 1)
		go func() { done <- get(ha, "a") }()
		waitStarted(t, a.started, done)
		// For 4 TTLs, the other instance keeps finding the lock held.
		for end := time.Now().Add(4 * ttl); time.Now().Before(end); time.Sleep(ttl / 5) {
			if r := get(hb, "b"); r.status != http.StatusConflict {
				t.Fatalf("second instance got %d while the watchdog held the lock", r.status)
			}
		}
		close(a.release)
		if err := <-a.ctxErr; err != nil {
			t.Fatalf("handler context cancelled: %v", err)
		}
		if err := <-a.result; err != nil {
			t.Fatalf("holder's write: %v", err)
		}
		if r := <-done; r.status != http.StatusCreated {
			t.Fatalf("holder got %d", r.status)
		}
		if r := get(hb, "b"); r.status != http.StatusCreated {
			t.Fatalf("after release: %d %s", r.status, r.body)
		}
		if obs.get(middleware.LockExpired) != 0 {
			t.Fatalf("expired events: %d", obs.get(middleware.LockExpired))
		}
	})
}

func TestWatchdogDisabledFencingRejectsStaleWrite(t *testing.T) {
	forEachDeployment(t, func(t *testing.T, d deployment) {
		d.advance(t)
		const ttl = time.Second
		o := lockhttp.Options{Key: middleware.Static("order"), TTL: ttl, DisableWatchdog: true, CommandTimeout: time.Second}
		store := &FencedStore{token: map[string]int64{}, value: map[string]string{}}
		a := &slowWriter{store: store, started: make(chan int64, 1), release: make(chan struct{}), result: make(chan error, 1)}
		ha := d.newLocker(t, o).Handler(a)
		bw := &slowWriter{store: store, result: make(chan error, 1)}
		hb := d.newLocker(t, o).Handler(bw)
		done := make(chan result, 1)
		go func() { done <- get(ha, "a") }()
		tokA := waitStarted(t, a.started, done)
		// Without the watchdog the lock expires under the slow handler and
		// the other instance gets in.
		var rb result
		if err := waitFor(20*ttl, func() bool { rb = get(hb, "b"); return rb.status == http.StatusCreated }); err != nil {
			t.Fatalf("second instance never got the expired lock: %d %s", rb.status, rb.body)
		}
		if err := <-bw.result; err != nil {
			t.Fatalf("new holder's write: %v", err)
		}
		close(a.release)
		if err := <-a.result; !errors.Is(err, errStaleToken) {
			t.Fatalf("stale holder's write: %v, want errStaleToken", err)
		}
		<-done
		if store.value["order"] != "b" || store.token["order"] <= tokA {
			t.Fatalf("store = %q token %d (stale token %d)", store.value["order"], store.token["order"], tokA)
		}
	})
}

func TestWatchdogLossCancelsHandler(t *testing.T) {
	forEachDeployment(t, func(t *testing.T, d deployment) {
		const ttl = time.Second
		obs := newCounter()
		prefix := d.prefix + "loss:"
		o := lockhttp.Options{Key: middleware.Static("order"), TTL: ttl, Observer: obs, Prefix: prefix, CommandTimeout: time.Second}
		cause := make(chan error, 1)
		started := make(chan struct{})
		h := d.newLocker(t, o).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			select {
			case <-r.Context().Done():
				cause <- context.Cause(r.Context())
			case <-time.After(30 * ttl):
				cause <- nil
			}
		}))
		go get(h, "a")
		<-started
		// Another party takes the lock key away (as an expiry plus a new
		// holder would): the next extension fails.
		lockKey := prefix + "{" + "s:order" + "}"
		if len(d.servers) > 0 {
			for _, s := range d.servers {
				if err := s.Client(t).Set(context.Background(), lockKey, "intruder", 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
		} else if err := d.client.Set(context.Background(), lockKey, "intruder", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := <-cause; !errors.Is(err, lockhttp.ErrLockLost) {
			t.Fatalf("handler context cause = %v, want ErrLockLost", err)
		}
		if err := waitFor(time.Second, func() bool { return obs.get(middleware.LockExpired) == 1 }); err != nil {
			t.Fatalf("LockExpired = %d", obs.get(middleware.LockExpired))
		}
	})
}

// waitStarted waits for the holder's handler to start, failing the test
// if its request ends without running it.
func waitStarted(t *testing.T, started chan int64, done chan result) int64 {
	t.Helper()
	select {
	case tok := <-started:
		return tok
	case r := <-done:
		t.Fatalf("holder's request ended without running the handler: %d %s", r.status, r.body)
	}
	return 0
}
