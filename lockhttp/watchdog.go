package lockhttp

import (
	"context"
	"errors"
	"sync"
	"time"
)

// errNotOurs marks an extension that Redis refused: a quorum of nodes holds
// another value (or none) under the lock or claim key, so it is lost for
// sure. Any other extension error (a timeout, a refused connection) leaves
// the lock's state unknown: it is still ours until its validity runs out.
var errNotOurs = errors.New("lockhttp: held by another request")

// watchdog extends a held lock (and the request's idempotency claim) every
// TTL/3 while the handler runs. An extension that fails because Redis did
// not answer (a pause, a partition) is retried with a short backoff for as
// long as the lock is still valid by our clock (the start of the last
// successful acquisition or extension, plus TTL, minus a clock drift
// allowance of TTL/100): Redis expires the key no earlier, so the handler
// keeps its lock through an outage shorter than that. The handler's context
// is cancelled with ErrLockLost when Redis says the lock or claim is no
// longer ours, or when the validity runs out without a successful
// extension. It is a timer, not a goroutine: a handler that finishes within
// TTL/3 costs one timer.
type watchdog struct {
	l      *Locker
	be     backend
	ls     lease
	idem   *idemState
	cancel context.CancelCauseFunc
	bg     context.Context
	every  time.Duration

	mu      sync.Mutex // held while an extension runs; stop waits for it
	stopped bool
	lost    bool          // the handler's context was cancelled with ErrLockLost
	backoff time.Duration // the delay before the next retry of a failed extension
	t       *time.Timer
}

// Backoff of extensions retried after an unknown failure.
const (
	minExtendRetry = 25 * time.Millisecond
	maxExtendRetry = 500 * time.Millisecond
)

// startWatchdog starts wd, which must be zero, for the lock ls; bg is the
// request's context without its cancellation.
func (l *Locker) startWatchdog(wd *watchdog, bg context.Context, be backend, ls lease, idem *idemState, cancel context.CancelCauseFunc) {
	*wd = watchdog{l: l, be: be, ls: ls, idem: idem, cancel: cancel, bg: bg, every: l.o.TTL / 3}
	wd.mu.Lock()
	wd.t = time.AfterFunc(wd.every, wd.tick)
	wd.mu.Unlock()
}

func (wd *watchdog) tick() {
	wd.mu.Lock()
	defer wd.mu.Unlock()
	if wd.stopped {
		return
	}
	left := time.Until(wd.ls.until())
	if left <= 0 {
		wd.loseLock()
		return
	}
	cctx, ccancel := context.WithTimeout(wd.bg, min(wd.l.o.CommandTimeout, wd.every, left))
	err := wd.ls.extend(cctx)
	if err == nil && wd.idem != nil {
		err = wd.be.extendClaim(cctx, wd.idem.key, wd.idem.running, wd.l.claimTTL())
	}
	ccancel()
	switch {
	case err == nil:
		wd.backoff = 0
		wd.t.Reset(wd.every)
	case errors.Is(err, errNotOurs):
		wd.loseLock()
	default:
		// Unknown: retry while the lock is still valid; the tick after its
		// validity ends declares it lost.
		wd.backoff = min(max(2*wd.backoff, minExtendRetry), maxExtendRetry)
		wd.t.Reset(max(0, min(wd.backoff, time.Until(wd.ls.until()))))
	}
}

func (wd *watchdog) loseLock() {
	wd.stopped, wd.lost = true, true
	wd.l.emit(lockExpired)
	wd.cancel(ErrLockLost)
}

// stop ends the watchdog, waiting for an extension in flight, and reports
// whether the lock was lost while the handler ran. A watchdog never started
// (the zero value) has nothing to stop.
func (wd *watchdog) stop() (lost bool) {
	wd.mu.Lock()
	defer wd.mu.Unlock()
	wd.stopped = true
	if wd.t != nil {
		wd.t.Stop()
	}
	return wd.lost
}
