package statshttp

import (
	"container/list"
	"sync"
	"time"
)

// maxAuthClients bounds how many clients the failure limiter tracks at once.
const maxAuthClients = 10000

// failureLimiter counts failed authentications per client key in fixed
// windows that start at each client's first failure. Memory is bounded:
// entries are kept in the order their windows began, so expired entries are
// dropped from the front as time passes (O(1) amortised, no walk per call),
// and when maxEntries clients are tracked a new client evicts the one whose
// window began first. Every client keeps an entry of its own: no client's
// failures ever count against another, so a flood of failures from ever new
// addresses cannot lock anyone else out. What eviction costs is that an
// attacker who makes maxEntries newer clients fail gets its own count
// reset; with a token of 16 random bytes that buys nothing.
type failureLimiter struct {
	limit      int
	window     time.Duration
	maxEntries int
	now        func() time.Time

	mu      sync.Mutex
	entries map[string]*list.Element // key -> element of order
	order   list.List                // *failEntry, oldest window first
}

type failEntry struct {
	key   string
	start time.Time // the first failure of the window
	n     int
}

func newFailureLimiter(limit int, window time.Duration, maxEntries int) *failureLimiter {
	return &failureLimiter{
		limit: limit, window: window, maxEntries: maxEntries, now: time.Now,
		entries: map[string]*list.Element{},
	}
}

// prune drops the entries whose window has ended. Windows start at the
// current time when an entry is added at the back, so the front is always
// the oldest.
func (l *failureLimiter) prune(now time.Time) {
	for el := l.order.Front(); el != nil; el = l.order.Front() {
		e := el.Value.(*failEntry)
		if now.Sub(e.start) < l.window {
			return
		}
		l.order.Remove(el)
		delete(l.entries, e.key)
	}
}

// blocked reports whether key has used up its failures, and if so how long
// until its window ends.
func (l *failureLimiter) blocked(key string) (time.Duration, bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	el := l.entries[key]
	if el == nil {
		return 0, false
	}
	e := el.Value.(*failEntry)
	if e.n < l.limit {
		return 0, false
	}
	return e.start.Add(l.window).Sub(now), true
}

// fail counts one failed authentication for key, evicting the oldest
// tracked client if key is new and the table is full.
func (l *failureLimiter) fail(key string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	if el := l.entries[key]; el != nil {
		el.Value.(*failEntry).n++
		return
	}
	for l.order.Len() >= l.maxEntries && l.order.Len() > 0 {
		old := l.order.Front()
		l.order.Remove(old)
		delete(l.entries, old.Value.(*failEntry).key)
	}
	l.entries[key] = l.order.PushBack(&failEntry{key: key, start: now, n: 1})
}

// tracked returns how many clients the limiter holds (for tests).
func (l *failureLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}
