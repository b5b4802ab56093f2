package cachehttp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/middleware"
)

// Warmed routes never show a miss: two instances warm the same targets at
// startup and keep them refreshed ahead of expiry, one refresh per key per
// cycle across both (the lease), while requests on both only ever hit.
func TestWarmNeverMisses(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var mu sync.Mutex
		runs := map[string]int{}
		h := &counter{h: func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			runs[r.URL.RawQuery]++
			n := runs[r.URL.RawQuery]
			mu.Unlock()
			fmt.Fprintf(w, "overview %s #%d", r.URL.RawQuery, n)
		}}
		const ttl = 2 * time.Second
		rt := Route{Name: "catalog", TTL: ttl, Jitter: -1, RefreshAhead: 600 * time.Millisecond}
		targets := []string{"/api/catalog?city=1", "/api/catalog?city=2", "/api/catalog?city=3"}
		var srv []http.Handler
		for i := range 2 {
			o := Options{}
			if i == 1 {
				o.L1Bytes = 1 << 20
			}
			c := newTestCache(t, tg.NewClient(t), tg.Prefix, o)
			rc := mustRoute(t, c, rt)
			if err := rc.Warm(ctx, h, targets, WarmOptions{}); err != nil {
				t.Fatal(err)
			}
			srv = append(srv, rc.Handler(h))
		}
		if err := mustRoute(t, newTestCache(t, tg.Client, tg.Prefix, Options{}), rt).Warm(ctx, h, []string{"::bad"}, WarmOptions{}); err == nil {
			t.Fatal("a malformed target was accepted")
		}
		start := time.Now()
		requests := 0
		for time.Since(start) < 3*ttl {
			for _, s := range srv {
				for _, tgt := range targets {
					got := do(s, "GET", "http://localhost"+tgt)
					requests++
					if got.header.Get("X-Cache") != "HIT" {
						t.Fatalf("after %v: %s answered %s (%q)", time.Since(start), tgt, got.header.Get("X-Cache"), got.body)
					}
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		elapsed := time.Since(start)
		mu.Lock()
		defer mu.Unlock()
		// One fill plus one refresh per (TTL - RefreshAhead) cycle, shared by
		// both instances; independent refreshes would double it.
		limit := int(elapsed/(ttl-rt.RefreshAhead)) + 2
		for _, tgt := range targets {
			q := tgt[len("/api/catalog?"):]
			if runs[q] < 3 || runs[q] > limit {
				t.Fatalf("%s: %d handler runs in %v; want 3..%d", tgt, runs[q], elapsed, limit)
			}
		}
		t.Logf("%d requests, all hits; handler runs per target %v (limit %d)", requests, runs, limit)
	})
}

// Warm refuses warming requests the route would bypass every time, naming
// the cause, and warms those it can cache: an identity header on an
// Anonymous route, a PerUser route for the user in ctx.
func TestWarmRefusesIdentity(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		h := &counter{h: func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("page")) }}
		shared := mustRoute(t, c, Route{Name: "warm-shared", TTL: time.Minute})
		rfc := mustRoute(t, c, Route{Name: "warm-rfc", TTL: time.Minute, RFC9111: true})
		perUser := mustRoute(t, c, Route{Name: "warm-user", TTL: time.Minute, PerUser: true})
		alice := middleware.WithUser(ctx, "alice")
		for _, tc := range []struct {
			rc   *RouteCache
			ctx  context.Context
			hdr  http.Header
			want string
		}{
			{shared, ctx, http.Header{"Cookie": {"consent=yes"}}, "WarmOptions.Header: Cookie"},
			{shared, ctx, http.Header{"authorization": {"Bearer t"}}, "WarmOptions.Header: Authorization"},
			{rfc, ctx, http.Header{"Authorization": {"Bearer t"}}, "WarmOptions.Header: Authorization"},
			{shared, alice, nil, "ctx carries a user"},
			{perUser, ctx, nil, "needs a user in ctx"},
		} {
			err := tc.rc.Warm(tc.ctx, h, []string{"/w"}, WarmOptions{Header: tc.hdr})
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.rc.name) {
				t.Fatalf("%s %v: %v; want ErrInvalidOptions naming %q", tc.rc.name, tc.hdr, err, tc.want)
			}
		}
		if h.n.Load() != 0 {
			t.Fatalf("refused warming ran the handler %d times", h.n.Load())
		}

		anon := mustRoute(t, c, Route{Name: "warm-anon", TTL: time.Minute, Anonymous: true})
		if err := anon.Warm(ctx, h, []string{"/a"}, WarmOptions{Host: "example.com", Header: http.Header{"Cookie": {"consent=yes"}}}); err != nil {
			t.Fatal(err)
		}
		expect(t, do(anon.Handler(h), "GET", "/a"), 200, "HIT", "page")
		if err := perUser.Warm(alice, h, []string{"/u"}, WarmOptions{Host: "example.com"}); err != nil {
			t.Fatal(err)
		}
		srv := sessions(perUser.Handler(h))
		expect(t, do(srv, "GET", "/u", "Cookie", "session=alice"), 200, "HIT", "page")
		expect(t, do(srv, "GET", "/u", "Cookie", "session=bob"), 200, "MISS", "page")
	})
}
