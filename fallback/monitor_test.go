package fallback_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/middleware"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// transitions records OnChange calls and Observer events.
type transitions struct {
	mu      sync.Mutex
	changes []string
	events  []string
}

func (tr *transitions) onChange(from, to fallback.State) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.changes = append(tr.changes, from.String()+">"+to.String())
}

func (tr *transitions) Observe(e middleware.Event) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if e.Kind != middleware.BackendChange || e.Value != 1 {
		panic(fmt.Sprintf("unexpected event %+v", e))
	}
	tr.events = append(tr.events, e.Route)
}

func (tr *transitions) get() (changes, events string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return strings.Join(tr.changes, ","), strings.Join(tr.events, ",")
}

// await returns the changes and events once the changes read want, or
// what they are after a second. The monitor stores a new state before it
// calls OnChange, so a test that has just seen the state waits for the
// callback here instead of reading it at once.
func (tr *transitions) await(want string) (changes, events string) {
	deadline := time.Now().Add(time.Second)
	for {
		changes, events = tr.get()
		if changes == want || time.Now().After(deadline) {
			return changes, events
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitState polls until m is in want and returns how long that took, or
// fails the test after limit.
func waitState(t *testing.T, m *fallback.Monitor, want fallback.State, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for m.State() != want {
		if time.Since(start) > limit {
			t.Fatalf("state %s after %v, want %s", m.State(), limit, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// plainClient is a client with go-redis defaults, as an application makes
// it: the monitor alone must keep it from waiting on a dead server.
func plainClient(t *testing.T, addr string, mod ...func(*redis.Options)) *redis.Client {
	o := &redis.Options{Addr: addr}
	for _, f := range mod {
		f(o)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestMonitorNilClient(t *testing.T) {
	tr := &transitions{}
	m := mustMonitor(fallback.NewMonitor(nil, fallback.MonitorOptions{OnChange: tr.onChange, Observer: tr}))
	if m.State() != fallback.StateMemory || m.Available() {
		t.Fatalf("state %s, available %v", m.State(), m.Available())
	}
	called := false
	if err := m.Do(context.Background(), func(context.Context) error { called = true; return nil }); !errors.Is(err, fallback.ErrUnavailable) || called {
		t.Errorf("Do = %v, fn called %v", err, called)
	}
	for range 10 {
		m.Report(context.Background(), errors.New("boom"))
	}
	if m.State() != fallback.StateMemory {
		t.Errorf("Report changed embedded mode to %s", m.State())
	}
	done := make(chan struct{})
	go func() {
		_ = m.Close()
		_ = m.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close of an embedded monitor blocks")
	}
	if c, e := tr.get(); c != "" || e != "" {
		t.Errorf("transitions %q, events %q", c, e)
	}
}

func TestMonitorDefaults(t *testing.T) {
	m := mustMonitor(fallback.NewMonitor(nil, fallback.MonitorOptions{}))
	defer m.Close()
	if m.CommandTimeout() != 150*time.Millisecond {
		t.Errorf("CommandTimeout %v", m.CommandTimeout())
	}
	opts := fallback.MonitorOptions{ProbeInterval: 0}
	mustMonitor(fallback.NewMonitor(nil, opts)).Close()
	if opts.ProbeInterval != 0 {
		t.Error("NewMonitor wrote into the caller's options")
	}
}

func TestMonitorDo(t *testing.T) { redistest.Run(t, testMonitorDo) }

func testMonitorDo(t *testing.T, tg redistest.Target) {
	m := mustMonitor(fallback.NewMonitor(tg.Client, fallback.MonitorOptions{CommandTimeout: 300 * time.Millisecond}))
	defer m.Close()
	if m.State() != fallback.StateRedis || !m.Available() {
		t.Fatalf("state %s", m.State())
	}
	key := tg.Prefix + "k"
	err := m.Do(context.Background(), func(ctx context.Context) error {
		dl, ok := ctx.Deadline()
		if !ok || time.Until(dl) > 300*time.Millisecond {
			t.Errorf("fn's ctx deadline %v %v, want within the command timeout", dl, ok)
		}
		return tg.Client.Set(ctx, key, "v", time.Minute).Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	var got string
	err = m.Do(context.Background(), func(ctx context.Context) error {
		var err error
		got, err = tg.Client.Get(ctx, key).Result()
		return err
	})
	if err != nil || got != "v" {
		t.Errorf("Do GET = %q, %v", got, err)
	}
	// fn's error is returned as is; redis.Nil is not a failure.
	for range 10 {
		err = m.Do(context.Background(), func(ctx context.Context) error { return tg.Client.Get(ctx, tg.Prefix+"missing").Err() })
		if !errors.Is(err, redis.Nil) {
			t.Fatalf("Do = %v, want redis.Nil", err)
		}
	}
	if m.State() != fallback.StateRedis {
		t.Errorf("redis.Nil opened the breaker: %s", m.State())
	}
}

// fakeRedisErr is a server error reply, as go-redis returns them.
type fakeRedisErr string

func (e fakeRedisErr) Error() string { return string(e) }
func (fakeRedisErr) RedisError()     {}

func TestIsFailure(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	live := context.Background()
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: &timeoutErr{}}
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"nil", live, nil, false},
		{"redis.Nil", live, redis.Nil, false},
		{"wrapped redis.Nil", live, fmt.Errorf("get: %w", redis.Nil), false},
		{"caller canceled", canceled, context.Canceled, false},
		{"caller canceled, wrapped", canceled, fmt.Errorf("x: %w", context.Canceled), false},
		{"canceled but not by the caller", live, context.Canceled, true},
		{"canceled, nil ctx", nil, context.Canceled, true},
		{"deadline", live, context.DeadlineExceeded, true},
		{"net timeout", live, timeout, true},
		{"refused", live, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
		{"closed client", live, redis.ErrClosed, true},
		{"WRONGTYPE", live, fakeRedisErr("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{"NOSCRIPT", live, fakeRedisErr("NOSCRIPT No matching script"), false},
		{"ERR syntax", live, fakeRedisErr("ERR syntax error"), false},
		{"MOVED", live, fakeRedisErr("MOVED 3999 127.0.0.1:6381"), false},
		{"LOADING", live, fakeRedisErr("LOADING Redis is loading the dataset in memory"), true},
		{"CLUSTERDOWN", live, fakeRedisErr("CLUSTERDOWN The cluster is down"), true},
		{"READONLY", live, fakeRedisErr("READONLY You can't write against a read only replica."), true},
		{"NOAUTH", live, fakeRedisErr("NOAUTH Authentication required."), true},
		{"WRONGPASS", live, fakeRedisErr("WRONGPASS invalid username-password pair"), true},
		{"OOM", live, fakeRedisErr("OOM command not allowed when used memory > 'maxmemory'."), true},
		{"max clients", live, fakeRedisErr("ERR max number of clients reached"), true},
		{"wrapped LOADING", live, fmt.Errorf("x: %w", fakeRedisErr("LOADING")), true},
		{"plain error", live, errors.New("boom"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fallback.IsFailure(tt.ctx, tt.err); got != tt.want {
				t.Errorf("IsFailure = %v, want %v", got, tt.want)
			}
		})
	}
}

type timeoutErr struct{}

func (*timeoutErr) Error() string   { return "i/o timeout" }
func (*timeoutErr) Timeout() bool   { return true }
func (*timeoutErr) Temporary() bool { return true }

// TestMonitorReport drives the breaker with real outcomes from a live
// server. Probes are effectively off so that only Report moves the state.
func TestMonitorReport(t *testing.T) { redistest.Run(t, testMonitorReport) }

func testMonitorReport(t *testing.T, tg redistest.Target) {
	tr := &transitions{}
	m := mustMonitor(fallback.NewMonitor(tg.Client, fallback.MonitorOptions{
		FailureThreshold: 3, ProbeInterval: time.Hour, OnChange: tr.onChange, Observer: tr,
	}))
	defer m.Close()
	ctx := context.Background()

	// Things that are not Redis failing.
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	for range 10 {
		err := tg.Client.Get(canceled, tg.Prefix+"k").Err()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("GET with a canceled ctx = %v", err)
		}
		m.Report(canceled, err)
		m.Report(ctx, tg.Client.Get(ctx, tg.Prefix+"missing").Err()) // redis.Nil
	}
	list := tg.Prefix + "list"
	if err := tg.Client.LPush(ctx, list, "x").Err(); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		err := tg.Client.Get(ctx, list).Err()
		if err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE") {
			t.Fatalf("GET on a list = %v", err)
		}
		m.Report(ctx, err)
	}
	if m.State() != fallback.StateRedis {
		t.Fatalf("state %s after non-failures", m.State())
	}

	// Consecutive failures open the breaker; a success in between resets
	// the count.
	boom := errors.New("boom")
	m.Report(ctx, boom)
	m.Report(ctx, boom)
	m.Report(ctx, nil)
	m.Report(ctx, boom)
	m.Report(ctx, boom)
	if m.State() != fallback.StateRedis {
		t.Fatalf("breaker opened after 2 consecutive failures: %s", m.State())
	}
	m.Report(ctx, boom)
	if m.State() != fallback.StateDegraded {
		t.Fatalf("state %s after 3 consecutive failures", m.State())
	}
	called := false
	if err := m.Do(ctx, func(context.Context) error { called = true; return nil }); !errors.Is(err, fallback.ErrUnavailable) || called {
		t.Errorf("Do while degraded = %v, fn called %v", err, called)
	}
	if c, e := tr.await("redis>degraded"); c != "redis>degraded" || e != "degraded" {
		t.Errorf("changes %q, events %q", c, e)
	}
}

// TestMonitorConcurrentFailuresOneTransition: many requests failing at once
// cause exactly one transition, one OnChange and one event.
func TestMonitorConcurrentFailuresOneTransition(t *testing.T) {
	tg := redistest.New(t)
	tr := &transitions{}
	var inChange atomic.Int32
	m := mustMonitor(fallback.NewMonitor(tg.Client, fallback.MonitorOptions{
		ProbeInterval: time.Hour, Observer: tr,
		OnChange: func(from, to fallback.State) {
			if inChange.Add(1) != 1 {
				t.Error("OnChange called concurrently with itself")
			}
			time.Sleep(10 * time.Millisecond)
			tr.onChange(from, to)
			inChange.Add(-1)
		},
	}))
	defer m.Close()
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() { m.Report(context.Background(), errors.New("down")) })
	}
	wg.Wait()
	if c, e := tr.await("redis>degraded"); c != "redis>degraded" || e != "degraded" {
		t.Errorf("changes %q, events %q", c, e)
	}
}

// TestMonitorRedisKilled is the outage the issue describes: Redis dies, the
// monitor notices within a second and calls stop waiting; Redis comes back
// and the monitor returns to it within five seconds.
func TestMonitorRedisKilled(t *testing.T) {
	srv := redistest.StartServer(t)
	client := plainClient(t, srv.Addr)
	tr := &transitions{}
	logger, logs := testLogger()
	m := mustMonitor(fallback.NewMonitor(client, fallback.MonitorOptions{OnChange: tr.onChange, Observer: tr, Logger: logger}))
	defer m.Close()
	waitState(t, m, fallback.StateRedis, time.Second)

	// Traffic keeps flowing while we kill the server, as in production.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var slowest atomic.Int64
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				_ = m.Do(context.Background(), func(ctx context.Context) error { return client.Ping(ctx).Err() })
				if d := int64(time.Since(start)); d > slowest.Load() {
					slowest.Store(d)
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	srv.Kill()
	took := waitState(t, m, fallback.StateDegraded, time.Second)
	t.Logf("killed -> degraded in %v; slowest Do %v", took, time.Duration(slowest.Load()))
	close(stop)
	wg.Wait()
	// No call ever waited much past the command timeout (go-redis alone
	// would retry for seconds).
	if d := time.Duration(slowest.Load()); d > 4*m.CommandTimeout() {
		t.Errorf("a Do call took %v with the server dead", d)
	}

	// Degraded: Do returns at once without calling fn.
	var calls atomic.Int32
	start := time.Now()
	for range 1000 {
		err := m.Do(context.Background(), func(context.Context) error { calls.Add(1); return nil })
		if !errors.Is(err, fallback.ErrUnavailable) {
			t.Fatalf("Do while degraded = %v", err)
		}
	}
	if elapsed := time.Since(start); calls.Load() != 0 || elapsed > m.CommandTimeout() {
		t.Errorf("1000 degraded Do calls: fn ran %d times, took %v", calls.Load(), elapsed)
	}

	srv.Restart()
	took = waitState(t, m, fallback.StateRedis, 5*time.Second)
	t.Logf("restarted -> redis in %v", took)
	if err := m.Do(context.Background(), func(ctx context.Context) error { return client.Set(ctx, "k", "v", 0).Err() }); err != nil {
		t.Errorf("Do after recovery: %v", err)
	}
	if c, e := tr.await("redis>degraded,degraded>redis"); c != "redis>degraded,degraded>redis" || e != "degraded,redis" {
		t.Errorf("changes %q, events %q", c, e)
	}
	if l := logs.String(); !strings.Contains(l, "breaker open") || !strings.Contains(l, "breaker closed") {
		t.Errorf("log lacks the transitions:\n%s", l)
	}
}

// configClient builds the client the way an application does: from the
// environment, through Config.NewClient.
func configClient(t *testing.T, addr string) redis.UniversalClient {
	cfg, err := fallback.LoadConfig(env(map[string]string{"REDIS_URL": "redis://" + addr + "/0"}))
	if err != nil {
		t.Fatal(err)
	}
	c, err := cfg.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestMonitorRedisPaused: a hung server (SIGSTOP) accepts connections but
// answers nothing. Calls through Do are cut at the command timeout, the
// probes time out and the monitor degrades; on SIGCONT it recovers.
func TestMonitorRedisPaused(t *testing.T) {
	for _, kind := range []string{"config client", "plain client"} {
		t.Run(kind, func(t *testing.T) {
			srv := redistest.StartServer(t)
			var client redis.UniversalClient
			if kind == "config client" {
				client = configClient(t, srv.Addr)
			} else {
				// go-redis defaults ignore context deadlines; the
				// monitor's probe must still notice the hang.
				client = plainClient(t, srv.Addr)
			}
			tr := &transitions{}
			logger, logs := testLogger()
			opts := fallback.MonitorOptions{OnChange: tr.onChange, Logger: logger}
			if kind == "plain client" {
				// No call meets the hang here, so only the idle
				// heartbeat can notice it: make it frequent.
				opts.IdleProbe = 200 * time.Millisecond
			}
			m := mustMonitor(fallback.NewMonitor(client, opts))
			defer m.Close()
			if warned := strings.Contains(logs.String(), "ContextTimeoutEnabled"); warned != (kind == "plain client") {
				t.Errorf("ContextTimeoutEnabled warning = %v for %s:\n%s", warned, kind, logs.String())
			}
			waitState(t, m, fallback.StateRedis, time.Second)
			time.Sleep(2 * m.CommandTimeout()) // the start-up probe is over
			srv.Pause()
			t.Cleanup(srv.Resume) // never leave a stopped process behind
			if kind == "config client" {
				start := time.Now()
				err := m.Do(context.Background(), func(ctx context.Context) error { return client.Ping(ctx).Err() })
				if err == nil {
					t.Fatal("PING to a stopped server succeeded")
				}
				if d := time.Since(start); d > 4*m.CommandTimeout() {
					t.Errorf("Do against a hung server took %v", d)
				}
			}
			took := waitState(t, m, fallback.StateDegraded, 3*time.Second)
			t.Logf("paused -> degraded in %v", took)
			start := time.Now()
			if err := m.Do(context.Background(), func(context.Context) error { return nil }); !errors.Is(err, fallback.ErrUnavailable) {
				t.Errorf("Do while degraded = %v", err)
			}
			if d := time.Since(start); d > m.CommandTimeout() {
				t.Errorf("degraded Do took %v", d)
			}
			srv.Resume()
			waitState(t, m, fallback.StateRedis, 10*time.Second)
			if c, _ := tr.await("redis>degraded,degraded>redis"); c != "redis>degraded,degraded>redis" {
				t.Errorf("changes %q", c)
			}
		})
	}
}

// TestNewMonitorDoesNoIO: NewMonitor returns without waiting for Redis,
// even for a server that accepts connections and never answers, where the
// first probe takes the whole CommandTimeout.
func TestNewMonitorDoesNoIO(t *testing.T) {
	client := plainClient(t, redistest.Unresponsive(t))
	start := time.Now()
	m := mustMonitor(fallback.NewMonitor(client, fallback.MonitorOptions{CommandTimeout: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer m.Close()
	if d := time.Since(start); d >= time.Second {
		t.Fatalf("NewMonitor took %v: it waited for the server", d)
	}
	waitState(t, m, fallback.StateDegraded, 5*time.Second)
}

func TestMonitorUnreachableAtStartup(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(redistest.FreePort(t))) // nothing listens
	client := plainClient(t, addr)
	logger, logs := testLogger()
	tr := &transitions{}
	m := mustMonitor(fallback.NewMonitor(client, fallback.MonitorOptions{Logger: logger, OnChange: tr.onChange}))
	defer m.Close()
	waitState(t, m, fallback.StateDegraded, 2*time.Second)
	if err := m.Do(context.Background(), func(context.Context) error { return nil }); !errors.Is(err, fallback.ErrUnavailable) {
		t.Errorf("Do = %v", err)
	}
	if !strings.Contains(logs.String(), "unreachable at startup") {
		t.Errorf("log: %s", logs.String())
	}
	// It stays degraded while nothing listens, and the start-up failure
	// is one change.
	time.Sleep(500 * time.Millisecond)
	if c, _ := tr.get(); m.State() != fallback.StateDegraded || c != "redis>degraded" {
		t.Errorf("state %s, changes %q", m.State(), c)
	}
}

// TestMonitorUnreachableHostComesUp: a server that was down at startup is
// picked up when it appears.
func TestMonitorUnreachableHostComesUp(t *testing.T) {
	srv := redistest.StartServer(t)
	client := plainClient(t, srv.Addr)
	srv.Kill()
	m := mustMonitor(fallback.NewMonitor(client, fallback.MonitorOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer m.Close()
	waitState(t, m, fallback.StateDegraded, 2*time.Second)
	srv.Restart()
	waitState(t, m, fallback.StateRedis, 5*time.Second)
}

func TestMonitorWrongPassword(t *testing.T) {
	const right = "the-right-one"
	// redistest's readiness check speaks without AUTH, so the password is
	// set once the server is up.
	srv := redistest.StartServer(t)
	if err := srv.Client(t).ConfigSet(context.Background(), "requirepass", right).Err(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, password string
		want           fallback.State
	}{
		{"wrong password", secret, fallback.StateDegraded},
		{"no password", "", fallback.StateDegraded},
		{"right password", right, fallback.StateRedis},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := plainClient(t, srv.Addr, func(o *redis.Options) { o.Password = tc.password })
			logger, logs := testLogger()
			m := mustMonitor(fallback.NewMonitor(client, fallback.MonitorOptions{Logger: logger}))
			defer m.Close()
			waitState(t, m, tc.want, 2*time.Second)
			time.Sleep(300 * time.Millisecond) // let a probe or two log
			if m.State() != tc.want {
				t.Fatalf("state moved to %s", m.State())
			}
			l := logs.String()
			if tc.want == fallback.StateDegraded {
				if !strings.Contains(l, "unreachable at startup") || !(strings.Contains(l, "WRONGPASS") || strings.Contains(l, "NOAUTH")) {
					t.Errorf("log does not say why:\n%s", l)
				}
			}
			if strings.Contains(l, secret) || strings.Contains(l, right) {
				t.Errorf("log contains a password:\n%s", l)
			}
		})
	}
}

// TestMonitorCloseStopsProbes: after Close no goroutine of the monitor is
// left and no further transition happens, even when Redis dies.
func TestMonitorCloseStopsProbes(t *testing.T) {
	srv := redistest.StartServer(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	ignore := goleak.IgnoreCurrent()
	tr := &transitions{}
	m := mustMonitor(fallback.NewMonitor(client, fallback.MonitorOptions{ProbeInterval: 10 * time.Millisecond, OnChange: tr.onChange}))
	time.Sleep(50 * time.Millisecond)
	done := make(chan struct{})
	go func() {
		_ = m.Close()
		_ = m.Close() // idempotent
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocks")
	}
	srv.Kill()
	time.Sleep(200 * time.Millisecond)
	if c, _ := tr.get(); c != "" || m.State() != fallback.StateRedis {
		t.Errorf("closed monitor still probing: changes %q, state %s", c, m.State())
	}
	// Close does not close the caller's client.
	if err := client.Ping(context.Background()).Err(); errors.Is(err, redis.ErrClosed) {
		t.Error("Monitor.Close closed the client")
	}
	_ = client.Close()
	goleak.VerifyNone(t, ignore)
}

// mustMonitor returns m, panicking on a constructor error (the options in
// these tests are valid).
func mustMonitor(m *fallback.Monitor, err error) *fallback.Monitor {
	if err != nil {
		panic(err)
	}
	return m
}

func TestNewMonitorRejects(t *testing.T) {
	var typed *redis.Client
	cases := []struct {
		name   string
		client redis.UniversalClient
		opts   fallback.MonitorOptions
		field  string
	}{
		{"typed nil client", typed, fallback.MonitorOptions{}, "client"},
		{"negative CommandTimeout", nil, fallback.MonitorOptions{CommandTimeout: -time.Millisecond}, "CommandTimeout"},
		{"negative FailureThreshold", nil, fallback.MonitorOptions{FailureThreshold: -1}, "FailureThreshold"},
		{"negative ProbeInterval", nil, fallback.MonitorOptions{ProbeInterval: -1}, "ProbeInterval"},
		{"negative RecoverySuccesses", nil, fallback.MonitorOptions{RecoverySuccesses: -2}, "RecoverySuccesses"},
		{"ProbeKey with a hash tag", nil, fallback.MonitorOptions{ProbeKey: "app:{probe}"}, "ProbeKey"},
		{"ProbeKey with a glob", nil, fallback.MonitorOptions{ProbeKey: "app:*"}, "ProbeKey"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := fallback.NewMonitor(tc.client, tc.opts)
			if m != nil || !errors.Is(err, fallback.ErrInvalidOptions) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("NewMonitor = %v, %v; want ErrInvalidOptions naming %s", m, err, tc.field)
			}
		})
	}
}
