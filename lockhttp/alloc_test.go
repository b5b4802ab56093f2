package lockhttp_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/aura-platform/redishttp/middleware"
)

// discardWriter is a reusable ResponseWriter, so that the benchmark counts
// the Locker's allocations and not a recorder's.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkLockerRequest measures one lock-protected request through
// Locker.Handler (acquire with its fencing token, watchdog armed, handler,
// release) around a no-op handler: allocs/op is what the Locker and the
// Redis client allocate per request (and, on miniredis, the in-process
// server too). "serial" is one request at a time on one key; "parallel"
// keeps 50 requests in flight, each goroutine on its own key, so every
// acquisition is uncontended. Run against a real server with REDIS_URL:
//
//	REDIS_URL=redis://127.0.0.1:6379/0 go test -run XXX -bench BenchmarkLockerRequest -benchmem ./lockhttp/
func BenchmarkLockerRequest(b *testing.B) {
	tg := redistest.New(b)
	for _, pipelined := range []bool{false, true} {
		name := "plain"
		if pipelined {
			name = "pipelined"
		}
		b.Run(name, func(b *testing.B) {
			l, err := lockhttp.New(tg.NewClient(b), lockhttp.Options{
				Prefix: tg.Prefix + name + ":", Key: middleware.ByHeader("X-K"), AutoPipeline: pipelined,
			})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = l.Close() })
			var ran, noFence atomic.Int64
			h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ran.Add(1)
				if _, ok := lockhttp.Fence(r.Context()); !ok {
					noFence.Add(1)
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			var seq atomic.Int64
			newReq := func() *http.Request {
				r := httptest.NewRequest(http.MethodPost, "/", nil)
				r.Header.Set("X-K", "k"+strconv.FormatInt(seq.Add(1), 10))
				return r
			}
			// Every request is uncontended: each must run the handler, with
			// a fencing token.
			var sent atomic.Int64
			check := func(b *testing.B) {
				if n := noFence.Load(); n > 0 {
					b.Fatalf("%d handler runs without a fencing token", n)
				}
				if r, s := ran.Load(), sent.Load(); r != s {
					b.Fatalf("the handler ran %d times for %d requests", r, s)
				}
			}
			b.Run("serial", func(b *testing.B) {
				r, w := newReq(), &discardWriter{h: http.Header{}}
				h.ServeHTTP(w, r) // warm: scripts loaded, connection dialled
				sent.Add(1)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					h.ServeHTTP(w, r)
					sent.Add(1)
				}
				check(b)
			})
			b.Run("parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism(25) // 50 requests in flight on 2 cores
				b.RunParallel(func(pb *testing.PB) {
					r, w := newReq(), &discardWriter{h: http.Header{}}
					for pb.Next() {
						h.ServeHTTP(w, r)
						sent.Add(1)
					}
				})
				check(b)
			})
		})
	}
}
