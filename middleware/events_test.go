package middleware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aura-platform/redishttp/middleware"
)

type collector struct {
	mu     sync.Mutex
	events []middleware.Event
}

func (c *collector) Observe(e middleware.Event) {
	c.mu.Lock()
	c.events = append(c.events, e)
	c.mu.Unlock()
}

func (c *collector) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

func TestObserversFanOut(t *testing.T) {
	if middleware.Observers() != nil || middleware.Observers(nil, nil) != nil {
		t.Error("Observers of nothing is not nil")
	}
	a := &collector{}
	if o := middleware.Observers(nil, a, nil); o != middleware.Observer(a) {
		t.Error("a single observer is not returned as is")
	}
	b, c := &collector{}, &collector{}
	var fnCount int
	var mu sync.Mutex
	o := middleware.Observers(a, nil, b, middleware.ObserverFunc(func(e middleware.Event) {
		mu.Lock()
		fnCount++
		mu.Unlock()
	}), c)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { o.Observe(middleware.Event{Kind: middleware.CacheHit, Route: "items", Value: 1}) })
	}
	wg.Wait()
	for i, col := range []*collector{a, b, c} {
		if col.len() != 50 {
			t.Errorf("observer %d got %d events", i, col.len())
		}
	}
	if fnCount != 50 {
		t.Errorf("ObserverFunc got %d", fnCount)
	}
	if e := a.events[0]; e.Kind != middleware.CacheHit || e.Route != "items" || e.Value != 1 {
		t.Errorf("event %+v", e)
	}
}

func TestEventKindString(t *testing.T) {
	want := map[middleware.EventKind]string{
		middleware.CacheHit: "cache_hit", middleware.CacheMiss: "cache_miss", middleware.CacheStale: "cache_stale",
		middleware.CacheCoalesced: "cache_coalesced", middleware.CacheLoad: "cache_load", middleware.CacheError: "cache_error",
		middleware.CacheBypass: "cache_bypass", middleware.CacheStore: "cache_store", middleware.CacheInvalidate: "cache_invalidate",
		middleware.RateAllowed: "rate_allowed", middleware.RateDenied: "rate_denied", middleware.RateError: "rate_error",
		middleware.LockAcquired: "lock_acquired", middleware.LockContended: "lock_contended", middleware.LockExpired: "lock_expired",
		middleware.LockReplayed: "lock_replayed", middleware.LockError: "lock_error", middleware.BackendChange: "backend_change",
		0: "unknown", 200: "unknown",
	}
	for k, s := range want {
		if k.String() != s {
			t.Errorf("%d.String() = %q, want %q", k, k.String(), s)
		}
	}
}

func TestIdentity(t *testing.T) {
	ctx := context.Background()
	if id := middleware.UserFromContext(ctx); id != "" {
		t.Error("empty context has a user")
	}
	ctx2 := middleware.WithUser(ctx, "alice")
	if id := middleware.UserFromContext(ctx2); id != "alice" {
		t.Errorf("UserFromContext = %q", id)
	}
	if middleware.UserFromContext(middleware.WithUser(ctx, "")) != "" {
		t.Error("empty id counts as a user")
	}
	// A context value under the same string name cannot impersonate.
	type fake string
	spoof := context.WithValue(ctx, fake("user"), "mallory")
	if middleware.UserFromContext(spoof) != "" {
		t.Error("foreign context key read as the user")
	}
	r := httptest.NewRequest("GET", "/", nil)
	if middleware.UserFromContext(r.Context()) != "" {
		t.Error("anonymous request has a user id")
	}
	// The toolkit never trusts a raw header for identity by itself.
	r.Header.Set("X-User", "mallory")
	if middleware.UserFromContext(r.Context()) != "" {
		t.Error("UserFromContext read a header")
	}
	if middleware.UserFromContext(ctx2) != "alice" {
		t.Error("UserFromContext does not read the context")
	}
}

func TestTrustUserHeader(t *testing.T) {
	var got []string
	h := middleware.TrustUserHeader("X-Auth-User")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, middleware.UserFromContext(r.Context()))
	}))
	r1 := httptest.NewRequest("GET", "/", nil)
	r1.Header.Set("X-Auth-User", "gw-user")
	r2 := httptest.NewRequest("GET", "/", nil)
	r2.Header.Set("X-Other", "nope")
	r3 := httptest.NewRequest("GET", "/", nil)
	r3 = r3.WithContext(middleware.WithUser(r3.Context(), "from-auth"))
	r4 := httptest.NewRequest("GET", "/", nil)
	r4.Header.Set("X-Auth-User", "")
	for _, r := range []*http.Request{r1, r2, r3, r4} {
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	want := []string{"gw-user", "", "from-auth", ""}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d: user %q, want %q", i, got[i], want[i])
		}
	}
	if middleware.UserFromContext(r1.Context()) != "" {
		t.Error("TrustUserHeader modified the caller's request")
	}
}
