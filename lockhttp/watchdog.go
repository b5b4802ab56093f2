package lockhttp

import (
	"context"
	"time"
)

// watchdog extends a held lock (and the request's idempotency claim) every
// TTL/3 while the handler runs. When an extension fails, it cancels the
// handler's context with ErrLockLost and stops.
type watchdog struct {
	stopc chan struct{}
	done  chan struct{}
}

func (l *Locker) startWatchdog(ctx context.Context, be backend, ls lease, idem *idemState, cancel context.CancelCauseFunc) *watchdog {
	wd := &watchdog{stopc: make(chan struct{}), done: make(chan struct{})}
	every := l.o.TTL / 3
	bg := context.WithoutCancel(ctx)
	go func() {
		defer close(wd.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-wd.stopc:
				return
			case <-t.C:
			}
			cctx, ccancel := context.WithTimeout(bg, min(l.o.CommandTimeout, every))
			err := ls.extend(cctx)
			if err == nil && idem != nil {
				err = be.extendClaim(cctx, idem.key, idem.running, l.o.TTL)
			}
			ccancel()
			if err != nil {
				l.emit(lockExpired)
				cancel(ErrLockLost)
				return
			}
		}
	}()
	return wd
}

// stop ends the watchdog and waits for it.
func (wd *watchdog) stop() {
	if wd == nil {
		return
	}
	close(wd.stopc)
	<-wd.done
}
