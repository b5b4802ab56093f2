package ratelimithttp

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	ulstdlib "github.com/ulule/limiter/v3/drivers/middleware/stdlib"
	ulredis "github.com/ulule/limiter/v3/drivers/store/redis"
)

var body1K = bytes.Repeat([]byte("x"), 1024)

var bodyHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write(body1K)
})

// rawScript is the same-work ceiling: one EVALSHA that counts a key with
// an expiry, what any Redis rate limiter must at least do per request.
var rawScript = redis.NewScript(`local v = redis.call('INCR', KEYS[1]) if v == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return v`)

// BenchmarkRateLimit compares, side by side in one run, a bare handler, a
// handler doing one raw EVALSHA, ulule/limiter's stdlib middleware on its
// Redis store, and ours with one and two policies (both header families).
// Run with REDIS_URL set for loopback Redis figures; ratios, not absolute
// times, are the result. Every request is a different user of 256, so no
// limit is reached.
func BenchmarkRateLimit(b *testing.B) {
	tg := redistest.New(b)
	client := tg.Client
	big := limiter.Rate{Limit: 1 << 40, Period: time.Hour}
	mon := mustMonitor(fallback.NewMonitor(tg.NewClient(b), fallback.MonitorOptions{Logger: quiet(), CommandTimeout: 5 * time.Second}))
	b.Cleanup(func() { _ = mon.Close() })
	mk := func(ps ...Policy) http.Handler {
		l, err := New(client, Options{Policies: ps, Prefix: tg.Prefix, Monitor: mon, Logger: quiet(), Key: middleware.ByUser()})
		if err != nil {
			b.Fatal(err)
		}
		return l.Handler(bodyHandler)
	}
	ustore, err := ulredis.NewStoreWithOptions(client, limiter.StoreOptions{Prefix: tg.Prefix + "ulule"})
	if err != nil {
		b.Fatal(err)
	}
	ulule := ulstdlib.NewMiddleware(limiter.New(ustore, big),
		ulstdlib.WithKeyGetter(func(r *http.Request) string { return middleware.UserFromContext(r.Context()) })).Handler(bodyHandler)
	raw := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := rawScript.Run(r.Context(), client, []string{tg.Prefix + "raw:" + middleware.UserFromContext(r.Context())}, 3600000).Err(); err != nil {
			http.Error(w, "redis", 500)
			return
		}
		bodyHandler(w, r)
	})
	cases := []struct {
		name string
		h    http.Handler
	}{
		{"bare", bodyHandler},
		{"raw-evalsha", raw},
		{"ulule-1policy", ulule},
		{"ours-1policy", mk(Policy{Name: "hour", Rate: big})},
		{"ours-2policies", mk(Policy{Name: "hour", Rate: big}, Policy{Name: "min", Rate: limiter.Rate{Limit: 1 << 40, Period: time.Minute}})},
		{"ours-2policies-sliding", mk(Policy{Name: "hour", Rate: big}, Policy{Name: "min", Rate: limiter.Rate{Limit: 1 << 40, Period: time.Minute}, Algorithm: SlidingWindow})},
	}
	users := make([]*http.Request, 256)
	for i := range users {
		r := httptest.NewRequest("GET", "/api/weather", nil)
		users[i] = r.WithContext(middleware.WithUser(r.Context(), "user"+strconv.Itoa(i)))
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var n atomic.Uint64
			for _, r := range users[:4] { // warm the script cache and pools
				c.h.ServeHTTP(httptest.NewRecorder(), r)
			}
			b.ReportAllocs()
			b.SetParallelism(25) // 50 concurrent requests on 2 cores
			cpu0, cpuOK := redisCPU(b, client)
			cmd0, cmdOK := redisCommandTime(b, client)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				w := &benchWriter{h: http.Header{}}
				for pb.Next() {
					r := users[n.Add(1)%uint64(len(users))]
					clear(w.h)
					w.code = 0
					c.h.ServeHTTP(w, r)
					if w.code != 0 && w.code != 200 {
						b.Errorf("status %d", w.code)
						return
					}
				}
			})
			b.StopTimer()
			if cpu1, ok := redisCPU(b, client); ok && cpuOK {
				// Redis server CPU per request: the cost every other client
				// of the same Redis pays for this contender.
				b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/1e3/float64(b.N), "redis-cpu-us/op")
			}
			if cmd1, ok := redisCommandTime(b, client); ok && cmdOK {
				// Time Redis spent executing this contender's commands
				// (scripts included), per request: INFO commandstats.
				b.ReportMetric((cmd1-cmd0)/float64(b.N), "redis-cmd-us/op")
			}
		})
	}
}

// redisCPU returns the server's used CPU (user+sys) from INFO cpu; false on
// miniredis, which does not report it.
func redisCPU(b *testing.B, c redis.UniversalClient) (time.Duration, bool) {
	info, err := c.Info(b.Context(), "cpu").Result()
	if err != nil {
		return 0, false
	}
	var total float64
	found := 0
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				total += f
				found++
			}
		}
	}
	return time.Duration(total * float64(time.Second)), found == 2
}

// redisCommandTime returns the microseconds the server spent executing
// commands (INFO commandstats, all commands but the INFO and PING of the
// benchmark and the health monitor); false on miniredis.
func redisCommandTime(b *testing.B, c redis.UniversalClient) (float64, bool) {
	info, err := c.Info(b.Context(), "commandstats").Result()
	if err != nil {
		return 0, false
	}
	var total float64
	found := false
	for _, line := range strings.Split(info, "\n") {
		name, stats, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") || name == "cmdstat_info" || name == "cmdstat_ping" {
			continue
		}
		for _, kv := range strings.Split(stats, ",") {
			if v, ok := strings.CutPrefix(kv, "usec="); ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					total += f
					found = true
				}
			}
		}
	}
	return total, found
}

// benchWriter is a minimal ResponseWriter, reused across requests so the
// figures measure the middleware, not httptest.ResponseRecorder.
type benchWriter struct {
	h    http.Header
	code int
}

func (w *benchWriter) Header() http.Header { return w.h }
func (w *benchWriter) WriteHeader(c int) {
	if w.code == 0 {
		w.code = c
	}
}
func (w *benchWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	return len(p), nil
}
