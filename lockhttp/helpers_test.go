package lockhttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/redis/go-redis/v9"
)

// The headers of the Idempotency-Key protocol, as the package documents
// them.
const (
	idempotencyKeyHeader = "Idempotency-Key"
	replayedHeader       = "Idempotent-Replayed"
)

// deployment is one Redis setup the lock runs on; newLocker builds another
// instance (its own clients) of the service.
type deployment struct {
	name      string
	prefix    string
	mini      *miniredis.Miniredis
	servers   []*redistest.Server // Redlock masters
	client    redis.UniversalClient
	newClient func(t testing.TB) redis.UniversalClient
	newLocker func(t testing.TB, o lockhttp.Options) *lockhttp.Locker
}

// forEachDeployment runs fn on every redistest target (miniredis or the real
// server, and the cluster when configured) and on three private
// redis-servers used as Redlock masters.
func forEachDeployment(t *testing.T, fn func(t *testing.T, d deployment)) {
	t.Helper()
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		d := deployment{name: tg.Name, prefix: tg.Prefix, mini: tg.Mini, client: tg.Client, newClient: tg.NewClient}
		d.newLocker = func(t testing.TB, o lockhttp.Options) *lockhttp.Locker {
			if o.Prefix == "" {
				o.Prefix = tg.Prefix + "lk:"
			}
			c := tg.NewClient(t)
			if o.Monitor == nil && o.CommandTimeout >= time.Second {
				// A test about exclusion, not latency, under load: the
				// monitor's probes get the same patience as the lock's
				// calls (its default 150 ms probe can fail on a loaded
				// 2-core machine and turn requests into 503s).
				mon, err := fallback.NewMonitor(c, fallback.MonitorOptions{CommandTimeout: o.CommandTimeout})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = mon.Close() })
				o.Monitor = mon
			}
			l, err := lockhttp.New(c, o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = l.Close() })
			return l
		}
		fn(t, d)
	})
	t.Run("redlock", func(t *testing.T) {
		fn(t, redlockDeployment(t))
	})
}

func redlockDeployment(t *testing.T) deployment {
	t.Helper()
	servers := []*redistest.Server{redistest.StartServer(t), redistest.StartServer(t), redistest.StartServer(t)}
	d := deployment{name: "redlock", prefix: "rl:", servers: servers, client: servers[0].Client(t)}
	d.newLocker = func(t testing.TB, o lockhttp.Options) *lockhttp.Locker {
		if o.Prefix == "" {
			o.Prefix = d.prefix
		}
		var cs []redis.UniversalClient
		for _, s := range servers {
			o := redistest.FaultOptions(s.Addr)
			// Bursts of 200 requests dial many connections at once on a
			// 2-core machine under -race: allow for that, while a killed
			// server still fails fast (connection refused).
			// Connections are opened up front (MinIdleConns) so the burst
			// does not start with a dial storm.
			// With one master down, one more stalled reply loses the quorum
			// (503, as it should): give a loaded 2-core machine time.
			o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = 2*time.Second, 5*time.Second, 5*time.Second, 5*time.Second
			o.PoolSize, o.MinIdleConns = 30, 30
			cs = append(cs, redis.NewClient(o))
		}
		t.Cleanup(func() {
			for _, c := range cs {
				_ = c.Close()
			}
		})
		l, err := lockhttp.NewRedlock(cs, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		return l
	}
	return d
}

// advance keeps a miniredis clock in step with real time, so TTLs expire
// there as on a real server. It does nothing for real servers.
func (d deployment) advance(t testing.TB) {
	if d.mini == nil {
		return
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		last := time.Now()
		for {
			select {
			case <-stop:
				return
			case now := <-tk.C:
				d.mini.FastForward(now.Sub(last))
				last = now
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// counter is an Observer counting events by kind.
type counter struct {
	mu sync.Mutex
	n  map[middleware.EventKind]int
	rt map[string]bool
}

func newCounter() *counter {
	return &counter{n: map[middleware.EventKind]int{}, rt: map[string]bool{}}
}

func (c *counter) Observe(e middleware.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[e.Kind] += int(e.Value)
	c.rt[e.Route] = true
}

func (c *counter) get(k middleware.EventKind) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

// orderStore stands in for the shared database behind every instance. Its
// create is check-then-act with a pause in between, so without a lock
// concurrent creates do duplicate.
type orderStore struct {
	mu       sync.Mutex
	items    map[string]int // user/name -> id
	created  atomic.Int64
	runs     atomic.Int64
	delay    time.Duration
	lastTok  map[string]int64
	tokens   []int64
	tokensMu sync.Mutex
}

func newOrderStore(delay time.Duration) *orderStore {
	return &orderStore{items: map[string]int{}, lastTok: map[string]int64{}, delay: delay}
}

func (s *orderStore) exists(k string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.items[k]
	return ok
}

func (s *orderStore) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.runs.Add(1)
		var in struct {
			Name string `json:"name"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Name == "" {
			middleware.Error(w, r, http.StatusBadRequest, "bad body")
			return
		}
		tok, _ := lockhttp.Fence(r.Context())
		s.tokensMu.Lock()
		s.tokens = append(s.tokens, tok)
		s.tokensMu.Unlock()
		k := middleware.UserFromContext(r.Context()) + "/" + in.Name
		if s.exists(k) {
			middleware.Error(w, r, http.StatusConflict, "order exists")
			return
		}
		time.Sleep(s.delay) // the window in which a duplicate would slip in
		s.mu.Lock()
		id := len(s.items) + 1
		s.items[k] = id
		s.mu.Unlock()
		s.created.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Location", fmt.Sprintf("/api/orders/%d", id))
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%d,"name":%q,"token":%d}`+"\n", id, in.Name, tok)
	})
}

// orderKey is the demo's lock key: the user and the order's name.
func orderKey() middleware.KeyFunc {
	return middleware.Join(middleware.ByUser(), lockhttp.JSONField("name", 0))
}

// serve wraps h as the demo does: trusted user header, then the lock.
func serve(l *lockhttp.Locker, h http.Handler) http.Handler {
	return middleware.TrustUserHeader("X-User")(l.Handler(h))
}

type result struct {
	status int
	header http.Header
	body   []byte
}

func do(ctx context.Context, h http.Handler, user, idemKey, body string) result {
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/orders", bytes.NewBufferString(body))
	r.Header.Set("Content-Type", "application/json")
	if user != "" {
		r.Header.Set("X-User", user)
	}
	if idemKey != "" {
		r.Header.Set(idempotencyKeyHeader, idemKey)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return result{status: w.Code, header: w.Result().Header, body: w.Body.Bytes()}
}

// isProblem reports whether res is a problem JSON with the given status.
func isProblem(res result, status int) error {
	if res.status != status {
		return fmt.Errorf("status %d, want %d (%s)", res.status, status, res.body)
	}
	if ct := res.header.Get("Content-Type"); ct != "application/problem+json" {
		return fmt.Errorf("content type %q", ct)
	}
	var p middleware.Problem
	if err := json.Unmarshal(res.body, &p); err != nil {
		return fmt.Errorf("problem body: %w", err)
	}
	if p.Status != status {
		return fmt.Errorf("problem status %d", p.Status)
	}
	return nil
}

var errTimeout = errors.New("timed out")

func waitFor(d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return errTimeout
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

func newRec() *httptest.ResponseRecorder { return httptest.NewRecorder() }

// mustMonitor returns m, panicking on a constructor error (the options in
// these tests are valid).
func mustMonitor(m *fallback.Monitor, err error) *fallback.Monitor {
	if err != nil {
		panic(err)
	}
	return m
}
