package cachehttp

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// discardWriter is a reusable ResponseWriter, so benchmarks measure the
// cache and Redis rather than httptest's recorder.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(c int)           { d.code = c }
func (d *discardWriter) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }
func (d *discardWriter) reset() {
	clear(d.h)
	d.code, d.n = 0, 0
}

// benchTargets: miniredis always, plus REDIS_URL when set.
func benchTargets(b *testing.B) map[string]func() redis.UniversalClient {
	mr := miniredis.RunT(b)
	t := map[string]func() redis.UniversalClient{
		"miniredis": func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: mr.Addr()}) },
	}
	if u := os.Getenv("REDIS_URL"); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			b.Fatal(err)
		}
		t["redis"] = func() redis.UniversalClient {
			o := *opt
			o.PoolSize = 64
			return redis.NewClient(&o)
		}
	}
	return t
}

// tripCounter is a go-redis hook counting the round trips of cache commands
// (a pipeline counts once; the monitor's PINGs and connection set-up are
// left out).
type tripCounter struct{ n atomic.Int64 }

func (c *tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() != "ping" && !redistest.ConnSetup(cmd) {
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (c *tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !redistest.ConnSetupPipeline(cmds) {
			c.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

var _ redis.Hook = (*tripCounter)(nil)

// BenchmarkHit compares, side by side in one run, a cache hit through the
// middleware with a bare handler doing one raw go-redis GET of the same bytes
// (1 KiB body), with b.RunParallel. "hot" requests all hit one key (hot-key
// read coalescing applies); "spread" requests cycle over 1000 keys, one
// Redis round trip each. The ratio to the raw GET handler is logged at the
// end and reported as a metric by the last sub-benchmark of each pair.
func BenchmarkHit(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1024)
	for name, newClient := range benchTargets(b) {
		client := newClient()
		defer client.Close()
		trips := &tripCounter{}
		client.AddHook(trips)
		mon := mustMonitor(fallback.NewMonitor(client, fallback.MonitorOptions{CommandTimeout: 5 * time.Second, Logger: quiet}))
		defer mon.Close()
		prefix := fmt.Sprintf("bench:%d:", time.Now().UnixNano())
		c, err := New(client, Options{Prefix: prefix, Monitor: mon})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		rc, _ := c.NewRoute(Route{Name: "bench", TTL: time.Hour})
		origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		})
		cached := rc.Handler(origin)
		ctx := context.Background()
		const keys = 1000
		reqs := make([]*http.Request, keys)
		rawKeys := make([]string, keys)
		for i := range reqs {
			reqs[i], _ = http.NewRequest("GET", fmt.Sprintf("http://bench.local/item?id=%d", i), nil)
			reqs[i].Host = "bench.local"
			cached.ServeHTTP(&discardWriter{h: http.Header{}}, reqs[i]) // fill
			rawKeys[i] = prefix + fmt.Sprintf("raw:%d", i)
			client.Set(ctx, rawKeys[i], body, time.Hour)
		}
		defer func() {
			for _, k := range rawKeys {
				client.Del(ctx, k)
			}
			_, _ = c.InvalidatePattern(ctx, "*")
		}()
		rawBy := func(i int) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				v, err := client.Get(r.Context(), rawKeys[i]).Bytes()
				if err != nil {
					w.WriteHeader(500)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(v)
			})
		}
		rawHandlers := make([]http.Handler, keys)
		for i := range rawHandlers {
			rawHandlers[i] = rawBy(i)
		}
		nsPerOp := map[string]float64{}
		var mu sync.Mutex
		run := func(label string, spread bool, h func(i int) http.Handler, req func(i int) *http.Request) {
			b.Run(name+"/"+label, func(b *testing.B) {
				b.ReportAllocs()
				var next atomic.Int64
				trips.n.Store(0)
				b.SetParallelism(25) // 50 concurrent requests on 2 cores
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					w := &discardWriter{h: make(http.Header, 8)}
					for pb.Next() {
						i := 0
						if spread {
							i = int(next.Add(1) % keys)
						}
						w.reset()
						h(i).ServeHTTP(w, req(i))
						if w.code != 0 && w.code != 200 || w.n != len(body) {
							b.Fatalf("status %d, %d bytes", w.code, w.n)
						}
					}
				})
				b.StopTimer()
				b.ReportMetric(float64(trips.n.Load())/float64(b.N), "redis-rt/op")
				mu.Lock()
				nsPerOp[label] = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				mu.Unlock()
			})
		}
		for round := 0; round < 1; round++ {
			run("spread/raw-GET", true, func(i int) http.Handler { return rawHandlers[i] }, func(i int) *http.Request { return reqs[i] })
			run("spread/cache-hit", true, func(int) http.Handler { return cached }, func(i int) *http.Request { return reqs[i] })
			run("hot/raw-GET", false, func(i int) http.Handler { return rawHandlers[0] }, func(i int) *http.Request { return reqs[0] })
			run("hot/cache-hit", false, func(int) http.Handler { return cached }, func(i int) *http.Request { return reqs[0] })
			run("bare-handler", false, func(int) http.Handler { return origin }, func(i int) *http.Request { return reqs[0] })
		}
		for _, kind := range []string{"spread", "hot"} {
			if r, c := nsPerOp[kind+"/raw-GET"], nsPerOp[kind+"/cache-hit"]; r > 0 && c > 0 {
				fmt.Printf("ratio %s %s: cache hit throughput = %.2f x raw-GET handler (%.0f vs %.0f ns/op)\n", name, kind, r/c, c, r)
			}
		}
	}
}
