package lockhttp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aura-platform/redishttp/internal/observe"
	"github.com/aura-platform/redishttp/internal/optcheck"
	"github.com/aura-platform/redishttp/internal/recorder"
	"github.com/aura-platform/redishttp/internal/stored"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/redis/go-redis/v9"
)

// Locker is a lock-and-idempotency middleware for one route (or a group of
// routes sharing its options). It is safe for concurrent use; build one per
// contention policy and mount its Handler.
type Locker struct {
	o     Options
	redis *redisBackend
	local *localBackend

	// Background recording of completed responses (see recordLater).
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bgMu     sync.Mutex
	bgClosed bool
	bgWG     sync.WaitGroup
}

// New returns a Locker over one Redis deployment: a single node, a
// Sentinel-managed primary or a Redis Cluster (lock and fencing keys share a
// hash tag). A nil client is embedded mode, which needs
// Options.Fallback = LocalMutex; otherwise New returns ErrNoBackend. A
// typed nil (a nil *redis.Client passed as the interface) is a mistake,
// not embedded mode: New returns ErrInvalidOptions naming the client.
func New(client redis.UniversalClient, opts Options) (*Locker, error) {
	if client == nil {
		return newLocker(nil, opts)
	}
	if err := optcheck.Client(ErrInvalidOptions, "client", client); err != nil {
		return nil, err
	}
	return newLocker([]redis.UniversalClient{client}, opts)
}

// NewRedlock returns a Locker over several independent Redis masters (not
// replicas of each other, not one cluster): a lock, an idempotency claim and
// a fencing token each need a majority (len(clients)/2+1) of them, so the
// Locker keeps working with a minority of masters down. Use an odd number,
// three or five. A nil element, typed or not, gives ErrInvalidOptions
// naming it (clients[i]).
func NewRedlock(clients []redis.UniversalClient, opts Options) (*Locker, error) {
	for i, c := range clients {
		if optcheck.NilClient(c) {
			return nil, fmt.Errorf("%w: clients[%d] is nil (%T)", ErrInvalidOptions, i, c)
		}
	}
	return newLocker(slices.Clone(clients), opts)
}

func newLocker(clients []redis.UniversalClient, opts Options) (*Locker, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if len(clients) == 0 && o.Fallback != LocalMutex {
		return nil, ErrNoBackend
	}
	l := &Locker{o: o}
	l.bgCtx, l.bgCancel = context.WithCancel(context.Background())
	if len(clients) > 0 {
		l.redis = newRedisBackend(clients, &l.o)
	}
	if o.Fallback == LocalMutex {
		l.local = newLocalBackend(&l.o)
	}
	return l, nil
}

// Close stops the background recording of completed responses (waiting
// for an attempt in flight, at most Options.CommandTimeout) and releases
// the in-memory idempotency store of the LocalMutex fallback. A response
// still unrecorded then is not recorded: its claim expires, and a retry
// after that runs the handler again. Close does not close the Redis
// clients, which the caller owns. Requests served after Close still work,
// but their responses are recorded only by the first attempt.
func (l *Locker) Close() error {
	l.bgMu.Lock()
	l.bgClosed = true
	l.bgMu.Unlock()
	l.bgCancel()
	l.bgWG.Wait()
	if l.local != nil {
		return l.local.close()
	}
	return nil
}

// claimTTL is how long an idempotency claim lives past its last extension:
// long enough for the lock's TTL, a waiting request and the background
// recording of the response.
func (l *Locker) claimTTL() time.Duration { return l.o.TTL + l.o.Wait + l.o.RecordTimeout }

// Handler wraps next: each request takes the lock named by Options.Key for
// as long as next runs, and requests with an Idempotency-Key are
// deduplicated. See the package documentation for the statuses it answers.
func (l *Locker) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.serve(next, w, r)
	})
}

// idemState is the idempotency side of one request.
type idemState struct {
	key        string
	fp         [fingerprintSize]byte
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
	case l.redis != nil && (l.o.Monitor == nil || l.o.Monitor.Available()):
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
	k, err := ParseIdempotencyKey(r.Header.Values(IdempotencyKeyHeader))
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
	fp := requestFingerprint(r, body)
	return &idemState{
		key:     l.o.Prefix + "idem:" + scope + ":" + middleware.KeyPart(k),
		fp:      fp,
		running: runningRecord(fp),
	}, true
}

// run serves the request on be. It returns true, having written nothing,
// when Redis failed before the handler started and the LocalMutex fallback
// should take over.
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
			w.Header().Set(ReplayedHeader, "true")
			res.rec.resp.WriteTo(w, r)
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
		case errors.Is(err, ErrTaken):
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
	if !be.local() && l.o.Monitor != nil {
		l.o.Monitor.Report(ctx, nil)
	}
	l.emit(middleware.LockAcquired)
	l.serveLocked(be, ls, idem, next, w, r)
	return false
}

// failed handles a backend error before the handler ran: it asks for the
// local fallback when there is one, and answers 503 otherwise.
func (l *Locker) failed(w http.ResponseWriter, r *http.Request, be backend, err error) bool {
	if !be.local() {
		if l.o.Monitor != nil {
			l.o.Monitor.Report(r.Context(), err)
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

// serveLocked runs next while ls is held, then records the idempotent
// response and releases the lock, with a context the request's
// cancellation cannot kill.
func (l *Locker) serveLocked(be backend, ls lease, idem *idemState, next http.Handler, w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	hctx, cancel := context.WithCancelCause(withFence(ctx, ls.fence()))
	var wd *watchdog
	if !l.o.DisableWatchdog {
		wd = l.startWatchdog(ctx, be, ls, idem, cancel)
	}
	var (
		rec    *recorder.Recorder
		before http.Header
		ww     = w
		done   bool
	)
	if idem != nil {
		hctx = context.WithValue(hctx, notAppliedKey{}, &idem.notApplied)
		before = w.Header().Clone()
		rec = recorder.New(w, l.o.MaxResponseBytes)
		ww = rec.Writer()
	}
	defer func() {
		wd.stop()
		cancel(nil)
		l.finish(ctx, be, ls, idem, rec, before, done)
	}()
	next.ServeHTTP(ww, r.WithContext(hctx))
	done = true
}

// finish releases the lock and, for an idempotent request, records the
// handler's response. The claim is never released once the handler has
// run: whatever the handler wrote may have been committed. A response that
// cannot be replayed (a 5xx, a panic, a streamed, hijacked or oversized
// body) leaves the claim in place until it expires, so retries meanwhile
// are told the outcome is not known (409) rather than run the handler again,
// unless the handler said it changed nothing (NotApplied).
func (l *Locker) finish(ctx context.Context, be backend, ls lease, idem *idemState, rec *recorder.Recorder, before http.Header, done bool) {
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.o.CommandTimeout)
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
	data := completedRecord(idem.fp, &resp)
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

const lockExpired = middleware.LockExpired

func (l *Locker) emit(kind middleware.EventKind) {
	observe.Emit(l.o.Observer, kind, l.o.Route)
}
