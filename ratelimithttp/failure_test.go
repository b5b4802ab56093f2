package ratelimithttp

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/middleware"
)

// logCounter is a slog.Handler counting records by message.
type logCounter struct {
	mu   sync.Mutex
	msgs map[string]int
}

func (c *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCounter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.msgs == nil {
		c.msgs = map[string]int{}
	}
	c.msgs[r.Message]++
	return nil
}
func (c *logCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *logCounter) WithGroup(string) slog.Handler      { return c }
func (c *logCounter) count(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for m, k := range c.msgs {
		if strings.HasPrefix(m, prefix) {
			n += k
		}
	}
	return n
}

// eventCounter is a middleware.Observer counting events by kind and route.
type eventCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (e *eventCounter) Observe(ev middleware.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == nil {
		e.n = map[string]int{}
	}
	e.n[ev.Kind.String()+"/"+ev.Route] += int(ev.Value)
}

func (e *eventCounter) get(k string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n[k]
}

// Done when: Redis killed mid-test → requests keep flowing under the local
// limit (use-memory), get 503 (fail-closed) or pass unlimited
// (pass-through), never a panic or a 500.
func TestRedisKilledMidTest(t *testing.T) {
	for _, mode := range []fallback.OnFailure{fallback.UseMemory, fallback.FailClosed, fallback.PassThrough} {
		t.Run(mode.String(), func(t *testing.T) {
			srv := redistest.StartServer(t)
			logs := &logCounter{}
			mon := mustMonitor(fallback.NewMonitor(srv.Client(t), fallback.MonitorOptions{
				ProbeInterval: 50 * time.Millisecond, CommandTimeout: 200 * time.Millisecond, Logger: quiet(),
			}))
			t.Cleanup(func() { _ = mon.Close() })
			events := &eventCounter{}
			l, err := New(srv.Client(t), Options{
				Policies:  []Policy{{Name: "api", Rate: rate(5, time.Minute)}, {Name: "slide", Rate: rate(50, time.Minute), Algorithm: SlidingWindow}},
				OnFailure: mode, Monitor: mon, Logger: slog.New(logs), Observer: events, Route: "api",
			})
			if err != nil {
				t.Fatal(err)
			}
			h := l.Handler(okHandler)
			for i := range 3 {
				if w := do(h, "GET", "/", "alice"); w.Code != 200 {
					t.Fatalf("before kill %d: %d", i, w.Code)
				}
			}

			// Load from 8 goroutines while the server dies.
			stop := make(chan struct{})
			var bad atomic.Int64
			var seen sync.Map
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					users := []string{"alice", "bob", "carol", "dan"}
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						w := do(h, "GET", "/", users[(g+i)%4])
						seen.Store(w.Code, true)
						if w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
							bad.Add(1)
						}
						if w.Code == http.StatusServiceUnavailable && mode != fallback.FailClosed {
							bad.Add(1)
						}
					}
				}()
			}
			time.Sleep(100 * time.Millisecond)
			srv.Kill()
			deadline := time.Now().Add(5 * time.Second)
			for !l.degraded.Load() || mon.Available() {
				if time.Now().After(deadline) {
					t.Fatal("limiter never noticed the outage")
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond)
			close(stop)
			wg.Wait()
			if bad.Load() > 0 {
				t.Fatalf("%d responses with an unexpected 5xx", bad.Load())
			}

			// During the outage, a fresh client gets exactly the local limit.
			var codes []int
			for range 8 {
				w := do(h, "GET", "/", "zed")
				codes = append(codes, w.Code)
				switch mode {
				case fallback.UseMemory:
					if w.Code == 200 && w.Header().Get(headerLimit) != "5" {
						t.Fatalf("use-memory headers %v", w.Header())
					}
				case fallback.FailClosed:
					if w.Code != 503 || w.Header().Get("Retry-After") != "1" {
						t.Fatalf("fail-closed: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
					}
					var p middleware.Problem
					if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != 503 || strings.Contains(p.Detail, "refused") {
						t.Fatalf("fail-closed body %q", w.Body)
					}
				case fallback.PassThrough:
					if w.Code != 200 || w.Header().Get(headerLimit) != "" {
						t.Fatalf("pass-through: %d %v", w.Code, w.Header())
					}
				}
			}
			if _, err := l.Take(t.Context(), "u:zed", 1, ""); mode == fallback.FailClosed && !errors.Is(err, fallback.ErrUnavailable) || mode != fallback.FailClosed && err != nil {
				t.Fatalf("Take during the outage: %v", err)
			}
			if mode == fallback.UseMemory {
				want := []int{200, 200, 200, 200, 200, 429, 429, 429}
				for i := range want {
					if codes[i] != want[i] {
						t.Fatalf("use-memory local limit: %v, want %v", codes, want)
					}
				}
			}
			if n := l.transitions.Load(); n != 1 {
				t.Fatalf("transitions %d, want 1", n)
			}
			if n := logs.count("ratelimithttp: redis failing"); n != 1 {
				t.Fatalf("outage logged %d times, want once", n)
			}
			if events.get("rate_error/api") == 0 {
				t.Fatal("no rate_error events")
			}

			// Redis back: shared limits again, transition logged once more.
			srv.Restart()
			deadline = time.Now().Add(10 * time.Second)
			for {
				w := do(h, "GET", "/", "back")
				if w.Code == 200 && !l.degraded.Load() {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("limiter never recovered")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if n := l.transitions.Load(); n != 2 {
				t.Fatalf("transitions after recovery %d, want 2", n)
			}
			if n := logs.count("ratelimithttp: redis answering again"); n != 1 {
				t.Fatalf("recovery logged %d times", n)
			}
			if got, _ := srv.Client(t).Get(t.Context(), "rl:{u:back}:f:api").Int(); got != 1 {
				t.Fatalf("after recovery the shared counter is %d, want 1", got)
			}
		})
	}
}
