package fallback

import (
	"context"
	"hash/maphash"
	"sort"
	"sync"
	"time"

	"github.com/ulule/limiter/v3"
)

// MemoryLimiter is an in-process fixed-window rate-limit store: the backend
// ratelimithttp switches to while Redis is down, and the embedded default.
// It implements limiter.Store with ulule's semantics, and adds Take, which
// checks several windows atomically and counts nothing when any would be
// exceeded (a rejected request costs no quota).
//
// Unlike ulule's memory store it starts no goroutine (expired counters are
// swept inline as a shard grows), so nothing is left running after use.
type MemoryLimiter struct {
	seed   maphash.Seed
	shards [64]limShard
	now    func() time.Time
}

type limShard struct {
	mu       sync.Mutex
	m        map[string]*winCounter
	nextScan int
}

type winCounter struct {
	count   int64
	expires time.Time
}

// NewMemoryLimiter returns an empty MemoryLimiter.
func NewMemoryLimiter() *MemoryLimiter {
	l := &MemoryLimiter{seed: maphash.MakeSeed(), now: time.Now}
	for i := range l.shards {
		l.shards[i].m = make(map[string]*winCounter)
		l.shards[i].nextScan = 1024
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

func (l *MemoryLimiter) shard(key string) int {
	return int(maphash.String(l.seed, key) % uint64(len(l.shards)))
}

// counter returns key's live counter, creating or restarting it; the shard
// lock must be held.
func (s *limShard) counter(key string, now time.Time, period time.Duration) *winCounter {
	c, ok := s.m[key]
	if ok && now.Before(c.expires) {
		return c
	}
	if len(s.m) >= s.nextScan {
		for k, v := range s.m {
			if !now.Before(v.expires) {
				delete(s.m, k)
			}
		}
		s.nextScan = 2*len(s.m) + 1024
	}
	c = &winCounter{expires: now.Add(period)}
	s.m[key] = c
	return c
}

// Take checks every window and, only if each has room for cost more units,
// adds cost to all of them. It returns each window's state and whether the
// request was allowed. The check and the update are atomic together.
func (l *MemoryLimiter) Take(cost int64, windows []Window) ([]WindowState, bool) {
	now := l.now()
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
	defer func() {
		for _, s := range locked {
			l.shards[s].mu.Unlock()
		}
	}()
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
		states[i] = WindowState{Count: c.count, Reset: c.expires}
	}
	return states, allowed
}

func (l *MemoryLimiter) apply(key string, rate limiter.Rate, f func(c *winCounter)) limiter.Context {
	now := l.now()
	s := &l.shards[l.shard(key)]
	s.mu.Lock()
	c := s.counter(key, now, rate.Period)
	f(c)
	count, reset := c.count, c.expires
	s.mu.Unlock()
	remaining := rate.Limit - count
	if remaining < 0 {
		remaining = 0
	}
	return limiter.Context{Limit: rate.Limit, Remaining: remaining, Reset: reset.Unix(), Reached: count > rate.Limit}
}

// Get increments key's counter by one and returns the limit context
// (limiter.Store).
func (l *MemoryLimiter) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return l.Increment(ctx, key, 1, rate)
}

// Increment adds count to key's counter (limiter.Store).
func (l *MemoryLimiter) Increment(_ context.Context, key string, count int64, rate limiter.Rate) (limiter.Context, error) {
	return l.apply(key, rate, func(c *winCounter) { c.count += count }), nil
}

// Peek returns key's limit context without counting (limiter.Store).
func (l *MemoryLimiter) Peek(_ context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return l.apply(key, rate, func(*winCounter) {}), nil
}

// Reset clears key's counter (limiter.Store).
func (l *MemoryLimiter) Reset(_ context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return l.apply(key, rate, func(c *winCounter) { c.count = 0 }), nil
}

var _ limiter.Store = (*MemoryLimiter)(nil)
