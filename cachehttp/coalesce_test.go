package cachehttp

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
)

// 200 concurrent misses on one key, spread over 3 cache instances with their
// own clients, run the handler once; everyone gets the body. The same with
// the auto-pipeliner.
func TestStampedeAcrossInstances(t *testing.T) {
	withAutoPipeline(t, stampedeAcrossInstances)
}

func stampedeAcrossInstances(t *testing.T, auto bool) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		release := make(chan struct{})
		h := &counter{h: func(w http.ResponseWriter, r *http.Request) {
			<-release
			_, _ = w.Write([]byte("filled"))
		}}
		var srvs []http.Handler
		for i := range 3 {
			client := tg.Client
			if i > 0 {
				client = tg.NewClient(t)
			}
			c := newTestCache(t, client, tg.Prefix, Options{FillWait: 20 * time.Second, LeaseTTL: 20 * time.Second, AutoPipeline: auto})
			srvs = append(srvs, mustRoute(t, c, Route{Name: "stampede", TTL: time.Minute}).Handler(h))
		}
		const n = 200
		var wg sync.WaitGroup
		results := make(chan result, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results <- do(srvs[i%3], "GET", "/hot")
			}()
		}
		time.Sleep(300 * time.Millisecond) // let every request reach the cache
		close(release)
		wg.Wait()
		close(results)
		for r := range results {
			if r.code != 200 || r.body != "filled" {
				t.Fatalf("got %d %q %v", r.code, r.body, r.header)
			}
		}
		if got := h.n.Load(); got != 1 {
			t.Fatalf("handler ran %d times for %d concurrent misses", got, n)
		}
	})
}

// A waiter's cancellation affects neither the load nor the other waiters.
func TestWaiterCancellation(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		started := make(chan struct{})
		release := make(chan struct{})
		h := &counter{h: func(w http.ResponseWriter, r *http.Request) {
			close(started)
			<-release
			if r.Context().Err() != nil {
				t.Error("load context cancelled by a waiter")
			}
			_, _ = w.Write([]byte("ok"))
		}}
		srv := mustRoute(t, c, Route{Name: "cancel"}).Handler(h)
		leader := make(chan result, 1)
		go func() { leader <- do(srv, "GET", "/k") }()
		<-started
		ctx, cancel := context.WithCancel(context.Background())
		cancelled := make(chan result, 1)
		go func() { cancelled <- doCtx(ctx, srv, "GET", "/k", nil) }()
		other := make(chan result, 1)
		go func() { other <- do(srv, "GET", "/k") }()
		time.Sleep(50 * time.Millisecond)
		cancel()
		<-cancelled
		close(release)
		expect(t, <-leader, 200, "MISS", "ok")
		o := <-other
		if o.body != "ok" || h.n.Load() != 1 {
			t.Fatalf("other waiter: %q, runs %d", o.body, h.n.Load())
		}
	})
}

// Concurrent hits of a hot key share Redis reads.
func TestHotKeyReadCoalescing(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		c := newTestCache(t, tg.Client, tg.Prefix, Options{})
		srv := mustRoute(t, c, Route{Name: "hot"}).Handler(textHandler("v"))
		expect(t, do(srv, "GET", "/hot"), 200, "MISS", "v")
		cnt := &cmdCounter{}
		tg.Client.AddHook(cnt)
		const n = 400
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if r := do(srv, "GET", "/hot"); r.header.Get("X-Cache") != "HIT" {
					t.Errorf("X-Cache %s", r.header.Get("X-Cache"))
				}
			}()
		}
		close(start)
		wg.Wait()
		reads := cnt.total()
		t.Logf("%d concurrent hits used %d Redis commands", n, reads)
		if reads == 0 || reads >= n {
			t.Fatalf("%d hits used %d commands; want fewer than one per hit", n, reads)
		}
	})
}
