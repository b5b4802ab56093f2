package cachehttp

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Requests that go through the RFC 9111 request path (Authorization,
// request directives) find every variant of a varying resource, not only
// the one stored under its primary key (§4.1, §3.5, §5.2.1).
func TestRFC9111VariantsOnDirectedRequests(t *testing.T) {
	onBackends(t, func(t *testing.T, client redis.UniversalClient, prefix string) {
		c := newTestCache(t, client, prefix, Options{})
		var calls atomic.Int64
		origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.Header().Set("Cache-Control", "public, max-age=60")
			w.Header().Set("Vary", "Accept-Encoding")
			fmt.Fprintf(w, "enc=%s", r.Header.Get("Accept-Encoding"))
		})
		h := mustRoute(t, c, Route{Name: "rfc", RFC9111: true}).Handler(origin)
		get := func(enc, want string, hdr ...string) {
			t.Helper()
			got := do(h, "GET", "http://x.local/r", append([]string{"Accept-Encoding", enc}, hdr...)...)
			if x := got.header.Get("X-Cache"); x != want {
				t.Fatalf("%q %v: X-Cache %s, want %s (%s)", enc, hdr, x, want, got.header.Get("Cache-Status"))
			}
			if !strings.Contains(got.body, "enc="+enc) {
				t.Fatalf("%q %v: body %q", enc, hdr, got.body)
			}
		}
		get("gzip", "MISS")
		get("br", "MISS")
		get("gzip", "HIT")
		get("br", "HIT")
		n := calls.Load()
		// Authorization: a public response may answer it (§3.5), from
		// whichever variant matches.
		get("br", "HIT", "Authorization", "Bearer t")
		get("gzip", "HIT", "Authorization", "Bearer t")
		// A request directive that allows the stored age.
		get("br", "HIT", "Cache-Control", "max-age=30")
		if calls.Load() != n {
			t.Fatalf("origin called %d more times", calls.Load()-n)
		}
		// A new variant through the directed path is stored as a variant,
		// leaving the others in place.
		get("zstd", "MISS", "Authorization", "Bearer t")
		get("gzip", "HIT")
		get("br", "HIT")
	})
}
