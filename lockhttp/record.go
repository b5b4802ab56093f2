package lockhttp

import (
	"context"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"

	"github.com/aura-platform/redishttp/internal/idempotency"
	"github.com/aura-platform/redishttp/internal/recorder"
	"github.com/aura-platform/redishttp/internal/stored"
	"github.com/aura-platform/redishttp/middleware"
)

// serveLocked runs next while ls is held, then records the idempotent
// response and releases the lock, with a context the request's
// cancellation cannot kill.
func (l *Locker) serveLocked(be backend, ls lease, idem *idemState, next http.Handler, w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// One allocation holds the handler's context and the watchdog.
	lr := &struct {
		hctx handlerCtx
		wd   watchdog
	}{hctx: handlerCtx{tok: ls.fence()}}
	var cancel context.CancelCauseFunc
	lr.hctx.Context, cancel = context.WithCancelCause(ctx)
	bg := context.WithoutCancel(ctx)
	if !l.o.DisableWatchdog {
		l.startWatchdog(&lr.wd, bg, be, ls, idem, cancel)
	}
	var (
		rec    *recorder.Recorder
		before http.Header
		ww     = w
		done   bool
	)
	if idem != nil {
		lr.hctx.notApplied = &idem.notApplied
		before = w.Header().Clone()
		rec = recorder.New(w, l.o.MaxResponseBytes)
		ww = rec.Writer()
	}
	defer func() {
		lr.wd.stop()
		cancel(nil)
		l.finish(bg, be, ls, idem, rec, before, done)
	}()
	next.ServeHTTP(ww, r.WithContext(&lr.hctx))
	done = true
}

// finish releases the lock and, for an idempotent request, records the
// handler's response, with bg: the request's context without its
// cancellation. The claim is never released once the handler has run:
// whatever the handler wrote may have been committed. A response that
// cannot be replayed (a 5xx, a panic, a streamed, hijacked or oversized
// body) leaves the claim in place until it expires, so retries meanwhile
// are told the outcome is not known (409) rather than run the handler again,
// unless the handler said it changed nothing (NotApplied).
func (l *Locker) finish(bg context.Context, be backend, ls lease, idem *idemState, rec *recorder.Recorder, before http.Header, done bool) {
	bg, cancel := context.WithTimeout(bg, l.o.CommandTimeout)
	defer cancel()
	if idem != nil && idem.notApplied.Load() {
		// The handler says it changed nothing: a retry may run it again.
		each(2, func(i int) {
			if i == 0 {
				_ = ls.unlock(bg)
				return
			}
			_ = be.unclaim(bg, idem.key, idem.running)
		})
		return
	}
	if idem == nil || !done || !rec.Complete() || rec.Status() >= 500 {
		_ = ls.unlock(bg)
		return
	}
	resp := stored.Response{
		Status: rec.Status(),
		Header: handlerHeaders(before, rec.SentHeader()),
		Body:   rec.Body(),
	}
	data := idempotency.Completed(idem.fp, &resp)
	var storeErr error
	each(2, func(i int) {
		if i == 0 {
			_ = ls.unlock(bg)
			return
		}
		storeErr = be.complete(bg, idem.key, data, l.o.IdempotencyRetention)
	})
	if storeErr != nil {
		l.recordLater(be, idem.key, data)
	}
}

// Backoff of the background recording of a response.
const (
	minRecordRetry = 50 * time.Millisecond
	maxRecordRetry = time.Second
)

// recordLater keeps trying to store a completed record that Redis did not
// take at once (an outage, a pause, a lost quorum), with a jittered
// exponential backoff, for at most Options.RecordTimeout and until Close.
// The claim outlives these attempts (claimTTL), so until the record lands a
// retry is answered 409 and never runs the handler again. A record that
// could not be stored in time is reported as a LockError event.
func (l *Locker) recordLater(be backend, key string, data []byte) {
	l.bgMu.Lock()
	defer l.bgMu.Unlock()
	if l.bgClosed {
		l.emit(middleware.LockError)
		return
	}
	l.bgWG.Add(1)
	go func() {
		defer l.bgWG.Done()
		ctx, cancel := context.WithTimeout(l.bgCtx, l.o.RecordTimeout)
		defer cancel()
		backoff := minRecordRetry
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			t.Reset(backoff/2 + rand.N(backoff/2+1))
			select {
			case <-ctx.Done():
				l.emit(middleware.LockError)
				return
			case <-t.C:
			}
			cctx, ccancel := context.WithTimeout(ctx, l.o.CommandTimeout)
			err := be.complete(cctx, key, data, l.o.IdempotencyRetention)
			ccancel()
			if err == nil {
				return
			}
			backoff = min(2*backoff, maxRecordRetry)
		}
	}()
}

// handlerHeaders returns the headers of sent that the handler set: those
// absent from, or different in, before (what outer middleware had set).
func handlerHeaders(before, sent http.Header) http.Header {
	h := make(http.Header, len(sent))
	for k, vs := range sent {
		if bv, ok := before[k]; ok && slices.Equal(bv, vs) {
			continue
		}
		h[k] = vs
	}
	return h
}
