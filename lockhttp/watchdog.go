package lockhttp

import (
	"context"
	"sync"
	"time"
)

// watchdog extends a held lock (and the request's idempotency claim) every
// TTL/3 while the handler runs. When an extension fails, it cancels the
// handler's context with ErrLockLost and stops. It is a timer, not a
// goroutine: a handler that finishes within TTL/3 costs one timer.
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
	t       *time.Timer
}

func (l *Locker) startWatchdog(ctx context.Context, be backend, ls lease, idem *idemState, cancel context.CancelCauseFunc) *watchdog {
	wd := &watchdog{
		l: l, be: be, ls: ls, idem: idem, cancel: cancel,
		bg: context.WithoutCancel(ctx), every: l.o.TTL / 3,
	}
	wd.mu.Lock()
	wd.t = time.AfterFunc(wd.every, wd.tick)
	wd.mu.Unlock()
	return wd
}

func (wd *watchdog) tick() {
	wd.mu.Lock()
	defer wd.mu.Unlock()
	if wd.stopped {
		return
	}
	cctx, ccancel := context.WithTimeout(wd.bg, min(wd.l.o.CommandTimeout, wd.every))
	err := wd.ls.extend(cctx)
	if err == nil && wd.idem != nil {
		err = wd.be.extendClaim(cctx, wd.idem.key, wd.idem.running, wd.l.o.TTL)
	}
	ccancel()
	if err != nil {
		wd.stopped = true
		wd.l.emit(lockExpired)
		wd.cancel(ErrLockLost)
		return
	}
	wd.t.Reset(wd.every)
}

// stop ends the watchdog, waiting for an extension in flight.
func (wd *watchdog) stop() {
	if wd == nil {
		return
	}
	wd.mu.Lock()
	wd.stopped = true
	wd.t.Stop()
	wd.mu.Unlock()
}
