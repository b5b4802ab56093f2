package resilience

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/middleware"
)

// answer is one response to an idempotent create.
type answer struct {
	status   int
	replayed bool
	id       string // the created aura's id, from a 201
	detail   string // a problem's detail
	took     time.Duration
	err      error
}

// unknown reports whether a is the lock layer's 409: the first request
// with this Idempotency-Key is still running or its outcome is not
// recorded yet.
func (a answer) unknown() bool {
	return a.status == http.StatusConflict && strings.Contains(a.detail, "Idempotency-Key")
}

func (a answer) String() string {
	switch {
	case a.err != nil:
		return "error " + a.err.Error()
	case a.status == http.StatusCreated:
		return fmt.Sprintf("201 replayed=%v id=%s", a.replayed, a.id)
	}
	return fmt.Sprintf("%d %q", a.status, a.detail)
}

// createAura sends POST /api/auras with an Idempotency-Key to instance i.
func (f *fleet) createAura(i int, user, key, name string) answer {
	start := time.Now()
	req, err := http.NewRequest(http.MethodPost, f.srvs[i].URL+"/api/auras", strings.NewReader(`{"name":"`+name+`"}`))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-User-ID", user)
	req.Header.Set("Idempotency-Key", key)
	resp, err := f.http.Do(req)
	if err != nil {
		return answer{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, replayed: resp.Header.Get("Idempotent-Replayed") == "true", took: time.Since(start)}
	var body struct {
		ID     string `json:"id"`
		Detail string `json:"detail"`
	}
	_ = json.Unmarshal(b, &body)
	a.id, a.detail = body.ID, body.Detail
	return a
}

// testIdempotentPause: Redis is paused (SIGSTOP) for 3 s while idempotent
// creates are in flight on three instances, their store writes sent into
// the paused server. Every client retries with the same Idempotency-Key
// (on another instance) until it gets an answer other than the lock's 409
// "still being processed, or outcome not known yet". Figures: what the
// first answers were; that every retry learned the real outcome (201 with
// the id the store holds), and none got 409 "name exists"; no duplicate.
func testIdempotentPause(t *testing.T) {
	srv := redistest.StartServer(t)
	// UPSTREAM_LATENCY_SCALE 2: the create handler waits 400 ms between
	// its existence check and its write, the window the pause hits.
	// min_idle_conns: the write goes out on an open connection, so it sits
	// in the paused server's socket and runs when it resumes (a new
	// connection would never get past its handshake, and the write would
	// never be sent).
	f := startFleet(t, 3, map[string]string{"REDIS_URL": "redis://" + srv.Addr + "/0?min_idle_conns=16", "UPSTREAM_LATENCY_SCALE": "2"})
	if d := f.waitBackend("redis", 5*time.Second); d < 0 {
		t.Fatal("instances never reported backend redis")
	}
	// One create per instance first, so the store's write script is in
	// Redis's script cache and a write sent into the pause is an EVALSHA
	// that runs when Redis resumes (a first EVALSHA would fail NOSCRIPT).
	for i := range f.srvs {
		if a := f.createAura(i, "idem-warm", fmt.Sprintf("warm-%d", i), fmt.Sprintf("warm %d", i)); a.status != http.StatusCreated {
			t.Fatalf("warm-up create on instance %d: %v", i, a)
		}
	}
	const n = 6
	type create struct {
		user, key, name string
		first, last     answer
		retries         int
		learnedAfter    time.Duration // after SIGCONT
	}
	cs := make([]*create, n)
	var wg sync.WaitGroup
	for i := range cs {
		c := &create{user: fmt.Sprintf("idem-u%d", i), key: fmt.Sprintf("create-%d", i), name: fmt.Sprintf("aura %d", i)}
		cs[i] = c
		wg.Go(func() { c.first = f.createAura(i%3, c.user, c.key, c.name) })
	}
	// Pause once every create holds its lock (its existence check takes a
	// millisecond more), so that every store write is sent into the pause.
	rdb := srv.Client(t)
	if err := waitUntil(10*time.Second, func() bool {
		keys, _ := rdb.Keys(context.Background(), f.prefix+"lock:{*}").Result()
		return len(keys) == n
	}); err != nil {
		t.Fatal("the creates never all held their locks")
	}
	time.Sleep(50 * time.Millisecond)
	srv.Pause()
	time.Sleep(3 * time.Second)
	srv.Resume()
	resumedAt := time.Now()
	wg.Wait()
	sent := n
	for i, c := range cs {
		deadline := time.Now().Add(30 * time.Second)
		for {
			c.last = f.createAura((i+1)%3, c.user, c.key, c.name)
			c.retries++
			sent++
			// A client retries the lock's 409 and any 503 after a pause.
			if !c.last.unknown() && c.last.status != http.StatusServiceUnavailable && c.last.err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		c.learnedAfter = time.Since(resumedAt)
	}

	// What the store holds, read from Redis directly.
	var firsts = map[string]int{}
	var maxFirst, maxLearned time.Duration
	learned, nameExists, dups, unknownAtEnd := 0, 0, 0, 0
	for _, c := range cs {
		firsts[fmt.Sprint(c.first.status)]++
		maxFirst = max(maxFirst, c.first.took)
		maxLearned = max(maxLearned, c.learnedAfter)
		stored, err := rdb.HGetAll(context.Background(), f.prefix+"data:{"+middleware.KeyPart(c.user)+"}:auras").Result()
		if err != nil {
			t.Fatalf("reading %s's auras: %v", c.user, err)
		}
		var ids []string
		for id, v := range stored {
			if strings.Contains(v, `"name":"`+c.name+`"`) {
				ids = append(ids, id)
			}
		}
		dups += max(0, len(ids)-1)
		t.Logf("%s: first %v after %v; %d retries, last %v; stored %v", c.user, c.first, c.first.took.Round(time.Millisecond), c.retries, c.last, ids)
		switch {
		case c.last.unknown():
			unknownAtEnd++
		case c.last.status == http.StatusConflict:
			nameExists++
		}
		if c.last.status == http.StatusCreated && len(ids) == 1 && c.last.id == ids[0] {
			learned++
		} else {
			t.Errorf("%s: the retry got %v, the store holds %v: the client never learns the real outcome", c.user, c.last, ids)
		}
		if c.first.status == http.StatusCreated && c.first.id != c.last.id {
			t.Errorf("%s: first 201 id %s, retry %v", c.user, c.first.id, c.last)
		}
	}
	addRow(t, row{
		scenario:   "8. redis paused 3s during idempotent creates",
		sent:       sent,
		fivexx:     fmtf("first answers by status %v", firsts),
		dups:       fmtf("%d (store); retries answered 409 name exists: %d", dups, nameExists),
		maxLatency: fmtf("first answer %s", ms(maxFirst)),
		recovery:   fmtf("%d/%d retries learned the stored 201 (same id), the last %s after SIGCONT; still unknown %d", learned, n, ms(maxLearned), unknownAtEnd),
	})
	if dups != 0 {
		t.Errorf("%d duplicate auras", dups)
	}
}

// waitUntil polls cond every 10 ms until it holds or limit passes.
func waitUntil(limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}
