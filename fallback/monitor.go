package fallback

import (
	"context"
	"errors"
	"fmt"
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
// MonitorOptions or a typed-nil client, and by every error LoadConfig and
// ConfigFromEnv return for a bad environment; the message names the field
// or variable.
var ErrInvalidOptions = errors.New("fallback: invalid options")

// MonitorOptions configures a Monitor. The zero value works; every field
// documents its default. NewMonitor never writes into the caller's struct.
type MonitorOptions struct {
	// CommandTimeout bounds each Redis call made through Do (the feature
	// packages bound their own calls by it too) and each health probe.
	// Default 150ms.
	CommandTimeout time.Duration
	// FailureThreshold is how many consecutive failures (from requests or
	// probes) open the breaker. Default 3.
	FailureThreshold int
	// ProbeInterval is how often the background probe checks Redis while
	// it is in doubt: while the breaker is open (to find recovery within
	// RecoverySuccesses*ProbeInterval) and while calls are failing but fewer
	// than FailureThreshold in a row have failed yet. A healthy Redis is not
	// polled: the breaker learns from the outcomes of the calls the feature
	// packages make (Do and Report), and the probe only runs after a silence
	// (IdleProbe). Default 200ms.
	ProbeInterval time.Duration
	// IdleProbe is the heartbeat of a healthy but idle monitor: after each
	// IdleProbe period in which no call succeeded, one PING checks Redis,
	// so an outage is seen within at most twice IdleProbe even without
	// traffic (with traffic, the failing calls show it at once). Default
	// 30s, so an idle instance sends one command every 30 s.
	IdleProbe time.Duration
	// ProbeKey is the key the health probe writes while the breaker is
	// open or calls are failing: a SET of a one-byte value that expires
	// within a second or two (while all is well the probe only PINGs).
	// The breaker closes
	// only when writes succeed because the toolkit needs writes: a server
	// out of memory (maxmemory reached with noeviction), read-only or
	// refusing writes after a failed save answers PING but fails every
	// rate-limit and cache write, and must stay degraded rather than flap.
	// On a Cluster the probe writes one key per
	// master ("<ProbeKey>:{<n>}", n chosen so each lands on a different
	// master), so one master out of memory keeps the state degraded
	// instead of letting a probe that lands elsewhere close the breaker.
	// Under an ACL that restricts keys, give a key the client may write
	// (your key prefix plus "probe"). Default "redishttp:probe"; braces and
	// glob characters are rejected.
	ProbeKey string
	// RecoverySuccesses is how many consecutive successful probes, one per
	// ProbeInterval, close the breaker again (hysteresis, so a flapping server does not flip the state
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
	probing  atomic.Bool    // a probe is still waiting for its answer
	active   atomic.Bool    // a call succeeded since the last idle check
	wake     chan struct{}  // a call failed: probe at ProbeInterval
	probes   sync.WaitGroup // the goroutines running probes

	// Cluster probe keys, one per master, refreshed from CLUSTER SLOTS
	// every clusterKeysTTL; used by one probe at a time (probing).
	keysMu sync.Mutex
	keys   []string
	keysAt time.Time
}

// NewMonitor starts monitoring client. A nil client means embedded mode: the
// state is StateMemory for good and no goroutine is started. Otherwise it
// does no I/O itself: it starts one background goroutine, stopped by Close,
// whose first probe (a PING) runs at once, so a server that is down at
// startup is reported as degraded within CommandTimeout (a change from
// StateRedis, like any other), and requests made before then report their
// own failures. After that the monitor learns from the calls reported to
// it and probes only when in doubt (see MonitorOptions.ProbeInterval and
// IdleProbe). While calls fail or the breaker is open the probe writes a
// small key that expires (MonitorOptions.ProbeKey), so that Redis refusing
// writes (out of memory, read-only) stays degraded, as it is for the
// feature packages.
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
		optcheck.Duration(ErrInvalidOptions, "IdleProbe", opts.IdleProbe),
		optcheck.Prefix(ErrInvalidOptions, "ProbeKey", opts.ProbeKey),
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
	if o.IdleProbe <= 0 {
		o.IdleProbe = 30 * time.Second
	}
	if o.RecoverySuccesses <= 0 {
		o.RecoverySuccesses = 3
	}
	if o.ProbeKey == "" {
		o.ProbeKey = "redishttp:probe"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	m := &Monitor{client: client, opts: o, stop: make(chan struct{}), done: make(chan struct{}),
		wake: make(chan struct{}, 1)}
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

// State returns the current state.
func (m *Monitor) State() State { return State(m.state.Load()) }

// Available reports whether callers should use Redis now (StateRedis).
func (m *Monitor) Available() bool { return m.State() == StateRedis }

// CommandTimeout returns the per-command timeout in force.
func (m *Monitor) CommandTimeout() time.Duration { return m.opts.CommandTimeout }

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
	m.report(ctx, err, true)
}

// report records an outcome; call says whether it came from a caller's
// command (which counts as activity for IdleProbe) rather than a probe.
func (m *Monitor) report(ctx context.Context, err error, call bool) {
	if m.client == nil {
		return
	}
	if !isFailure(ctx, err) {
		if m.failures.Load() != 0 {
			m.failures.Store(0)
		}
		if call && !m.active.Load() {
			m.active.Store(true)
		}
		return
	}
	n := int(m.failures.Add(1))
	if n == 1 || n == m.opts.FailureThreshold {
		// Have the probe check at once, then every ProbeInterval; also
		// when the breaker opens, so that a probe timer set for an idle
		// period gives way to the recovery probes.
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
	if n >= m.opts.FailureThreshold {
		m.transition(StateRedis, StateDegraded, err)
	}
}

// isFailure reports whether err, returned by a Redis call made with ctx,
// says that Redis itself is unhealthy.
func isFailure(ctx context.Context, err error) bool {
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

// run is the monitor's goroutine: a PING at startup, then a probe as soon
// as a call fails and every ProbeInterval while the breaker is open or
// calls are failing, and a PING after each IdleProbe period without a
// successful call otherwise.
func (m *Monitor) run() {
	defer close(m.done)
	if err := m.probe(false); err != nil {
		m.transition(StateRedis, StateDegraded, fmt.Errorf("unreachable at startup: %w", err))
	}
	t := time.NewTimer(m.next())
	defer t.Stop()
	successes := 0
	for {
		select {
		case <-m.stop:
			return
		case <-m.wake: // a call failed: check at once
		case <-t.C:
		}
		// While calls fail or the breaker is open, only an accepted write
		// counts: a server that answers PING but refuses writes must
		// neither clear the count of failing calls nor close the breaker.
		// While all is well, a PING after a silence is enough.
		switch {
		case m.State() == StateDegraded:
			if err := m.probe(true); err != nil {
				successes = 0
			} else if successes++; successes >= m.opts.RecoverySuccesses {
				successes = 0
				m.failures.Store(0)
				m.transition(StateDegraded, StateRedis, nil)
			}
		case m.failures.Load() > 0:
			successes = 0
			m.report(context.Background(), m.probe(true), false)
		default:
			successes = 0
			if !m.active.Swap(false) {
				m.report(context.Background(), m.probe(false), false)
			}
		}
		t.Reset(m.next())
	}
}

// next is how long the probe waits before its next check.
func (m *Monitor) next() time.Duration {
	if m.State() == StateDegraded || m.failures.Load() > 0 {
		return m.opts.ProbeInterval
	}
	return m.opts.IdleProbe
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

// Close stops the background probe and waits for it, including a probe
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
