package cachehttp

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aura-platform/redishttp/internal/stored"
)

// shared is what one read or load produces for every request that joined it.
// It is read-only once published.
type shared struct {
	ok     bool  // usable by the waiters
	err    error // the loader's error, shared with the waiters (not cached)
	e      entry
	resp   stored.Response // decoded HTTP response (kind 'h')
	loaded bool            // produced by a handler/loader run
	stale  bool            // past its freshness
}

// call is one in-flight read or load of a key, joined by every concurrent
// request for that key in this process. Waiters wait on done with their own
// context: a waiter that gives up leaves the others and the leader alone, and
// the leader's Redis calls run under a context detached from its request.
type call struct {
	done    chan struct{}
	res     *shared
	waiters atomic.Int32
}

type flightShard struct {
	mu sync.Mutex
	m  map[string]*call
}

// flights coalesces concurrent reads and loads of one key.
type flights struct {
	seed   maphash.Seed
	shards [64]flightShard
}

func newFlights() *flights {
	f := &flights{seed: maphash.MakeSeed()}
	for i := range f.shards {
		f.shards[i].m = make(map[string]*call)
	}
	return f
}

// join returns the key's call, creating it (leader true) when none is in
// flight.
func (f *flights) join(k string) (*call, bool) {
	s := &f.shards[maphash.String(f.seed, k)%uint64(len(f.shards))]
	s.mu.Lock()
	if c, ok := s.m[k]; ok {
		c.waiters.Add(1)
		s.mu.Unlock()
		return c, false
	}
	c := &call{done: make(chan struct{})}
	s.m[k] = c
	s.mu.Unlock()
	return c, true
}

// finish publishes res to the waiters and removes the call, so requests that
// come later start a new read. It must be called exactly once by the leader.
func (f *flights) finish(k string, c *call, res *shared) {
	s := &f.shards[maphash.String(f.seed, k)%uint64(len(f.shards))]
	s.mu.Lock()
	if s.m[k] == c {
		delete(s.m, k)
	}
	s.mu.Unlock()
	c.res = res
	close(c.done)
}

// wait waits for c until ctx is done or timeout passes (0: no bound besides
// ctx). finished is false when the result did not come in time; a finished
// call with a nil result was abandoned by its leader (its request ended), and
// the waiter should try again as a new leader.
func (c *call) wait(ctx context.Context, timeout time.Duration) (res *shared, finished bool) {
	select {
	case <-c.done:
		return c.res, true
	default:
	}
	var tc <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		tc = t.C
	}
	select {
	case <-c.done:
		return c.res, true
	case <-ctx.Done():
	case <-tc:
	}
	return nil, false
}

// maxRejoin bounds how often a waiter joins again after its leader gave up.
const maxRejoin = 3

// withOK returns s when ok, else notShareable.
func (s *shared) withOK(ok bool) *shared {
	if ok {
		return s
	}
	return notShareable
}

// withStale returns s marked stale (a copy: shared results are read-only).
func (s *shared) withStale(stale bool) *shared {
	if s.stale == stale {
		return s
	}
	cp := *s
	cp.stale = stale
	return &cp
}
