package statshttp

import (
	"strconv"
	"testing"
	"time"
)

// The window starts at a client's first failure and the block lifts when
// it ends; Retry-After counts down to that moment.
func TestFailureLimiterWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newFailureLimiter(3, time.Minute, 100)
	l.now = func() time.Time { return now }
	for range 3 {
		if _, b := l.blocked("a"); b {
			t.Fatal("blocked before the limit")
		}
		l.fail("a")
		now = now.Add(10 * time.Second)
	}
	wait, b := l.blocked("a")
	if !b || wait != 30*time.Second {
		t.Fatalf("after 3 failures in 30s: blocked %v, wait %v, want true, 30s", b, wait)
	}
	if _, b := l.blocked("b"); b {
		t.Error("another key is blocked")
	}
	now = now.Add(wait)
	if _, b := l.blocked("a"); b {
		t.Error("still blocked once the window ended")
	}
	// A new window starts with the next failure.
	l.fail("a")
	if _, b := l.blocked("a"); b {
		t.Error("one failure in a new window blocks")
	}
}

// Memory stays bounded under failures from ever new addresses: at most
// maxEntries are tracked, the rest share the overflow allowance (so they
// are blocked together), and whole generations expire without a walk.
func TestFailureLimiterBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newFailureLimiter(3, time.Minute, 50)
	l.now = func() time.Time { return now }
	for i := range 1000 {
		l.fail("ip" + strconv.Itoa(i))
		now = now.Add(time.Millisecond)
	}
	if n := len(l.cur) + len(l.prev); n > 50 {
		t.Fatalf("%d entries tracked, bound 50", n)
	}
	if _, b := l.blocked("never-seen"); !b {
		t.Error("a spread-out attack past the bound was not throttled as one")
	}
	if _, b := l.blocked("ip0"); b {
		t.Error("a tracked client with one failure is blocked")
	}
	now = now.Add(2 * time.Minute)
	l.fail("fresh")
	if n := len(l.cur) + len(l.prev); n != 1 {
		t.Errorf("%d entries after two windows, want only the fresh one", n)
	}
	if _, b := l.blocked("never-seen"); b {
		t.Error("overflow still blocked after its window")
	}
}

// An entry carried over into the previous generation keeps counting and
// blocking until its own window ends.
func TestFailureLimiterAcrossGenerations(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newFailureLimiter(2, time.Minute, 100)
	l.now = func() time.Time { return now }
	l.fail("other") // starts a generation at t=0
	now = now.Add(50 * time.Second)
	l.fail("a") // t=50s
	now = now.Add(20 * time.Second)
	l.fail("b") // t=70s: rotation, a is in prev
	l.fail("a")
	if _, b := l.blocked("a"); !b {
		t.Fatal("a's second failure in its window (across a rotation) did not block")
	}
	now = now.Add(39 * time.Second) // t=109s: a's window ends at 110s
	if _, b := l.blocked("a"); !b {
		t.Error("a unblocked before its window ended")
	}
	now = now.Add(time.Second)
	if _, b := l.blocked("a"); b {
		t.Error("a still blocked after its window")
	}
}
