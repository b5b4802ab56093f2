package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aura-platform/redishttp/internal/redistest"
)

// TestProxy runs the caching proxy in front of an origin on every target:
// a fresh response is stored and served to the next client, a no-store one
// never is, and the origin sees one request per miss.
func TestProxy(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		var hits atomic.Int64
		origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			switch r.URL.Path {
			case "/private":
				w.Header().Set("Cache-Control", "no-store")
			case "/cdn":
				// Browsers must revalidate; this CDN may keep it a minute.
				w.Header().Set("Cache-Control", "no-cache")
				w.Header().Set("Edge-Cache-Control", "max-age=60")
			default:
				w.Header().Set("Cache-Control", "max-age=60")
			}
			io.WriteString(w, "body of "+r.URL.Path)
		}))
		defer origin.Close()
		c, err := parse([]string{"-origin", origin.URL, "-prefix", tg.Prefix, "-name", "edge", "-targeted", "Edge-Cache-Control"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := build(c, tg.Client, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		srv := httptest.NewServer(p.handler)
		defer srv.Close()
		get := func(path string) (string, string) {
			res, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return string(b), res.Header.Get("Cache-Status")
		}
		for i := range 3 {
			body, status := get("/page")
			if body != "body of /page" {
				t.Fatalf("body %q", body)
			}
			if hit := strings.Contains(status, "edge; hit"); hit != (i > 0) {
				t.Fatalf("request %d: Cache-Status %q", i, status)
			}
		}
		for range 2 {
			get("/private")
		}
		for i := range 2 {
			if _, status := get("/cdn"); strings.Contains(status, "edge; hit") != (i > 0) {
				t.Fatalf("/cdn request %d: Cache-Status %q (the targeted field should make it fresh here)", i, status)
			}
		}
		if n := hits.Load(); n != 4 {
			t.Fatalf("origin saw %d requests, want 4 (one /page, two /private, one /cdn)", n)
		}
	})
}

func TestProxyFlags(t *testing.T) {
	if _, err := parse(nil); err == nil {
		t.Fatal("no -origin accepted")
	}
	c, err := parse([]string{"-origin", "not a url"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := build(c, nil, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("a relative origin accepted")
	}
	c, _ = parse([]string{"-origin", "http://127.0.0.1:1", "-stats-token", "short"})
	if _, err := build(c, nil, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("a short stats token accepted")
	}
}
