package memory

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
	l := NewLimiter(0)
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

// TestMemoryLimiterSweepsExpired: counters of windows that ended are
// reclaimed a few per call, so a stream of one-off clients keeps about one
// window's worth of counters, far below the bound.
func TestMemoryLimiterSweepsExpired(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := NewLimiter(0)
	l.now = clk.now
	for round := range 20 {
		for i := range 10_000 {
			l.Take(1, []Window{{Key: fmt.Sprintf("r%d-c%d", round, i), Limit: 1, Period: time.Second}})
		}
		clk.add(2 * time.Second) // every counter so far has expired
	}
	// 200,000 keys went in; every call reclaims up to 4 ended windows, so
	// the previous rounds are gone and at most the last round is left.
	if n := l.Len(); n > 10_000+64 {
		t.Errorf("%d counters kept after 200000 one-off keys", n)
	}
	if b := l.Bytes(); b >= DefaultLimiterBytes/4 {
		t.Errorf("%d bytes kept", b)
	}
}

// TestMemoryLimiterEvictionOrder: when a counter does not fit, ended
// windows go first, then the least recently used live ones; the counters of
// the call itself are never evicted.
func TestMemoryLimiterEvictionOrder(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	const keyLen = 4 // "k000"
	per := counterWeight("k000")
	l := NewLimiter(10 * per) // one shard, ten counters
	if len(l.shards) != 1 {
		t.Fatalf("%d shards for a tiny bound", len(l.shards))
	}
	l.now = clk.now
	take := func(key string, period time.Duration) WindowState {
		if len(key) != keyLen {
			t.Fatalf("key %q", key)
		}
		st, _ := l.Take(1, []Window{{Key: key, Limit: 100, Period: period}})
		return st[0]
	}
	has := func(key string) bool {
		_, ok := l.shards[0].m[key]
		return ok
	}
	// k000..k004 live for an hour, k005..k009 for a second.
	for i := range 10 {
		p := time.Hour
		if i >= 5 {
			p = time.Second
		}
		take(fmt.Sprintf("k%03d", i), p)
	}
	if l.Len() != 10 || l.Bytes() != 10*per {
		t.Fatalf("len %d bytes %d", l.Len(), l.Bytes())
	}
	// Touch k000 so k001 is the least recently used live counter.
	take("k000", time.Hour)
	clk.add(2 * time.Second) // the one-second windows ended
	// The next call reclaims up to 4 ended windows on its own, and the
	// new counter then fits; the call after it reclaims the fifth. No
	// live counter is evicted meanwhile.
	take("k010", time.Hour)
	if l.Len() != 7 {
		t.Errorf("after one call: %d counters, want 7 (4 ended windows reclaimed)", l.Len())
	}
	take("k011", time.Hour)
	for i := range 5 {
		if k := fmt.Sprintf("k%03d", i); !has(k) {
			t.Errorf("live counter %s evicted while ended windows were held", k)
		}
	}
	for i := 5; i < 10; i++ {
		if k := fmt.Sprintf("k%03d", i); has(k) {
			t.Errorf("ended window %s still held", k)
		}
	}
	// Fill up to the bound, then one more: the least recently used live
	// counter (k001) goes, k000 (touched later) stays.
	for i := 12; i < 15; i++ {
		take(fmt.Sprintf("k%03d", i), time.Hour)
	}
	if l.Len() != 10 {
		t.Fatalf("len %d", l.Len())
	}
	take("k015", time.Hour)
	if has("k001") || !has("k000") || !has("k015") || l.Len() != 10 {
		t.Errorf("LRU eviction: k001 %v, k000 %v, k015 %v, len %d", has("k001"), has("k000"), has("k015"), l.Len())
	}
	// An evicted identity starts a fresh window (the documented cost).
	if st := take("k001", time.Hour); st.Count != 1 {
		t.Errorf("evicted counter came back with count %d", st.Count)
	}
	// A call whose own counters exceed the bound keeps them all.
	ws := make([]Window, 12)
	for i := range ws {
		ws[i] = Window{Key: fmt.Sprintf("x%03d", i), Limit: 1, Period: time.Hour}
	}
	st, ok := l.Take(1, ws)
	if !ok || st[0].Count != 1 || st[11].Count != 1 {
		t.Errorf("wide call: %v %+v", ok, st)
	}
	if n := l.Len(); n != 12 {
		t.Errorf("after a 12-window call: %d counters, want exactly its 12", n)
	}
}

// TestMemoryLimiterEvictsEndedBeforeLive: a call that brings more new
// counters than a call reclaims on its own makes room from ended windows
// before touching the least recently used live counter.
func TestMemoryLimiterEvictsEndedBeforeLive(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	per := counterWeight("k000")
	l := NewLimiter(10 * per)
	l.now = clk.now
	l.Take(1, []Window{{Key: "live", Limit: 9, Period: time.Hour}}) // least recently used from now on
	for i := range 9 {
		l.Take(1, []Window{{Key: fmt.Sprintf("e%03d", i), Limit: 9, Period: time.Second}})
	}
	clk.add(2 * time.Second)
	ws := make([]Window, 6)
	for i := range ws {
		ws[i] = Window{Key: fmt.Sprintf("n%03d", i), Limit: 9, Period: time.Hour}
	}
	l.Take(1, ws)
	if _, ok := l.shards[0].m["live"]; !ok {
		t.Error("a live counter was evicted while ended windows were held")
	}
	if l.Len() != 10 || l.Bytes() > 10*per {
		t.Errorf("len %d bytes %d, want 10 counters within the bound", l.Len(), l.Bytes())
	}
	st, _ := l.Take(1, []Window{{Key: "live", Limit: 9, Period: time.Hour}})
	if st[0].Count != 2 {
		t.Errorf("live counter = %d, want 2", st[0].Count)
	}
}

// TestMemoryLimiterShards: the shard count follows the bound.
func TestMemoryLimiterShards(t *testing.T) {
	for _, c := range []struct {
		bytes  int64
		shards int
	}{{1, 1}, {512 << 10, 2}, {1 << 20, 4}, {DefaultLimiterBytes, 64}, {1 << 40, 64}, {0, 64}, {-5, 64}} {
		l := NewLimiter(c.bytes)
		if len(l.shards) != c.shards {
			t.Errorf("NewLimiter(%d): %d shards, want %d", c.bytes, len(l.shards), c.shards)
		}
	}
}
