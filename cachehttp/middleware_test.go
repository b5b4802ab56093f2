package cachehttp

import (
	"net/http"
	"testing"

	"github.com/aura-platform/redishttp/internal/redistest"
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
		if got.header.Get("Cache-Status") != "redishttp; hit" || got.header.Get("Age") == "" || got.header.Get("Etag") == "" {
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
