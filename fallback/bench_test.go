package fallback_test

import (
	"context"
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
