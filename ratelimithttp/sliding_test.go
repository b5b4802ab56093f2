package ratelimithttp

import (
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
)

// maxInSpan returns the most admissions found in any half-open span
// (t-period, t] ending at an admission.
func maxInSpan(at []time.Time, period time.Duration) int {
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	most, lo := 0, 0
	for hi := range at {
		for !at[lo].After(at[hi].Add(-period)) {
			lo++
		}
		most = max(most, hi-lo+1)
	}
	return most
}

// Done when: the sliding window never admits more than the limit within
// any window-length span (and the checker does catch the fixed window's
// boundary burst).
func TestSlidingWindowNeverExceedsLimit(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		const limit = 4
		period := 400 * time.Millisecond
		if tg.Mini != nil {
			period = 10 * time.Second
		}
		run := func(algo Algorithm, key string, steps func(clk *clock, take func())) []time.Time {
			l := newLimiter(t, tg, tg.Client, Options{Policies: []Policy{{Name: "w", Rate: rate(limit, period), Algorithm: algo}}})
			clk := newClock(tg)
			var mu sync.Mutex
			var admitted []time.Time
			steps(clk, func() {
				res, err := l.Take(t.Context(), key, 1, "")
				if err != nil || res.source != srcRedis {
					t.Errorf("Take: %v (source %v)", err, res.source)
					return
				}
				if res.Allowed {
					mu.Lock()
					admitted = append(admitted, res.Now)
					mu.Unlock()
				}
			})
			return admitted
		}
		rng := rand.New(rand.NewPCG(1, 2))
		random := func(clk *clock, take func()) {
			if tg.Mini != nil {
				for range 400 {
					for range rng.IntN(3) {
						take()
					}
					clk.advance(time.Duration(rng.IntN(int(period/8/time.Millisecond))) * time.Millisecond)
				}
				return
			}
			var wg sync.WaitGroup
			end := time.Now().Add(4 * period)
			for g := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(g), 9))
					for time.Now().Before(end) {
						take()
						time.Sleep(time.Duration(r.IntN(40)) * time.Millisecond)
					}
				}()
			}
			wg.Wait()
		}
		at := run(SlidingWindow, "s", random)
		if len(at) < 2*limit {
			t.Fatalf("only %d admissions: the test did not exercise several windows", len(at))
		}
		if m := maxInSpan(at, period); m > limit {
			t.Fatalf("sliding window admitted %d within one period (limit %d)", m, limit)
		}
		// Boundary burst: wait until late in a fixed window, spend it, then
		// spend the next one right after the reset.
		burst := func(clk *clock, take func()) {
			take()
			clk.advance(period * 8 / 10)
			for range limit {
				take()
			}
			clk.advance(period * 3 / 10)
			for range limit {
				take()
			}
		}
		if m := maxInSpan(run(FixedWindow, "f", burst), period); m <= limit {
			t.Fatalf("fixed window boundary burst not seen (max %d): the checker is blind", m)
		}
		if m := maxInSpan(run(SlidingWindow, "s2", burst), period); m > limit {
			t.Fatalf("sliding window admitted %d in one period at the boundary", m)
		}
	})
}
