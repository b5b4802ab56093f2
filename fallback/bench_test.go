package fallback_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/redistest"
)

// BenchmarkMonitorDo measures what Do adds to a Redis GET, side by side with
// the bare GET, against the target redistest picks (REDIS_URL or miniredis).
func BenchmarkMonitorDo(b *testing.B) {
	tg := redistest.New(b)
	m := mustMonitor(fallback.NewMonitor(tg.Client, fallback.MonitorOptions{}))
	defer m.Close()
	ctx := context.Background()
	key := tg.Prefix + "k"
	tg.Client.Set(ctx, key, "v", time.Minute)
	b.Run("bare GET", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = tg.Client.Get(ctx, key).Err()
		}
	})
	b.Run("Do GET", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = m.Do(ctx, func(ctx context.Context) error { return tg.Client.Get(ctx, key).Err() })
		}
	})
	b.Run("Do degraded", func(b *testing.B) {
		b.ReportAllocs()
		mem := mustMonitor(fallback.NewMonitor(nil, fallback.MonitorOptions{}))
		for b.Loop() {
			_ = mem.Do(ctx, func(context.Context) error { return nil })
		}
	})
}

func BenchmarkMemoryLimiterTake(b *testing.B) {
	l := fallback.NewMemoryLimiter()
	b.Run("one window, parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				l.Take(1, []fallback.Window{{Key: fmt.Sprint(i % 1000), Limit: 1 << 40, Period: time.Hour}})
			}
		})
	})
	b.Run("two windows, parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				l.Take(1, []fallback.Window{
					{Key: fmt.Sprint(i % 1000), Limit: 1 << 40, Period: time.Minute},
					{Key: "global", Limit: 1 << 40, Period: time.Hour},
				})
			}
		})
	})
}

func BenchmarkMemoryStore(b *testing.B) {
	s := fallback.NewMemoryStore(64 << 20)
	defer s.Close()
	v := make([]byte, 1024)
	for i := range 1000 {
		s.Set(fmt.Sprint(i), v, time.Hour)
	}
	b.Run("Get parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				s.Get(fmt.Sprint(i % 1000))
			}
		})
	})
	b.Run("Set parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				s.Set(fmt.Sprint(i%5000), v, time.Hour)
			}
		})
	})
}
