package lockhttp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/redis/go-redis/v9"
)

// ctxClient returns a client of addr that times out by context (as
// fallback.Config.NewClient builds them), so a paused server holds a call
// for as long as its context allows.
func ctxClient(t testing.TB, addr string) *redis.Client {
	o := redistest.FaultOptions(addr)
	o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = 30*time.Second, 30*time.Second, 30*time.Second
	o.ContextTimeoutEnabled = true
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// nameStore is a create handler that enforces name uniqueness in the
// write itself (HSETNX), like the demo's store. Its write runs with its own
// timeout and survives the request's cancellation, as a database write
// sent before the cancellation does; the handler itself stops waiting when
// its context is cancelled and answers 503, as handlers do.
type nameStore struct {
	c        *redis.Client // nil: an in-memory store that never fails
	key      string
	runs     atomic.Int64
	started  chan struct{} // the handler holds the lock and is about to write
	proceed  chan struct{} // ... and writes when this closes
	writeFor time.Duration
	mem      map[string]string
}

func (s *nameStore) write(ctx context.Context, name, id string) (bool, error) {
	if s.c == nil {
		if _, ok := s.mem[name]; ok {
			return false, nil
		}
		s.mem[name] = id
		return true, nil
	}
	return s.c.HSetNX(ctx, s.key, name, id).Result()
}

func (s *nameStore) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.runs.Add(1)
		var in struct {
			Name string `json:"name"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Name == "" {
			middleware.Error(w, r, http.StatusBadRequest, "bad body")
			return
		}
		id := fmt.Sprintf("id-%d", time.Now().UnixNano())
		if s.started != nil {
			s.started <- struct{}{}
			<-s.proceed
		}
		type outcome struct {
			ok  bool
			err error
		}
		res := make(chan outcome, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.writeFor)
			defer cancel()
			ok, err := s.write(ctx, in.Name, id)
			res <- outcome{ok, err}
		}()
		var o outcome
		select {
		case o = <-res:
		case <-r.Context().Done():
			o.err = context.Cause(r.Context())
		}
		switch {
		case o.err != nil:
			w.Header().Set("Retry-After", "1")
			middleware.Error(w, r, http.StatusServiceUnavailable, "store unavailable")
		case !o.ok:
			middleware.Error(w, r, http.StatusConflict, "name exists")
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"id":%q}`, id)
		}
	})
}

// pauseRun sends one idempotent create, runs fault once the handler holds
// the lock, and returns the answer and how long it took.
func pauseRun(s *nameStore, h http.Handler, key string, fault func()) (result, time.Duration) {
	s.started, s.proceed = make(chan struct{}, 1), make(chan struct{})
	first := make(chan result, 1)
	var took time.Duration
	start := time.Now()
	go func() {
		r := do(context.Background(), h, "alice", key, `{"name":"blue"}`)
		took = time.Since(start)
		first <- r
	}()
	<-s.started
	fault()
	r := <-first
	s.started = nil
	return r, took
}

// lockUnavailable reports whether r is the Locker's own 503: its Monitor
// has not yet seen Redis recover, and the handler did not run.
func lockUnavailable(r result) bool {
	return r.status == http.StatusServiceUnavailable && strings.Contains(string(r.body), "lock service is unavailable")
}

// retryUnavailable sends an idempotent create as a client honouring
// Retry-After does: again while the Locker answers 503 because its
// Monitor still reports Redis down after an outage, for up to 10s.
func retryUnavailable(h http.Handler, key string) (r result, unavailable int) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = do(context.Background(), h, "alice", key, `{"name":"blue"}`)
		if !lockUnavailable(r) || time.Now().After(deadline) {
			return r, unavailable
		}
		unavailable++
		time.Sleep(100 * time.Millisecond)
	}
}

// Redis (the locks' and the store's) is paused with SIGSTOP for 3 s while
// an idempotent create's write is in flight. The lock's validity (TTL 5 s)
// outlasts the pause, so the handler is not cancelled: its write lands
// after the pause and the client gets 201; the retry (after 503s while the
// Locker's Monitor has not yet seen Redis recover) replays that 201 with
// the same id and never runs the handler again.
func TestPauseDuringIdempotentCreate(t *testing.T) {
	redistest.RequireRedisServer(t)
	srv := redistest.StartServer(t)
	obs := newCounter()
	l, err := lockhttp.New(ctxClient(t, srv.Addr), lockhttp.Options{Prefix: "pause:", TTL: 5 * time.Second, Key: orderKey(), Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	s := &nameStore{c: ctxClient(t, srv.Addr), key: "pause:names", writeFor: 10 * time.Second}
	h := serve(l, s.handler())

	r1, took := pauseRun(s, h, "create-1", func() {
		srv.Pause()
		close(s.proceed)
		time.Sleep(3 * time.Second)
		srv.Resume()
	})
	retry, unavailable := retryUnavailable(h, "create-1")
	id, err := s.c.HGet(context.Background(), s.key, "blue").Result()
	if err != nil {
		t.Fatalf("the write never landed: %v", err)
	}
	t.Logf("first: %d after %v %s; retry: %d replayed=%q %s after %d x 503; stored id %s; handler runs %d; LockExpired %d",
		r1.status, took.Round(10*time.Millisecond), r1.body, retry.status, retry.header.Get(replayedHeader), retry.body, unavailable, id, s.runs.Load(), obs.get(middleware.LockExpired))
	want := fmt.Sprintf(`{"id":%q}`, id)
	if r1.status != http.StatusCreated || string(r1.body) != want {
		t.Errorf("first answer %d %s, want 201 %s (the write landed)", r1.status, r1.body, want)
	}
	if retry.status != http.StatusCreated || string(retry.body) != want || retry.header.Get(replayedHeader) != "true" {
		t.Errorf("retry %d %s, want the replayed 201 %s", retry.status, retry.body, want)
	}
	if n := s.runs.Load(); n != 1 {
		t.Errorf("handler ran %d times", n)
	}
}

// The lock's Redis is cut off (a partition that loses what was sent during
// it) just as the handler answers 201: neither the release nor the record
// of the response reaches Redis. The record is retried in the background
// and lands once Redis is back; until then a retry gets 409 (or 503 while
// the Locker's Monitor reports Redis down), and never runs the handler
// again, although the outage outlasts the lock's TTL.
func TestCompletionRecordedAfterOutage(t *testing.T) {
	redistest.RequireRedisServer(t)
	srv := redistest.StartServer(t)
	px := redistest.StartProxy(t, srv.Addr)
	obs := newCounter()
	l, err := lockhttp.New(ctxClient(t, px.Addr), lockhttp.Options{Prefix: "outage:", TTL: 2 * time.Second, Key: orderKey(), Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	s := &nameStore{mem: map[string]string{}, writeFor: time.Second}
	h := serve(l, s.handler())

	r1, took := pauseRun(s, h, "create-2", func() {
		px.SetBlackhole(true)
		close(s.proceed)
	})
	time.Sleep(3 * time.Second)
	px.SetBlackhole(false)
	var retry result
	var conflicts, unavailable int
	err = waitFor(15*time.Second, func() bool {
		retry = do(context.Background(), h, "alice", "create-2", `{"name":"blue"}`)
		switch {
		case retry.status == http.StatusConflict && strings.Contains(string(retry.body), "Idempotency-Key"):
			conflicts++
		case lockUnavailable(retry):
			unavailable++
		default:
			return true
		}
		time.Sleep(100 * time.Millisecond)
		return false
	})
	t.Logf("first: %d after %v %s; retry: %d replayed=%q %s after %d x 409 and %d x 503; handler runs %d; LockError %d",
		r1.status, took.Round(10*time.Millisecond), r1.body, retry.status, retry.header.Get(replayedHeader), retry.body, conflicts, unavailable, s.runs.Load(), obs.get(middleware.LockError))
	if err != nil {
		t.Fatal("the retry never got past 409")
	}
	want := fmt.Sprintf(`{"id":%q}`, s.mem["blue"])
	if r1.status != http.StatusCreated || string(r1.body) != want {
		t.Errorf("first answer %d %s, want 201 %s", r1.status, r1.body, want)
	}
	if retry.status != http.StatusCreated || string(retry.body) != want || retry.header.Get(replayedHeader) != "true" {
		t.Errorf("retry %d %s, want the replayed 201 %s", retry.status, retry.body, want)
	}
	if n := s.runs.Load(); n != 1 {
		t.Errorf("handler ran %d times", n)
	}
}

// A pause longer than the lock's validity: the watchdog cancels the
// handler (ErrLockLost) once the lock may have expired, and the handler
// answers 503 while its write, already sent, lands after the pause. The
// claim is kept: the retry (once the Monitor has seen Redis recover) is
// told the outcome is not known yet (409 with Retry-After) instead of
// running the handler again into "name exists".
func TestPauseLongerThanLockKeepsClaim(t *testing.T) {
	redistest.RequireRedisServer(t)
	srv := redistest.StartServer(t)
	obs := newCounter()
	l, err := lockhttp.New(ctxClient(t, srv.Addr), lockhttp.Options{Prefix: "long:", TTL: time.Second, Key: orderKey(), Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	s := &nameStore{c: ctxClient(t, srv.Addr), key: "long:names", writeFor: 10 * time.Second}
	h := serve(l, s.handler())

	r1, took := pauseRun(s, h, "create-3", func() {
		srv.Pause()
		close(s.proceed)
		time.Sleep(3 * time.Second)
		srv.Resume()
	})
	if err := waitFor(5*time.Second, func() bool { return s.c.HExists(context.Background(), s.key, "blue").Val() }); err != nil {
		t.Fatal("the write never landed")
	}
	retry, unavailable := retryUnavailable(h, "create-3")
	t.Logf("first: %d after %v; retry: %d Retry-After %q %s after %d x 503; handler runs %d; LockExpired %d",
		r1.status, took.Round(10*time.Millisecond), retry.status, retry.header.Get("Retry-After"), retry.body, unavailable, s.runs.Load(), obs.get(middleware.LockExpired))
	if r1.status != http.StatusServiceUnavailable {
		t.Errorf("first answer %d, want the handler's 503 after its lock was lost", r1.status)
	}
	if obs.get(middleware.LockExpired) != 1 {
		t.Errorf("LockExpired events: %d", obs.get(middleware.LockExpired))
	}
	if err := isProblem(retry, http.StatusConflict); err != nil || !strings.Contains(string(retry.body), "Idempotency-Key") || retry.header.Get("Retry-After") == "" {
		t.Errorf("retry: %v %s, want the lock layer's 409 with Retry-After", err, retry.body)
	}
	if n := s.runs.Load(); n != 1 {
		t.Errorf("handler ran %d times", n)
	}
}

// recorders counts the goroutines recording a response in the background.
func recorders() int {
	var b strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
	return strings.Count(b.String(), "lockhttp.(*Locker).recordLater")
}

// Close stops the background recording at once (it is bounded by
// RecordTimeout otherwise) and leaves no goroutine behind; the unrecorded
// outcome is reported as a LockError.
func TestCloseStopsBackgroundRecording(t *testing.T) {
	redistest.RequireRedisServer(t)
	srv := redistest.StartServer(t)
	px := redistest.StartProxy(t, srv.Addr)
	obs := newCounter()
	l, err := lockhttp.New(ctxClient(t, px.Addr), lockhttp.Options{
		Prefix: "close:", TTL: time.Second, CommandTimeout: 200 * time.Millisecond, RecordTimeout: time.Minute, Key: orderKey(), Observer: obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &nameStore{mem: map[string]string{}, writeFor: time.Second}
	h := serve(l, s.handler())
	before := recorders()
	r1, _ := pauseRun(s, h, "create-4", func() {
		px.SetBlackhole(true)
		close(s.proceed)
	})
	t.Cleanup(func() { px.SetBlackhole(false) })
	if r1.status != http.StatusCreated {
		t.Fatalf("first answer %d %s", r1.status, r1.body)
	}
	if err := waitFor(5*time.Second, func() bool { return recorders() > before }); err != nil {
		t.Fatal("no background recording started")
	}
	start := time.Now()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	// Close has waited for the recording; the goroutine may still be
	// between its deferred Done and its return for a moment.
	if err := waitFor(2*time.Second, func() bool { return recorders() == before }); err != nil {
		t.Fatalf("%d recording goroutines left after Close", recorders()-before)
	}
	if took > 30*time.Second {
		t.Fatalf("Close took %v: it waited for RecordTimeout", took)
	}
	if obs.get(middleware.LockError) != 1 {
		t.Fatalf("LockError events: %d", obs.get(middleware.LockError))
	}
	t.Logf("Close returned after %v", took.Round(time.Millisecond))
}

// Redlock: two of three masters are cut off (what is sent to them is lost)
// as the handler answers 201, so the record of the response lands on one
// master only, short of a quorum. That partial record already answers
// retries (a completed response is never wrong to replay); the record is
// retried in the background until a quorum holds it, so the replay
// survives losing the one master that had it first.
func TestRedlockCompletionPartlyApplied(t *testing.T) {
	redistest.RequireRedisServer(t)
	srvs := []*redistest.Server{redistest.StartServer(t), redistest.StartServer(t), redistest.StartServer(t)}
	pxs := []*redistest.Proxy{redistest.StartProxy(t, srvs[1].Addr), redistest.StartProxy(t, srvs[2].Addr)}
	clients := []redis.UniversalClient{ctxClient(t, srvs[0].Addr), ctxClient(t, pxs[0].Addr), ctxClient(t, pxs[1].Addr)}
	l, err := lockhttp.NewRedlock(clients, lockhttp.Options{Prefix: "rlp:", TTL: 2 * time.Second, Key: orderKey()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	s := &nameStore{mem: map[string]string{}, writeFor: time.Second}
	h := serve(l, s.handler())

	r1, _ := pauseRun(s, h, "create-5", func() {
		pxs[0].SetBlackhole(true)
		pxs[1].SetBlackhole(true)
		close(s.proceed)
	})
	if r1.status != http.StatusCreated {
		t.Fatalf("first answer %d %s", r1.status, r1.body)
	}
	during := do(context.Background(), h, "alice", "create-5", `{"name":"blue"}`)
	time.Sleep(3 * time.Second) // longer than the lock's TTL
	pxs[0].SetBlackhole(false)
	pxs[1].SetBlackhole(false)
	key := "rlp:idem:u:alice:create-5"
	if err := waitFor(10*time.Second, func() bool {
		return srvs[1].Client(t).Exists(context.Background(), key).Val() == 1 && srvs[2].Client(t).Exists(context.Background(), key).Val() == 1
	}); err != nil {
		t.Fatal("the record never reached a quorum")
	}
	srvs[0].Kill()
	after := do(context.Background(), h, "alice", "create-5", `{"name":"blue"}`)
	t.Logf("first %d %s; retry during the outage %d %s; after it, with the first master dead, %d replayed=%q %s; runs %d",
		r1.status, r1.body, during.status, during.body, after.status, after.header.Get(replayedHeader), after.body, s.runs.Load())
	for name, r := range map[string]result{"during the outage": during, "after it": after} {
		if r.status != http.StatusCreated || string(r.body) != string(r1.body) || r.header.Get(replayedHeader) != "true" {
			t.Errorf("retry %s: %d %s, want the replayed 201 %s", name, r.status, r.body, r1.body)
		}
	}
	if n := s.runs.Load(); n != 1 {
		t.Errorf("handler ran %d times", n)
	}
}
