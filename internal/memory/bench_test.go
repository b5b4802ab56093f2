package memory_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/memory"
)

func BenchmarkMemoryLimiterTake(b *testing.B) {
	l := memory.NewLimiter(0)
	b.Run("one window, parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				l.Take(1, []memory.Window{{Key: fmt.Sprint(i % 1000), Limit: 1 << 40, Period: time.Hour}})
			}
		})
	})
	b.Run("two windows, parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				l.Take(1, []memory.Window{
					{Key: fmt.Sprint(i % 1000), Limit: 1 << 40, Period: time.Minute},
					{Key: "global", Limit: 1 << 40, Period: time.Hour},
				})
			}
		})
	})
}

// BenchmarkMemoryLimiterFlood: a flood of distinct identities (one new
// client address per request) at the default bound. Each sub-benchmark
// first sends n identities, then measures a Take by one more new identity
// (B/op) and reports the live heap the limiter holds after a collection
// (live-MiB) and the counters it keeps.
func BenchmarkMemoryLimiterFlood(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("identities=%dk", n/1000), func(b *testing.B) {
			base := liveHeap()
			l := memory.NewLimiter(0)
			next := 0
			take := func() {
				key := fmt.Sprintf("rl:{198.%d.%d.%d}:f:api", next>>16&0xff, next>>8&0xff, next&0xff)
				next++
				l.Take(1, []memory.Window{{Key: key, Limit: 100, Period: time.Hour}})
			}
			for range n {
				take()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				take()
			}
			b.StopTimer()
			h := liveHeap()
			b.ReportMetric(float64(h-min(h, base))/(1<<20), "live-MiB")
			runtime.KeepAlive(l)
			b.ReportMetric(float64(l.Len()), "counters")
		})
	}
}

func BenchmarkMemoryStore(b *testing.B) {
	s := memory.NewStore(64 << 20)
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
