package fallback

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aura-platform/redishttp/internal/optcheck"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/redis/go-redis/v9"
)

// ErrUnavailable is returned by Monitor.Do while the breaker is open or no
// Redis is configured: the caller should use its in-memory backend or fail
// closed, without touching Redis.
var ErrUnavailable = errors.New("fallback: redis unavailable")

// ErrInvalidOptions is wrapped by every error NewMonitor returns for bad
// MonitorOptions or a typed-nil client; the message names the field.
var ErrInvalidOptions = errors.New("fallback: invalid options")

// MonitorOptions configures a Monitor. The zero value works; every field
// documents its default. NewMonitor never writes into the caller's struct.
type MonitorOptions struct {
	// CommandTimeout bounds each Redis call made through Do and WithTimeout,
	// and each health probe. Default 150ms.
	CommandTimeout time.Duration
	// FailureThreshold is how many consecutive failures (from requests or
	// probes) open the breaker. Default 3.
	FailureThreshold int
	// ProbeInterval is how often the background probe PINGs Redis, in every
	// state, so an outage is seen even without traffic. Default 200ms.
	ProbeInterval time.Duration
	// RecoverySuccesses is how many consecutive successful probes close the
	// breaker again (hysteresis, so a flapping server does not flip the state
	// on every probe). Default 3.
	RecoverySuccesses int
	// OnChange, if set, is called after every state change, from the
	// monitor's own goroutine or the reporting request's, never concurrently
	// with itself.
	OnChange func(from, to State)
	// Observer, if set, receives a middleware.BackendChange event per change.
	Observer middleware.Observer
	// Logger receives one line per state change. Default slog.Default().
	Logger *slog.Logger
}

// Monitor watches one Redis deployment and decides whether the feature
// packages should use it. It is safe for concurrent use; its hot-path
// methods (State, Available, Report) are lock-free.
type Monitor struct {
	client   redis.UniversalClient
	opts     MonitorOptions
	state    atomic.Int32
	failures atomic.Int32
	changeMu sync.Mutex
	stop     chan struct{}
	done     chan struct{}
	close    sync.Once
	probing  atomic.Bool    // a probe's PING is still waiting for its answer
	probes   sync.WaitGroup // the goroutines running those PINGs
}

// NewMonitor starts monitoring client. A nil client means embedded mode: the
// state is StateMemory for good and no goroutine is started. Otherwise it
// probes Redis once before returning (bounded by CommandTimeout), so a server
// that is down at startup is reported as degraded at once, and starts one
// background probe goroutine that Close stops.
//
// It returns an error wrapping ErrInvalidOptions, naming the field, for a
// negative option or a typed-nil client (a nil *redis.Client stored in the
// interface).
func NewMonitor(client redis.UniversalClient, opts MonitorOptions) (*Monitor, error) {
	if err := optcheck.First(
		optcheck.Client(ErrInvalidOptions, "client", client),
		optcheck.Duration(ErrInvalidOptions, "CommandTimeout", opts.CommandTimeout),
		optcheck.NonNegative(ErrInvalidOptions, "FailureThreshold", opts.FailureThreshold),
		optcheck.Duration(ErrInvalidOptions, "ProbeInterval", opts.ProbeInterval),
		optcheck.NonNegative(ErrInvalidOptions, "RecoverySuccesses", opts.RecoverySuccesses),
	); err != nil {
		return nil, err
	}
	o := opts
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = 150 * time.Millisecond
	}
	if o.FailureThreshold <= 0 {
		o.FailureThreshold = 3
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = 200 * time.Millisecond
	}
	if o.RecoverySuccesses <= 0 {
		o.RecoverySuccesses = 3
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	m := &Monitor{client: client, opts: o, stop: make(chan struct{}), done: make(chan struct{})}
	if client == nil {
		m.state.Store(int32(StateMemory))
		close(m.done)
		return m, nil
	}
	if !honoursContext(client) {
		o.Logger.Warn("redis client ignores context deadlines (ContextTimeoutEnabled is false): " +
			"calls to a hung server will wait for the client's ReadTimeout, not CommandTimeout; " +
			"build the client with fallback.Config.NewClient or set ContextTimeoutEnabled")
	}
	if err := m.probe(); err != nil {
		m.state.Store(int32(StateDegraded))
		o.Logger.Warn("redis unreachable at startup; serving from memory until it answers",
			"error", SafeError(err))
	}
	go m.run()
	return m, nil
}

// honoursContext reports whether client bounds each command by its
// context's deadline. go-redis only does so with ContextTimeoutEnabled;
// otherwise a hung server holds a call for ReadTimeout (3 s by default) plus
// retries, whatever the context says. Unknown client types are assumed to.
func honoursContext(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	}
	return true
}

// Client returns the monitored client, nil in embedded mode.
func (m *Monitor) Client() redis.UniversalClient { return m.client }

// State returns the current state.
func (m *Monitor) State() State { return State(m.state.Load()) }

// Available reports whether callers should use Redis now (StateRedis).
func (m *Monitor) Available() bool { return m.State() == StateRedis }

// CommandTimeout returns the per-command timeout in force.
func (m *Monitor) CommandTimeout() time.Duration { return m.opts.CommandTimeout }

// WithTimeout returns ctx bounded by the command timeout.
func (m *Monitor) WithTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, m.opts.CommandTimeout)
}

// Do runs fn against Redis with the command timeout and reports its outcome
// to the breaker. It returns ErrUnavailable without calling fn while the
// breaker is open or in embedded mode.
func (m *Monitor) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	if !m.Available() {
		return ErrUnavailable
	}
	cctx, cancel := context.WithTimeout(ctx, m.opts.CommandTimeout)
	err := fn(cctx)
	cancel()
	m.Report(ctx, err)
	return err
}

// Report records the outcome of a Redis call made outside Do. nil and
// redis.Nil are successes; a cancellation of the caller's own ctx is ignored
// (the client gave up, Redis did not fail); server replies that are about the
// command (WRONGTYPE, NOSCRIPT...) are not health failures; everything else
// (timeouts, refused connections, LOADING, CLUSTERDOWN, READONLY, auth
// failures) counts towards opening the breaker.
func (m *Monitor) Report(ctx context.Context, err error) {
	if m.client == nil {
		return
	}
	if !IsFailure(ctx, err) {
		if m.failures.Load() != 0 {
			m.failures.Store(0)
		}
		return
	}
	if int(m.failures.Add(1)) >= m.opts.FailureThreshold {
		m.transition(StateRedis, StateDegraded, err)
	}
}

// IsFailure reports whether err, returned by a Redis call made with ctx,
// says that Redis itself is unhealthy.
func IsFailure(ctx context.Context, err error) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		return false
	}
	if errors.Is(err, context.Canceled) && ctx != nil && errors.Is(ctx.Err(), context.Canceled) {
		return false
	}
	var re redis.Error
	if errors.As(err, &re) {
		msg := re.Error()
		for _, p := range []string{"LOADING", "CLUSTERDOWN", "MASTERDOWN", "TRYAGAIN", "READONLY",
			"NOAUTH", "WRONGPASS", "NOPERM", "BUSY", "OOM", "MISCONF", "ERR max number of clients"} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	return true
}

// errProbeTimeout is the failure recorded for a probe that got no answer in
// time.
var errProbeTimeout = errors.New("fallback: health probe got no answer within the command timeout")

// probe PINGs Redis and waits at most CommandTimeout for the answer, even
// when the client ignores context deadlines (see honoursContext): the PING
// runs on its own goroutine and is abandoned, not awaited, when it is late.
// While an abandoned PING is still waiting, later probes fail at once
// instead of piling more goroutines onto a hung server.
func (m *Monitor) probe() error {
	if !m.probing.CompareAndSwap(false, true) {
		return errProbeTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.CommandTimeout)
	res := make(chan error, 1)
	m.probes.Add(1)
	go func() {
		defer m.probes.Done()
		defer m.probing.Store(false)
		defer cancel()
		res <- m.client.Ping(ctx).Err()
	}()
	t := time.NewTimer(m.opts.CommandTimeout)
	defer t.Stop()
	select {
	case err := <-res:
		return err
	case <-t.C:
		return errProbeTimeout
	}
}

func (m *Monitor) run() {
	defer close(m.done)
	t := time.NewTicker(m.opts.ProbeInterval)
	defer t.Stop()
	successes := 0
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		err := m.probe()
		switch m.State() {
		case StateRedis:
			m.Report(context.Background(), err)
		case StateDegraded:
			if err != nil {
				successes = 0
				continue
			}
			successes++
			if successes >= m.opts.RecoverySuccesses {
				successes = 0
				m.failures.Store(0)
				m.transition(StateDegraded, StateRedis, nil)
			}
		}
	}
}

func (m *Monitor) transition(from, to State, cause error) {
	m.changeMu.Lock()
	defer m.changeMu.Unlock()
	if !m.state.CompareAndSwap(int32(from), int32(to)) {
		return
	}
	if to == StateDegraded {
		m.opts.Logger.Warn("redis failing; breaker open, using in-memory backends",
			"from", from.String(), "to", to.String(), "error", SafeError(cause))
	} else {
		m.opts.Logger.Info("redis back; breaker closed", "from", from.String(), "to", to.String())
	}
	if m.opts.Observer != nil {
		m.opts.Observer.Observe(middleware.Event{Kind: middleware.BackendChange, Route: to.String(), Value: 1})
	}
	if m.opts.OnChange != nil {
		m.opts.OnChange(from, to)
	}
}

// Close stops the background probe and waits for it, including a PING
// still waiting on a hung server (bounded by CommandTimeout when the client
// honours context deadlines, by its ReadTimeout otherwise). It does not
// close the client, which the caller owns. Close is idempotent.
func (m *Monitor) Close() error {
	m.close.Do(func() {
		if m.client != nil {
			close(m.stop)
		}
	})
	<-m.done
	m.probes.Wait()
	return nil
}

// SafeError returns err's text for logs with anything that looks like a
// credential removed: go-redis never puts the password in its errors, but a
// dial error can carry a URL, and we never log one with a secret.
func SafeError(err error) string {
	if err == nil {
		return ""
	}
	var ne net.Error
	s := err.Error()
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout: " + redactURLs(s)
	}
	return redactURLs(s)
}
