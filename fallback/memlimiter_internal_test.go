package fallback

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"
)

// fakeClock is a settable clock for window tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestMemoryLimiterFixedWindow(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := NewMemoryLimiter()
	l.now = clk.now
	w := []Window{{Key: "k", Limit: 2, Period: 10 * time.Second}}
	take := func() bool { _, ok := l.Take(1, w); return ok }
	for i, want := range []bool{true, true, false} {
		if got := take(); got != want {
			t.Fatalf("first window, take %d = %v", i+1, got)
		}
	}
	clk.add(9999 * time.Millisecond) // still inside the window
	if take() {
		t.Error("allowed 1 ms before the window ends")
	}
	clk.add(time.Millisecond) // exactly at the end: a new window
	states, ok := l.Take(1, w)
	if !ok || states[0].Count != 1 || !states[0].Reset.Equal(clk.now().Add(10*time.Second)) {
		t.Errorf("new window: %+v, %v", states, ok)
	}
	// limiter.Store view of the same thing.
	rate := limiter.Rate{Period: 10 * time.Second, Limit: 1}
	c, _ := l.Get(context.Background(), "s", rate)
	if c.Reset != clk.now().Add(10*time.Second).Unix() || c.Reached {
		t.Errorf("Get = %+v", c)
	}
	clk.add(10 * time.Second)
	if c, _ := l.Peek(context.Background(), "s", rate); c.Remaining != 1 {
		t.Errorf("Peek in a new window = %+v", c)
	}
}

// TestMemoryLimiterSweepsExpired: counters of windows that ended are removed
// as a shard grows, so a stream of one-off clients does not grow memory
// without bound.
func TestMemoryLimiterSweepsExpired(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := NewMemoryLimiter()
	l.now = clk.now
	size := func() int {
		n := 0
		for i := range l.shards {
			l.shards[i].mu.Lock()
			n += len(l.shards[i].m)
			l.shards[i].mu.Unlock()
		}
		return n
	}
	for round := range 20 {
		for i := range 10_000 {
			l.Take(1, []Window{{Key: fmt.Sprintf("r%d-c%d", round, i), Limit: 1, Period: time.Second}})
		}
		clk.add(2 * time.Second) // every counter so far has expired
	}
	// 200,000 keys went in. A shard sweeps once it holds 1024 counters
	// plus twice its live ones (~156 of the current round), so at most
	// about 64*(1024+2*156) + one round of 10,000 ≈ 95,500 remain.
	if n := size(); n > 100_000 {
		t.Errorf("%d counters kept after 200000 one-off keys", n)
	}
	t.Logf("counters kept: %d", size())
}
