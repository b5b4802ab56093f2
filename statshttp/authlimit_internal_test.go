package statshttp

import (
	"runtime"
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
// maxEntries are tracked, the oldest evicted first. A client that has never
// failed is never blocked, however many others failed (no shared
// allowance), while the most recent clients over their limit stay blocked;
// entries expire with their window without a walk.
func TestFailureLimiterBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newFailureLimiter(3, time.Minute, 50)
	l.now = func() time.Time { return now }
	for i := range 1000 {
		l.fail("ip" + strconv.Itoa(i))
		now = now.Add(time.Millisecond)
	}
	if n := l.tracked(); n > 50 || l.order.Len() != n {
		t.Fatalf("%d entries tracked (list %d), bound 50", n, l.order.Len())
	}
	if _, b := l.blocked("never-seen"); b {
		t.Error("a client that never failed is blocked by others' failures")
	}
	for range 3 {
		l.fail("attacker")
	}
	for i := range 49 {
		l.fail("more" + strconv.Itoa(i))
	}
	if _, b := l.blocked("attacker"); !b {
		t.Error("a client over its limit, still among the newest tracked, is not blocked")
	}
	if _, b := l.blocked("ip999"); b {
		t.Error("a tracked client with one failure is blocked")
	}
	now = now.Add(2 * time.Minute)
	l.fail("fresh")
	if n := l.tracked(); n != 1 {
		t.Errorf("%d entries after the windows ended, want only the fresh one", n)
	}
	if _, b := l.blocked("attacker"); b {
		t.Error("attacker still blocked after its window")
	}
}

// A flood of 100,000 distinct addresses keeps the table at its bound: the
// limiter's memory does not grow with the number of clients.
func TestFailureLimiterFloodMemory(t *testing.T) {
	l := newFailureLimiter(10, time.Minute, maxAuthClients)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	base := heap()
	var atBound uint64
	for i := range 100_000 {
		l.fail("2001:db8:" + strconv.Itoa(i) + "::/64")
		if n := l.tracked(); n > maxAuthClients {
			t.Fatalf("after %d clients: %d tracked, bound %d", i+1, n, maxAuthClients)
		}
		if i+1 == maxAuthClients {
			atBound = heap()
		}
	}
	// A figure for the docs, not an assertion: heap held at the bound and
	// after ten times as many clients.
	t.Logf("heap over the empty limiter: %d KiB after %d clients, %d KiB after 100,000",
		(int64(atBound)-int64(base))/1024, maxAuthClients, (int64(heap())-int64(base))/1024)
	if n := l.tracked(); n != maxAuthClients || l.order.Len() != n {
		t.Errorf("%d tracked, list %d, want %d", n, l.order.Len(), maxAuthClients)
	}
}

// An entry keeps counting and blocking until its own window ends, however
// many entries were added or expired around it.
func TestFailureLimiterEntryWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newFailureLimiter(2, time.Minute, 100)
	l.now = func() time.Time { return now }
	l.fail("other") // t=0
	now = now.Add(50 * time.Second)
	l.fail("a") // t=50s
	now = now.Add(20 * time.Second)
	l.fail("b") // t=70s: other has expired
	l.fail("a")
	if _, b := l.blocked("a"); !b {
		t.Fatal("a's second failure in its window did not block")
	}
	if n := l.tracked(); n != 2 {
		t.Errorf("%d tracked, want 2 (other expired)", n)
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
