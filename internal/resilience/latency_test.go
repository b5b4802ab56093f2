package resilience

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// stateWatch samples every instance's monitor state and counts changes
// (breaker trips and closes).
type stateWatch struct {
	trips, closes atomic.Int64
	stop          chan struct{}
	wg            sync.WaitGroup
}

func watchStates(f *fleet) *stateWatch {
	w := &stateWatch{stop: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		last := make([]string, len(f.apps))
		for i, a := range f.apps {
			last[i] = a.Monitor().State().String()
		}
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tk.C:
			}
			for i, a := range f.apps {
				s := a.Monitor().State().String()
				if s != last[i] {
					if s == "degraded" {
						w.trips.Add(1)
					} else {
						w.closes.Add(1)
					}
					last[i] = s
				}
			}
		}
	}()
	return w
}

func (w *stateWatch) done() (trips, closes int64) {
	close(w.stop)
	w.wg.Wait()
	return w.trips.Load(), w.closes.Load()
}

// testLatency: every Redis command gains 50 ms (25 ms each way through a
// proxy) under load. Figures: zero 5xx; cache hits degrade gracefully (the
// breaker may trip, and then the in-memory tier serves); no request exceeds
// the budget derived from the configured timeouts.
func testLatency(t *testing.T) {
	srv := redistest.StartServer(t)
	px := redistest.StartProxy(t, srv.Addr)
	f := startFleet(t, 3, map[string]string{"REDIS_URL": "redis://" + px.Addr + "/0"})
	if d := f.waitBackend("redis", 5*time.Second); d < 0 {
		t.Fatal("instances never reported backend redis")
	}
	warm(t, f)
	b := deriveBudgets(f)

	// The added latency, as one command sees it.
	probe := redis.NewClient(&redis.Options{Addr: px.Addr, MaxRetries: -1})
	defer probe.Close()
	px.SetLatency(25 * time.Millisecond)
	t0 := time.Now()
	if err := probe.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	if err := probe.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	rtt := time.Since(t1)
	t.Logf("PING through the proxy: %v (first, with dial), %v", t1.Sub(t0), rtt)
	if rtt < 50*time.Millisecond {
		t.Fatalf("the proxy added only %v per command, want at least 50ms", rtt)
	}
	px.SetLatency(0)

	l := startLoad(f, defaultLoad())
	time.Sleep(settle)
	w := watchStates(f)
	slowFrom := time.Now()
	px.SetLatency(25 * time.Millisecond)
	time.Sleep(3 * time.Second)
	px.SetLatency(0)
	slowTo := time.Now()
	trips, closes := w.done()
	recovery := f.waitBackend("redis", 10*time.Second)
	time.Sleep(settle)
	res := l.stop()

	gets := count(res, isGet)
	slow := count(res, and(isGet, within(slowFrom, slowTo)))
	before := count(res, and(isGet, within(time.Time{}, slowFrom)))
	posts := count(res, func(r result) bool { return r.kind == kindAura })
	addRow(t, row{
		scenario: "3. +50ms per redis command, 3s",
		sent:     len(res),
		fivexx: fmtf("GET %d (of %d; hits %d/%d while slow); POST /api/auras %d x 503",
			gets.fivexx+gets.transport, gets.sent, slow.hits, slow.sent, posts.byStatus[503]),
		dups: fmtf("%d (201 answers)", createdTwice(res)),
		maxLatency: fmtf("GET %s (budget %s), POST %s (budget %s)",
			ms(gets.maxLatency), ms(b.get), ms(posts.maxLatency), ms(b.post)),
		recovery: fmtf("breaker trips %d, closes %d; healthz redis %s after", trips, closes, ms(recovery)),
	})
	t.Logf("GET max latency before the fault %v, while slow %v; throughput %0.f req/s before, %0.f while slow",
		before.maxLatency, slow.maxLatency,
		float64(before.sent)/settle.Seconds(), float64(slow.sent)/slowTo.Sub(slowFrom).Seconds())

	if slow.sent == 0 {
		t.Error("no GET while Redis was slow: the scenario proved nothing")
	}
	if gets.fivexx != 0 || gets.transport != 0 {
		t.Errorf("GET routes: %d 5xx, %d transport errors with slow Redis (want 0): %v", gets.fivexx, gets.transport, gets.byStatus)
	}
	if gets.maxLatency > b.get {
		t.Errorf("a GET took %v with slow Redis, over the budget %v (%s)", gets.maxLatency, b.get, b.getWhy)
	}
	if posts.maxLatency > b.post {
		t.Errorf("a POST took %v with slow Redis, over the budget %v (%s)", posts.maxLatency, b.post, b.postWhy)
	}
	// Graceful: the hot entries are still served as hits (from Redis, or
	// from memory once the breaker trips), not recomputed per request.
	if slow.hits*2 < slow.sent {
		t.Errorf("only %d of %d GETs were cache hits while Redis was slow", slow.hits, slow.sent)
	}
	if d := createdTwice(res); d != 0 {
		t.Errorf("%d duplicate creates", d)
	}
	if recovery < 0 {
		t.Error("backend never back to redis")
	}
	stillWorks(t, f)
}
