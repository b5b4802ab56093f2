package lockhttp_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/retryafter"
	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/aura-platform/redishttp/middleware"
)

// holder returns a handler that holds the lock until release is closed.
func holder() (http.Handler, chan struct{}, chan struct{}) {
	started, release := make(chan struct{}, 1), make(chan struct{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		w.WriteHeader(http.StatusCreated)
	}), started, release
}

func TestContentionFailFastRetryAfter(t *testing.T) {
	forEachDeployment(t, func(t *testing.T, d deployment) {
		obs := newCounter()
		o := lockhttp.Options{Key: middleware.Static("k"), TTL: 7 * time.Second, Observer: obs}
		h, started, release := holder()
		ha := d.newLocker(t, o).Handler(h)
		hb := d.newLocker(t, o).Handler(h)
		done := make(chan result, 1)
		go func() { done <- get(ha, "a") }()
		<-started
		r := get(hb, "b")
		if err := isProblem(r, http.StatusConflict); err != nil {
			t.Fatal(err)
		}
		// Retry-After is the lock's remaining TTL, rounded up.
		if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 7 {
			t.Fatalf("Retry-After = %q", r.header.Get("Retry-After"))
		}
		if obs.get(middleware.LockContended) != 1 {
			t.Fatalf("contended = %d", obs.get(middleware.LockContended))
		}
		close(release)
		if r := <-done; r.status != http.StatusCreated {
			t.Fatalf("holder: %d", r.status)
		}
	})
}

func TestContentionWait(t *testing.T) {
	forEachDeployment(t, func(t *testing.T, d deployment) {
		h, started, release := holder()
		base := lockhttp.Options{Key: middleware.Static("k"), CommandTimeout: 2 * time.Second}
		ha := d.newLocker(t, base).Handler(h)
		go get(ha, "a")
		<-started

		// A short wait runs out: 409.
		short := base
		short.Wait = 50 * time.Millisecond
		if err := isProblem(get(d.newLocker(t, short).Handler(h), "b"), http.StatusConflict); err != nil {
			t.Fatal(err)
		}
		// The client going away ends the wait at once.
		long := base
		long.Wait = time.Minute
		hl := d.newLocker(t, long).Handler(h)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "/x", nil)
		t0 := time.Now()
		do2(hl, req)
		if el := time.Since(t0); el > 20*time.Second {
			t.Fatalf("wait ignored the request context: %v", el)
		}
		// A long wait gets the lock when the holder lets go.
		got := make(chan result, 1)
		go func() { got <- get(hl, "c") }()
		time.Sleep(50 * time.Millisecond)
		close(release)
		<-started // the waiter's handler started: it got the lock
		if r := <-got; r.status != http.StatusCreated {
			t.Fatalf("waiter: %d %s", r.status, r.body)
		}
	})
}

// Retry-After on a 409 is the lock's remaining time to live (PTTL, rounded
// up, at least 1 s), not its full TTL: a lock taken 1.5 s into a 3 s TTL
// answers 2.
func TestContentionRetryAfterIsRemainingTTL(t *testing.T) {
	forEachDeployment(t, func(t *testing.T, d deployment) {
		prefix := d.prefix + "ra:"
		o := lockhttp.Options{Key: middleware.Static("k"), TTL: 3 * time.Second, DisableWatchdog: true, Prefix: prefix}
		h, started, release := holder()
		ha := d.newLocker(t, o).Handler(h)
		hb := d.newLocker(t, o).Handler(h)
		done := make(chan result, 1)
		go func() { done <- get(ha, "a") }()
		<-started
		defer func() { close(release); <-done }()
		if d.mini != nil {
			d.mini.FastForward(1500 * time.Millisecond)
		} else {
			time.Sleep(1500 * time.Millisecond)
		}
		pttl := func() time.Duration {
			return d.client.PTTL(context.Background(), prefix+"{s:k}").Val()
		}
		before := pttl()
		r := get(hb, "b")
		after := pttl()
		if err := isProblem(r, http.StatusConflict); err != nil {
			t.Fatal(err)
		}
		got, err := strconv.Atoi(r.header.Get("Retry-After"))
		lo, hi := retryafter.Seconds(after.Seconds()), retryafter.Seconds(before.Seconds())
		t.Logf("PTTL %v..%v, Retry-After %q", before, after, r.header.Get("Retry-After"))
		if err != nil || int64(got) < lo || int64(got) > hi || got >= 3 {
			t.Fatalf("Retry-After %q, want the remaining TTL rounded up (%d..%d), below the TTL (3)", r.header.Get("Retry-After"), lo, hi)
		}
	})
}
