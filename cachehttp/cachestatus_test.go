package cachehttp

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
)

// vhStep is one request of a vhCase.
type vhStep struct {
	method string        // default GET
	path   string        // appended to the case's path
	hdr    []string      // request header pairs
	at     time.Duration // test clock since the case's first request
	x      string        // X-Cache
	cs     []string      // members the Cache-Status must contain
	notCS  []string      // members it must not contain
	calls  int64         // origin requests so far (0: not checked)
	code   int           // status (0: not checked)
	origin string        // method the origin saw last (empty: not checked)
}

// vhCase is a stored-response scenario: the origin answers resp for every
// request of the case.
type vhCase struct {
	name, rule string
	plain      bool // an ordinary route instead of the RFC9111 one
	resp       func(r *http.Request, n int64) (int, map[string][]string)
	steps      []vhStep
}

func maxAge60(extra ...string) func(*http.Request, int64) (int, map[string][]string) {
	return func(*http.Request, int64) (int, map[string][]string) {
		h := map[string][]string{"Cache-Control": {"max-age=60"}}
		for i := 0; i+1 < len(extra); i += 2 {
			h[extra[i]] = append(h[extra[i]], extra[i+1])
		}
		return 200, h
	}
}

func withStatus(code int, cc string) func(*http.Request, int64) (int, map[string][]string) {
	return func(*http.Request, int64) (int, map[string][]string) {
		return code, map[string][]string{"Cache-Control": {cc}}
	}
}

// Secondary keys (RFC 9111 §4.1), HEAD (§4.3.5, RFC 9110 §9.3.2) and the
// Cache-Status header (RFC 9211) behind an httputil.ReverseProxy, case by
// case, on every target.
func TestVaryHeadCacheStatus(t *testing.T) {
	const (
		miss, hit, stale, bypass = "MISS", "HIT", "STALE", "BYPASS"
		uriMiss, varyMiss        = "fwd=uri-miss", "fwd=vary-miss"
	)
	s := func(x string, cs ...string) vhStep { return vhStep{x: x, cs: cs} }
	h := func(x string, hdr []string, cs ...string) vhStep { return vhStep{x: x, hdr: hdr, cs: cs} }
	foo := func(v string) []string { return []string{"Foo", v} }
	head := func(st vhStep) vhStep { st.method = http.MethodHead; return st }
	at := func(d time.Duration, st vhStep) vhStep { st.at = d; return st }
	calls := func(n int64, st vhStep) vhStep { st.calls = n; return st }
	not := func(st vhStep, cs ...string) vhStep { st.notCS = append(st.notCS, cs...); return st }
	vary := func(v ...string) func(*http.Request, int64) (int, map[string][]string) {
		return func(*http.Request, int64) (int, map[string][]string) {
			return 200, map[string][]string{"Cache-Control": {"max-age=60"}, "Vary": v}
		}
	}
	cases := []vhCase{
		// §4.1 Vary: the stored response's secondary key.
		{name: "vary match", rule: "§4.1 same value selects the stored response", resp: vary("Foo"),
			steps: []vhStep{h(miss, foo("1"), uriMiss, "stored"), calls(1, h(hit, foo("1"), "hit"))}},
		{name: "vary mismatch", rule: "§4.1 another value is not selected", resp: vary("Foo"),
			steps: []vhStep{h(miss, foo("1")), calls(2, h(miss, foo("2"), varyMiss, "stored"))}},
		{name: "vary variants coexist", rule: "§4.1 several stored responses for one URI", resp: vary("Foo"),
			steps: []vhStep{h(miss, foo("1")), h(miss, foo("2"), varyMiss), h(hit, foo("1")), calls(2, h(hit, foo("2")))}},
		{name: "vary absent then present", rule: "§4.1 absent in both requests matches; absent vs present does not", resp: vary("Foo"),
			steps: []vhStep{s(miss), s(hit), h(miss, foo("1"), varyMiss), s(hit), h(hit, foo("1"))}},
		{name: "vary present then absent", rule: "§4.1 a header absent from the request does not match a value", resp: vary("Foo"),
			steps: []vhStep{h(miss, foo("1")), s(miss, varyMiss), h(hit, foo("1"))}},
		{name: "vary two headers", rule: "§4.1 every listed header must match", resp: vary("Foo, Bar"),
			steps: []vhStep{h(miss, []string{"Foo", "1", "Bar", "1"}), h(hit, []string{"Foo", "1", "Bar", "1"}),
				h(miss, []string{"Foo", "1", "Bar", "2"}, varyMiss), h(miss, foo("1"), varyMiss), h(hit, []string{"Foo", "1", "Bar", "2"})}},
		{name: "vary two field lines", rule: "§4.1 with RFC 9110 §5.3: field lines combine", resp: vary("Foo", "Bar"),
			steps: []vhStep{h(miss, []string{"Foo", "1", "Bar", "1"}), h(hit, []string{"Foo", "1", "Bar", "1"}), h(miss, []string{"Foo", "1", "Bar", "2"}, varyMiss)}},
		{name: "vary name case", rule: "§4.1 field names are case-insensitive", resp: vary("fOO"),
			steps: []vhStep{h(miss, foo("1")), h(hit, foo("1")), h(miss, foo("2"), varyMiss)}},
		{name: "vary list whitespace", rule: "§4.1 list syntax: optional whitespace and empty members", resp: vary(" , Foo ,, Bar ", ""),
			steps: []vhStep{h(miss, []string{"Foo", "1", "Bar", "1"}), h(hit, []string{"Foo", "1", "Bar", "1"}), h(miss, []string{"Foo", "2", "Bar", "1"}, varyMiss)}},
		{name: "vary request whitespace", rule: "§4.1 values normalised: surrounding whitespace", resp: vary("Foo"),
			steps: []vhStep{h(miss, foo("1")), h(hit, foo(" 1 "))}},
		{name: "vary list members", rule: "§4.1 values normalised: whitespace around list members", resp: vary("Foo"),
			steps: []vhStep{h(miss, foo("1,2")), h(hit, foo(" 1, 2 ")), h(hit, []string{"Foo", "1", "Foo", " 2"}), h(miss, foo("1;2"), varyMiss)}},
		{name: "vary three headers order", rule: "§4.1 every header compared by name, whatever the order", resp: vary("Foo, Bar, Baz"),
			steps: []vhStep{h(miss, []string{"Foo", "1", "Bar", "abc4", "Baz", "789"}), h(miss, []string{"Baz", "789", "Bar", "abc", "Foo", "1"}, varyMiss),
				h(hit, []string{"Baz", "789", "Foo", "1", "Bar", "abc4"})}},
		{name: "vary header not listed", rule: "§4.1 headers not listed in Vary are not in the key", resp: vary("Foo"),
			steps: []vhStep{h(miss, []string{"Foo", "1", "Other", "2"}), h(hit, []string{"Foo", "1", "Other", "3"})}},
		{name: "vary request lines combined", rule: "§4.1 values normalised: field lines combined", resp: vary("Foo"),
			steps: []vhStep{h(miss, []string{"Foo", "1", "Foo", "2"}), h(hit, foo("1, 2"))}},
		{name: "vary star", rule: "§4.1 Vary: * always fails to match", resp: vary("*"),
			steps: []vhStep{not(s(miss, uriMiss), "stored"), calls(2, s(miss))}},
		{name: "vary star star", rule: "§4.1 *, * fails to match", resp: vary("*, *"), steps: []vhStep{s(miss), calls(2, s(miss))}},
		{name: "vary star lines", rule: "§4.1 * on two field lines", resp: vary("*", "*"), steps: []vhStep{s(miss), calls(2, s(miss))}},
		{name: "vary empty star", rule: "§4.1 an empty line then *", resp: vary("", "*"), steps: []vhStep{s(miss), calls(2, s(miss))}},
		{name: "vary star foo", rule: "§4.1 *, Foo fails to match", resp: vary("*, Foo"), steps: []vhStep{h(miss, foo("1")), calls(2, h(miss, foo("1")))}},
		{name: "vary foo star", rule: "§4.1 Foo, * fails to match", resp: vary("Foo, *"), steps: []vhStep{h(miss, foo("1")), calls(2, h(miss, foo("1")))}},
		{name: "vary per resource", rule: "§4.1 secondary keys belong to one stored response, not the route",
			resp: func(r *http.Request, _ int64) (int, map[string][]string) {
				hd := map[string][]string{"Cache-Control": {"max-age=60"}}
				if strings.HasSuffix(r.URL.Path, "/b") {
					hd["Vary"] = []string{"Foo"}
				}
				return 200, hd
			},
			steps: []vhStep{{path: "/a", x: miss}, {path: "/a", x: hit}, {path: "/b", x: miss, hdr: foo("1")},
				{path: "/a", x: hit, calls: 2}, {path: "/a", x: hit, hdr: foo("2")}, {path: "/b", x: hit, hdr: foo("1")}}},
		{name: "vary per resource, ordinary route", rule: "§4.1 on a route without RFC9111 too", plain: true,
			resp: func(r *http.Request, _ int64) (int, map[string][]string) {
				if strings.HasSuffix(r.URL.Path, "/b") {
					return 200, map[string][]string{"Vary": {"Foo"}}
				}
				return 200, nil
			},
			steps: []vhStep{{path: "/a", x: miss}, {path: "/a", x: hit}, {path: "/b", x: miss, hdr: foo("1")},
				{path: "/a", x: hit, calls: 2}, {path: "/b", x: miss, hdr: foo("1"), cs: []string{varyMiss}},
				{path: "/b", x: hit, hdr: foo("1")}, {path: "/b", x: hit}, {path: "/a", x: hit, calls: 3}}},
		{name: "vary changes", rule: "§4.1 a new response's Vary replaces the old one's", resp: func(_ *http.Request, n int64) (int, map[string][]string) {
			v := "Foo"
			if n > 1 {
				v = "Bar"
			}
			return 200, map[string][]string{"Cache-Control": {"max-age=10"}, "Vary": {v}}
		}, steps: []vhStep{h(miss, foo("1")), at(11*time.Second, h(miss, foo("1"), "fwd=stale")),
			at(11*time.Second, h(hit, foo("2"))), at(11*time.Second, h(miss, []string{"Foo", "1", "Bar", "1"}, varyMiss)),
			at(11*time.Second, h(hit, []string{"Foo", "3", "Bar", "1"}))}},
		{name: "vary stale variant", rule: "§4.1 with §4.2: each variant has its own freshness", resp: func(_ *http.Request, n int64) (int, map[string][]string) {
			return 200, map[string][]string{"Cache-Control": {"max-age=" + strconv.FormatInt(n*10, 10)}, "Vary": {"Foo"}}
		}, steps: []vhStep{h(miss, foo("1")), h(miss, foo("2"), varyMiss), at(15*time.Second, h(hit, foo("2"))),
			at(15*time.Second, h(miss, foo("1"), "fwd=stale"))}},

		// §4.3.5 and RFC 9110 §9.3.2: HEAD.
		{name: "head miss filled by get", rule: "§4.3.5 a HEAD miss may be filled by GET, no body sent", resp: maxAge60(),
			steps: []vhStep{{method: "HEAD", x: miss, origin: "GET", cs: []string{uriMiss, "stored"}}, calls(1, s(hit))}},
		{name: "head hit from get", rule: "RFC 9110 §9.3.2 HEAD is answered from the stored GET response", resp: maxAge60(),
			steps: []vhStep{s(miss), calls(1, head(s(hit, "hit", "ttl=60"))), calls(1, s(hit))}},
		{name: "head hit vary", rule: "§4.1 HEAD selects a variant like GET", resp: vary("Foo"),
			steps: []vhStep{h(miss, foo("1")), head(h(hit, foo("1"))), head(h(miss, foo("2"), varyMiss)), h(hit, foo("2"))}},
		{name: "head stale", rule: "§4.2 a stale response is not used for HEAD either", resp: withStatus(200, "max-age=10"),
			steps: []vhStep{s(miss), at(11*time.Second, head(s(miss, "fwd=stale"))), at(11*time.Second, s(hit))}},
		{name: "head 404", rule: "§4.2.2 heuristically cacheable 404 serves HEAD", resp: withStatus(404, "max-age=60"),
			steps: []vhStep{head(vhStep{x: miss, code: 404, cs: []string{"fwd-status=404", "stored"}}), {x: hit, code: 404}}},
		{name: "head ordinary route", rule: "HEAD from the GET entry on an ordinary route", plain: true, resp: maxAge60(),
			steps: []vhStep{s(miss), calls(1, head(s(hit))), head(s(hit))}},
		{name: "head not stored", rule: "§3 no-store also for HEAD", resp: withStatus(200, "no-store"),
			steps: []vhStep{head(not(s(miss), "stored")), calls(2, head(s(miss)))}},

		// RFC 9211 Cache-Status.
		{name: "status uri-miss", rule: "RFC 9211 §2.2 fwd=uri-miss, fwd-status, stored, ttl", resp: maxAge60(),
			steps: []vhStep{s(miss, "redishttp", uriMiss, "fwd-status=200", "stored", "ttl=60")}},
		{name: "status hit ttl", rule: "RFC 9211 §2.1 hit, §2.7 ttl counts down", resp: maxAge60(),
			steps: []vhStep{s(miss), not(s(hit, "hit", "ttl=60"), "fwd="), at(30*time.Second, s(hit, "ttl=30")), at(59500*time.Millisecond, s(hit, "ttl=0"))}},
		{name: "status stale", rule: "RFC 9211 §2.2 fwd=stale", resp: withStatus(200, "max-age=10"),
			steps: []vhStep{s(miss), at(11*time.Second, s(miss, "fwd=stale", "fwd-status=200", "stored", "ttl=10"))}},
		{name: "status stale served", rule: "RFC 9211 §2.7 a stale response has a negative ttl", resp: withStatus(200, "max-age=10, stale-while-revalidate=60"),
			steps: []vhStep{s(miss), at(15*time.Second, s(stale, "hit", "fwd=stale", "ttl=-5"))}},
		{name: "status bypass", rule: "RFC 9211 §2.2 fwd=bypass for a request the cache does not serve", resp: maxAge60(),
			steps: []vhStep{s(miss), h(bypass, []string{"Range", "bytes=0-1"}, "fwd=bypass"), s(hit)}},
		{name: "status request", rule: "RFC 9211 §2.2 fwd=request: the request's no-cache", resp: maxAge60(),
			steps: []vhStep{s(miss), not(h(bypass, []string{"Cache-Control", "no-cache"}, "fwd=request"), "hit"), calls(2, s(hit))}},
		{name: "status vary-miss", rule: "RFC 9211 §2.2 fwd=vary-miss", resp: vary("Foo"),
			steps: []vhStep{h(miss, foo("1")), not(h(miss, foo("2"), varyMiss, "fwd-status=200", "stored"), uriMiss)}},
		{name: "status 404", rule: "RFC 9211 §2.3 fwd-status is the origin's status", resp: withStatus(404, "max-age=60"),
			steps: []vhStep{{x: miss, code: 404, cs: []string{"fwd-status=404", "stored"}}, {x: hit, code: 404, cs: []string{"hit"}}}},
		{name: "status 500 not stored", rule: "RFC 9211 §2.3, §2.5 a 5xx without explicit freshness is forwarded and not stored",
			resp:  func(*http.Request, int64) (int, map[string][]string) { return 500, nil },
			steps: []vhStep{{x: miss, code: 500, cs: []string{"fwd-status=500"}, notCS: []string{"stored"}}, calls(2, s(miss))}},
		{name: "status no-store", rule: "RFC 9211 §2.5 stored is absent when nothing is stored", resp: withStatus(200, "no-store"),
			steps: []vhStep{not(s(miss, "fwd-status=200"), "stored", "ttl="), calls(2, s(miss))}},
		{name: "status private", rule: "§5.2.2.7 with RFC 9211 §2.5: private is not stored", resp: withStatus(200, "private, max-age=60"),
			steps: []vhStep{not(s(miss), "stored"), s(miss)}},
		{name: "status set-cookie", rule: "RFC 9211 §2.5: a Set-Cookie response is not stored (deliberate)", resp: maxAge60("Set-Cookie", "a=b"),
			steps: []vhStep{not(s(miss), "stored"), s(miss)}},
		{name: "status ttl s-maxage", rule: "RFC 9211 §2.7 ttl is the shared lifetime (§4.2.1 s-maxage)", resp: withStatus(200, "max-age=600, s-maxage=30"),
			steps: []vhStep{s(miss, "ttl=30"), at(10*time.Second, s(hit, "ttl=20"))}},
		{name: "status ttl age", rule: "RFC 9211 §2.7 ttl net of the response's Age (§4.2.3)", resp: maxAge60("Age", "50"),
			steps: []vhStep{s(miss, "stored", "ttl=10"), s(hit, "ttl=10")}},
		{name: "status head hit", rule: "RFC 9211 §2.1 a HEAD hit", resp: maxAge60(),
			steps: []vhStep{s(miss), head(s(hit, "hit", "ttl="))}},
		{name: "status ordinary ttl", rule: "RFC 9211 §2.7 ttl of an ordinary route is its TTL", plain: true, resp: func(*http.Request, int64) (int, map[string][]string) { return 200, nil },
			steps: []vhStep{s(miss, "stored", "ttl=60"), at(20*time.Second, s(hit))}},
		{name: "status not-modified hit", rule: "RFC 9211 §2.1 a hit answered 304 to If-None-Match", resp: maxAge60("Etag", `"v1"`),
			steps: []vhStep{s(miss), {x: hit, code: 304, hdr: []string{"If-None-Match", `"v1"`}, cs: []string{"hit"}}}},
	}
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		clk := newClock()
		setClock(c, clk)
		var mu sync.Mutex
		current := map[string]*vhCase{}
		n := map[string]*atomic.Int64{}
		lastMethod := map[string]string{}
		origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			tc, cnt := current[caseOf(r.URL.Path)], n[caseOf(r.URL.Path)]
			lastMethod[caseOf(r.URL.Path)] = r.Method
			mu.Unlock()
			code, hd := tc.resp(r, cnt.Add(1))
			for k, vs := range hd {
				w.Header()[k] = vs
			}
			w.Header().Set("Date", clk.now().UTC().Format(http.TimeFormat))
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(code)
			fmt.Fprintf(w, "%s foo=%q", r.URL.Path, r.Header.Values("Foo"))
		}))
		defer origin.Close()
		u, _ := url.Parse(origin.URL)
		proxy := httputil.NewSingleHostReverseProxy(u)
		rfc := mustRoute(t, c, Route{Name: "rfc", RFC9111: true, Statuses: []int{200, 404}}).Handler(proxy)
		plain := mustRoute(t, c, Route{Name: "plain", Statuses: []int{200, 404}}).Handler(proxy)
		for i := range cases {
			tc := &cases[i]
			path := fmt.Sprintf("/c%d", i)
			mu.Lock()
			current[path], n[path] = tc, &atomic.Int64{}
			mu.Unlock()
			srv := rfc
			if tc.plain {
				srv = plain
			}
			start := clk.now().Truncate(time.Second) // Date has whole seconds
			bodies := map[string]string{}
			for j, st := range tc.steps {
				clk.t.Store(start.Add(st.at).UnixNano())
				method := st.method
				if method == "" {
					method = http.MethodGet
				}
				got := do(srv, method, "http://cache.local"+path+st.path, st.hdr...)
				where := fmt.Sprintf("%s (%s), step %d: %s %s %v at +%v", tc.name, tc.rule, j, method, st.path, st.hdr, st.at)
				status := got.header.Get("Cache-Status")
				if x := got.header.Get("X-Cache"); x != st.x {
					t.Fatalf("%s: X-Cache %s; want %s (Cache-Status %q)", where, x, st.x, status)
				}
				members := strings.Split(status, "; ")
				for _, want := range st.cs {
					if !hasMember(members, want) {
						t.Fatalf("%s: Cache-Status %q lacks %q", where, status, want)
					}
				}
				for _, bad := range st.notCS {
					if hasMember(members, bad) {
						t.Fatalf("%s: Cache-Status %q has %q", where, status, bad)
					}
				}
				if st.code != 0 && got.code != st.code {
					t.Fatalf("%s: status %d; want %d", where, got.code, st.code)
				}
				if st.calls != 0 && n[path].Load() != st.calls {
					t.Fatalf("%s: origin called %d times; want %d", where, n[path].Load(), st.calls)
				}
				mu.Lock()
				om := lastMethod[path]
				mu.Unlock()
				if st.origin != "" && om != st.origin {
					t.Fatalf("%s: origin saw %s; want %s", where, om, st.origin)
				}
				if method == http.MethodHead && got.body != "" {
					t.Fatalf("%s: HEAD answered with a body %q", where, got.body)
				}
				// A hit repeats the body of the response it was stored from.
				vk := st.path + strings.Join(st.hdr, "|")
				if method == http.MethodGet && got.code == 200 {
					if prev, ok := bodies[vk]; ok && st.x == hit && prev != got.body {
						t.Fatalf("%s: hit body %q, stored %q", where, got.body, prev)
					}
					bodies[vk] = got.body
				}
			}
			clk.t.Store(start.Add(time.Hour).UnixNano()) // past every case's lifetime
		}
	})
}

// caseOf maps an origin path (/c<i>[/suffix]) to its case path.
func caseOf(p string) string {
	if i := strings.IndexByte(p[1:], '/'); i >= 0 {
		return p[:i+1]
	}
	return p
}

// hasMember reports whether a Cache-Status member list has want: a
// parameter ("stored"), a key=value pair, or a key prefix ending in '='.
func hasMember(members []string, want string) bool {
	for _, m := range members {
		if m == want || strings.HasSuffix(want, "=") && strings.HasPrefix(m, want) {
			return true
		}
	}
	return false
}
