package lockhttp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/observe"
	"github.com/aura-platform/redishttp/internal/optcheck"
	"github.com/aura-platform/redishttp/internal/pipe"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/redis/go-redis/v9"
)

// Locker is a lock-and-idempotency middleware for one route (or a group of
// routes sharing its options). It is safe for concurrent use; build one per
// contention policy and mount its Handler.
type Locker struct {
	o      Options
	redis  *redisBackend
	local  *localBackend     // the OnFailure UseMemory backend, else nil
	mon    *fallback.Monitor // Options.Monitor, or the one New created
	ownMon bool              // Close stops mon
	closed atomic.Bool       // Close ran: an own mon no longer probes
	close  sync.Once

	// Background recording of completed responses (see recordLater).
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bgMu     sync.Mutex
	bgClosed bool
	bgWG     sync.WaitGroup
}

// New returns a Locker over one Redis deployment: a single node, a
// Sentinel-managed primary or a Redis Cluster (lock and fencing keys share a
// hash tag). Without Options.Monitor it creates a fallback.Monitor over the
// client, which Close stops. New does no I/O.
//
// A nil client is embedded mode: it needs Options.OnFailure =
// fallback.UseMemory (a process-local lock), and New returns an error
// wrapping ErrInvalidOptions otherwise. A typed nil (a nil *redis.Client
// passed as the interface) is a mistake, not embedded mode: New returns
// ErrInvalidOptions naming the client.
func New(client redis.UniversalClient, opts Options) (*Locker, error) {
	if client == nil {
		return newLocker(nil, opts, false)
	}
	if err := optcheck.Client(ErrInvalidOptions, "client", client); err != nil {
		return nil, err
	}
	return newLocker([]redis.UniversalClient{client}, opts, true)
}

// NewRedlock returns a Locker over several independent Redis masters (not
// replicas of each other, not one cluster): a lock, an idempotency claim and
// a fencing token each need a majority (len(clients)/2+1) of them, so the
// Locker keeps working with a minority of masters down. Use an odd number,
// three or five. It creates no Monitor: each request tries every master,
// each call bounded by Options.CommandTimeout. A nil element, typed or not,
// gives ErrInvalidOptions naming it (clients[i]); no clients at all is
// embedded mode, as for New.
func NewRedlock(clients []redis.UniversalClient, opts Options) (*Locker, error) {
	for i, c := range clients {
		if optcheck.NilClient(c) {
			return nil, fmt.Errorf("%w: clients[%d] is nil (%T)", ErrInvalidOptions, i, c)
		}
	}
	return newLocker(slices.Clone(clients), opts, false)
}

// newLocker builds a Locker over clients, creating a Monitor over the one
// client when monitor is set and Options.Monitor is nil.
func newLocker(clients []redis.UniversalClient, opts Options, monitor bool) (*Locker, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if len(clients) == 0 && o.OnFailure != fallback.UseMemory {
		return nil, fmt.Errorf("%w: a nil client needs OnFailure: fallback.UseMemory (a process-local lock)", ErrInvalidOptions)
	}
	l := &Locker{o: o, mon: o.Monitor}
	if l.mon == nil && monitor && len(clients) == 1 {
		mon, err := fallback.NewMonitor(clients[0], fallback.MonitorOptions{Logger: o.Logger})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
		}
		l.mon, l.ownMon = mon, true
	}
	l.bgCtx, l.bgCancel = context.WithCancel(context.Background())
	if len(clients) > 0 {
		runs := make([]*pipe.Runner, len(clients))
		for i, c := range clients {
			if runs[i], err = pipe.New(c, o.AutoPipeline); err != nil {
				if l.ownMon {
					_ = l.mon.Close()
				}
				return nil, fmt.Errorf("%w: AutoPipeline: %w", ErrInvalidOptions, err)
			}
		}
		l.redis = newRedisBackend(runs, &l.o)
	}
	if o.OnFailure == fallback.UseMemory {
		l.local = newLocalBackend(&l.o)
	}
	return l, nil
}

// Close stops the background recording of completed responses (waiting
// for an attempt in flight, at most Options.CommandTimeout), stops the
// Monitor New created (none when Options.Monitor was given) and releases
// the in-memory idempotency store of OnFailure UseMemory. A response still
// unrecorded then is not recorded: its claim expires, and a retry after
// that runs the handler again. Close does not close the Redis clients,
// which the caller owns. Requests served after Close still work, but their
// responses are recorded only by the first attempt, and they try Redis on
// every request whatever the stopped Monitor last saw. Close is idempotent.
func (l *Locker) Close() error {
	var err error
	l.close.Do(func() {
		l.bgMu.Lock()
		l.bgClosed = true
		l.bgMu.Unlock()
		l.bgCancel()
		l.bgWG.Wait()
		l.closed.Store(true)
		if l.ownMon {
			err = l.mon.Close()
		}
		if l.local != nil {
			err = errors.Join(err, l.local.close())
		}
	})
	return err
}

// useRedis reports whether a request should try Redis now: there is a
// client, and the Monitor (if any, and still running) says it is available.
func (l *Locker) useRedis() bool {
	if l.redis == nil {
		return false
	}
	return l.mon == nil || l.mon.Available() || (l.ownMon && l.closed.Load())
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

const lockExpired = middleware.LockExpired

func (l *Locker) emit(kind middleware.EventKind) {
	observe.Emit(l.o.Observer, kind, l.o.Route)
}
