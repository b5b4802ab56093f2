package cachehttp

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/go-chi/chi/v5"
)

// sessions is an application's session middleware as users write it: the
// "session" cookie names the user, who is put into the context.
func sessions(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("session"); err == nil && c.Value != "" {
			r = r.WithContext(middleware.WithUser(r.Context(), c.Value))
		}
		next.ServeHTTP(w, r)
	})
}

// greeter greets the user in the context, or the session cookie's user
// when the handler reads the cookie itself (cookie=true), and records what
// identity each run saw.
type greeter struct {
	cookie bool
	runs   atomic.Int64
	sawID  atomic.Int64 // runs that saw a user, a Cookie or Authorization
}

func (g *greeter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.runs.Add(1)
	if middleware.UserFromContext(r.Context()) != "" || r.Header.Get("Cookie") != "" || r.Header.Get("Authorization") != "" {
		g.sawID.Add(1)
	}
	name := middleware.UserFromContext(r.Context())
	if g.cookie {
		name = ""
		if c, err := r.Cookie("session"); err == nil {
			name = c.Value
		}
	}
	if name == "" {
		name = "anonymous"
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "hello "+name)
}

// Identity-carrying requests on a shared route: a user in the context
// (session middleware with WithUser), a session cookie read by the handler,
// and a Bearer token. Without Anonymous they bypass the cache, so nobody is
// ever served another user's page; with Anonymous every fill runs without
// identity and everyone is served the anonymous page.
func TestSharedRouteIdentity(t *testing.T) {
	alice := []string{"Cookie", "session=alice"}
	bob := []string{"Cookie", "session=bob"}
	bearer := []string{"Authorization", "Bearer alice-token"}
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		for _, cookie := range []bool{false, true} {
			name := "context-user"
			if cookie {
				name = "cookie-handler"
			}
			t.Run(name, func(t *testing.T) {
				g := &greeter{cookie: cookie}
				srv := sessions(mustRoute(t, c, Route{Name: "shared-" + name}).Handler(g))
				p := "/greet/shared/" + name
				expect(t, do(srv, "GET", p, alice...), 200, "BYPASS", "hello alice")
				expect(t, do(srv, "GET", p, bob...), 200, "BYPASS", "hello bob")
				got := do(srv, "GET", p, bearer...)
				expect(t, got, 200, "BYPASS", "hello anonymous")
				if got.header.Get("Cache-Status") != "redishttp; fwd=bypass" {
					t.Fatalf("Cache-Status %q", got.header.Get("Cache-Status"))
				}
				expect(t, do(srv, "GET", p), 200, "MISS", "hello anonymous")
				expect(t, do(srv, "GET", p), 200, "HIT", "hello anonymous")
				expect(t, do(srv, "GET", p, alice...), 200, "BYPASS", "hello alice")
				expect(t, do(srv, "GET", p, bob...), 200, "BYPASS", "hello bob")
				if g.runs.Load() != 6 {
					t.Fatalf("handler ran %d times; want 6 (one fill, five bypasses)", g.runs.Load())
				}
			})
			t.Run(name+"/anonymous", func(t *testing.T) {
				g := &greeter{cookie: cookie}
				srv := sessions(mustRoute(t, c, Route{Name: "anon-" + name, Anonymous: true}).Handler(g))
				p := "/greet/anon/" + name
				expect(t, do(srv, "GET", p, alice...), 200, "MISS", "hello anonymous")
				expect(t, do(srv, "GET", p, bob...), 200, "HIT", "hello anonymous")
				expect(t, do(srv, "GET", p, bearer...), 200, "HIT", "hello anonymous")
				expect(t, do(srv, "GET", p), 200, "HIT", "hello anonymous")
				if g.runs.Load() != 1 || g.sawID.Load() != 0 {
					t.Fatalf("handler ran %d times, %d with an identity; want 1, 0", g.runs.Load(), g.sawID.Load())
				}
			})
		}
		t.Run("per-user", func(t *testing.T) {
			g := &greeter{}
			srv := sessions(mustRoute(t, c, Route{Name: "per-user-greet", PerUser: true}).Handler(g))
			expect(t, do(srv, "GET", "/greet", alice...), 200, "MISS", "hello alice")
			expect(t, do(srv, "GET", "/greet", bob...), 200, "MISS", "hello bob")
			expect(t, do(srv, "GET", "/greet", alice...), 200, "HIT", "hello alice")
			expect(t, do(srv, "GET", "/greet"), 200, "BYPASS", "hello anonymous")
		})
	})
}

// The same through chi as users mount it: the session middleware on the
// router (r.Use), the cache on an r.Route group, over a real HTTP server.
func TestSharedRouteIdentityChi(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		shared := mustRoute(t, c, Route{Name: "chi-shared"})
		anon := mustRoute(t, c, Route{Name: "chi-anon", Anonymous: true})
		g := &greeter{}
		r := chi.NewRouter()
		r.Use(sessions)
		r.Route("/api", func(r chi.Router) {
			r.Use(shared.Handler)
			r.Get("/greet", g.ServeHTTP)
		})
		r.Route("/public", func(r chi.Router) {
			r.Use(anon.Handler)
			r.Get("/greet", g.ServeHTTP)
		})
		srv := httptest.NewServer(r)
		defer srv.Close()
		get := func(path string, hdr ...string) (string, string) {
			t.Helper()
			req, _ := http.NewRequest("GET", srv.URL+path, nil)
			for i := 0; i+1 < len(hdr); i += 2 {
				req.Header.Set(hdr[i], hdr[i+1])
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.Header.Get("X-Cache"), string(b)
		}
		check := func(path, wantX, wantBody string, hdr ...string) {
			t.Helper()
			if x, b := get(path, hdr...); x != wantX || b != wantBody {
				t.Fatalf("GET %s %v: %s %q; want %s %q", path, hdr, x, b, wantX, wantBody)
			}
		}
		check("/api/greet", "BYPASS", "hello alice", "Cookie", "session=alice")
		check("/api/greet", "BYPASS", "hello bob", "Cookie", "session=bob")
		check("/api/greet", "MISS", "hello anonymous")
		check("/api/greet", "HIT", "hello anonymous")
		check("/api/greet", "BYPASS", "hello alice", "Cookie", "session=alice")

		check("/public/greet", "MISS", "hello anonymous", "Cookie", "session=alice")
		check("/public/greet", "HIT", "hello anonymous", "Cookie", "session=bob")
		check("/public/greet", "HIT", "hello anonymous", "Authorization", "Bearer t")
		check("/public/greet", "HIT", "hello anonymous")
	})
}

// A fill of a shared route never sees a user, a Cookie or Authorization,
// even for a header the route keys on; a PerUser fill sees them all.
func TestFillRequestIdentity(t *testing.T) {
	c := newTestCache(t, nil, "fi:", Options{})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", "session=alice")
	r.Header.Set("Authorization", "Bearer a")
	r = r.WithContext(middleware.WithUser(r.Context(), "alice"))
	for _, rt := range []Route{{Name: "f-shared", Vary: []string{"Cookie", "Authorization"}}, {Name: "f-anon", Anonymous: true}} {
		rc := mustRoute(t, c, rt)
		q := &request{names: rc.vary}
		r2 := rc.fillRequest(r, q, r.Context())
		if middleware.UserFromContext(r2.Context()) != "" || r2.Header.Get("Cookie") != "" || r2.Header.Get("Authorization") != "" {
			t.Fatalf("%s: fill sees user %q, headers %v", rt.Name, middleware.UserFromContext(r2.Context()), r2.Header)
		}
	}
	rc := mustRoute(t, c, Route{Name: "f-user", PerUser: true})
	r2 := rc.fillRequest(r, &request{}, r.Context())
	if middleware.UserFromContext(r2.Context()) != "alice" || r2.Header.Get("Cookie") == "" || r2.Header.Get("Authorization") == "" {
		t.Fatalf("per-user fill lost the identity: %q %v", middleware.UserFromContext(r2.Context()), r2.Header)
	}
}

// On an Anonymous route a response that says Vary: Cookie is still shared:
// the fill saw no cookie, so the response cannot depend on it.
func TestAnonymousVaryCookie(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		h := &counter{h: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Vary", "Cookie, Accept-Encoding")
			_, _ = io.WriteString(w, "page cookie="+r.Header.Get("Cookie"))
		}}
		srv := mustRoute(t, c, Route{Name: "anon-vary", Anonymous: true}).Handler(h)
		expect(t, do(srv, "GET", "/v", "Cookie", "a=1"), 200, "MISS", "page cookie=")
		expect(t, do(srv, "GET", "/v", "Cookie", "a=2"), 200, "HIT", "page cookie=")
		expect(t, do(srv, "GET", "/v"), 200, "HIT", "page cookie=")
		if h.n.Load() != 1 {
			t.Fatalf("handler ran %d times", h.n.Load())
		}
	})
}

// RFC9111 routes follow §3.5 for Authorization only when the route is not
// Anonymous; an Anonymous one serves every request the shared entry.
func TestRFC9111Anonymous(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		h := &counter{h: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=60")
			_, _ = io.WriteString(w, "auth="+r.Header.Get("Authorization"))
		}}
		rfc := mustRoute(t, c, Route{Name: "rfc-auth", RFC9111: true}).Handler(h)
		expect(t, do(rfc, "GET", "/x", "Authorization", "Bearer a"), 200, "MISS", "auth=Bearer a")
		expect(t, do(rfc, "GET", "/x", "Authorization", "Bearer b"), 200, "MISS", "auth=Bearer b")
		expect(t, do(rfc, "GET", "/x"), 200, "MISS", "auth=")
		expect(t, do(rfc, "GET", "/x", "Authorization", "Bearer b"), 200, "MISS", "auth=Bearer b")
		expect(t, do(rfc, "GET", "/x"), 200, "HIT", "auth=")

		anon := mustRoute(t, c, Route{Name: "rfc-anon", RFC9111: true, Anonymous: true}).Handler(h)
		expect(t, do(anon, "GET", "/y", "Authorization", "Bearer a"), 200, "MISS", "auth=")
		expect(t, do(anon, "GET", "/y", "Authorization", "Bearer b"), 200, "HIT", "auth=")
	})
}

// Route validation of the identity fields.
func TestIdentityRouteOptions(t *testing.T) {
	c := newTestCache(t, nil, "io:", Options{})
	for _, rt := range []Route{
		{Name: "a", PerUser: true, Anonymous: true},
		{Name: "b", PassHeaders: []string{"authorization"}},
		{Name: "c", Anonymous: true, Vary: []string{"cookie"}},
	} {
		if _, err := c.NewRoute(rt); err == nil || !strings.Contains(err.Error(), "route \""+rt.Name+"\"") {
			t.Fatalf("%+v: %v", rt, err)
		}
	}
	mustRoute(t, c, Route{Name: "d", PerUser: true, PassHeaders: []string{"Cookie"}})
}
