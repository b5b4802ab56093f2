package cachehttp

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
)

// clock is a settable test clock.
type clock struct{ t atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.t.Store(time.Now().UnixNano())
	return c
}
func (c *clock) now() time.Time      { return time.Unix(0, c.t.Load()) }
func (c *clock) add(d time.Duration) { c.t.Add(int64(d)) }
func setClock(c *Cache, clk *clock)  { c.now = clk.now }

func TestStaleWhileRevalidate(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		clk := newClock()
		setClock(c, clk)
		var version atomic.Int64
		h := &counter{h: func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("v" + string(rune('0'+version.Load()))))
		}}
		srv := mustRoute(t, c, Route{Name: "swr", TTL: 10 * time.Second, Jitter: -1, StaleWhileRevalidate: time.Minute}).Handler(h)
		expect(t, do(srv, "GET", "/s"), 200, "MISS", "v0")
		version.Store(1)
		clk.add(11 * time.Second)
		got := do(srv, "GET", "/s")
		expect(t, got, 200, "STALE", "v0")
		if !strings.Contains(got.header.Get("Cache-Status"), "fwd=stale") {
			t.Fatalf("Cache-Status %q", got.header.Get("Cache-Status"))
		}
		deadline := time.Now().Add(5 * time.Second)
		for h.n.Load() < 2 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		c.bg.Wait()
		expect(t, do(srv, "GET", "/s"), 200, "HIT", "v1")
		if h.n.Load() != 2 {
			t.Fatalf("handler ran %d times", h.n.Load())
		}
		// Past the stale window the entry is gone: a plain miss.
		clk.add(2 * time.Minute)
		if tg.Mini != nil {
			tg.Mini.FastForward(2 * time.Minute)
		}
	})
}

func TestStaleIfError(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		clk := newClock()
		setClock(c, clk)
		var mode atomic.Int64
		h := &counter{h: func(w http.ResponseWriter, r *http.Request) {
			switch mode.Load() {
			case 0:
				_, _ = w.Write([]byte("good"))
			case 1:
				w.Header().Set("X-Leak", "1")
				w.WriteHeader(503)
				_, _ = w.Write([]byte("down"))
			case 2:
				panic("upstream exploded")
			}
		}}
		srv := mustRoute(t, c, Route{Name: "sie", TTL: 10 * time.Second, Jitter: -1, StaleIfError: time.Hour}).Handler(h)
		expect(t, do(srv, "GET", "/e"), 200, "MISS", "good")
		clk.add(20 * time.Second)
		mode.Store(1)
		got := do(srv, "GET", "/e")
		expect(t, got, 200, "STALE", "good")
		if got.header.Get("X-Leak") != "" || !strings.Contains(got.header.Get("Cache-Status"), "fwd-status=503") {
			t.Fatalf("headers %v", got.header)
		}
		mode.Store(2)
		expect(t, do(srv, "GET", "/e"), 200, "STALE", "good")
		mode.Store(0)
		expect(t, do(srv, "GET", "/e"), 200, "MISS", "good")
		expect(t, do(srv, "GET", "/e"), 200, "HIT", "good")
		// Without a stale entry a 5xx passes through and is not stored.
		mode.Store(1)
		expect(t, do(srv, "GET", "/other"), 503, "MISS", "down")
	})
}

func TestJitterAndTTL(t *testing.T) {
	c := newTestCache(t, nil, "j:", Options{})
	if _, err := c.NewRoute(Route{TTL: time.Microsecond}); err == nil {
		t.Fatal("sub-millisecond TTL accepted")
	}
	if _, err := c.NewRoute(Route{Jitter: 0.9}); err == nil {
		t.Fatal("jitter 0.9 accepted")
	}
	rt := mustRoute(t, c, Route{Name: "jit", TTL: 100 * time.Second, Jitter: 0.5})
	seen := map[int64]bool{}
	for i := range 20 {
		srv := rt.Handler(textHandler("x"))
		do(srv, "GET", "/j"+string(rune('a'+i)))
	}
	for i := range 20 {
		k := c.l.key(kindHTTP, escapeKey(mustKey(t, "/j"+string(rune('a'+i)))))
		v, _ := c.memory.fetch(t.Context(), k, nil, 0)
		e, err := decodeEntry(v)
		if err != nil {
			t.Fatal(err)
		}
		life := e.fresh - e.stored
		if life < 50_000 || life > 100_000 {
			t.Fatalf("fresh lifetime %dms outside [50s,100s]", life)
		}
		seen[life/1000] = true
	}
	if len(seen) < 3 {
		t.Fatalf("jitter produced %d distinct lifetimes", len(seen))
	}
}

func mustKey(t testing.TB, target string) string {
	r, _ := http.NewRequest("GET", "http://example.com"+target, nil)
	r.Host = "example.com"
	k, err := defaultKey(r)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestPOSTOptIn(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		h := &counter{h: func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			_, _ = w.Write(append([]byte("answer to "), b...))
		}}
		def := mustRoute(t, c, Route{Name: "nopost"}).Handler(h)
		expect(t, doCtx(t.Context(), def, "POST", "/ai", strings.NewReader(`{"p":"hi"}`)), 200, "BYPASS", `answer to {"p":"hi"}`)
		ai := mustRoute(t, c, Route{Name: "ai", Methods: []string{"POST"}, MaxRequestBody: 64}).Handler(h)
		post := func(body string) result {
			return doCtx(t.Context(), ai, "POST", "/ai", strings.NewReader(body), "Content-Type", "application/json")
		}
		expect(t, post(`{"p":"hi"}`), 200, "MISS", `answer to {"p":"hi"}`)
		expect(t, post(`{"p":"hi"}`), 200, "HIT", `answer to {"p":"hi"}`)
		expect(t, post(`{"p":"bye"}`), 200, "MISS", `answer to {"p":"bye"}`)
		big := `{"p":"` + strings.Repeat("x", 100) + `"}`
		expect(t, post(big), 200, "BYPASS", "answer to "+big)
		expect(t, post(big), 200, "BYPASS", "answer to "+big)
		if _, err := c.NewRoute(Route{Methods: []string{"PUT"}}); err == nil {
			t.Fatal("PUT accepted")
		}
	})
}

func TestBodyCap(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		body := bytes.Repeat([]byte("0123456789"), 200)
		h := &counter{h: func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i < len(body); i += 100 {
				_, _ = w.Write(body[i : i+100])
			}
		}}
		srv := mustRoute(t, c, Route{Name: "cap", MaxBody: 1000}).Handler(h)
		expect(t, do(srv, "GET", "/big"), 200, "MISS", string(body))
		expect(t, do(srv, "GET", "/big"), 200, "MISS", string(body))
		if h.n.Load() != 2 {
			t.Fatalf("oversized response stored")
		}
	})
}

// A handler that writes an empty 200 explicitly fills the cache; one that
// writes nothing at all does not (see TestUnwrittenResponseNotStored).
func TestEmptyResponse(t *testing.T) {
	c := newTestCache(t, nil, "e:", Options{})
	h := &counter{h: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }}
	srv := mustRoute(t, c, Route{}).Handler(h)
	expect(t, do(srv, "GET", "/"), 200, "MISS", "")
	expect(t, do(srv, "GET", "/"), 200, "HIT", "")
}

func TestOuterHeadersNotStored(t *testing.T) {
	c := newTestCache(t, nil, "o:", Options{})
	var n atomic.Int64
	outer := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-RateLimit-Remaining", string(rune('a'+n.Add(1))))
			next.ServeHTTP(w, r)
		})
	}
	srv := outer(mustRoute(t, c, Route{}).Handler(textHandler("x")))
	do(srv, "GET", "/")
	got := do(srv, "GET", "/")
	expect(t, got, 200, "HIT", "x")
	if got.header.Get("X-RateLimit-Remaining") != "c" {
		t.Fatalf("outer header replayed from cache: %q", got.header.Get("X-RateLimit-Remaining"))
	}
}
