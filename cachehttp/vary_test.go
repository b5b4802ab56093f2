package cachehttp

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aura-platform/redishttp/internal/redistest"
)

// onBackends runs f on every Redis target and on the memory backend alone.
func onBackends(t *testing.T, f func(t *testing.T, client redis.UniversalClient, prefix string)) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) { f(t, tg.Client, tg.Prefix) })
	t.Run("memory", func(t *testing.T) { f(t, nil, "mem:") })
}

// varyOrigin answers with a body naming the path and the Foo and
// Accept-Encoding it saw, and Vary: Foo on /b (with a second, empty field
// line and odd case and spacing: RFC 9110 §5.3 combines them).
func varyOrigin(calls *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Cache-Control", "max-age=60")
		switch r.URL.Path {
		case "/b":
			w.Header()["Vary"] = []string{" foo ", ""}
		case "/enc":
			w.Header().Set("Vary", "Accept-Encoding")
		}
		fmt.Fprintf(w, "%s foo=%s enc=%s", r.URL.Path, r.Header.Get("Foo"), r.Header.Get("Accept-Encoding"))
	})
}

// Secondary keys belong to the stored response (RFC 9111 §4.1): a Vary on
// one resource leaves the route's other entries reachable, on an ordinary
// route and on an RFC9111 route behind a reverse proxy.
func TestVaryPerResource(t *testing.T) {
	onBackends(t, func(t *testing.T, client redis.UniversalClient, prefix string) {
		c := newTestCache(t, client, prefix, Options{})
		var calls atomic.Int64
		origin := httptest.NewServer(varyOrigin(&calls))
		defer origin.Close()
		u, _ := url.Parse(origin.URL)
		proxy := httputil.NewSingleHostReverseProxy(u)
		for _, rfc := range []bool{false, true} {
			name := fmt.Sprintf("rfc=%v", rfc)
			var h http.Handler = varyOrigin(&calls)
			if rfc {
				h = proxy
			}
			srv := mustRoute(t, c, Route{Name: name, RFC9111: rfc, PassHeaders: []string{"Foo"}}).Handler(h)
			base := "http://" + name + ".local"
			steps := []struct {
				path, foo, want, body string
			}{
				{"/a", "", "MISS", ""}, {"/a", "", "HIT", ""},
				{"/b", "1", "MISS", "1"}, // answers Vary: Foo
				{"/a", "", "HIT", ""},    // still reachable
				{"/a", "2", "HIT", ""},   // /a does not vary
				{"/b", "1", "HIT", "1"}, {"/b", "2", "MISS", "2"}, {"/b", "2", "HIT", "2"}, {"/b", "1", "HIT", "1"},
				{"/b", "", "MISS", ""}, {"/b", "", "HIT", ""}, {"/a", "", "HIT", ""},
			}
			for i, s := range steps {
				got := do(srv, "GET", base+s.path, "Foo", s.foo)
				if x := got.header.Get("X-Cache"); x != s.want {
					t.Fatalf("%s step %d %s Foo=%q: X-Cache %s; want %s (%s)", name, i, s.path, s.foo, x, s.want, got.header.Get("Cache-Status"))
				}
				if want := "foo=" + s.body + " "; !strings.Contains(got.body, want) {
					t.Fatalf("%s step %d %s Foo=%q: body %q", name, i, s.path, s.foo, got.body)
				}
			}
		}
	})
}

// Several variants of one URL coexist: Accept-Encoding gzip and identity
// both hit. A hit on a resource without Vary costs one Redis round trip; a
// hit on a variant other than the one under the primary key costs two.
// Tags and patterns reach every variant, and the
// variants share the primary key's hash-tag group.
func TestVaryVariantsCoexist(t *testing.T) {
	onBackends(t, func(t *testing.T, client redis.UniversalClient, prefix string) {
		var rts tripCounter
		if client != nil {
			client.AddHook(&rts)
		}
		c := newTestCache(t, client, prefix, Options{})
		var calls atomic.Int64
		srv := mustRoute(t, c, Route{Name: "enc", Tags: []string{"enc"}}).Handler(varyOrigin(&calls))
		plain := mustRoute(t, c, Route{Name: "plain"}).Handler(varyOrigin(&calls))
		get := func(path, enc, want string) (rt int64) {
			t.Helper()
			before := rts.n.Load()
			h := srv
			if path == "/plain" {
				h = plain
			}
			got := do(h, "GET", "http://x.local"+path, "Accept-Encoding", enc)
			if x := got.header.Get("X-Cache"); x != want {
				t.Fatalf("%s %q: X-Cache %s; want %s (%s)", path, enc, x, want, got.header.Get("Cache-Status"))
			}
			if !strings.Contains(got.body, "enc="+enc) {
				t.Fatalf("%s %q: body %q", path, enc, got.body)
			}
			return rts.n.Load() - before
		}
		get("/plain", "", "MISS")
		plainRT := get("/plain", "", "HIT")
		get("/enc", "", "MISS")
		get("/enc", "gzip", "MISS")
		get("/enc", "identity", "MISS")
		primaryRT := get("/enc", "", "HIT")
		gzipRT := get("/enc", "gzip", "HIT")
		get("/enc", "identity", "HIT")
		if client != nil {
			t.Logf("Redis round trips per hit: plain %d, varying (primary) %d, varying (variant) %d", plainRT, primaryRT, gzipRT)
			if plainRT != 1 || primaryRT != 1 || gzipRT != 2 {
				t.Fatalf("round trips: plain %d, primary variant %d, other variant %d; want 1, 1, 2", plainRT, primaryRT, gzipRT)
			}
		}
		// One group for the variants of a URL.
		r := httptest.NewRequest("GET", "http://x.local/enc", nil)
		pesc := escapeKey(mustDefaultKey(t, r))
		r.Header.Set("Accept-Encoding", "gzip")
		if g, want := groupOf(variantEsc(pesc, []string{"Accept-Encoding"}, r), 1<<14), groupOf(pesc, 1<<14); g != want {
			t.Fatalf("variant in group %d, primary in %d", g, want)
		}
		ctx := context.Background()
		// A tag reaches every variant.
		if _, err := c.InvalidateTags(ctx, "enc"); err != nil {
			t.Fatal(err)
		}
		get("/enc", "gzip", "MISS")
		get("/enc", "identity", "MISS")
		get("/enc", "", "MISS")
		// So does a pattern.
		if _, err := c.InvalidatePattern(ctx, "GET:http:x.local:/enc:*"); err != nil {
			t.Fatal(err)
		}
		get("/enc", "", "MISS")
		get("/enc", "gzip", "MISS")
		get("/plain", "", "HIT")
		// And Delete of the URL's key. (Fills that start in the
		// millisecond of an invalidation are not stored: refill after it.)
		time.Sleep(5 * time.Millisecond)
		for _, enc := range []string{"", "gzip"} {
			do(srv, "GET", "http://x.local/enc", "Accept-Encoding", enc)
			get("/enc", enc, "HIT")
		}
		if _, err := c.Delete(ctx, mustDefaultKey(t, httptest.NewRequest("GET", "http://x.local/enc", nil))); err != nil {
			t.Fatal(err)
		}
		get("/enc", "gzip", "MISS")
		get("/enc", "", "MISS")
		get("/plain", "", "HIT")
	})
}

func mustDefaultKey(t *testing.T, r *http.Request) string {
	t.Helper()
	k, err := defaultKey(r)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The L1 keeps the variants of a URL apart and serves each; a tag
// invalidation in another instance drops all of them.
func TestVaryL1(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{L1Bytes: 1 << 20})
		c2 := newTestCache(t, tg.Client, tg.Prefix, Options{})
		waitFor(t, 5e9, "coherence", func() bool { return c.coherent() })
		var calls atomic.Int64
		srv := mustRoute(t, c, Route{Name: "enc", Tags: []string{"enc"}}).Handler(varyOrigin(&calls))
		for _, s := range []struct{ enc, x, detail string }{
			{"", "MISS", ""}, {"gzip", "MISS", ""}, {"", "HIT", ""}, {"gzip", "HIT", ""}, {"", "HIT", "detail=l1"}, {"gzip", "HIT", "detail=l1"},
		} {
			got := do(srv, "GET", "http://x.local/enc", "Accept-Encoding", s.enc)
			if got.header.Get("X-Cache") != s.x || !strings.Contains(got.body, "enc="+s.enc) || !strings.Contains(got.header.Get("Cache-Status"), s.detail) {
				t.Fatalf("%q: %s %q %q", s.enc, got.header.Get("X-Cache"), got.header.Get("Cache-Status"), got.body)
			}
		}
		if _, err := c2.InvalidateTags(context.Background(), "enc"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5e9, "the L1 to drop both variants", func() bool {
			return do(srv, "GET", "http://x.local/enc", "Accept-Encoding", "gzip").header.Get("X-Cache") == "MISS"
		})
		if got := do(srv, "GET", "http://x.local/enc"); got.header.Get("X-Cache") != "MISS" {
			t.Fatalf("primary variant survived in the L1: %s", got.header.Get("Cache-Status"))
		}
	})
}

// Requests that coalesce onto another request's fill say so (RFC 9211
// collapsed), with the forward reason of that fill and its origin status.
func TestCacheStatusCollapsed(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		release := make(chan struct{})
		var calls atomic.Int64
		h := &counter{h: func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) <= 2 {
				<-release
			}
			w.Header().Set("Vary", "Foo")
			fmt.Fprintf(w, "foo=%s", r.Header.Get("Foo"))
		}}
		srv := mustRoute(t, c, Route{Name: "col"}).Handler(h)
		for _, tc := range []struct{ foo, fwd string }{{"", "fwd=uri-miss"}, {"1", "fwd=vary-miss"}} {
			results := make(chan result, 3)
			for range 3 {
				go func() { results <- do(srv, "GET", "http://x.local/c", "Foo", tc.foo) }()
			}
			waitFor(t, 5e9, "two waiters", func() bool {
				return waitingOn(c.flights) >= 2
			})
			release <- struct{}{}
			collapsed := 0
			for range 3 {
				got := <-results
				cs := got.header.Get("Cache-Status")
				if got.header.Get("X-Cache") != "MISS" || !strings.Contains(cs, tc.fwd) || !strings.Contains(got.body, "foo="+tc.foo) {
					t.Fatalf("Foo=%q: %s %q %q", tc.foo, got.header.Get("X-Cache"), cs, got.body)
				}
				if strings.Contains(cs, "; collapsed") {
					collapsed++
					if !strings.Contains(cs, "fwd-status=200") {
						t.Fatalf("collapsed without fwd-status: %q", cs)
					}
				}
			}
			if collapsed != 2 {
				t.Fatalf("Foo=%q: %d collapsed; want 2", tc.foo, collapsed)
			}
		}
	})
}

// waitingOn counts the requests waiting on fills in flight.
func waitingOn(f *flights) (n int) {
	for i := range f.shards {
		s := &f.shards[i]
		s.mu.Lock()
		for _, c := range s.m {
			n += int(c.waiters.Load())
		}
		s.mu.Unlock()
	}
	return n
}

// A forwarded response keeps the Cache-Status members of the caches behind
// this one, with this cache's member last (RFC 9211 §2); a hit carries
// only this cache's.
func TestCacheStatusUpstream(t *testing.T) {
	c := newTestCache(t, nil, "up:", Options{})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Status", "upstream; hit")
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write([]byte("x"))
	}))
	defer origin.Close()
	u, _ := url.Parse(origin.URL)
	srv := mustRoute(t, c, Route{Name: "up", RFC9111: true}).Handler(httputil.NewSingleHostReverseProxy(u))
	got := do(srv, "GET", "http://x.local/u")
	if vs := got.header.Values("Cache-Status"); len(vs) != 2 || vs[0] != "upstream; hit" || !strings.HasPrefix(vs[1], "redishttp; fwd=uri-miss") {
		t.Fatalf("miss Cache-Status %q", vs)
	}
	got = do(srv, "GET", "http://x.local/u")
	if vs := got.header.Values("Cache-Status"); len(vs) != 1 || !strings.HasPrefix(vs[0], "redishttp; hit") {
		t.Fatalf("hit Cache-Status %q", vs)
	}
}
