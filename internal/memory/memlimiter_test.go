package memory_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"

	"github.com/aura-platform/redishttp/internal/memory"
	"github.com/aura-platform/redishttp/internal/redistest"
)

func TestMemoryLimiterStore(t *testing.T) {
	ctx := context.Background()
	l := memory.NewLimiter(0)
	var _ limiter.Store = l
	rate := limiter.Rate{Period: time.Minute, Limit: 3}
	before := time.Now()
	for i := int64(1); i <= 5; i++ {
		c, err := l.Get(ctx, "k", rate)
		if err != nil {
			t.Fatal(err)
		}
		wantRemaining := max(0, 3-i)
		if c.Limit != 3 || c.Remaining != wantRemaining || c.Reached != (i > 3) {
			t.Errorf("Get #%d = %+v", i, c)
		}
		if reset := time.Unix(c.Reset, 0); reset.Before(before.Add(time.Minute).Add(-time.Second)) || reset.After(time.Now().Add(time.Minute)) {
			t.Errorf("Reset %v is not one period from the first hit", reset)
		}
	}
	// Peek does not count.
	for range 3 {
		c, _ := l.Peek(ctx, "k", rate)
		if c.Remaining != 0 || !c.Reached {
			t.Errorf("Peek = %+v", c)
		}
	}
	c, _ := l.Peek(ctx, "fresh", rate)
	if c.Remaining != 3 || c.Reached {
		t.Errorf("Peek fresh = %+v", c)
	}
	// Reset clears the count.
	c, _ = l.Reset(ctx, "k", rate)
	if c.Remaining != 3 || c.Reached {
		t.Errorf("Reset = %+v", c)
	}
	c, _ = l.Get(ctx, "k", rate)
	if c.Remaining != 2 {
		t.Errorf("Get after Reset = %+v", c)
	}
	// Increment by more than one.
	c, _ = l.Increment(ctx, "inc", 2, rate)
	if c.Remaining != 1 || c.Reached {
		t.Errorf("Increment 2 = %+v", c)
	}
	c, _ = l.Increment(ctx, "inc", 2, rate)
	if c.Remaining != 0 || !c.Reached {
		t.Errorf("Increment 2+2 = %+v", c)
	}
	// Keys are independent.
	c, _ = l.Get(ctx, "other", rate)
	if c.Remaining != 2 {
		t.Errorf("other key = %+v", c)
	}
}

// TestMemoryLimiterWithULule runs ulule's own middleware logic over the
// store: the limiter.Limiter it builds must allow exactly Limit requests.
func TestMemoryLimiterWithULule(t *testing.T) {
	lim := limiter.New(memory.NewLimiter(0), limiter.Rate{Period: time.Hour, Limit: 10})
	allowed := 0
	for range 25 {
		c, err := lim.Get(context.Background(), "client")
		if err != nil {
			t.Fatal(err)
		}
		if !c.Reached {
			allowed++
		}
	}
	if allowed != 10 {
		t.Errorf("allowed %d of 25 with limit 10", allowed)
	}
}

func TestMemoryLimiterWindowReset(t *testing.T) {
	ctx := context.Background()
	l := memory.NewLimiter(0)
	rate := limiter.Rate{Period: 100 * time.Millisecond, Limit: 2}
	for range 3 {
		_, _ = l.Get(ctx, "k", rate)
	}
	if c, _ := l.Peek(ctx, "k", rate); !c.Reached {
		t.Fatalf("not reached: %+v", c)
	}
	states, ok := l.Take(1, []memory.Window{{Key: "w", Limit: 1, Period: 100 * time.Millisecond}})
	if !ok || states[0].Count != 1 {
		t.Fatalf("Take = %+v, %v", states, ok)
	}
	if _, ok := l.Take(1, []memory.Window{{Key: "w", Limit: 1, Period: 100 * time.Millisecond}}); ok {
		t.Fatal("second Take in the window allowed")
	}
	time.Sleep(250 * time.Millisecond) // past the window: a lower bound only
	if c, _ := l.Get(ctx, "k", rate); c.Remaining != 1 || c.Reached {
		t.Errorf("after the window: %+v", c)
	}
	states, ok = l.Take(1, []memory.Window{{Key: "w", Limit: 1, Period: 100 * time.Millisecond}})
	if !ok || states[0].Count != 1 || !states[0].Reset.After(time.Now()) {
		t.Errorf("Take after the window = %+v, %v", states, ok)
	}
}

func TestMemoryLimiterTake(t *testing.T) {
	l := memory.NewLimiter(0)
	perUser := memory.Window{Key: "user:1", Limit: 5, Period: time.Minute}
	global := memory.Window{Key: "global", Limit: 3, Period: time.Hour}
	start := time.Now()
	for i := int64(1); i <= 3; i++ {
		states, ok := l.Take(1, []memory.Window{perUser, global})
		if !ok || states[0].Count != i || states[1].Count != i {
			t.Fatalf("Take #%d = %+v, %v", i, states, ok)
		}
		if d := states[0].Reset.Sub(start); d < time.Minute-time.Second || d > time.Minute+time.Second {
			t.Errorf("per-user reset in %v", d)
		}
		if d := states[1].Reset.Sub(start); d < time.Hour-time.Second || d > time.Hour+time.Second {
			t.Errorf("global reset in %v", d)
		}
	}
	// The global window is full: the request is refused and counts in
	// neither window, however often it is retried.
	for range 10 {
		states, ok := l.Take(1, []memory.Window{perUser, global})
		if ok || states[0].Count != 3 || states[1].Count != 3 {
			t.Fatalf("refused Take = %+v, %v", states, ok)
		}
	}
	// Another user still hits the full global window.
	if _, ok := l.Take(1, []memory.Window{{Key: "user:2", Limit: 5, Period: time.Minute}, global}); ok {
		t.Error("user 2 passed a full global window")
	}
	if states, _ := l.Take(0, []memory.Window{{Key: "user:2", Limit: 5, Period: time.Minute}}); states[0].Count != 0 {
		t.Errorf("refused request counted for user 2: %+v", states)
	}
	// Cost larger than one.
	w := memory.Window{Key: "cost", Limit: 10, Period: time.Minute}
	if states, ok := l.Take(7, []memory.Window{w}); !ok || states[0].Count != 7 {
		t.Errorf("Take(7) = %+v, %v", states, ok)
	}
	if states, ok := l.Take(4, []memory.Window{w}); ok || states[0].Count != 7 {
		t.Errorf("Take(4) over the limit = %+v, %v", states, ok)
	}
	if states, ok := l.Take(3, []memory.Window{w}); !ok || states[0].Count != 10 {
		t.Errorf("Take(3) to the limit = %+v, %v", states, ok)
	}
	// No windows: allowed, nothing to report.
	if states, ok := l.Take(1, nil); !ok || len(states) != 0 {
		t.Errorf("Take(nil) = %+v, %v", states, ok)
	}
}

func TestMemoryLimiterConcurrent(t *testing.T) {
	t.Run("1000 goroutines, limit 100", func(t *testing.T) {
		l := memory.NewLimiter(0)
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for range 1000 {
			wg.Go(func() {
				if _, ok := l.Take(1, []memory.Window{{Key: "hot", Limit: 100, Period: time.Hour}}); ok {
					allowed.Add(1)
				}
			})
		}
		wg.Wait()
		if allowed.Load() != 100 {
			t.Errorf("allowed %d, want exactly 100", allowed.Load())
		}
		if s, _ := l.Take(0, []memory.Window{{Key: "hot", Limit: 100, Period: time.Hour}}); s[0].Count != 100 {
			t.Errorf("count %d: rejected requests were counted", s[0].Count)
		}
	})
	t.Run("Get via limiter.Store, limit 100", func(t *testing.T) {
		l := memory.NewLimiter(0)
		rate := limiter.Rate{Period: time.Hour, Limit: 100}
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for range 1000 {
			wg.Go(func() {
				if c, _ := l.Get(context.Background(), "hot", rate); !c.Reached {
					allowed.Add(1)
				}
			})
		}
		wg.Wait()
		if allowed.Load() != 100 {
			t.Errorf("allowed %d, want exactly 100", allowed.Load())
		}
	})
	t.Run("two windows, crossing orders", func(t *testing.T) {
		// Half the goroutines list the windows in the opposite order: the
		// shard locks must still be taken without deadlock, and both limits
		// hold exactly.
		l := memory.NewLimiter(0)
		var allowed atomic.Int64
		perUser := make([]atomic.Int64, 5)
		var wg sync.WaitGroup
		for i := range 1000 {
			wg.Go(func() {
				u := i % 5
				ws := []memory.Window{
					{Key: "global", Limit: 100, Period: time.Hour},
					{Key: fmt.Sprintf("user:%d", u), Limit: 30, Period: time.Hour},
				}
				if i%2 == 1 {
					ws[0], ws[1] = ws[1], ws[0]
				}
				if _, ok := l.Take(1, ws); ok {
					allowed.Add(1)
					perUser[u].Add(1)
				}
			})
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("Take deadlocked")
		}
		if allowed.Load() != 100 {
			t.Errorf("allowed %d, want exactly 100", allowed.Load())
		}
		for u := range perUser {
			if n := perUser[u].Load(); n > 30 {
				t.Errorf("user %d allowed %d > 30", u, n)
			}
		}
	})
	t.Run("many keys", func(t *testing.T) {
		l := memory.NewLimiter(0)
		var wg sync.WaitGroup
		var allowed atomic.Int64
		for g := range 50 {
			wg.Go(func() {
				for i := range 200 {
					k := fmt.Sprintf("k%d", i%20)
					if _, ok := l.Take(1, []memory.Window{{Key: k, Limit: 10, Period: time.Hour}}); ok {
						allowed.Add(1)
					}
					_ = g
				}
			})
		}
		wg.Wait()
		if allowed.Load() != 200 { // 20 keys x 10
			t.Errorf("allowed %d, want 200", allowed.Load())
		}
	})
}

// TestMemoryLimiterFloodBounded: a flood of distinct identities keeps the
// accounted bytes within the bound, and the identities that keep sending
// (the most recently used) keep exact counts.
func TestMemoryLimiterFloodBounded(t *testing.T) {
	const bound = 1 << 20
	l := memory.NewLimiter(bound)
	hot := make([]string, 20)
	for i := range hot {
		hot[i] = fmt.Sprintf("hot:%02d", i)
	}
	const rounds, flood = 40, 5_000
	for r := range rounds {
		for _, k := range hot {
			if _, ok := l.Take(1, []memory.Window{{Key: k, Limit: 1 << 30, Period: time.Hour}}); !ok {
				t.Fatalf("%s refused", k)
			}
		}
		for i := range flood {
			l.Take(1, []memory.Window{{Key: fmt.Sprintf("flood:%d:%d", r, i), Limit: 10, Period: time.Hour}})
		}
		if b := l.Bytes(); b > bound {
			t.Fatalf("round %d: %d bytes accounted, bound %d", r, b, bound)
		}
	}
	for _, k := range hot {
		st, _ := l.Take(0, []memory.Window{{Key: k, Limit: 1 << 30, Period: time.Hour}})
		if st[0].Count != rounds {
			t.Errorf("%s: count %d after %d requests: evicted under the flood", k, st[0].Count, rounds)
		}
	}
	t.Logf("%d identities sent, %d counters held, %d bytes accounted (bound %d)", rounds*(flood+len(hot)), l.Len(), l.Bytes(), bound)
}

// liveHeap returns the live heap after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestMemoryLimiterFloodHeapFlat: the live heap after a flood of a million
// distinct identities is within twice what it was after 100,000 (measured
// against the heap before the flood): the bound holds for real memory, not
// only for the accounting.
func TestMemoryLimiterFloodHeapFlat(t *testing.T) {
	if testing.Short() && !redistest.InCI() {
		t.Skip("floods a million identities; runs without -short and always under CI=true")
	}
	const bound = 4 << 20
	base := liveHeap()
	l := memory.NewLimiter(bound)
	key := make([]byte, 0, 32)
	flood := func(from, to int) {
		for i := from; i < to; i++ {
			key = fmt.Appendf(key[:0], "rl:{203.0.%d.%d}:f:api", i>>8, i&0xff)
			l.Take(1, []memory.Window{{Key: string(key), Limit: 100, Period: time.Hour}})
		}
	}
	overBase := func() uint64 { h := liveHeap(); return h - min(h, base) }
	flood(0, 100_000)
	at100k := overBase()
	n100k := l.Len()
	flood(100_000, 1_000_000)
	at1M := overBase()
	t.Logf("live heap over the baseline: %.1f MiB at 100k identities (%d counters), %.1f MiB at 1M (%d counters); %d bytes accounted, bound %d",
		float64(at100k)/(1<<20), n100k, float64(at1M)/(1<<20), l.Len(), l.Bytes(), bound)
	if at1M >= 2*at100k {
		t.Errorf("live heap grew from %d to %d bytes between 100k and 1M identities: not bounded", at100k, at1M)
	}
	if l.Bytes() > bound {
		t.Errorf("%d bytes accounted, bound %d", l.Bytes(), bound)
	}
	runtime.KeepAlive(l)
}
