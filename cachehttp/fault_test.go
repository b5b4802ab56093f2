package cachehttp

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/middleware"
)

// Redis killed under load: no request gets a 5xx; the cache switches to the
// in-memory backend and back to Redis after a restart.
func TestRedisKilledMidTest(t *testing.T) {
	srv := redistest.StartServer(t)
	client := srv.Client(t)
	mon := mustMonitor(fallback.NewMonitor(client, fallback.MonitorOptions{CommandTimeout: 100 * time.Millisecond, ProbeInterval: 50 * time.Millisecond, Logger: quiet}))
	defer mon.Close()
	c := newTestCache(t, client, "kill:", Options{Monitor: mon})
	h := textHandler("ok")
	handler := mustRoute(t, c, Route{Name: "kill"}).Handler(h)
	ctx := context.Background()

	var bad atomic.Int64
	var total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := do(handler, "GET", fmt.Sprintf("/k%d", (g*7+i)%20))
				total.Add(1)
				if r.code != 200 || r.body != "ok" {
					bad.Add(1)
				}
				if _, err := GetOrLoad(ctx, c, fmt.Sprint("d", i%10), time.Minute, func(context.Context) (int, error) { return i, nil }); err != nil {
					bad.Add(1)
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	srv.Kill()
	deadline := time.Now().Add(5 * time.Second)
	for mon.Available() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if mon.Available() {
		t.Fatal("monitor never noticed the dead server")
	}
	time.Sleep(300 * time.Millisecond) // served from memory meanwhile
	srv.Restart()
	for !mon.Available() && time.Now().Before(deadline.Add(5*time.Second)) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d of %d requests failed", bad.Load(), total.Load())
	}
	// Back on Redis: entries go there again.
	expect(t, do(handler, "GET", "/after"), 200, "MISS", "ok")
	expect(t, do(handler, "GET", "/after"), 200, "HIT", "ok")
	if n, _ := client.DBSize(ctx).Result(); n == 0 {
		t.Fatal("nothing stored in Redis after recovery")
	}
	t.Logf("%d requests, none failed", total.Load())
}

// A hung Redis (SIGSTOP) delays requests by at most the command timeout.
func TestRedisPaused(t *testing.T) {
	srv := redistest.StartServer(t)
	client := srv.Client(t)
	mon := mustMonitor(fallback.NewMonitor(client, fallback.MonitorOptions{CommandTimeout: 100 * time.Millisecond, Logger: quiet}))
	defer mon.Close()
	c := newTestCache(t, client, "pause:", Options{Monitor: mon})
	handler := mustRoute(t, c, Route{Name: "pause"}).Handler(textHandler("ok"))
	expect(t, do(handler, "GET", "/p"), 200, "MISS", "ok")
	srv.Pause()
	defer srv.Resume()
	for i := range 5 {
		r := do(handler, "GET", fmt.Sprint("/p", i))
		if r.code != 200 || r.body != "ok" {
			t.Fatalf("paused redis: %d %q", r.code, r.body)
		}
	}
}

// Embedded mode (nil client) caches in memory.
func TestEmbeddedMode(t *testing.T) {
	c := newTestCache(t, nil, "emb:", Options{})
	if c.mon.State() != fallback.StateMemory {
		t.Fatal("not in memory mode")
	}
	h := textHandler("m")
	srv := mustRoute(t, c, Route{}).Handler(h)
	expect(t, do(srv, "GET", "/"), 200, "MISS", "m")
	expect(t, do(srv, "GET", "/"), 200, "HIT", "m")
}

func TestDisabled(t *testing.T) {
	tg := redistest.New(t)
	ev := &events{}
	c := newTestCache(t, tg.Client, tg.Prefix, Options{Disabled: true, Observer: ev})
	h := textHandler("d")
	srv := mustRoute(t, c, Route{Name: "off"}).Handler(h)
	for range 2 {
		expect(t, do(srv, "GET", "/"), 200, "BYPASS", "d")
	}
	calls := 0
	for range 2 {
		_, _ = GetOrLoad(t.Context(), c, "k", time.Minute, func(context.Context) (int, error) { calls++; return 1, nil })
	}
	if h.n.Load() != 2 || calls != 2 || ev.get(middleware.CacheBypass, "off") != 2 {
		t.Fatalf("disabled cache cached: %d %d %v", h.n.Load(), calls, ev.m)
	}
}

// A corrupted entry is a miss, and it is deleted.
func TestCorruptEntry(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		ev := &events{}
		c := newTestCache(t, tg.Client, tg.Prefix, Options{Observer: ev})
		h := textHandler("fine")
		srv := mustRoute(t, c, Route{Name: "corrupt"}).Handler(h)
		expect(t, do(srv, "GET", "/c"), 200, "MISS", "fine")
		k := c.l.key(kindHTTP, escapeKey(mustKey(t, "/c")))
		ctx := context.Background()
		v, err := tg.Client.Get(ctx, k.name).Bytes()
		if err != nil {
			t.Fatal(err)
		}
		v[len(v)-6] ^= 0xff // flip a body byte
		tg.Client.Set(ctx, k.name, v, time.Minute)
		expect(t, do(srv, "GET", "/c"), 200, "MISS", "fine")
		if ev.get(middleware.CacheError, "corrupt") != 1 {
			t.Fatalf("corruption not reported: %v", ev.m)
		}
		expect(t, do(srv, "GET", "/c"), 200, "HIT", "fine")
		// Garbage of every length: never a panic, always a miss.
		for i := range 40 {
			tg.Client.Set(ctx, k.name, v[:i], time.Minute)
			expect(t, do(srv, "GET", "/c"), 200, "MISS", "fine")
		}
		// GetOrLoad too.
		dk := c.l.key(kindData, escapeKey("data"))
		tg.Client.Set(ctx, dk.name, "\xca\x01garbage-garbage-garbage-garbage-garbage-garbage", time.Minute)
		got, err := GetOrLoad(ctx, c, "data", time.Minute, func(context.Context) (string, error) { return "fresh", nil })
		if err != nil || got != "fresh" {
			t.Fatalf("GetOrLoad over corrupt entry: %q %v", got, err)
		}
	})
}

// A 1 GiB streamed response passes through with bounded memory.
func TestHugeStreamBoundedMemory(t *testing.T) {
	size := int64(1 << 30)
	if testing.Short() {
		size = 64 << 20
	}
	c := newTestCache(t, nil, "huge:", Options{})
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for sent := int64(0); sent < size; sent += int64(len(chunk)) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	srv := mustRoute(t, c, Route{Name: "huge"}).Handler(h)
	w := &countingWriter{h: make(http.Header)}
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
		}
	}()
	r, _ := http.NewRequest("GET", "http://example.com/huge", nil)
	srv.ServeHTTP(w, r)
	close(done)
	if w.n != size || w.header.Get("X-Cache") != "MISS" {
		t.Fatalf("streamed %d of %d bytes, X-Cache %q", w.n, size, w.header.Get("X-Cache"))
	}
	if p := peak.Load(); p > 64<<20 {
		t.Fatalf("heap peaked at %d MiB while streaming %d MiB", p>>20, size>>20)
	}
	t.Logf("streamed %d MiB, heap peak %d MiB", size>>20, peak.Load()>>20)
	w2 := &countingWriter{h: make(http.Header)}
	srv.ServeHTTP(w2, r)
	if w2.n != size || w2.header.Get("X-Cache") != "MISS" {
		t.Fatalf("second request: %d bytes, X-Cache %q: the oversized stream was stored?", w2.n, w2.header.Get("X-Cache"))
	}
}

type countingWriter struct {
	h      http.Header
	header http.Header
	n      int64
}

func (w *countingWriter) Header() http.Header { return w.h }
func (w *countingWriter) WriteHeader(int)     { w.header = w.h.Clone() }
func (w *countingWriter) Write(p []byte) (int, error) {
	if w.header == nil {
		w.WriteHeader(200)
	}
	w.n += int64(len(p))
	return len(p), nil
}
