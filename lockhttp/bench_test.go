package lockhttp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/go-redsync/redsync/v4"
	"github.com/go-redsync/redsync/v4/redis/goredis/v9"
	"github.com/redis/go-redis/v9"
)

// The bare ceiling of a lock: SET NX PX, then a compare-and-delete script.
var rawDel = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)

// BenchmarkLock compares, on the same client in one run, an uncontended
// acquire + release: raw SET NX PX + Lua DEL (the floor), redsync used by
// hand, and lockhttp's middleware around a no-op handler (fencing token and
// watchdog included), with 50 operations in flight. rt/op counts Redis round trips per operation. Run with
// REDIS_URL set to measure a real server:
//
//	REDIS_URL=redis://127.0.0.1:6379/0 go test -run XXX -bench BenchmarkLock -benchmem ./lockhttp/
func BenchmarkLock(b *testing.B) {
	tg := redistest.New(b)
	c := tg.NewClient(b)
	hook := &rtHook{}
	c.AddHook(hook)
	ctx := context.Background()
	var seq atomic.Int64
	key := func() string { return tg.Prefix + "b:" + strconv.FormatInt(seq.Add(1)%1024, 10) }
	report := func(b *testing.B) {
		b.ReportMetric(float64(len(hook.take()))/float64(b.N), "rt/op")
	}

	b.Run("raw_setnx_luadel", func(b *testing.B) {
		b.ReportAllocs()
		_ = rawDel.Load(ctx, c).Err()
		hook.take()
		b.SetParallelism(25) // 50 concurrent operations on 2 cores
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				k := key()
				if ok, err := c.SetNX(ctx, k, "v", 10*time.Second).Result(); err != nil || !ok {
					continue
				}
				_ = rawDel.Run(ctx, c, []string{k}, "v").Err()
			}
		})
		report(b)
	})

	b.Run("redsync_by_hand", func(b *testing.B) {
		b.ReportAllocs()
		rs := redsync.New(goredis.NewPool(c))
		m := rs.NewMutex(key())
		_ = m.TryLockContext(ctx)
		_, _ = m.UnlockContext(ctx)
		hook.take()
		b.SetParallelism(25) // 50 concurrent operations on 2 cores
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m := rs.NewMutex(key(), redsync.WithTries(1))
				if m.TryLockContext(ctx) == nil {
					_, _ = m.UnlockContext(ctx)
				}
			}
		})
		report(b)
	})

	b.Run("lockhttp_middleware", func(b *testing.B) {
		b.ReportAllocs()
		l, err := lockhttp.New(c, lockhttp.Options{Prefix: tg.Prefix + "lh:", Key: middleware.ByQuery("k")})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = l.Close() })
		h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/?k=warm", nil))
		hook.take()
		b.SetParallelism(25) // 50 concurrent operations on 2 cores
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r := httptest.NewRequest(http.MethodPost, "/?k="+key(), nil)
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
		report(b)
	})

	b.Run("bare_handler", func(b *testing.B) {
		b.ReportAllocs()
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
		b.SetParallelism(25) // 50 concurrent operations on 2 cores
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r := httptest.NewRequest(http.MethodPost, "/?k="+key(), nil)
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	})
}
