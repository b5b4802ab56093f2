package resilience

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aura-platform/redishttp/examples/server/aura"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/redis/go-redis/v9"
)

// hostileApp is one demo instance on tg, driven in process so that any
// header value (CRLF included) and any client address can be sent.
type hostileApp struct {
	t   *testing.T
	app *aura.App
}

func newHostileApp(t *testing.T, tg redistest.Target, vars map[string]string) *hostileApp {
	t.Helper()
	cfg, err := aura.LoadConfig(env(tg.Prefix, vars))
	if err != nil {
		t.Fatal(err)
	}
	app, err := aura.NewWithClient(cfg, tg.NewClient(t), quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	return &hostileApp{t: t, app: app}
}

// serve sends one request; hdr values are set verbatim.
func (h *hostileApp) serve(method, target, body string, hdr map[string]string, remote string) *httptest.ResponseRecorder {
	h.t.Helper()
	var req *http.Request
	if body != "" {
		req = httptest.NewRequest(method, "http://demo.test/", strings.NewReader(body))
	} else {
		req = httptest.NewRequest(method, "http://demo.test/", nil)
	}
	// Set the raw target after construction: httptest.NewRequest would
	// refuse some of the hostile ones.
	req.RequestURI = target
	if u, err := req.URL.Parse(target); err == nil {
		req.URL = u
	} else {
		req.URL.Path, req.URL.RawPath, req.URL.RawQuery = target, "", ""
	}
	for k, v := range hdr {
		req.Header[http.CanonicalHeaderKey(k)] = []string{v}
	}
	if remote != "" {
		req.RemoteAddr = remote
	}
	rec := httptest.NewRecorder()
	h.app.Handler().ServeHTTP(rec, req)
	if rec.Code >= 500 {
		h.t.Errorf("%s %q: %d %s", method, target, rec.Code, rec.Body)
	}
	return rec
}

func user(id string) map[string]string { return map[string]string{"X-User-ID": id} }

func admin() map[string]string {
	return map[string]string{"Authorization": "Bearer " + statsToken}
}

// subscription GETs a user's subscription and returns X-Cache and the plan.
func (h *hostileApp) subscription(id string) (xcache, plan string) {
	h.t.Helper()
	rec := h.serve("GET", "/api/subscription", "", user(id), "")
	var s aura.Subscription
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &s) != nil || s.UserID != id {
		h.t.Fatalf("subscription of %q: %d %s", id, rec.Code, rec.Body)
	}
	return rec.Header().Get("X-Cache"), s.Plan
}

// cached fills a user's subscription entry and checks the next GET hits.
func (h *hostileApp) cached(id string) {
	h.t.Helper()
	h.subscription(id)
	if x, _ := h.subscription(id); x != "HIT" {
		h.t.Fatalf("subscription of %q not cached: %s", id, x)
	}
}

// TestHostileInput drives attacks through the demo's handler on every
// target (miniredis, real Redis, cluster). SECURITY.md lists them with the
// results asserted here.
func TestHostileInput(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		t.Run("glob user id invalidates only itself", func(t *testing.T) {
			h := newHostileApp(t, tg, nil)
			h.cached("alice")
			h.cached("bob")
			for _, evil := range []string{"*", "a*", "?lice", "[ab]*", `\*`} {
				rec := h.serve("PUT", "/api/subscription", `{"plan":"pro"}`, user(evil), "")
				if rec.Code != 200 {
					t.Fatalf("PUT as %q: %d %s", evil, rec.Code, rec.Body)
				}
				for _, victim := range []string{"alice", "bob"} {
					if x, plan := h.subscription(victim); x != "HIT" || plan != "free" {
						t.Errorf("PUT by user %q changed %s's entry: X-Cache %s plan %s", evil, victim, x, plan)
					}
				}
			}
		})

		t.Run("admin tags and patterns are literal for user ids", func(t *testing.T) {
			h := newHostileApp(t, tg, nil)
			h.cached("alice")
			h.cached("bob")
			h.cached("bo*")
			rec := h.serve("POST", "/api/cache/invalidate", `{"tags":["user:*"]}`, admin(), "")
			if rec.Code != 200 {
				t.Fatalf("invalidate tags: %d %s", rec.Code, rec.Body)
			}
			for _, v := range []string{"alice", "bob", "bo*"} {
				if x, _ := h.subscription(v); x != "HIT" {
					t.Errorf(`{"tags":["user:*"]} cleared %s's entry`, v)
				}
			}
			// A pattern built from a user id the way keys are built
			// (KeyPart) matches that user only.
			pat, _ := json.Marshal(map[string]string{"pattern": "subscription:" + middleware.KeyPart("bo*")})
			if rec := h.serve("POST", "/api/cache/invalidate", string(pat), admin(), ""); rec.Code != 200 {
				t.Fatalf("invalidate pattern: %d %s", rec.Code, rec.Body)
			}
			if x, _ := h.subscription("bo*"); x == "HIT" {
				t.Error("the pattern for user bo* did not clear bo*'s entry")
			}
			for _, v := range []string{"alice", "bob"} {
				if x, _ := h.subscription(v); x != "HIT" {
					t.Errorf("the pattern for user bo* cleared %s's entry", v)
				}
			}
			// Without the token: 401, nothing cleared.
			if rec := h.serve("POST", "/api/cache/invalidate", `{"pattern":"*"}`, nil, ""); rec.Code != 401 {
				t.Errorf("invalidate without token: %d", rec.Code)
			}
			if x, _ := h.subscription("alice"); x != "HIT" {
				t.Error("an unauthenticated invalidation cleared alice's entry")
			}
		})

		t.Run("escaped user ids never collide", func(t *testing.T) {
			h := newHostileApp(t, tg, nil)
			ids := []string{"a:b", "a%3Ab", "a%253Ab", "{a}", "a b", "a\x00b", "a\tb"}
			for i, id := range ids {
				plan := "p" + string(rune('a'+i))
				if rec := h.serve("PUT", "/api/subscription", `{"plan":"`+plan+`"}`, user(id), ""); rec.Code != 200 {
					t.Fatalf("PUT as %q: %d", id, rec.Code)
				}
			}
			for i, id := range ids {
				if _, plan := h.subscription(id); plan != "p"+string(rune('a'+i)) {
					t.Errorf("user %q sees plan %q: another user's data", id, plan)
				}
			}
		})

		t.Run("CRLF in header-derived keys", func(t *testing.T) {
			h := newHostileApp(t, tg, nil)
			h.cached("alice")
			evil := "alice\r\nX-Injected: 1"
			rec := h.serve("GET", "/api/subscription", "", user(evil), "")
			if rec.Header().Get("X-Injected") != "" {
				t.Error("a CRLF in X-User-ID injected a response header")
			}
			if rec.Code == 200 {
				var s aura.Subscription
				_ = json.Unmarshal(rec.Body.Bytes(), &s)
				if s.UserID != evil || rec.Header().Get("X-Cache") == "HIT" {
					t.Errorf("a CRLF user id was served alice's entry: %s %s", rec.Header().Get("X-Cache"), rec.Body)
				}
			}
			if rec := h.serve("GET", "/api/news?topic=tech%0d%0aX-Injected:%201", "", nil, ""); rec.Code != 400 || rec.Header().Get("X-Injected") != "" {
				t.Errorf("CRLF in the news topic: %d", rec.Code)
			}
		})

		t.Run("oversized keys are bounded", func(t *testing.T) {
			h := newHostileApp(t, tg, nil)
			huge := strings.Repeat("u", 64<<10)
			h.serve("GET", "/api/subscription", "", user(huge), "")
			h.serve("GET", "/api/oauth/connections", "", user(huge), "")
			if rec := h.serve("GET", "/api/news?topic="+strings.Repeat("t", 10<<10), "", nil, ""); rec.Code != 400 {
				t.Errorf("10 KiB topic: %d", rec.Code)
			}
			h.serve("POST", "/api/ai/complete", `{"prompt":"`+strings.Repeat("p", 4000)+`"}`, nil, "")
			h.serve("GET", "/api/weather?lat="+strings.Repeat("1", 5000)+"&lon=2", "", nil, "")
			longest := 0
			scanKeys(t, tg, func(k string) { longest = max(longest, len(k)) })
			if longest > 1024 {
				t.Errorf("a Redis key of %d bytes was written from hostile input", longest)
			}
			t.Logf("longest key written: %d bytes", longest)
		})

		t.Run("cache poisoning headers do not change a cached response", func(t *testing.T) {
			h := newHostileApp(t, tg, nil)
			poison := map[string]string{
				"X-Forwarded-Host":       "evil.example",
				"X-Forwarded-Proto":      "gopher",
				"X-Forwarded-Prefix":     "/evil",
				"X-Original-URL":         "/api/subscription",
				"X-Rewrite-URL":          "/api/subscription",
				"X-HTTP-Method-Override": "DELETE",
				"X-Host":                 "evil.example",
				"Forwarded":              "host=evil.example;proto=http",
				"X-User-ID":              "victim",
				"Accept-Encoding":        "evil",
				"Accept":                 "text/evil",
			}
			target := "/api/weather?lat=12.34&lon=56.78"
			first := h.serve("GET", target, "", poison, "")
			clean := h.serve("GET", target, "", nil, "")
			if clean.Header().Get("X-Cache") != "HIT" {
				t.Fatalf("clean request after the poisoned one: X-Cache %q", clean.Header().Get("X-Cache"))
			}
			for _, rec := range []*httptest.ResponseRecorder{first, clean} {
				b := rec.Body.String()
				if strings.Contains(b, "evil") || strings.Contains(b, "victim") || strings.Contains(b, "plan") || !strings.Contains(b, `"lat":12.34`) {
					t.Errorf("poisoned entry: %s", b)
				}
				for k, vs := range rec.Header() {
					if strings.Contains(strings.Join(vs, ","), "evil") {
						t.Errorf("poisoned header %s: %v", k, vs)
					}
				}
			}
			if first.Body.String() != clean.Body.String() {
				t.Errorf("the clean hit differs from the filled response")
			}
			// The method override did not delete anything: the entry is
			// still there for the next request.
			if again := h.serve("GET", target, "", nil, ""); again.Header().Get("X-Cache") != "HIT" {
				t.Error("X-HTTP-Method-Override acted on the entry")
			}
			// Weather is declared Anonymous (its answer does not depend on
			// who asks): an Authorization request shares the entry, and its
			// fill runs without the header, so what it stores is exactly
			// what an anonymous client is served.
			authed := h.serve("GET", "/api/weather?lat=1.5&lon=1.5", "", map[string]string{"Authorization": "Bearer someone"}, "")
			after := h.serve("GET", "/api/weather?lat=1.5&lon=1.5", "", nil, "")
			if after.Header().Get("X-Cache") != "HIT" || after.Body.String() != authed.Body.String() || strings.Contains(after.Body.String(), "someone") {
				t.Errorf("an Authorization request's fill is not the anonymous entry: %s %s", after.Header().Get("X-Cache"), after.Body)
			}
		})

		t.Run("X-Forwarded-For spoofing on rate limits", func(t *testing.T) {
			h := newHostileApp(t, tg, map[string]string{"API_RATE_LIMIT": "3-M", "TRUSTED_PROXIES": "10.0.0.0/8"})
			direct := "203.0.113.7:4711"
			for i := range 3 {
				if rec := h.serve("GET", "/api/news?topic=tech", "", map[string]string{"X-Forwarded-For": "198.51.100." + string(rune('1'+i))}, direct); rec.Code != 200 {
					t.Fatalf("request %d: %d", i, rec.Code)
				}
			}
			for name, hdr := range map[string]map[string]string{
				"X-Forwarded-For":  {"X-Forwarded-For": "1.2.3.4"},
				"X-Real-IP":        {"X-Real-Ip": "1.2.3.4"},
				"Forwarded":        {"Forwarded": "for=1.2.3.4"},
				"True-Client-IP":   {"True-Client-Ip": "1.2.3.4"},
				"CF-Connecting-IP": {"Cf-Connecting-Ip": "1.2.3.4"},
			} {
				if rec := h.serve("GET", "/api/news?topic=tech", "", hdr, direct); rec.Code != 429 || rec.Header().Get("Retry-After") == "" {
					t.Errorf("spoofed %s from an untrusted peer: %d, want 429 with Retry-After", name, rec.Code)
				}
			}
			// Through a trusted proxy the rightmost untrusted address is the
			// client: varying the leftmost (client-supplied) entries does
			// not reset its count, while another real client has its own.
			proxy := "10.0.0.1:5555"
			for i := range 3 {
				h.serve("GET", "/api/news?topic=tech", "", map[string]string{"X-Forwarded-For": "9.9.9." + string(rune('1'+i)) + ", 198.51.100.50"}, proxy)
			}
			if rec := h.serve("GET", "/api/news?topic=tech", "", map[string]string{"X-Forwarded-For": "8.8.8.8, 198.51.100.50"}, proxy); rec.Code != 429 {
				t.Errorf("leftmost X-Forwarded-For spoofing through the proxy: %d, want 429", rec.Code)
			}
			if rec := h.serve("GET", "/api/news?topic=tech", "", map[string]string{"X-Forwarded-For": "198.51.100.51"}, proxy); rec.Code != 200 {
				t.Errorf("another client behind the trusted proxy: %d, want 200", rec.Code)
			}
		})

		t.Run("cache deception paths", func(t *testing.T) {
			h := newHostileApp(t, tg, nil)
			h.cached("alice")
			for _, p := range []string{
				"/api/subscription/foo.css", "/api/subscription;.css", "/api/subscription/.css",
				"/api/subscription%2Ffoo.css", "/api/subscription.css", "/api/subscription/..%2f..%2fweather.js",
				"/api/weather/../subscription", "/api/subscription%3B.css", "/api/subscription?x=.css",
			} {
				a := h.serve("GET", p, "", user("alice"), "")
				for _, who := range []map[string]string{nil, user("mallory")} {
					rec := h.serve("GET", p, "", who, "")
					if strings.Contains(rec.Body.String(), `"alice"`) {
						t.Errorf("%s served alice's data to %v: %d %s", p, who, rec.Code, rec.Body)
					}
				}
				if a.Code == 200 && !strings.Contains(a.Body.String(), `"alice"`) {
					t.Errorf("%s as alice: 200 with someone else's data: %s", p, a.Body)
				}
			}
		})
	})
}

// scanKeys calls fn for every key under tg's prefix (SCAN, on every
// master of a cluster).
func scanKeys(t *testing.T, tg redistest.Target, fn func(string)) {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex // ForEachMaster runs the masters concurrently
	scan := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, tg.Prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			fn(iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	if cc, ok := tg.Client.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return scan(ctx, m) })
	} else {
		err = scan(ctx, tg.Client)
	}
	if err != nil {
		t.Fatal(err)
	}
}
