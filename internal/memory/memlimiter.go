package memory

import (
	"container/heap"
	"context"
	"hash/maphash"
	"sort"
	"sync"
	"time"

	"github.com/ulule/limiter/v3"
)

// DefaultLimiterBytes is the default size bound of a Limiter: 32 MiB,
// room for about 200,000 counters with 40-byte keys.
const DefaultLimiterBytes = 32 << 20

// counterOverhead approximates the heap bytes one counter costs besides its
// key: the counter itself, its map slot and its expiry-heap slot. A
// Limiter accounts len(key)+counterOverhead per counter.
const counterOverhead = 144

// Limiter is an in-process fixed-window rate-limit store: the backend
// ratelimithttp switches to while Redis is down, and the embedded default.
// It implements limiter.Store with ulule's semantics, and adds Take, which
// checks several windows atomically and counts nothing when any would be
// exceeded (a rejected request costs no quota).
//
// Its memory is bounded: it holds at most the bytes given to
// NewLimiter (DefaultLimiterBytes by default) of counters, so a flood
// of distinct identities (every request from a new address or user) cannot
// grow the process. When a new counter does not fit, it drops counters whose
// windows have ended first, then the least recently used live ones. What an
// eviction costs: an evicted identity that comes back starts a fresh window
// with a zero count, so under a flood large enough to push out an idle
// client's counter, that client may get up to one extra window's worth of
// requests. Identities that keep sending are the most recently used and are
// evicted last; their limits stay exact.
//
// Counters of ended windows are reclaimed a few at a time on every call
// (earliest end first), never by walking all counters. It starts no
// goroutine, so nothing is left running after use.
type Limiter struct {
	seed   maphash.Seed
	shards []limShard
	now    func() time.Time
}

type limShard struct {
	mu    sync.Mutex
	m     map[string]*winCounter
	lru   winCounter // sentinel: lru.next is the most recently used, lru.prev the least
	exp   expHeap    // every counter, earliest window end first
	bytes int64
	max   int64
	_     [64]byte // keep shards' locks on separate cache lines
}

type winCounter struct {
	key        string
	count      int64
	expires    int64 // window end, Unix nanoseconds
	prev, next *winCounter
	hi         int // index in the shard's expiry heap
}

// reclaimPerCall is how many ended windows a call reclaims at most, besides
// those it evicts to make room.
const reclaimPerCall = 4

// minShardBytes is the smallest bound a shard gets: small limiters use
// fewer shards rather than shards too small to hold a few counters.
const minShardBytes = 256 << 10

// NewLimiter returns an empty Limiter holding at most maxBytes
// of counters (DefaultLimiterBytes when maxBytes <= 0). Each counter is
// accounted as its key's length plus about 150 bytes of bookkeeping, close
// to what it costs on the heap.
func NewLimiter(maxBytes int64) *Limiter {
	if maxBytes <= 0 {
		maxBytes = DefaultLimiterBytes
	}
	n := 1
	for n < 64 && maxBytes/int64(2*n) >= minShardBytes {
		n *= 2
	}
	l := &Limiter{seed: maphash.MakeSeed(), now: time.Now, shards: make([]limShard, n)}
	for i := range l.shards {
		s := &l.shards[i]
		s.m = make(map[string]*winCounter)
		s.lru.next, s.lru.prev = &s.lru, &s.lru
		s.max = maxBytes / int64(n)
	}
	return l
}

// Window is one limit checked by Take: at most Limit units per Period,
// counted under Key.
type Window struct {
	Key    string
	Limit  int64
	Period time.Duration
}

// WindowState is a window's state after Take.
type WindowState struct {
	// Count is the units used in the current window, including this
	// request's when it was allowed.
	Count int64
	// Reset is when the current window ends.
	Reset time.Time
}

// Bytes returns the accounted size of the counters held (at most the bound
// given to NewLimiter once a call has returned).
func (l *Limiter) Bytes() int64 {
	var n int64
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += s.bytes
		s.mu.Unlock()
	}
	return n
}

// Len returns the number of counters held, including those of windows that
// ended and are not reclaimed yet.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

func (l *Limiter) shard(key string) int {
	if len(l.shards) == 1 {
		return 0
	}
	return int(maphash.String(l.seed, key) & uint64(len(l.shards)-1))
}

func counterWeight(key string) int64 { return int64(len(key)) + counterOverhead }

// counter returns key's live counter, creating it or starting a new window
// when the last one ended, and marks it most recently used. It never
// evicts (trim does, after the call's counters are all taken); the shard
// lock must be held.
func (s *limShard) counter(key string, now int64, period time.Duration) *winCounter {
	c, ok := s.m[key]
	if ok {
		if now >= c.expires {
			c.count, c.expires = 0, now+int64(period)
			heap.Fix(&s.exp, c.hi)
		}
		s.unlink(c)
	} else {
		c = &winCounter{key: key, expires: now + int64(period)}
		s.m[key] = c
		s.bytes += counterWeight(key)
		heap.Push(&s.exp, c)
	}
	// Link at the front (most recently used).
	c.prev, c.next = &s.lru, s.lru.next
	s.lru.next.prev = c
	s.lru.next = c
	return c
}

func (s *limShard) unlink(c *winCounter) {
	c.prev.next = c.next
	c.next.prev = c.prev
	c.prev, c.next = nil, nil
}

func (s *limShard) remove(c *winCounter) {
	s.unlink(c)
	heap.Remove(&s.exp, c.hi)
	delete(s.m, c.key)
	s.bytes -= counterWeight(c.key)
}

// trim reclaims a few ended windows, then evicts until the shard fits its
// bound: ended windows first (earliest end first), then the least recently
// used. The keep most recently used counters (those of the current call)
// are never evicted. The shard lock must be held.
func (s *limShard) trim(now int64, keep int) {
	for i := 0; i < reclaimPerCall && len(s.exp) > 0 && s.exp[0].expires <= now; i++ {
		s.remove(s.exp[0])
	}
	for s.bytes > s.max && len(s.m) > keep {
		if s.exp[0].expires <= now {
			s.remove(s.exp[0])
		} else {
			s.remove(s.lru.prev)
		}
	}
}

// Take checks every window and, only if each has room for cost more units,
// adds cost to all of them. It returns each window's state and whether the
// request was allowed. The check and the update are atomic together.
func (l *Limiter) Take(cost int64, windows []Window) ([]WindowState, bool) {
	now := l.now().UnixNano()
	idx := make([]int, 0, len(windows))
	for _, w := range windows {
		idx = append(idx, l.shard(w.Key))
	}
	order := append([]int(nil), idx...)
	sort.Ints(order)
	locked := make([]int, 0, len(order))
	for i, s := range order {
		if i > 0 && s == order[i-1] {
			continue
		}
		l.shards[s].mu.Lock()
		locked = append(locked, s)
	}
	cs := make([]*winCounter, len(windows))
	allowed := true
	for i, w := range windows {
		cs[i] = l.shards[idx[i]].counter(w.Key, now, w.Period)
		if cs[i].count+cost > w.Limit {
			allowed = false
		}
	}
	states := make([]WindowState, len(windows))
	for i, c := range cs {
		if allowed {
			c.count += cost
		}
		states[i] = WindowState{Count: c.count, Reset: time.Unix(0, c.expires)}
	}
	for _, s := range locked {
		keep := 0
		for _, i := range idx {
			if i == s {
				keep++
			}
		}
		l.shards[s].trim(now, keep)
		l.shards[s].mu.Unlock()
	}
	return states, allowed
}

// apply runs f on key's counter and returns the limit context; a counter
// that f leaves at zero is not kept (Peek and Reset store nothing).
func (l *Limiter) apply(key string, rate limiter.Rate, f func(c *winCounter)) limiter.Context {
	now := l.now().UnixNano()
	s := &l.shards[l.shard(key)]
	s.mu.Lock()
	c := s.counter(key, now, rate.Period)
	f(c)
	count, reset := c.count, c.expires
	if count == 0 {
		s.remove(c)
	}
	s.trim(now, 1)
	s.mu.Unlock()
	remaining := max(rate.Limit-count, 0)
	return limiter.Context{Limit: rate.Limit, Remaining: remaining, Reset: time.Unix(0, reset).Unix(), Reached: count > rate.Limit}
}

// Get increments key's counter by one and returns the limit context
// (limiter.Store).
func (l *Limiter) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return l.Increment(ctx, key, 1, rate)
}

// Increment adds count to key's counter (limiter.Store).
func (l *Limiter) Increment(_ context.Context, key string, count int64, rate limiter.Rate) (limiter.Context, error) {
	return l.apply(key, rate, func(c *winCounter) { c.count += count }), nil
}

// Peek returns key's limit context without counting (limiter.Store).
func (l *Limiter) Peek(_ context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return l.apply(key, rate, func(*winCounter) {}), nil
}

// Reset clears key's counter (limiter.Store).
func (l *Limiter) Reset(_ context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return l.apply(key, rate, func(c *winCounter) { c.count = 0 }), nil
}

var _ limiter.Store = (*Limiter)(nil)

// expHeap is a min-heap of counters by window end (container/heap).
type expHeap []*winCounter

func (h expHeap) Len() int           { return len(h) }
func (h expHeap) Less(i, j int) bool { return h[i].expires < h[j].expires }
func (h expHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hi, h[j].hi = i, j
}
func (h *expHeap) Push(x any) {
	c := x.(*winCounter)
	c.hi = len(*h)
	*h = append(*h, c)
}
func (h *expHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return c
}
