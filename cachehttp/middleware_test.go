package cachehttp

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/middleware"
)

func TestHitMiss(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		ev := &events{}
		c := newTestCache(t, tg.Client, tg.Prefix, Options{Observer: ev})
		rt := mustRoute(t, c, Route{Name: "r"})
		h := textHandler("hello")
		srv := rt.Handler(h)
		expect(t, do(srv, "GET", "/a?b=2&a=1"), 200, "MISS", "hello")
		got := do(srv, "GET", "/a?a=1&b=2")
		expect(t, got, 200, "HIT", "hello")
		if !strings.HasPrefix(got.header.Get("Cache-Status"), "redishttp; hit; ttl=") || got.header.Get("Age") == "" || got.header.Get("Etag") == "" {
			t.Fatalf("headers %v", got.header)
		}
		if h.n.Load() != 1 {
			t.Fatalf("handler ran %d times", h.n.Load())
		}
		head := do(srv, "HEAD", "/a?a=1&b=2")
		expect(t, head, 200, "HIT", "")
		if head.body != "" || head.header.Get("Content-Length") != "5" {
			t.Fatalf("HEAD: %q %v", head.body, head.header)
		}
		inm := do(srv, "GET", "/a?a=1&b=2", "If-None-Match", got.header.Get("Etag"))
		if inm.code != http.StatusNotModified || inm.body != "" {
			t.Fatalf("conditional: %d %q", inm.code, inm.body)
		}
		if ev.get(1, "r") < 2 { // CacheHit
			t.Fatalf("events %v", ev.m)
		}
	})
}

func TestSafetyRules(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		rt := mustRoute(t, c, Route{Name: "safety"})
		cases := []struct {
			name  string
			h     http.HandlerFunc
			store bool
		}{
			{"plain", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("x")) }, true},
			{"set-cookie", func(w http.ResponseWriter, r *http.Request) {
				http.SetCookie(w, &http.Cookie{Name: "s", Value: "secret"})
				_, _ = w.Write([]byte("x"))
			}, false},
			{"private", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=60, Private")
				_, _ = w.Write([]byte("x"))
			}, false},
			{"no-store", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "no-store")
				_, _ = w.Write([]byte("x"))
			}, false},
			{"vary-star", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Add("Vary", "Accept, *")
				_, _ = w.Write([]byte("x"))
			}, false},
			{"500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }, false},
			{"503", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }, false},
			{"201", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201) }, false},
			{"404", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) }, true},
			{"410", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(410) }, true},
			{"204", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }, true},
			{"301", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/x", http.StatusMovedPermanently) }, true},
			{"flushed", func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte("data: 1\n\n"))
				w.(http.Flusher).Flush()
			}, false},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				h := &counter{h: tc.h}
				srv := rt.Handler(h)
				first := do(srv, "GET", "/"+tc.name)
				second := do(srv, "GET", "/"+tc.name)
				if first.header.Get("X-Cache") != "MISS" {
					t.Fatalf("first X-Cache %q", first.header.Get("X-Cache"))
				}
				if tc.store {
					if h.n.Load() != 1 || second.header.Get("X-Cache") != "HIT" || second.code != first.code {
						t.Fatalf("not served from cache: runs=%d %v", h.n.Load(), second.header)
					}
				} else if h.n.Load() != 2 || second.header.Get("X-Cache") == "HIT" {
					t.Fatalf("stored: runs=%d X-Cache=%s", h.n.Load(), second.header.Get("X-Cache"))
				}
				if second.header.Get("Set-Cookie") != "" && second.header.Get("X-Cache") == "HIT" {
					t.Fatal("Set-Cookie served from cache")
				}
			})
		}
	})
}

func TestAuthorizationNeverGetsSharedEntry(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		shared := mustRoute(t, c, Route{Name: "shared"})
		perUser := mustRoute(t, c, Route{Name: "per-user", PerUser: true})
		echo := &counter{h: func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("user=" + middleware.UserFromContext(r.Context()) + " auth=" + r.Header.Get("Authorization")))
		}}
		// Shared route: anonymous fills, Authorization bypasses both ways.
		s := withUser(shared.Handler(echo), "X-User")
		expect(t, do(s, "GET", "/p"), 200, "MISS", "user= auth=")
		expect(t, do(s, "GET", "/p", "Authorization", "Bearer alice", "X-User", "alice"), 200, "BYPASS", "user=alice auth=Bearer alice")
		expect(t, do(s, "GET", "/p"), 200, "HIT", "user= auth=")
		// Per-user route: each user gets only their own entry.
		p := withUser(perUser.Handler(echo), "X-User")
		expect(t, do(p, "GET", "/me", "Authorization", "Bearer a", "X-User", "alice"), 200, "MISS", "user=alice auth=Bearer a")
		expect(t, do(p, "GET", "/me", "Authorization", "Bearer b", "X-User", "bob"), 200, "MISS", "user=bob auth=Bearer b")
		expect(t, do(p, "GET", "/me", "Authorization", "Bearer a", "X-User", "alice"), 200, "HIT", "user=alice auth=Bearer a")
		expect(t, do(p, "GET", "/me", "Authorization", "Bearer b", "X-User", "bob"), 200, "HIT", "user=bob auth=Bearer b")
		// Anonymous on a per-user route bypasses.
		expect(t, do(p, "GET", "/me"), 200, "BYPASS", "user= auth=")
		// A user id with separators cannot reach another user's key.
		expect(t, do(p, "GET", "/me", "X-User", "alice|ubob"), 200, "MISS", "user=alice|ubob auth=")
	})
}

func TestNoPoisoningByUnkeyedHeaders(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		rt := mustRoute(t, c, Route{Name: "poison", PassHeaders: []string{"Accept"}})
		h := &counter{h: func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("host=" + r.Header.Get("X-Forwarded-Host") + " accept=" + r.Header.Get("Accept")))
		}}
		srv := rt.Handler(h)
		expect(t, do(srv, "GET", "/x", "X-Forwarded-Host", "evil.example", "Accept", "text/html"), 200, "MISS", "host= accept=text/html")
		expect(t, do(srv, "GET", "/x"), 200, "HIT", "host= accept=text/html")
	})
}

func TestVary(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		rt := mustRoute(t, c, Route{Name: "vary"})
		h := &counter{h: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Add("Vary", "Accept-Language")
			w.Header().Add("Vary", "accept-encoding")
			_, _ = w.Write([]byte("lang=" + r.Header.Get("Accept-Language")))
		}}
		srv := rt.Handler(h)
		// Not yet known to vary: the fill runs without the unkeyed header and
		// is stored as the variant for requests without it.
		expect(t, do(srv, "GET", "/v", "Accept-Language", "fr"), 200, "MISS", "lang=")
		expect(t, do(srv, "GET", "/v", "Accept-Language", "fr"), 200, "MISS", "lang=fr")
		expect(t, do(srv, "GET", "/v", "Accept-Language", "de"), 200, "MISS", "lang=de")
		expect(t, do(srv, "GET", "/v", "Accept-Language", "fr"), 200, "HIT", "lang=fr")
		expect(t, do(srv, "GET", "/v", "Accept-Language", "de"), 200, "HIT", "lang=de")
		expect(t, do(srv, "GET", "/v"), 200, "HIT", "lang=")
		expect(t, do(srv, "GET", "/v", "Accept-Language", "de", "Accept-Encoding", "gzip"), 200, "MISS", "lang=de")
		if h.n.Load() != 4 {
			t.Fatalf("handler ran %d times", h.n.Load())
		}
		// A route declaring Vary up front gets it right from the first request,
		// and a second instance never serves the wrong variant.
		declared := Route{Name: "vary2", Vary: []string{"accept-language", "Accept-Encoding"}, KeyFunc: middleware.Static("v2")}
		h2 := &counter{h: h.h}
		srv1 := mustRoute(t, c, declared).Handler(h2)
		c2 := newTestCache(t, tg.NewClient(t), tg.Prefix, Options{})
		srv2 := mustRoute(t, c2, declared).Handler(h2)
		expect(t, do(srv1, "GET", "/v", "Accept-Language", "fr"), 200, "MISS", "lang=fr")
		expect(t, do(srv2, "GET", "/v", "Accept-Language", "de"), 200, "MISS", "lang=de")
		for range 2 {
			expect(t, do(srv2, "GET", "/v", "Accept-Language", "fr"), 200, "HIT", "lang=fr")
			expect(t, do(srv1, "GET", "/v", "Accept-Language", "de"), 200, "HIT", "lang=de")
		}
		if h2.n.Load() != 2 {
			t.Fatalf("handler ran %d times", h2.n.Load())
		}
	})
}
