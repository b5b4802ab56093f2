package resilience

import (
	"testing"
	"time"

	"github.com/aura-platform/redishttp/examples/server/aura"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// Timeouts the demo does not expose but configures by leaving the
// defaults (read from the packages' code and documentation).
const (
	// lockCommandTimeout is lockhttp.Options.CommandTimeout's default: the
	// demo sets none. It bounds the acquire and the release.
	lockCommandTimeout = time.Second
	// slack is the allowance over the configured timeouts.
	slack = 100 * time.Millisecond
)

// budgets are the longest a request may take while Redis hangs, derived
// from the configured timeouts of every Redis call on its path.
type budgets struct {
	get, post time.Duration
	getWhy    string
	postWhy   string
}

func deriveBudgets(f *fleet) budgets {
	app := f.apps[0]
	ct := app.Monitor().CommandTimeout() // 150ms: rate limit, cache fetch, cache store
	up := max(app.Upstream().Latency(aura.APIWeather), app.Upstream().Latency(aura.APINews))
	var read time.Duration
	if c, ok := app.Client().(*redis.Client); ok {
		read = c.Options().ReadTimeout
	}
	if read <= 0 {
		read = 3 * time.Second // go-redis default
	}
	return budgets{
		// A cached GET makes at most three Redis calls, each bounded by the
		// monitor's command timeout: the rate-limit script, the cache
		// fetch (SET NX GET) and, on a miss, the store script; plus the
		// upstream call on a miss.
		get:    3*ct + up + slack,
		getWhy: fmtf("3 x monitor CommandTimeout %v + upstream %v + %v", ct, up, slack),
		// POST /api/auras: the rate-limit script (CommandTimeout), the
		// lock acquire and release (lockhttp CommandTimeout), and the
		// demo store's HEXISTS and write script plus the cache
		// invalidation, which run on the request's context and so are
		// bounded only by the client's ReadTimeout.
		post:    ct + 2*lockCommandTimeout + 3*read + slack,
		postWhy: fmtf("CommandTimeout %v + 2 x lock CommandTimeout %v + 3 x client ReadTimeout %v + %v", ct, lockCommandTimeout, read, slack),
	}
}

// testPause: Redis is stopped with SIGSTOP for 3 s under load: its socket
// accepts connections and answers nothing, so only timeouts save a request.
// Figure: no request takes longer than the configured timeouts + 100 ms.
func testPause(t *testing.T) {
	srv := redistest.StartServer(t)
	f := startFleet(t, 3, map[string]string{"REDIS_URL": "redis://" + srv.Addr + "/0"})
	if d := f.waitBackend("redis", 5*time.Second); d < 0 {
		t.Fatal("instances never reported backend redis")
	}
	warm(t, f)
	b := deriveBudgets(f)
	l := startLoad(f, defaultLoad())
	time.Sleep(settle)
	pausedAt := time.Now()
	srv.Pause()
	time.Sleep(3 * time.Second)
	srv.Resume()
	resumedAt := time.Now()
	recovery := f.waitBackend("redis", 10*time.Second)
	time.Sleep(settle)
	res := l.stop()

	gets := count(res, isGet)
	getsPaused := count(res, and(isGet, within(pausedAt.Add(-time.Second), resumedAt)))
	posts := count(res, func(r result) bool { return r.kind == kindAura })
	addRow(t, row{
		scenario: "2. redis paused (SIGSTOP) 3s",
		sent:     len(res),
		fivexx: fmtf("GET %d (of %d); POST /api/auras %d x 503",
			gets.fivexx+gets.transport, gets.sent, posts.byStatus[503]),
		dups: fmtf("%d (201 answers)", createdTwice(res)),
		maxLatency: fmtf("GET %s (budget %s), POST %s (budget %s)",
			ms(gets.maxLatency), ms(b.get), ms(posts.maxLatency), ms(b.post)),
		recovery: "healthz redis " + ms(recovery) + " after SIGCONT",
	})
	t.Logf("GET budget: %s; POST budget: %s", b.getWhy, b.postWhy)
	t.Logf("GETs started within 1s before or during the pause: %d, max %v", getsPaused.sent, getsPaused.maxLatency)

	if getsPaused.sent == 0 {
		t.Error("no GET was sent during the pause: the scenario proved nothing")
	}
	if gets.fivexx != 0 || gets.transport != 0 {
		t.Errorf("GET routes: %d 5xx, %d transport errors while Redis hung (want 0): %v", gets.fivexx, gets.transport, gets.byStatus)
	}
	if gets.maxLatency > b.get {
		t.Errorf("a GET took %v while Redis hung, over the budget %v (%s)", gets.maxLatency, b.get, b.getWhy)
	}
	if posts.maxLatency > b.post {
		t.Errorf("a POST /api/auras took %v while Redis hung, over the budget %v (%s)", posts.maxLatency, b.post, b.postWhy)
	}
	for st, n := range posts.byStatus {
		if st >= 500 && st != 503 || st == 0 {
			t.Errorf("aura creates: %d answered %d", n, st)
		}
	}
	if d := createdTwice(res); d != 0 {
		t.Errorf("%d duplicate creates", d)
	}
	if recovery < 0 || recovery > 5*time.Second {
		t.Errorf("backend back to redis %v after SIGCONT, want within 5s", recovery)
	}
	stillWorks(t, f)
}
