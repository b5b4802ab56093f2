package lockhttp_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/redis/go-redis/v9"
)

func countingHandler(n *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusCreated)
	})
}

func check503(t *testing.T, r result) {
	t.Helper()
	if err := isProblem(r, http.StatusServiceUnavailable); err != nil {
		t.Fatal(err)
	}
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After = %q", r.header.Get("Retry-After"))
	}
}

func TestRedisDownFailsClosed(t *testing.T) {
	cases := []struct {
		name    string
		servers int
		kill    int
	}{
		{"single", 1, 1},
		{"redlock-majority-down", 3, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var clients []redis.UniversalClient
			var servers []*redistest.Server
			for range tc.servers {
				s := redistest.StartServer(t)
				servers = append(servers, s)
				c := redis.NewClient(redistest.FaultOptions(s.Addr))
				t.Cleanup(func() { _ = c.Close() })
				clients = append(clients, c)
			}
			obs := newCounter()
			o := lockhttp.Options{Key: middleware.Static("k"), Observer: obs, Route: "r"}
			l, err := lockhttp.NewRedlock(clients, o)
			if err != nil {
				t.Fatal(err)
			}
			var runs atomic.Int64
			h := middleware.TrustUserHeader("X-User")(l.Handler(countingHandler(&runs)))
			if r := do(context.Background(), h, "u", "", `{}`); r.status != http.StatusCreated {
				t.Fatalf("healthy: %d %s", r.status, r.body)
			}
			for _, s := range servers[:tc.kill] {
				s.Kill()
			}
			runs.Store(0)
			check503(t, do(context.Background(), h, "u", "", `{}`))
			check503(t, do(context.Background(), h, "u", "idem-1", `{}`))
			if runs.Load() != 0 {
				t.Fatalf("handler ran %d times without a lock", runs.Load())
			}
			if obs.get(middleware.LockError) != 2 {
				t.Fatalf("LockError = %d", obs.get(middleware.LockError))
			}
			// Back up: locking works again.
			for _, s := range servers[:tc.kill] {
				s.Restart()
			}
			if err := waitFor(5*time.Second, func() bool {
				return do(context.Background(), h, "u", "", `{}`).status == http.StatusCreated
			}); err != nil {
				t.Fatalf("no recovery after restart")
			}
		})
	}
}

func TestMonitorUnavailableFailsFast(t *testing.T) {
	s := redistest.StartServer(t)
	c := redis.NewClient(redistest.FaultOptions(s.Addr))
	t.Cleanup(func() { _ = c.Close() })
	mon := mustMonitor(fallback.NewMonitor(c, fallback.MonitorOptions{ProbeInterval: 20 * time.Millisecond, FailureThreshold: 1}))
	t.Cleanup(func() { _ = mon.Close() })
	var runs atomic.Int64
	l, err := lockhttp.New(c, lockhttp.Options{Key: middleware.Static("k"), Monitor: mon})
	if err != nil {
		t.Fatal(err)
	}
	h := l.Handler(countingHandler(&runs))
	s.Kill()
	if err := waitFor(5*time.Second, func() bool { return !mon.Available() }); err != nil {
		t.Fatal("monitor never saw the outage")
	}
	check503(t, get(h, "x"))
	if runs.Load() != 0 {
		t.Fatal("handler ran")
	}
}

// Without Options.Monitor, New creates a Monitor over its client: New
// itself does no I/O (a dial that hangs does not hold it up), and once the
// Monitor sees Redis down, requests get 503 without touching Redis. Close
// stops the Monitor (TestMain checks that no goroutine is left).
func TestOwnMonitor(t *testing.T) {
	t.Run("no I/O in New", func(t *testing.T) {
		release := make(chan struct{})
		c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", Dialer: func(context.Context, string, string) (net.Conn, error) {
			<-release // ignores its context: a dial made inside New would hold it
			return nil, errors.New("no server")
		}})
		t.Cleanup(func() { _ = c.Close() })
		made := make(chan error, 1)
		var l *lockhttp.Locker
		go func() {
			var err error
			l, err = lockhttp.New(c, lockhttp.Options{})
			made <- err
		}()
		select {
		case err := <-made:
			close(release)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			close(release)
			t.Fatal("New waited for Redis")
		}
	})
	t.Run("outage", func(t *testing.T) {
		s := redistest.StartServer(t)
		c := redis.NewClient(redistest.FaultOptions(s.Addr))
		t.Cleanup(func() { _ = c.Close() })
		hook := &rtHook{}
		c.AddHook(hook)
		l, err := lockhttp.New(c, lockhttp.Options{Key: middleware.Static("k")})
		if err != nil {
			t.Fatal(err)
		}
		var runs atomic.Int64
		h := l.Handler(countingHandler(&runs))
		if r := get(h, "x"); r.status != http.StatusCreated {
			t.Fatalf("healthy: %d %s", r.status, r.body)
		}
		s.Kill()
		runs.Store(0)
		scripts := func(cmds []string) (n int) {
			for _, c := range cmds {
				if strings.HasPrefix(c, "eval") {
					n++
				}
			}
			return n
		}
		var last result
		if err := waitFor(10*time.Second, func() bool {
			hook.take()
			last = get(h, "x")
			return last.status == http.StatusServiceUnavailable && scripts(hook.take()) == 0
		}); err != nil {
			t.Fatalf("requests still try Redis after the outage: last answer %d", last.status)
		}
		check503(t, last)
		if runs.Load() != 0 {
			t.Fatalf("handler ran %d times without a lock", runs.Load())
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

func TestUseMemoryOnlyWhenChosen(t *testing.T) {
	for _, of := range []fallback.OnFailure{fallback.Default, fallback.FailClosed} {
		_, err := lockhttp.New(nil, lockhttp.Options{OnFailure: of})
		if !errors.Is(err, lockhttp.ErrInvalidOptions) || !strings.Contains(err.Error(), "OnFailure: fallback.UseMemory") {
			t.Fatalf("nil client with OnFailure %v: %v", of, err)
		}
		if _, err := lockhttp.NewRedlock(nil, lockhttp.Options{OnFailure: of}); !errors.Is(err, lockhttp.ErrInvalidOptions) {
			t.Fatalf("no Redlock masters with OnFailure %v: %v", of, err)
		}
	}
	l, err := lockhttp.New(nil, lockhttp.Options{OnFailure: fallback.UseMemory, Key: orderKey()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	store := newOrderStore(10 * time.Millisecond)
	h := serve(l, store.handler())
	checkOneCreation(t, store, fire([]http.Handler{h}, "alice", "k1", `{"name":"blue"}`, nil))
	r := do(context.Background(), h, "alice", "k1", `{"name":"blue"}`)
	if r.status != http.StatusCreated || r.header.Get(replayedHeader) != "true" {
		t.Fatalf("local replay: %d %v", r.status, r.header)
	}
	if err := isProblem(do(context.Background(), h, "alice", "k1", `{"name":"red"}`), http.StatusUnprocessableEntity); err != nil {
		t.Fatal(err)
	}
}

func TestUseMemoryTakesOverWhenRedisFails(t *testing.T) {
	s := redistest.StartServer(t)
	c := redis.NewClient(redistest.FaultOptions(s.Addr))
	t.Cleanup(func() { _ = c.Close() })
	l, err := lockhttp.New(c, lockhttp.Options{OnFailure: fallback.UseMemory, Key: middleware.Static("k")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	var runs atomic.Int64
	h := l.Handler(countingHandler(&runs))
	s.Kill()
	if r := get(h, "x"); r.status != http.StatusCreated || runs.Load() != 1 {
		t.Fatalf("local fallback: %d, runs %d", r.status, runs.Load())
	}
}

func TestInvalidOptions(t *testing.T) {
	tg := redistest.New(t)
	var typedNil *redis.Client
	cases := []struct {
		name  string
		o     lockhttp.Options
		field string // the one field the error names
	}{
		{"TTL too short", lockhttp.Options{TTL: time.Millisecond}, "TTL"},
		{"negative TTL", lockhttp.Options{TTL: -1}, "TTL"},
		{"negative Wait", lockhttp.Options{Wait: -time.Second}, "Wait"},
		{"negative RetryAfter", lockhttp.Options{RetryAfter: -1}, "RetryAfter"},
		{"negative CommandTimeout", lockhttp.Options{CommandTimeout: -1}, "CommandTimeout"},
		{"negative FenceRetention", lockhttp.Options{FenceRetention: -1}, "FenceRetention"},
		{"negative IdempotencyRetention", lockhttp.Options{IdempotencyRetention: -1}, "IdempotencyRetention"},
		{"negative MaxBodyBytes", lockhttp.Options{MaxBodyBytes: -1}, "MaxBodyBytes"},
		{"negative MaxResponseBytes", lockhttp.Options{MaxResponseBytes: -1}, "MaxResponseBytes"},
		{"negative RecordTimeout", lockhttp.Options{RecordTimeout: -1}, "RecordTimeout"},
		{"unknown OnFailure", lockhttp.Options{OnFailure: 7}, "OnFailure"},
		{"OnFailure PassThrough", lockhttp.Options{OnFailure: fallback.PassThrough}, "OnFailure"},
		{"hash tag in Prefix", lockhttp.Options{Prefix: "lock:{x}:"}, "Prefix"},
		{"open brace in Prefix", lockhttp.Options{Prefix: "lock{"}, "Prefix"},
		{"glob in Prefix", lockhttp.Options{Prefix: "lock*:"}, "Prefix"},
		{"two bad fields: the first is named", lockhttp.Options{MaxBodyBytes: -1, MaxResponseBytes: -1}, "MaxBodyBytes"},
	}
	fields := []string{"TTL", "Wait", "RetryAfter", "CommandTimeout", "FenceRetention", "IdempotencyRetention",
		"MaxBodyBytes", "MaxResponseBytes", "RecordTimeout", "OnFailure", "Prefix", "client"}
	names := func(err error) []string {
		var out []string
		for _, f := range fields {
			if regexp.MustCompile(`\b` + f + `\b`).MatchString(err.Error()) {
				out = append(out, f)
			}
		}
		return out
	}
	for _, tc := range cases {
		_, err := lockhttp.New(tg.Client, tc.o)
		if !errors.Is(err, lockhttp.ErrInvalidOptions) {
			t.Errorf("%s: err = %v", tc.name, err)
			continue
		}
		if got := names(err); len(got) != 1 || got[0] != tc.field {
			t.Errorf("%s: %q names %v, want only %s", tc.name, err, got, tc.field)
		}
	}
	// A typed-nil client is a mistake, not embedded mode.
	_, err := lockhttp.New(typedNil, lockhttp.Options{OnFailure: fallback.UseMemory})
	if !errors.Is(err, lockhttp.ErrInvalidOptions) || !strings.Contains(err.Error(), "client") {
		t.Errorf("typed-nil client: %v", err)
	}
	for i, cs := range [][]redis.UniversalClient{{tg.Client, nil}, {typedNil, tg.Client}} {
		_, err := lockhttp.NewRedlock(cs, lockhttp.Options{})
		want := fmt.Sprintf("clients[%d]", 1-i)
		if !errors.Is(err, lockhttp.ErrInvalidOptions) || !strings.Contains(err.Error(), want) {
			t.Errorf("nil Redlock master: %v, want it to name %s", err, want)
		}
	}
	// An untyped nil is embedded mode.
	if l, err := lockhttp.New(nil, lockhttp.Options{OnFailure: fallback.UseMemory}); err != nil {
		t.Errorf("embedded mode: %v", err)
	} else {
		_ = l.Close()
	}
	o := lockhttp.Options{}
	if l, err := lockhttp.New(tg.Client, o); err != nil || o.TTL != 0 || o.Prefix != "" || o.Monitor != nil {
		t.Errorf("defaults written back or failed: %v %+v", err, o)
	} else {
		_ = l.Close()
	}
}
