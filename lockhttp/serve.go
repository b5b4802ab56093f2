package lockhttp

import (
	"errors"
	"net/http"
	"sync/atomic"

	"github.com/aura-platform/redishttp/internal/idempotency"
	"github.com/aura-platform/redishttp/middleware"
)

// idemState is the idempotency side of one request.
type idemState struct {
	key        string
	fp         idempotency.Fingerprint
	running    []byte
	notApplied atomic.Bool // the handler called NotApplied
}

func (l *Locker) serve(next http.Handler, w http.ResponseWriter, r *http.Request) {
	key, err := l.o.Key(r)
	if err != nil {
		switch {
		case errors.Is(err, middleware.ErrNoUser):
			middleware.Error(w, r, http.StatusUnauthorized, "authentication required")
		case errors.Is(err, ErrBodyTooLarge):
			middleware.Error(w, r, http.StatusRequestEntityTooLarge, "request body too large")
		default:
			middleware.Error(w, r, http.StatusBadRequest, "the request does not name what to lock")
		}
		return
	}
	idem, ok := l.idempotency(w, r)
	if !ok {
		return
	}
	name := l.o.Prefix + "{" + key + "}"
	var be backend
	switch {
	case l.useRedis():
		be = l.redis
	case l.local != nil:
		be = l.local
	default:
		l.unavailable(w, r)
		return
	}
	if l.run(be, next, w, r, name, idem) && l.local != nil {
		l.run(l.local, next, w, r, name, idem)
	}
}

func (l *Locker) idempotency(w http.ResponseWriter, r *http.Request) (*idemState, bool) {
	k, err := idempotency.ParseKey(r.Header.Values(idempotency.KeyHeader))
	if err != nil {
		middleware.Error(w, r, http.StatusBadRequest, "malformed Idempotency-Key header")
		return nil, false
	}
	if k == "" {
		if l.o.RequireIdempotencyKey {
			middleware.Error(w, r, http.StatusBadRequest, "this request needs an Idempotency-Key header")
			return nil, false
		}
		return nil, true
	}
	scope, err := l.o.IdempotencyScope(r)
	if err != nil {
		if errors.Is(err, middleware.ErrNoUser) {
			middleware.Error(w, r, http.StatusUnauthorized, "Idempotency-Key needs an authenticated caller")
			return nil, false
		}
		middleware.Error(w, r, http.StatusBadRequest, "Idempotency-Key cannot be scoped for this request")
		return nil, false
	}
	body, err := readBody(r, l.o.MaxBodyBytes)
	if err != nil {
		if errors.Is(err, ErrBodyTooLarge) {
			middleware.Error(w, r, http.StatusRequestEntityTooLarge, "request body too large")
		} else {
			middleware.Error(w, r, http.StatusBadRequest, "request body could not be read")
		}
		return nil, false
	}
	fp := idempotency.OfRequest(r, body)
	return &idemState{
		key:     l.o.Prefix + "idem:" + scope + ":" + middleware.KeyPart(k),
		fp:      fp,
		running: idempotency.Running(fp),
	}, true
}

// run serves the request on be. It returns true, having written nothing,
// when Redis failed before the handler started and the OnFailure UseMemory
// backend should take over.
func (l *Locker) run(be backend, next http.Handler, w http.ResponseWriter, r *http.Request, name string, idem *idemState) bool {
	ctx := r.Context()
	if idem != nil {
		res, err := be.claim(ctx, idem.key, idem.fp, idem.running, l.claimTTL())
		if err != nil {
			return l.failed(w, r, be, err)
		}
		switch {
		case res.state != claimed && res.mismatch:
			middleware.Error(w, r, http.StatusUnprocessableEntity,
				"this Idempotency-Key was already used with a different request")
			return false
		case res.state == completed:
			l.emit(middleware.LockReplayed)
			w.Header().Set(idempotency.ReplayedHeader, "true")
			res.rec.Resp.WriteTo(w, r)
			return false
		case res.state == running:
			l.emit(middleware.LockContended)
			middleware.WriteProblem(w, middleware.Problem{
				Status:     http.StatusConflict,
				Detail:     "a request with this Idempotency-Key is still being processed, or its outcome is not known yet",
				Instance:   r.URL.Path,
				RetryAfter: l.o.RetryAfter.Seconds(),
			})
			return false
		}
	}
	ls, retry, err := be.lock(ctx, name, l.o.Wait)
	if err != nil {
		if idem != nil {
			_ = be.unclaim(ctx, idem.key, idem.running)
		}
		switch {
		case errors.Is(err, errTaken):
			l.emit(middleware.LockContended)
			if retry <= 0 {
				retry = l.o.RetryAfter
			}
			middleware.WriteProblem(w, middleware.Problem{
				Status:     http.StatusConflict,
				Detail:     "another request holds the lock for this resource",
				Instance:   r.URL.Path,
				RetryAfter: retry.Seconds(),
			})
			return false
		case ctx.Err() != nil:
			return false // the client went away; nobody reads an answer
		}
		return l.failed(w, r, be, err)
	}
	if !be.local() && l.mon != nil {
		l.mon.Report(ctx, nil)
	}
	l.emit(middleware.LockAcquired)
	l.serveLocked(be, ls, idem, next, w, r)
	return false
}

// failed handles a backend error before the handler ran: it asks for the
// local fallback when there is one, and answers 503 otherwise.
func (l *Locker) failed(w http.ResponseWriter, r *http.Request, be backend, err error) bool {
	if !be.local() {
		if l.mon != nil {
			l.mon.Report(r.Context(), err)
		}
		if l.local != nil {
			return true
		}
	}
	if r.Context().Err() != nil {
		return false
	}
	l.unavailable(w, r)
	return false
}

func (l *Locker) unavailable(w http.ResponseWriter, r *http.Request) {
	l.emit(middleware.LockError)
	middleware.WriteProblem(w, middleware.Problem{
		Status:     http.StatusServiceUnavailable,
		Detail:     "the lock service is unavailable; try again later",
		Instance:   r.URL.Path,
		RetryAfter: l.o.RetryAfter.Seconds(),
	})
}
