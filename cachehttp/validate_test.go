package cachehttp

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
)

// oresp is what the origin answers. Header values "@<seconds>" are HTTP
// dates relative to the start of the case.
type oresp struct {
	status int
	hdr    []string
	body   string
}

// vstep is one request of a validation case and what it must show. Dates
// written "@<seconds>" (IMF-fixdate) or "%<seconds>" (RFC 850) are relative
// to the start of the case.
type vstep struct {
	at     time.Duration // since the start of the case
	method string        // default GET
	url    string        // default http://cache.local{p}; "{p}" is the case's path
	req    []string      // request headers, pairs; values "@<seconds>" are dates
	resp   *oresp        // the origin's answer from this step on (per path)
	fwd    bool          // the origin must see this request
	status int           // status the client gets; default 200
	x      string        // X-Cache, when set
	cs     string        // substring of Cache-Status, when set
	body   string        // body the client gets, when set
	sent   []string      // headers the origin must have received (pairs; "" value: absent)
	got    []string      // response headers the client must get (pairs; "" value: absent)
}

type vcase struct {
	name  string // names the RFC 9111 section it checks
	steps []vstep
}

func ok200(body string, hdr ...string) *oresp { return &oresp{status: 200, hdr: hdr, body: body} }
func nm304(hdr ...string) *oresp              { return &oresp{status: 304, hdr: hdr} }

// The validation, conditional, invalidation and forwarding behaviour of an
// RFC9111 route in front of an httputil.ReverseProxy, case by case against
// RFC 9111 (and the behaviours of the HTTP cache conformance corpus), with
// the origin's request count and received headers checked at every step.
func TestRFC9111Validation(t *testing.T) {
	cases := validationCases()
	if len(cases) < 40 {
		t.Fatalf("%d cases", len(cases))
	}
	t.Logf("%d cases", len(cases))
	t.Run("embedded", func(t *testing.T) { runValidationCases(t, newTestCache(t, nil, "", Options{}), cases) })
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		runValidationCases(t, newTestCache(t, tg.Client, tg.Prefix, Options{}), cases)
	})
}

// runValidationCases runs cases against c.
func runValidationCases(t *testing.T, c *Cache, cases []vcase) {
	clk := newClock()
	setClock(c, clk)
	var mu sync.Mutex
	script := map[string]*oresp{}
	var start time.Time
	var seen []*http.Request
	var cur string // the case's path
	date := func(v string) string {
		v = strings.ReplaceAll(v, "{p}", cur)
		if s, ok := strings.CutPrefix(v, "@"); ok {
			n, _ := strconv.Atoi(s)
			return start.Add(time.Duration(n) * time.Second).UTC().Format(http.TimeFormat)
		}
		if s, ok := strings.CutPrefix(v, "%"); ok { // RFC 850 format
			n, _ := strconv.Atoi(s)
			return strings.Replace(start.Add(time.Duration(n)*time.Second).UTC().Format(time.RFC850), "UTC", "GMT", 1)
		}
		return v
	}
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		o := script[r.URL.Path]
		seen = append(seen, r)
		mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
		if o == nil {
			o = ok200("default")
		}
		h := w.Header()
		h.Set("Date", clk.now().UTC().Format(http.TimeFormat))
		mu.Lock()
		for i := 0; i+1 < len(o.hdr); i += 2 {
			h.Set(o.hdr[i], date(o.hdr[i+1]))
		}
		mu.Unlock()
		w.WriteHeader(o.status)
		if o.status != http.StatusNotModified {
			_, _ = io.WriteString(w, o.body)
		}
	}))
	defer origin.Close()
	u, _ := url.Parse(origin.URL)
	proxy := httputil.NewSingleHostReverseProxy(u)
	route := mustRoute(t, c, Route{Name: "rfc", RFC9111: true, Statuses: []int{200, 301, 404}, TTL: time.Hour})
	h := route.Handler(proxy)
	for i, tc := range cases {
		p := fmt.Sprintf("/v%d", i)
		mu.Lock()
		start, cur = clk.now(), p
		mu.Unlock()
		for j, s := range tc.steps {
			clk.t.Store(start.Add(s.at).UnixNano())
			target := strings.ReplaceAll(s.url, "{p}", p)
			if target == "" {
				target = "http://cache.local" + p
			}
			if s.resp != nil {
				tu, _ := url.Parse(target)
				mu.Lock()
				script[tu.Path] = s.resp
				mu.Unlock()
			}
			method := s.method
			if method == "" {
				method = http.MethodGet
			}
			hdr := make([]string, len(s.req))
			for k, v := range s.req {
				hdr[k] = date(v)
			}
			mu.Lock()
			seen = seen[:0]
			mu.Unlock()
			var body io.Reader
			if method != http.MethodGet && method != http.MethodHead {
				body = strings.NewReader("abc")
			}
			got := doCtx(t.Context(), h, method, target, body, hdr...)
			c.bg.Wait() // background refreshes
			mu.Lock()
			n := len(seen)
			var sent http.Header
			if n > 0 {
				sent = seen[0].Header
			}
			mu.Unlock()
			where := fmt.Sprintf("%s, step %d (+%v %s %s)", tc.name, j, s.at, method, target)
			if (n > 0) != s.fwd || n > 1 {
				t.Fatalf("%s: origin saw %d requests; want forwarded=%v (X-Cache %q, Cache-Status %q)", where, n, s.fwd,
					got.header.Get("X-Cache"), got.header.Get("Cache-Status"))
			}
			if want := max(s.status, 200); got.code != want {
				t.Fatalf("%s: status %d; want %d", where, got.code, want)
			}
			if s.x != "" && got.header.Get("X-Cache") != s.x {
				t.Fatalf("%s: X-Cache %q; want %q", where, got.header.Get("X-Cache"), s.x)
			}
			if s.cs != "" && !strings.Contains(got.header.Get("Cache-Status"), s.cs) {
				t.Fatalf("%s: Cache-Status %q; want it to contain %q", where, got.header.Get("Cache-Status"), s.cs)
			}
			if s.body != "" && got.body != s.body {
				t.Fatalf("%s: body %q; want %q", where, got.body, s.body)
			}
			for k := 0; k+1 < len(s.sent); k += 2 {
				if v := sent.Get(s.sent[k]); v != date(s.sent[k+1]) {
					t.Fatalf("%s: origin got %s %q; want %q (Cache-Status %q)", where, s.sent[k], v, date(s.sent[k+1]), got.header.Get("Cache-Status"))
				}
			}
			for k := 0; k+1 < len(s.got); k += 2 {
				if v := got.header.Get(s.got[k]); v != date(s.got[k+1]) {
					t.Fatalf("%s: response %s %q; want %q", where, s.got[k], v, date(s.got[k+1]))
				}
			}
		}
		clk.t.Store(start.Add(48 * time.Hour).UnixNano()) // past every case's entries
	}
}

func validationCases() []vcase {
	const stale = 11 * time.Second
	etagA := ok200("v1", "Cache-Control", "max-age=10", "Etag", `"a"`)
	lmA := ok200("v1", "Cache-Control", "max-age=10", "Last-Modified", "@-3600")
	fresh := ok200("v1", "Cache-Control", "max-age=3600", "Etag", `"a"`, "Last-Modified", "@-3600")
	store := func(o *oresp, req ...string) vstep {
		return vstep{resp: o, req: req, fwd: true, x: "MISS", body: o.body}
	}
	hit := func(at time.Duration, body string) vstep { return vstep{at: at, x: "HIT", body: body} }
	miss := func(at time.Duration, o *oresp) vstep {
		return vstep{at: at, resp: o, fwd: true, x: "MISS", sent: []string{"If-None-Match", "", "If-Modified-Since", ""}}
	}
	revalidated := func(at time.Duration, o *oresp, sent ...string) vstep {
		return vstep{at: at, resp: o, fwd: true, x: "HIT", cs: "fwd=stale; fwd-status=304", body: "v1", sent: sent}
	}
	unsafe := func(method string, o *oresp) vstep {
		return vstep{method: method, resp: o, fwd: true, x: "BYPASS", status: o.status}
	}
	loc := func(method, target, name, value string) vcase {
		u := unsafe(method, ok200("done", name, value))
		u.url = target
		return vcase{name: "§4.4 " + method + " invalidates the same-origin " + name, steps: []vstep{
			{url: "http://cache.local{p}/other", resp: ok200("o1", "Cache-Control", "max-age=3600"), fwd: true, x: "MISS"},
			{url: "http://cache.local{p}/other", x: "HIT"},
			u,
			{url: "http://cache.local{p}/other", fwd: true, x: "MISS"},
		}}
	}
	invalidates := func(method string) vcase {
		return vcase{name: "§4.4 a successful " + method + " invalidates the target URI", steps: []vstep{
			store(fresh), hit(0, "v1"), unsafe(method, ok200("done")),
			// A fill that started in the millisecond of the invalidation is not stored.
			miss(time.Millisecond, ok200("v2", "Cache-Control", "max-age=60")), hit(time.Second, "v2"),
		}}
	}
	return []vcase{
		// §4.3.1: sending a validation request.
		{name: "§4.3.1 a stale response with an ETag is validated with If-None-Match", steps: []vstep{
			store(etagA), hit(5*time.Second, "v1"),
			revalidated(stale, nm304("Cache-Control", "max-age=10", "Etag", `"a"`), "If-None-Match", `"a"`, "If-Modified-Since", ""),
		}},
		{name: "§4.3.4 the freshened response is stored again", steps: []vstep{
			store(etagA), revalidated(stale, nm304("Cache-Control", "max-age=10", "Etag", `"a"`)), hit(15*time.Second, "v1"),
			revalidated(22*time.Second, nil, "If-None-Match", `"a"`),
		}},
		{name: "§4.3.1 a stale response with Last-Modified is validated with If-Modified-Since", steps: []vstep{
			store(lmA), revalidated(stale, nm304("Cache-Control", "max-age=10"), "If-Modified-Since", "@-3600", "If-None-Match", ""),
		}},
		{name: "§4.3.1 both validators are sent", steps: []vstep{
			store(ok200("v1", "Cache-Control", "max-age=10", "Etag", `"a"`, "Last-Modified", "@-3600")),
			revalidated(stale, nm304(), "If-None-Match", `"a"`, "If-Modified-Since", "@-3600"),
		}},
		{name: "§4.3.1 a weak ETag is sent as it is", steps: []vstep{
			store(ok200("v1", "Cache-Control", "max-age=10", "Etag", `W/"a"`)),
			revalidated(stale, nm304(), "If-None-Match", `W/"a"`),
		}},
		{name: "§4.3.1 an unquoted ETag is sent quoted", steps: []vstep{
			store(ok200("v1", "Cache-Control", "max-age=10", "Etag", `a`)),
			revalidated(stale, nm304(), "If-None-Match", `"a"`),
		}},
		{name: "§4.3.1 without a validator of the origin the request is not conditional (the cache's own ETag is not sent)", steps: []vstep{
			store(ok200("v1", "Cache-Control", "max-age=10")), hit(0, "v1"), miss(stale, ok200("v2", "Cache-Control", "max-age=10")), hit(12*time.Second, "v2"),
		}},
		{name: "§4.3.1 the conditional request carries the headers the response varies on", steps: []vstep{
			store(ok200("v1", "Cache-Control", "max-age=10", "Etag", `"a"`, "Vary", "Abc"), "Abc", "123"),
			{at: stale, req: []string{"Abc", "123"}, resp: nm304(), fwd: true, x: "HIT", body: "v1", sent: []string{"Abc", "123", "If-None-Match", `"a"`}},
		}},
		{name: "§4.1 another variant's ETag is not used to validate", steps: []vstep{
			store(ok200("v1", "Cache-Control", "max-age=100", "Etag", `"a"`, "Vary", "Abc"), "Abc", "123"),
			{req: []string{"Abc", "456"}, resp: ok200("v2", "Cache-Control", "max-age=100", "Vary", "Abc"), fwd: true, body: "v2", sent: []string{"Abc", "456", "If-None-Match", ""}},
		}},
		// §4.3.3 and §4.3.4: handling the validation response.
		{name: "§4.3.3 a full response replaces the stored one", steps: []vstep{
			store(etagA), {at: stale, resp: ok200("v2", "Cache-Control", "max-age=10", "Etag", `"b"`), fwd: true, x: "MISS", body: "v2", sent: []string{"If-None-Match", `"a"`}},
			hit(12*time.Second, "v2"),
		}},
		{name: "§4.3.4 a 304 updates the returned header fields", steps: []vstep{
			store(ok200("v1", "Cache-Control", "max-age=10", "Etag", `"a"`, "Test-Header", "A")),
			{at: stale, resp: nm304("Cache-Control", "max-age=3600", "Etag", `"a"`, "Test-Header", "B"), fwd: true, body: "v1", got: []string{"Test-Header", "B"}},
		}},
		{name: "§4.3.4 a 304 updates the stored header fields", steps: []vstep{
			store(ok200("v1", "Cache-Control", "max-age=10", "Last-Modified", "@-3600", "X-Test-Header", "A")),
			{at: stale, resp: nm304("Cache-Control", "max-age=3600", "X-Test-Header", "B"), fwd: true, body: "v1"},
			{at: 100 * time.Second, x: "HIT", body: "v1", got: []string{"X-Test-Header", "B"}},
		}},
		{name: "§4.3.4 a header field the 304 omits keeps its stored value", steps: []vstep{
			store(ok200("v1", "Cache-Control", "max-age=10", "Last-Modified", "@-3600", "Test-Header", "A")),
			{at: stale, resp: nm304("Cache-Control", "max-age=3600", "Last-Modified", "@-3600"), fwd: true, body: "v1", got: []string{"Test-Header", "A"}},
		}},
		{name: "§4.3.4 a 304 updates Content-* fields, not Content-Length", steps: []vstep{
			store(ok200("v1", "Cache-Control", "max-age=10", "Etag", `"a"`, "Content-Foo", "A")),
			{at: stale, resp: nm304("Cache-Control", "max-age=3600", "Content-Foo", "B"), fwd: true, body: "v1"},
			{at: 60 * time.Second, x: "HIT", body: "v1", got: []string{"Content-Foo", "B", "Content-Length", "2"}},
		}},
		{name: "§4.3.4 freshness is computed again from the 304 (Cache-Control)", steps: []vstep{
			store(etagA), revalidated(stale, nm304("Cache-Control", "max-age=3600")), hit(3000*time.Second, "v1"),
		}},
		{name: "§4.3.4 freshness is computed again from the 304 (Expires)", steps: []vstep{
			store(ok200("v1", "Expires", "@10", "Etag", `"a"`)), revalidated(stale, nm304("Expires", "@1000")), hit(900*time.Second, "v1"),
		}},
		{name: "§4.3.4 a 304 that carries Set-Cookie is passed on, never stored", steps: []vstep{
			store(etagA),
			{at: stale, resp: nm304("Cache-Control", "max-age=3600", "Set-Cookie", "a=b"), fwd: true, body: "v1", got: []string{"Set-Cookie", "a=b"}},
			{at: 12 * time.Second, fwd: true, body: "v1", sent: []string{"If-None-Match", `"a"`}},
		}},
		{name: "§4.3.3 a 5xx answering a validation is replaced by the stale response under stale-if-error", steps: []vstep{
			store(ok200("v1", "Cache-Control", "max-age=10, stale-if-error=60", "Etag", `"a"`)),
			{at: stale, resp: &oresp{status: 503, body: "down"}, fwd: true, x: "STALE", body: "v1", sent: []string{"If-None-Match", `"a"`}},
		}},
		{name: "§4.3.3 a 5xx answering a validation is forwarded without stale-if-error", steps: []vstep{
			store(etagA), {at: stale, resp: &oresp{status: 503, body: "down"}, fwd: true, status: 503, body: "down"},
		}},
		{name: "§4.2.4 the background refresh of stale-while-revalidate validates", steps: []vstep{
			store(ok200("v1", "Cache-Control", "max-age=10, stale-while-revalidate=60", "Etag", `"a"`)),
			{at: stale, resp: nm304("Cache-Control", "max-age=100"), fwd: true, x: "STALE", body: "v1", sent: []string{"If-None-Match", `"a"`}},
			hit(100*time.Second, "v1"),
		}},
		{name: "§4.3.4 a HEAD request validates and is answered without a body", steps: []vstep{
			store(etagA), {at: stale, method: "HEAD", resp: nm304("Cache-Control", "max-age=100"), fwd: true, x: "HIT",
				sent: []string{"If-None-Match", `"a"`}, got: []string{"Content-Length", "2"}},
			hit(50*time.Second, "v1"),
		}},
		// Responses that must be validated.
		{name: "§5.2.2.4 a no-cache response is stored and validated before every use", steps: []vstep{
			store(ok200("v1", "Cache-Control", "no-cache, max-age=3600", "Etag", `"a"`)),
			revalidated(0, nm304("Cache-Control", "no-cache, max-age=3600"), "If-None-Match", `"a"`),
			revalidated(time.Second, nil, "If-None-Match", `"a"`),
		}},
		{name: "§5.2.2.4 a no-cache response without a validator is not stored", steps: []vstep{
			store(ok200("v1", "Cache-Control", "no-cache")), miss(0, ok200("v2", "Cache-Control", "no-cache")),
		}},
		{name: "§5.2.2.2 must-revalidate: validated once stale", steps: []vstep{
			store(ok200("v1", "Cache-Control", "max-age=10, must-revalidate, stale-while-revalidate=60", "Etag", `"a"`)),
			hit(9*time.Second, "v1"), revalidated(stale, nm304(), "If-None-Match", `"a"`),
		}},
		{name: "§5.2.2.8 proxy-revalidate: validated once stale", steps: []vstep{
			store(ok200("v1", "Cache-Control", "max-age=10, proxy-revalidate, stale-while-revalidate=60", "Etag", `"a"`)),
			revalidated(stale, nm304(), "If-None-Match", `"a"`),
		}},
		{name: "§5.2.2.10 s-maxage: validated once stale", steps: []vstep{
			store(ok200("v1", "Cache-Control", "s-maxage=10, stale-while-revalidate=60", "Last-Modified", "@-3600")),
			revalidated(stale, nm304(), "If-Modified-Since", "@-3600"),
		}},
		{name: "§4.2.4 a response stale on arrival is stored when it can be validated", steps: []vstep{
			store(ok200("v1", "Cache-Control", "max-age=10", "Age", "100", "Etag", `"a"`)),
			revalidated(0, nm304("Cache-Control", "max-age=3600")), hit(time.Second, "v1"),
		}},
		{name: "§4.2.4 a 200 without freshness but with an ETag is stored for validation", steps: []vstep{
			store(ok200("v1", "Etag", `"a"`)), revalidated(0, nm304("Cache-Control", "max-age=60")), hit(30*time.Second, "v1"),
		}},
		// §4.3.2: conditional requests answered from the cache.
		{name: "§4.3.2 If-None-Match matching the stored ETag: 304 with the ETag", steps: []vstep{
			store(fresh), {req: []string{"If-None-Match", `"a"`}, status: 304, x: "HIT", got: []string{"Etag", `"a"`, "Cache-Control", "max-age=3600"}},
		}},
		{name: "§4.3.2 If-None-Match with a matching weak ETag: 304", steps: []vstep{
			store(ok200("v1", "Cache-Control", "max-age=3600", "Etag", `W/"a"`)), {req: []string{"If-None-Match", `W/"a"`}, status: 304, x: "HIT"},
		}},
		{name: "§4.3.2 If-None-Match listing the stored ETag among others: 304", steps: []vstep{
			store(fresh), {req: []string{"If-None-Match", `"1234", "a", "5678"`}, status: 304, x: "HIT"},
		}},
		{name: "§4.3.2 If-None-Match not matching: the stored response", steps: []vstep{
			store(fresh), {req: []string{"If-None-Match", `"b"`}, x: "HIT", body: "v1"},
		}},
		{name: "§4.3.2 If-None-Match takes precedence over If-Modified-Since (304)", steps: []vstep{
			store(fresh), {req: []string{"If-None-Match", `"a"`, "If-Modified-Since", "@-7200"}, status: 304, x: "HIT"},
		}},
		{name: "§4.3.2 If-None-Match takes precedence over If-Modified-Since (200)", steps: []vstep{
			store(fresh), {req: []string{"If-None-Match", `"b"`, "If-Modified-Since", "@-1"}, x: "HIT", body: "v1"},
		}},
		{name: "§4.3.2 If-Modified-Since equal to the stored Last-Modified: 304", steps: []vstep{
			store(fresh), {req: []string{"If-Modified-Since", "@-3600"}, status: 304, x: "HIT"},
		}},
		{name: "§4.3.2 If-Modified-Since later than the stored Last-Modified: 304", steps: []vstep{
			store(fresh), {req: []string{"If-Modified-Since", "@-2000"}, status: 304, x: "HIT"},
		}},
		{name: "§4.3.2 If-Modified-Since earlier than the stored Last-Modified: the stored response", steps: []vstep{
			store(fresh), {req: []string{"If-Modified-Since", "@-7200"}, x: "HIT", body: "v1"},
		}},
		{name: "§4.3.2 If-Modified-Since against Date when there is no Last-Modified", steps: []vstep{
			store(ok200("v1", "Cache-Control", "max-age=3600")), {at: 5 * time.Second, req: []string{"If-Modified-Since", "@-3000"}, x: "HIT", body: "v1"},
			{at: 5 * time.Second, req: []string{"If-Modified-Since", "@1"}, status: 304, x: "HIT"},
		}},
		{name: "§4.3.2 If-Modified-Since in the RFC 850 format", steps: []vstep{
			store(fresh), {at: time.Second, req: []string{"If-Modified-Since", "%-7200"}, x: "HIT", body: "v1"},
			{req: []string{"If-Modified-Since", "%-3600"}, status: 304, x: "HIT"},
		}},
		{name: "§4.3.2 a stale response validated, then the client's condition answered", steps: []vstep{
			store(lmA), {at: stale, req: []string{"If-Modified-Since", "@-3600"}, resp: nm304(), fwd: true, status: 304,
				sent: []string{"If-Modified-Since", "@-3600"}},
		}},
		{name: "§4.3.2 If-None-Match is forwarded when nothing is stored", steps: []vstep{
			{req: []string{"If-None-Match", `"a"`}, resp: nm304("Etag", `"a"`), fwd: true, status: 304, sent: []string{"If-None-Match", `"a"`}},
			{fwd: true, x: "MISS", resp: fresh, body: "v1", sent: []string{"If-None-Match", ""}},
		}},
		// §4.4: invalidation by unsafe methods.
		invalidates("POST"), invalidates("PUT"), invalidates("DELETE"), invalidates("PATCH"), invalidates("M-SEARCH"),
		{name: "§4.4 a failed unsafe request invalidates nothing", steps: []vstep{
			store(fresh), unsafe("POST", &oresp{status: 500, body: "no"}), hit(0, "v1"),
		}},
		{name: "§4.4 a 3xx answer to an unsafe request invalidates", steps: []vstep{
			store(fresh), unsafe("POST", &oresp{status: 303, hdr: []string{"Location", "/elsewhere"}}), miss(0, ok200("v2")),
		}},
		loc("POST", "", "Location", "{p}/other"), loc("PUT", "", "Content-Location", "http://cache.local{p}/other"),
		loc("DELETE", "http://cache.local{p}/item", "Location", "other"), // relative to the target
		loc("POST", "", "Content-Location", "{p}/other?"),
		{name: "§4.4 a Location on another origin is not invalidated", steps: []vstep{
			{url: "http://other.example{p}/x", resp: ok200("o1", "Cache-Control", "max-age=3600"), fwd: true, x: "MISS"},
			unsafe("POST", ok200("done", "Location", "http://other.example{p}/x")),
			{url: "http://other.example{p}/x", x: "HIT", body: "o1"},
		}},
		{name: "§4.4 every variant of the target URI is invalidated", steps: []vstep{
			store(ok200("en", "Cache-Control", "max-age=3600", "Vary", "Accept-Language"), "Accept-Language", "en"),
			{req: []string{"Accept-Language", "fr"}, resp: ok200("fr", "Cache-Control", "max-age=3600", "Vary", "Accept-Language"), fwd: true, body: "fr"},
			{req: []string{"Accept-Language", "en"}, x: "HIT", body: "en"},
			{req: []string{"Accept-Language", "fr"}, x: "HIT", body: "fr"},
			unsafe("DELETE", ok200("gone")),
			{req: []string{"Accept-Language", "en"}, fwd: true, x: "MISS"},
			{req: []string{"Accept-Language", "fr"}, fwd: true, x: "MISS"},
		}},
		{name: "§4.4 another query of the same path is not invalidated", steps: []vstep{
			{url: "http://cache.local{p}?a=2", resp: fresh, fwd: true, x: "MISS"},
			{method: "POST", url: "http://cache.local{p}?a=1", fwd: true, x: "BYPASS"},
			{url: "http://cache.local{p}?a=2", x: "HIT"},
		}},
		{name: "§4.4 the unsafe request is forwarded, never answered from the cache", steps: []vstep{
			store(fresh), unsafe("POST", ok200("posted")), unsafe("POST", ok200("posted again")),
		}},
		// Forwarding: a proxy forwards the request.
		{name: "§4.3.1 forwarding: the client's headers reach the origin", steps: []vstep{
			{req: []string{"X-Client", "1", "Accept", "text/html"}, resp: fresh, fwd: true, sent: []string{"X-Client", "1", "Accept", "text/html"}},
		}},
		{name: "§7.6.1 (RFC 9110) forwarding: hop-by-hop fields are not forwarded", steps: []vstep{
			{req: []string{"Connection", "X-Hop", "X-Hop", "1", "X-End", "2"}, resp: fresh, fwd: true, sent: []string{"X-Hop", "", "X-End", "2"}},
		}},
		{name: "§3.5 forwarding: a shared fill never carries Cookie", steps: []vstep{
			store(fresh), {req: []string{"Cookie", "s=1"}, fwd: true, x: "BYPASS"},
		}},
	}
}

// An ordinary route keeps stripping the headers that are not in its key
// from its fills; PassHeaders still reach the handler.
func TestOrdinaryFillStripsHeaders(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		var got http.Header
		h := mustRoute(t, c, Route{Name: "plain", PassHeaders: []string{"X-Pass"}}).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = r.Header.Clone()
			_, _ = io.WriteString(w, "ok")
		}))
		expect(t, do(h, "GET", "/x", "X-Pass", "1", "X-Other", "2", "If-None-Match", `"z"`), 200, "MISS", "ok")
		if got.Get("X-Pass") != "1" || got.Get("X-Other") != "" || got.Get("If-None-Match") != "" {
			t.Fatalf("fill saw %v", got)
		}
	})
}
