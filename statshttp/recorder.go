package statshttp

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/aura-platform/redishttp/internal/optcheck"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/redis/go-redis/v9"
)

// Recorder counts the events the feature packages report (it implements
// middleware.Observer), adds them up across instances through Redis, and
// serves them as JSON (StatsHandler), Prometheus metrics (MetricsHandler,
// or register the Recorder itself as a prometheus.Collector) and a live
// dashboard (DashboardHandler). It is safe for concurrent use. Observe is
// lock-free and never calls Redis: a background goroutine flushes the
// new counts every FlushInterval until Close, and sends nothing when there
// are none (apart from a heartbeat every InstanceTTL/3).
type Recorder struct {
	cfg     config
	client  redis.UniversalClient
	routes  *table
	backend *table // BackendChange counts by new state name
	state   atomic.Pointer[backendState]
	started time.Time

	flushMu     sync.Mutex // guards routeStats.flushed/fields and the fields below
	flushFailed bool       // the last flush failed (logged once per outage)
	written     bool       // the instance's record was written in full once
	wroteAt     time.Time  // the last full write or heartbeat
	wroteState  string     // the backend state and since of the last full write
	wroteSince  time.Time
	flushes     atomic.Int64
	flushErrors atomic.Int64

	authFails *failureLimiter // failed authentications per client

	page []byte // the dashboard, built once
	csp  string

	live *liveHub // the report streams

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

type backendState struct {
	name  string
	since time.Time
}

// backendStates bounds the backend table: the fallback monitor's three
// states plus the overflow entry.
var backendStates = []string{"redis", "degraded", "memory"}

// New returns a Recorder. client may be nil: the Recorder then counts
// locally only (embedded mode) and starts no goroutine. Otherwise it starts
// one flush goroutine that Close stops. New returns an error wrapping
// ErrInvalidOptions for bad or missing options and for a typed-nil client (a nil *redis.Client stored in the interface),
// naming the field.
func New(client redis.UniversalClient, opts Options) (*Recorder, error) {
	if err := optcheck.Client(ErrInvalidOptions, "client", client); err != nil {
		return nil, err
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	r := &Recorder{
		cfg:     cfg,
		client:  client,
		routes:  newTable(cfg.MaxRoutes, cfg.Patterns...),
		backend: newTable(len(backendStates)+1, backendStates...),
		started: time.Now(),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	r.authFails = newFailureLimiter(cfg.AuthFailureLimit, cfg.AuthFailureWindow, maxAuthClients)
	r.page, r.csp = buildDashboard(cfg)
	r.live = newLiveHub(r)
	if client == nil {
		close(r.done)
		return r, nil
	}
	go r.run()
	return r, nil
}

// Observe counts e. It is lock-free, allocation-free and makes no Redis
// call, so it is safe on the request path. Each event counts Value, or 1
// when Value is not positive. BackendChange events also record Route as the
// current backend state. Unknown kinds are ignored.
func (r *Recorder) Observe(e middleware.Event) {
	k := e.Kind
	if k == 0 || int(k) >= numKinds {
		return
	}
	v := e.Value
	if v <= 0 {
		v = 1
	}
	if k == middleware.BackendChange {
		r.backend.get(e.Route).n[k].Add(v)
		r.state.Store(&backendState{name: e.Route, since: time.Now()})
		return
	}
	r.routes.get(e.Route).n[k].Add(v)
}

var _ middleware.Observer = (*Recorder)(nil)

// backendNow returns the current backend state and since when it holds
// (zero when unknown).
func (r *Recorder) backendNow() (string, time.Time) {
	s := r.state.Load()
	if r.cfg.BackendState != nil {
		name := r.cfg.BackendState()
		if s != nil && s.name == name {
			return name, s.since
		}
		return name, time.Time{}
	}
	if s == nil {
		return "unknown", time.Time{}
	}
	return s.name, s.since
}

// local returns this instance's current counts.
func (r *Recorder) local() (routes, backend counts) {
	return snapshotTable(r.routes), snapshotTable(r.backend)
}

func snapshotTable(t *table) counts {
	c := counts{}
	for _, rs := range t.all() {
		a := new([numKinds]int64)
		for k := range a {
			a[k] = rs.n[k].Load()
		}
		c[rs.name] = a
	}
	return c
}

// Close ends the open report streams (see StatsHandler), stops the flush
// goroutine after a last flush, bounded by ReadTimeout, and returns that
// flush's error. Events observed after Close are still counted locally.
// Close is idempotent; it does not close the Redis client.
func (r *Recorder) Close() error {
	r.closeOnce.Do(func() {
		r.live.close()
		if r.client == nil {
			return
		}
		close(r.stop)
		<-r.done
	})
	return r.closeErr
}
