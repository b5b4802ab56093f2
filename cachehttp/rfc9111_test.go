package cachehttp

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
)

// The RFC 9111 shared-cache mode in front of an httputil.ReverseProxy,
// case by case against the RFC's rules. Each step advances the test clock
// by "at" since the first (storing) request and expects an X-Cache value.
func TestRFC9111SharedCache(t *testing.T) {
	type step struct {
		at     time.Duration
		want   string
		reqHdr []string
	}
	type tcase struct {
		name   string
		rule   string
		status int
		hdr    func(date time.Time) map[string]string
		first  []string // headers of the first request
		steps  []step
		minAge int // Age of the first HIT is at least this
	}
	httpDate := func(t time.Time) string { return t.UTC().Format(http.TimeFormat) }
	cc := func(v string) func(time.Time) map[string]string {
		return func(time.Time) map[string]string { return map[string]string{"Cache-Control": v} }
	}
	cases := []tcase{
		{name: "max-age", rule: "§4.2.1 max-age", hdr: cc("max-age=60"),
			steps: []step{{0, "HIT", nil}, {59 * time.Second, "HIT", nil}, {61 * time.Second, "MISS", nil}}},
		{name: "s-maxage wins", rule: "§4.2.1 shared caches use s-maxage first", hdr: cc("max-age=60, s-maxage=10"),
			steps: []step{{9 * time.Second, "HIT", nil}, {11 * time.Second, "MISS", nil}}},
		{name: "expires", rule: "§4.2.1 Expires minus Date", hdr: func(d time.Time) map[string]string {
			return map[string]string{"Expires": httpDate(d.Add(30 * time.Second))}
		}, steps: []step{{28 * time.Second, "HIT", nil}, {31 * time.Second, "MISS", nil}}},
		{name: "max-age over expires", rule: "§5.3 max-age overrides Expires", hdr: func(d time.Time) map[string]string {
			return map[string]string{"Cache-Control": "max-age=60", "Expires": httpDate(d.Add(-time.Hour))}
		}, steps: []step{{30 * time.Second, "HIT", nil}}},
		{name: "invalid expires", rule: "§5.3 an invalid Expires is in the past", hdr: func(time.Time) map[string]string {
			return map[string]string{"Expires": "0"}
		}, steps: []step{{0, "MISS", nil}}},
		{name: "no-store", rule: "§5.2.2.5", hdr: cc("no-store, max-age=60"), steps: []step{{0, "MISS", nil}}},
		{name: "private", rule: "§5.2.2.7 a shared cache does not store private", hdr: cc("private, max-age=60"),
			steps: []step{{0, "MISS", nil}}},
		{name: "no-cache", rule: "§5.2.2.4 never reused without validation (no validator here: refetched)",
			hdr: cc("no-cache, max-age=60"), steps: []step{{0, "MISS", nil}}},
		{name: "age", rule: "§4.2.3 Age counts against the lifetime", hdr: func(time.Time) map[string]string {
			return map[string]string{"Cache-Control": "max-age=60", "Age": "50"}
		}, steps: []step{{0, "HIT", nil}, {8 * time.Second, "HIT", nil}, {11 * time.Second, "MISS", nil}}, minAge: 50},
		{name: "stale on arrival", rule: "§4.2.3 Age beyond max-age", hdr: func(time.Time) map[string]string {
			return map[string]string{"Cache-Control": "max-age=60", "Age": "61"}
		}, steps: []step{{0, "MISS", nil}}},
		{name: "heuristic", rule: "§4.2.2 10% of Date minus Last-Modified on a heuristically cacheable status",
			hdr: func(d time.Time) map[string]string {
				return map[string]string{"Last-Modified": httpDate(d.Add(-100 * time.Second))}
			}, steps: []step{{8 * time.Second, "HIT", nil}, {11 * time.Second, "MISS", nil}}},
		{name: "no heuristic basis", rule: "§4.2.2 no explicit lifetime and no Last-Modified",
			hdr: func(time.Time) map[string]string { return map[string]string{} }, steps: []step{{0, "MISS", nil}}},
		{name: "heuristic on 404", rule: "§4.2.2 404 is heuristically cacheable", status: 404,
			hdr: func(d time.Time) map[string]string {
				return map[string]string{"Last-Modified": httpDate(d.Add(-100 * time.Second))}
			}, steps: []step{{5 * time.Second, "HIT", nil}}},
		{name: "vary", rule: "§4.1 Vary selects the stored response", hdr: func(time.Time) map[string]string {
			return map[string]string{"Cache-Control": "max-age=60", "Vary": "Accept-Language"}
		}, first: []string{"Accept-Language", "en"}, steps: []step{
			// The first fill forwarded the header (a proxy forwards the
			// request), so it is stored as the "en" variant.
			{0, "MISS", nil},
			{0, "HIT", nil},
			{0, "HIT", []string{"Accept-Language", "en"}},
			{0, "MISS", []string{"Accept-Language", "fr"}},
			{0, "HIT", []string{"Accept-Language", "fr"}},
		}},
		{name: "vary star", rule: "§4.1 Vary: * never matches", hdr: func(time.Time) map[string]string {
			return map[string]string{"Cache-Control": "max-age=60", "Vary": "*"}
		}, steps: []step{{0, "MISS", nil}}},
		{name: "stale-while-revalidate", rule: "RFC 5861 via §4.2.4", hdr: cc("max-age=10, stale-while-revalidate=30"),
			steps: []step{{11 * time.Second, "STALE", nil}}},
		{name: "must-revalidate", rule: "§5.2.2.2 no stale use", hdr: cc("max-age=10, stale-while-revalidate=30, must-revalidate"),
			steps: []step{{11 * time.Second, "MISS", nil}}},
		{name: "s-maxage forbids stale", rule: "§5.2.2.10 s-maxage implies proxy-revalidate", hdr: cc("s-maxage=10, stale-while-revalidate=30"),
			steps: []step{{11 * time.Second, "MISS", nil}}},
		{name: "request no-cache", rule: "§5.2.1.4", hdr: cc("max-age=60"), steps: []step{
			{0, "BYPASS", []string{"Cache-Control", "no-cache"}},
			{0, "BYPASS", []string{"Pragma", "no-cache"}},
			{0, "BYPASS", []string{"Cache-Control", "max-age=0"}},
			{0, "BYPASS", []string{"Cache-Control", "no-store"}},
			{0, "HIT", nil},
		}},
		{name: "authorization", rule: "§3.5 a stored response without public, s-maxage or must-revalidate is not used",
			hdr:   cc("max-age=60"),
			steps: []step{{0, "MISS", []string{"Authorization", "Bearer x"}}, {0, "HIT", nil}}},
		{name: "authorization not stored", rule: "§3.5 the response to an Authorization request is not stored",
			hdr: cc("max-age=60"), first: []string{"Authorization", "Bearer a"},
			steps: []step{{0, "MISS", nil}, {0, "MISS", []string{"Authorization", "Bearer a"}}}},
		{name: "authorization public", rule: "§3.5 public allows sharing", hdr: cc("public, max-age=60"),
			first: []string{"Authorization", "Bearer a"},
			steps: []step{{0, "HIT", nil}, {0, "HIT", []string{"Authorization", "Bearer b"}}, {61 * time.Second, "MISS", []string{"Authorization", "Bearer b"}}}},
		{name: "authorization s-maxage", rule: "§3.5 s-maxage allows sharing", hdr: cc("s-maxage=60"),
			first: []string{"Authorization", "Bearer a"},
			steps: []step{{0, "HIT", []string{"Authorization", "Bearer b"}}, {0, "HIT", nil}}},
		{name: "authorization must-revalidate", rule: "§3.5 must-revalidate allows sharing", hdr: cc("max-age=60, must-revalidate"),
			steps: []step{{0, "HIT", []string{"Authorization", "Bearer b"}}}},
		{name: "cookie", rule: "a request with a session bypasses a shared route", hdr: cc("public, max-age=60"),
			steps: []step{{0, "BYPASS", []string{"Cookie", "session=alice"}}, {0, "HIT", nil}}},
		{name: "set-cookie", rule: "stricter than §3: never stored", hdr: func(time.Time) map[string]string {
			return map[string]string{"Cache-Control": "max-age=60", "Set-Cookie": "a=b"}
		}, steps: []step{{0, "MISS", nil}}},
		{name: "public on non-default status", rule: "§3 public allows a heuristic", status: 200,
			hdr: func(d time.Time) map[string]string {
				return map[string]string{"Cache-Control": "public", "Last-Modified": httpDate(d.Add(-1000 * time.Second))}
			}, steps: []step{{50 * time.Second, "HIT", nil}, {61 * time.Second, "MISS", nil}}}, // capped by Route.TTL (1m)
	}
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		clk := newClock()
		setClock(c, clk)
		var mu sync.Mutex
		current := map[string]tcase{}
		origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			tc := current[r.URL.Path]
			mu.Unlock()
			date := clk.now()
			w.Header().Set("Date", httpDate(date))
			for k, v := range tc.hdr(date) {
				w.Header().Set(k, v)
			}
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(max(tc.status, 200))
			fmt.Fprintf(w, "%s at %d", r.URL.Path, date.UnixNano())
		}))
		defer origin.Close()
		u, _ := url.Parse(origin.URL)
		proxy := httputil.NewSingleHostReverseProxy(u)
		proxy.ErrorLog = nil
		shared := mustRoute(t, c, Route{Name: "shared", RFC9111: true, Statuses: []int{200, 404}}).Handler(proxy)
		for i, tc := range cases {
			path := fmt.Sprintf("/case/%d", i)
			mu.Lock()
			current[path] = tc
			mu.Unlock()
			start := clk.now()
			first := do(shared, "GET", "http://cache.local"+path, tc.first...)
			if first.header.Get("X-Cache") != "MISS" {
				t.Fatalf("%s: first request %q", tc.name, first.header.Get("X-Cache"))
			}
			for j, s := range tc.steps {
				clk.t.Store(start.Add(s.at).UnixNano())
				got := do(shared, "GET", "http://cache.local"+path, s.reqHdr...)
				if x := got.header.Get("X-Cache"); x != s.want {
					t.Fatalf("%s (%s), step %d at +%v: X-Cache %s; want %s", tc.name, tc.rule, j, s.at, x, s.want)
				}
				if j == 0 && tc.minAge > 0 {
					if age, _ := strconv.Atoi(got.header.Get("Age")); age < tc.minAge {
						t.Fatalf("%s: Age %d; want >= %d", tc.name, age, tc.minAge)
					}
				}
			}
			clk.t.Store(start.Add(time.Hour).UnixNano()) // past every case's lifetime
		}
	})
}
