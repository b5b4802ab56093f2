package statshttp

import (
	"sync"
	"time"
)

// maxAuthClients bounds how many clients the failure limiter tracks at once.
const maxAuthClients = 10000

// failureLimiter counts failed authentications per client key in fixed
// windows that start at each client's first failure. Memory is bounded: the
// entries live in two generation maps of one window each, so expiry drops a
// whole map at once (no walk per call), and past maxEntries clients every
// further client shares the overflow entry.
type failureLimiter struct {
	limit      int
	window     time.Duration
	maxEntries int
	now        func() time.Time

	mu       sync.Mutex
	genStart time.Time
	cur      map[string]*failEntry // entries created since genStart
	prev     map[string]*failEntry // entries created in the generation before
	overflow failEntry             // shared by clients beyond maxEntries
}

type failEntry struct {
	start time.Time // the first failure of the window
	n     int
}

func newFailureLimiter(limit int, window time.Duration, maxEntries int) *failureLimiter {
	return &failureLimiter{
		limit: limit, window: window, maxEntries: maxEntries, now: time.Now,
		cur: map[string]*failEntry{}, prev: map[string]*failEntry{},
	}
}

// rotate starts a new generation once the current one is a window old.
// Every entry in prev then started before the current generation began, so
// at least a window ago: dropping it loses nothing live.
func (l *failureLimiter) rotate(now time.Time) {
	age := now.Sub(l.genStart)
	if age < l.window {
		return
	}
	if age >= 2*l.window || len(l.cur) == 0 {
		l.prev = map[string]*failEntry{}
	} else {
		l.prev = l.cur
	}
	l.cur = map[string]*failEntry{}
	l.genStart = now
}

// entry returns key's live entry, or nil. With create, a missing or expired
// entry is replaced by a fresh one (the overflow entry when the table is
// full).
func (l *failureLimiter) entry(key string, now time.Time, create bool) *failEntry {
	l.rotate(now)
	e, inCur := l.cur[key]
	if !inCur {
		e = l.prev[key]
	}
	if e == nil && len(l.cur)+len(l.prev) >= l.maxEntries {
		e = &l.overflow
	}
	if e != nil && e.n > 0 && now.Sub(e.start) < l.window {
		return e
	}
	if !create {
		return nil
	}
	if e == &l.overflow {
		l.overflow = failEntry{start: now}
		return &l.overflow
	}
	if !inCur {
		delete(l.prev, key)
		e = &failEntry{}
		l.cur[key] = e
	}
	*e = failEntry{start: now}
	return e
}

// blocked reports whether key has used up its failures, and if so how long
// until its window ends.
func (l *failureLimiter) blocked(key string) (time.Duration, bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(key, now, false)
	if e == nil || e.n < l.limit {
		return 0, false
	}
	return e.start.Add(l.window).Sub(now), true
}

// fail counts one failed authentication for key.
func (l *failureLimiter) fail(key string) {
	now := l.now()
	l.mu.Lock()
	l.entry(key, now, true).n++
	l.mu.Unlock()
}
