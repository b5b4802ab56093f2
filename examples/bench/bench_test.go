package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// redisAddr is REDIS_URL's host:port when set (redis://host:port/db), else
// a fresh miniredis.
func redisAddr(t *testing.T) string {
	t.Helper()
	if u := os.Getenv("REDIS_URL"); u != "" {
		u = strings.TrimPrefix(u, "redis://")
		if i := strings.IndexByte(u, '/'); i >= 0 {
			u = u[:i]
		}
		return u
	}
	return miniredis.RunT(t).Addr()
}

func testBody() []byte { return bytes.Repeat([]byte("x"), 1024) }

// exactCmds is the number of Redis commands one request of these
// contenders sends, pipelined or not (the hot-key cache hits share reads
// among concurrent requests, and the full stacks also run health probes
// and stats flushes, so theirs are not fixed).
var exactCmds = map[string]float64{
	"bare": 0, "bare (weather JSON)": 0,
	"raw GET": 1, "raw EVALSHA": 1, "raw lock SET NX + EVALSHA": 2, "raw GET + EVALSHA + headers": 2,
	"raw GET (pipelined)": 1, "raw EVALSHA (pipelined)": 1, "raw lock SET NX + EVALSHA (pipelined)": 2,
	"raw GET + EVALSHA + headers (pipelined)": 2,
	"ours ratelimit 1 policy":                 1, "ours ratelimit 2 policies": 1,
	"ours ratelimit 1 policy (pipelined)": 1, "ours ratelimit 2 policies (pipelined)": 1,
	"ours lock": 2, "ours lock (pipelined)": 2,
	"peer ulule/limiter": 1, "peer bsm/redislock": 2,
}

func pipelined(c contender) bool { return strings.HasSuffix(c.name, "(pipelined)") }

// startForTest starts c on addr with a key prefix unique to the test.
func startForTest(t *testing.T, addr string, c contender) *running {
	t.Helper()
	r, err := start(context.Background(), config{redisAddr: addr}, c,
		env{prefix: "benchtest:" + keySafe(t.Name()) + ":", body: testBody()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(r) })
	return r
}

// get sends one request as the load generator does and fails the test on
// anything but 200.
func get(t *testing.T, r *running, conn int) {
	req, _ := http.NewRequest(http.MethodGet, r.url, nil)
	req.Header.Set("X-User-ID", "bench")
	req.Header.Set("X-Bench-Conn", strconv.Itoa(conn))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HTTP %d: %.200s", resp.StatusCode, buf.Bytes())
	}
}

// Every contender starts, passes its response check, and answers a burst
// of concurrent requests with 2xx; the contenders of exactCmds send exactly
// that many commands per request, in as many round trips when not
// pipelined and in no more when pipelined.
func TestContendersServe(t *testing.T) {
	addr := redisAddr(t)
	for _, c := range sortedContenders() {
		t.Run(c.name, func(t *testing.T) {
			r := startForTest(t, addr, c)

			// 40 requests, 8 at a time: concurrent, but not so many that a
			// -race build on a busy machine exceeds the toolkit's command
			// timeouts (which would rightly answer 503).
			const n, inFlight = 40, 8
			before := r.counter.load()
			var wg sync.WaitGroup
			sem := make(chan struct{}, inFlight)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sem <- struct{}{}
					defer func() { <-sem }()
					get(t, r, i)
				}()
			}
			wg.Wait()
			got := r.counter.load().sub(before)
			if want, ok := exactCmds[c.name]; ok {
				if cmds := float64(got.cmds) / n; cmds != want {
					t.Errorf("commands per request = %v, want %v", cmds, want)
				}
				if !pipelined(c) && got.rt != got.cmds {
					t.Errorf("%d round trips for %d commands, not pipelined", got.rt, got.cmds)
				}
			}
			if got.rt > got.cmds {
				t.Errorf("%d round trips for %d commands", got.rt, got.cmds)
			}
		})
	}
}

// One request at a time, a pipelined contender has nothing to share a
// write with: each command is a round trip of its own, as without
// pipelining.
func TestPipelinedAloneIsOneRoundTripPerCommand(t *testing.T) {
	addr := redisAddr(t)
	for _, c := range sortedContenders() {
		want, ok := exactCmds[c.name]
		if !pipelined(c) || !ok {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			r := startForTest(t, addr, c)
			const n = 10
			before := r.counter.load()
			for i := range n {
				get(t, r, i)
			}
			got := r.counter.load().sub(before)
			if got.cmds != int64(want*n) || got.rt != got.cmds {
				t.Errorf("%d requests one at a time: %d commands in %d round trips, want %v in as many", n, got.cmds, got.rt, want*n)
			}
		})
	}
}

// gate is a go-redis hook that holds the command on key until released.
type gate struct {
	key     string
	held    chan struct{}
	release chan struct{}
}

func (g *gate) hold(cmds []redis.Cmder) {
	for _, cmd := range cmds {
		if args := cmd.Args(); len(args) > 1 && args[1] == g.key {
			close(g.held)
			<-g.release
			return
		}
	}
}

func (g *gate) DialHook(next redis.DialHook) redis.DialHook { return next }

func (g *gate) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		g.hold([]redis.Cmder{cmd})
		return next(ctx, cmd)
	}
}

func (g *gate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		g.hold(cmds)
		return next(ctx, cmds)
	}
}

// futureWaiters counts the goroutines waiting for a command they submitted
// to an auto-pipeliner (both faces wait in AutoFuture.Wait or WaitContext):
// a command is queued, or taken for the next batch, once its goroutine
// waits there.
func futureWaiters() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	waiting := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "go-redis/v9.AutoFuture.Wait") {
			waiting++
		}
	}
	return waiting
}

// A pipelined contender's commands go through its client's auto-pipeliner,
// and those of concurrent requests share writes: while a command is held
// on the wire, the first commands of n concurrent requests queue behind it
// and leave in one write, so a burst of n requests that each send k
// commands makes at most k·n-(n-1) round trips for its k·n commands (the
// same burst unpipelined makes k·n).
func TestPipelinedBurstSharesWrites(t *testing.T) {
	addr := redisAddr(t)
	for _, c := range sortedContenders() {
		want, ok := exactCmds[c.name]
		if !pipelined(c) || !ok {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			r := startForTest(t, addr, c)
			ctx := context.Background()
			g := &gate{key: "benchtest:gate:" + keySafe(t.Name()), held: make(chan struct{}), release: make(chan struct{})}
			r.client.AddHook(g)
			// Hold one command of the test's own in the auto-pipeliner the
			// contender uses (the blocking face for the raw contenders,
			// the asynchronous one for ours; a client keeps one of each).
			var wg sync.WaitGroup
			wg.Add(1)
			if strings.HasPrefix(c.name, "raw ") {
				ap, err := r.client.AutoPipeline()
				if err != nil {
					t.Fatal(err)
				}
				go func() { defer wg.Done(); _ = ap.Get(ctx, g.key).Err() }()
			} else {
				ap, err := r.client.AsyncAutoPipeline()
				if err != nil {
					t.Fatal(err)
				}
				go func() { defer wg.Done(); _ = ap.Submit(ctx, redis.NewStringCmd(ctx, "get", g.key)).Wait() }()
			}
			waitFor(t, g.held, "the held command to reach Redis")
			waiting := futureWaiters()
			before := r.counter.load()
			const n = 4
			for i := range n {
				wg.Add(1)
				go func() { defer wg.Done(); get(t, r, i) }()
			}
			deadline := time.Now().Add(time.Minute)
			for futureWaiters() < waiting+n && time.Now().Before(deadline) {
				time.Sleep(200 * time.Microsecond)
			}
			queued := futureWaiters() - waiting
			close(g.release)
			wg.Wait()
			if queued != n {
				t.Fatalf("%d requests waiting on the auto-pipeliner, want %d", queued, n)
			}
			got := r.counter.load().sub(before)
			if got.cmds != int64(want*n) {
				t.Errorf("commands = %d, want %v", got.cmds, want*n)
			}
			if maxRT := int64(want*n) - (n - 1); got.rt > maxRT {
				t.Errorf("%d commands in %d round trips, want at most %d", got.cmds, got.rt, maxRT)
			}
			t.Logf("%d concurrent requests: %d commands in %d round trips", n, got.cmds, got.rt)
		})
	}
}

// waitFor waits for ch to close, failing the test after a minute (a hang,
// not a measurement).
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("waited a minute for %s", what)
	}
}

// The counter counts a command sent alone as one command in one round
// trip, a pipeline or transaction as all its commands in one round trip,
// and connection setup not at all.
func TestCounterCommandsAndRoundTrips(t *testing.T) {
	c, rc := newCountedClient(redisAddr(t))
	defer c.Close()
	ctx := context.Background()
	key := "benchtest:" + keySafe(t.Name())
	defer c.Del(ctx, key)
	step := func(what string, f func() error, wantRT, wantCmds int64) {
		t.Helper()
		before := rc.load()
		if err := f(); err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("%s: %v", what, err)
		}
		if got := rc.load().sub(before); got != (rtCount{rt: wantRT, cmds: wantCmds}) {
			t.Errorf("%s: %d round trips, %d commands; want %d, %d", what, got.rt, got.cmds, wantRT, wantCmds)
		}
	}
	// The first command also opens the connection (HELLO, CLIENT SETINFO).
	step("GET on a new connection", func() error { return c.Get(ctx, key).Err() }, 1, 1)
	step("SET", func() error { return c.Set(ctx, key, "v", time.Minute).Err() }, 1, 1)
	step("pipeline of 3", func() error {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Get(ctx, key)
			p.Incr(ctx, key+":n")
			p.Del(ctx, key+":n")
			return nil
		})
		return err
	}, 1, 3)
	step("transaction of 2 (MULTI and EXEC counted)", func() error {
		_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Get(ctx, key)
			p.Get(ctx, key)
			return nil
		})
		return err
	}, 1, 4)
}

type childOutput struct {
	lines []string
	res   loadResult
}

func runChild(t *testing.T, url string) childOutput {
	t.Helper()
	var out bytes.Buffer
	if err := runLoadgenChild(&out, url, 4, 100*time.Millisecond, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var co childOutput
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		co.lines = append(co.lines, sc.Text())
	}
	if len(co.lines) != 3 || co.lines[0] != measureMarker || co.lines[1] != endMarker {
		t.Fatalf("child output = %q, want MEASURE, END, JSON", co.lines)
	}
	if err := json.Unmarshal([]byte(co.lines[2]), &co.res); err != nil {
		t.Fatal(err)
	}
	return co
}

// The load generator counts 2xx only, measures latency, and reports
// non-2xx answers and transport errors instead of counting them.
func TestLoadgenCountsOnly2xx(t *testing.T) {
	body := testBody()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeBody(w, body) }))
	defer ok.Close()
	co := runChild(t, ok.URL)
	if co.res.OK == 0 || co.res.Failed() != 0 || co.res.P50 <= 0 || co.res.P99 < co.res.P50 {
		t.Fatalf("healthy server: %+v", co.res)
	}
	if co.res.BodyBytes != co.res.OK*int64(len(body)) {
		t.Fatalf("body bytes %d for %d responses of %d bytes", co.res.BodyBytes, co.res.OK, len(body))
	}

	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "nope", http.StatusTooManyRequests)
	}))
	defer bad.Close()
	co = runChild(t, bad.URL)
	if co.res.OK != 0 || co.res.Non2xx[http.StatusTooManyRequests] == 0 || co.res.FirstErr != "HTTP 429" {
		t.Fatalf("429 server: %+v", co.res)
	}

	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	co = runChild(t, url)
	if co.res.OK != 0 || co.res.Errors == 0 || co.res.FirstErr == "" {
		t.Fatalf("closed server: %+v", co.res)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// -only keeps the selected contenders plus bare and their baselines.
func TestSelectKeepsBaselines(t *testing.T) {
	var names []string
	for _, c := range selectContenders(sortedContenders(), regexp.MustCompile("ulule")) {
		names = append(names, c.name)
	}
	if got := strings.Join(names, ","); got != "bare,raw EVALSHA,peer ulule/limiter" {
		t.Fatalf("selected %s", got)
	}
}

// Every pair names two registered contenders, and -goals runs each pair's
// two sides next to each other.
func TestGoalPairsAdjacent(t *testing.T) {
	names := map[string]bool{}
	for _, c := range sortedContenders() {
		names[c.name] = true
	}
	pos := map[string]int{}
	for i, c := range goalContenders(sortedContenders()) {
		pos[c.name] = i
	}
	for _, p := range pairs {
		if !names[p.a] || !names[p.b] {
			t.Errorf("pair %q names an unknown contender: %q, %q", p.what, p.a, p.b)
			continue
		}
		if d := pos[p.a] - pos[p.b]; d < -2 || d > 2 {
			t.Errorf("pair %q: its contenders run %d apart", p.what, d)
		}
	}
}

// The verdict: a goal of 1 ("ahead of") needs a ratio above 1, any other
// goal at least the target; a miss says by how much.
func TestPairVerdict(t *testing.T) {
	if reaches(1.0, 1) || !reaches(1.01, 1) || !reaches(1.3, 1.3) || reaches(1.29, 1.3) {
		t.Fatal("reaches")
	}
	mk := func(rps ...float64) *running {
		r := &running{}
		for _, x := range rps {
			r.results = append(r.results, loadResult{OK: int64(x), Seconds: 1})
		}
		return r
	}
	a, b := mk(110, 120, 90), mk(100, 100, 100)
	a.c.name, b.c.name = pairs[0].a, pairs[0].b
	var out bytes.Buffer
	printPairs(&out, []*running{a, b})
	want := "| " + pairs[0].what + " | 1.10 | 1.10 / 1.20 / 0.90 | — | ≥ 1.25 | missed by 12.0 % (0 of 3 rounds met) |"
	if !strings.Contains(out.String(), want) {
		t.Fatalf("got\n%s\nwant a row\n%s", out.String(), want)
	}
}
