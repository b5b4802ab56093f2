package resilience

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// logLine is one log record of one instance.
type logLine struct {
	inst  int
	at    time.Time
	level slog.Level
	msg   string
}

// logRecorder keeps every record the instances log at Info and above.
type logRecorder struct {
	mu    sync.Mutex
	lines []logLine
}

// logger returns instance i's logger.
func (r *logRecorder) logger(i int) *slog.Logger { return slog.New(&recHandler{r: r, inst: i}) }

// between returns the lines logged in [from, to).
func (r *logRecorder) between(from, to time.Time) []logLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []logLine
	for _, l := range r.lines {
		if !l.at.Before(from) && l.at.Before(to) {
			out = append(out, l)
		}
	}
	return out
}

type recHandler struct {
	r    *logRecorder
	inst int
}

func (h *recHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h *recHandler) Handle(_ context.Context, rec slog.Record) error {
	h.r.mu.Lock()
	h.r.lines = append(h.r.lines, logLine{inst: h.inst, at: time.Now(), level: rec.Level, msg: rec.Message})
	h.r.mu.Unlock()
	return nil
}
func (h *recHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recHandler) WithGroup(string) slog.Handler      { return h }

// isBreakerLine reports whether l is the monitor's transition line.
func isBreakerLine(l logLine) bool {
	return strings.Contains(l.msg, "breaker open") || strings.Contains(l.msg, "breaker closed")
}

// testOOM: Redis runs out of memory (maxmemory reached, noeviction) for 5 s
// under load: it answers PING and reads, and refuses every write with OOM.
// Figures: each instance goes to degraded once and back once (one
// transition each way, one monitor log line each), no 5xx on the cached
// GET routes, and /healthz says "redis" again soon after the memory is
// freed (CONFIG SET maxmemory 0 and the filler keys deleted).
func testOOM(t *testing.T) {
	srv := redistest.StartServer(t)
	logs := &logRecorder{}
	f := startFleetLogged(t, 3, map[string]string{"REDIS_URL": "redis://" + srv.Addr + "/0"}, logs.logger)
	if d := f.waitBackend("redis", 5*time.Second); d < 0 {
		t.Fatal("instances never reported backend redis")
	}
	warm(t, f)
	// The admin client has go-redis' default timeouts: the fault client's
	// 200 ms is too short for 64 KiB writes next to the load.
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
	defer admin.Close()
	l := startLoad(f, defaultLoad())
	time.Sleep(settle)

	faultAt := time.Now() // the fill itself makes the load's writes fail
	filler := redistest.FillUntilOOM(t, admin, f.prefix)
	oomAt := time.Now()
	degraded := f.waitBackend("degraded", 5*time.Second)
	time.Sleep(5 * time.Second)
	freedAt := time.Now()
	ctx := context.Background()
	if err := admin.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	for _, k := range filler {
		if err := admin.Del(ctx, k).Err(); err != nil {
			t.Fatal(err)
		}
	}
	recovery := f.waitBackend("redis", 10*time.Second)
	time.Sleep(settle)
	res := l.stop()
	end := time.Now()

	gets := count(res, isGet)
	getsOOM := count(res, and(isGet, within(oomAt, freedAt)))
	posts := count(res, func(r result) bool { return r.kind == kindAura })

	// Transitions, per instance, from the monitor's log lines; and every
	// line logged from the start of the fault to the end of the run.
	during := logs.between(faultAt, end)
	perInst := make([][]string, len(f.srvs))
	msgs := map[string]int{}
	for _, ln := range during {
		msgs[ln.level.String()+" "+ln.msg]++
		if isBreakerLine(ln) {
			perInst[ln.inst] = append(perInst[ln.inst], ln.msg)
		}
	}
	var trans []string
	total := 0
	for i, p := range perInst {
		trans = append(trans, fmt.Sprintf("%d", len(p)))
		total += len(p)
		want := []string{"open", "closed"}
		ok := len(p) == 2 && strings.Contains(p[0], want[0]) && strings.Contains(p[1], want[1])
		if !ok {
			t.Errorf("instance %d: monitor transitions %q, want one to degraded and one back", i, p)
		}
	}
	var kinds []string
	for m, n := range msgs {
		kinds = append(kinds, fmt.Sprintf("%dx %q", n, m))
	}
	sort.Strings(kinds)
	t.Logf("log lines from the fault to the end of the run (3 instances):\n  %s", strings.Join(kinds, "\n  "))
	t.Logf("filling took %v, then OOM for %v; degraded %v after the fill; Redis errors seen by the clients: %v", oomAt.Sub(faultAt).Round(time.Millisecond), freedAt.Sub(oomAt).Round(time.Millisecond), degraded, f.errorKinds())

	addRow(t, row{
		scenario: "7. redis out of memory (noeviction) 5s",
		sent:     len(res),
		fivexx: fmtf("GET %d (of %d, %d during OOM); POST /api/auras %d x 503",
			gets.fivexx+gets.transport, gets.sent, getsOOM.sent, posts.byStatus[503]),
		dups:       fmtf("%d (201 answers)", createdTwice(res)),
		maxLatency: "GET " + ms(gets.maxLatency) + ", POST " + ms(posts.maxLatency),
		recovery: fmtf("state changes per instance %s (want 2: to degraded, back), %d monitor log lines, %d log lines in all; healthz redis %s after memory freed",
			strings.Join(trans, "/"), total, len(during), ms(recovery)),
	})

	if degraded < 0 {
		t.Error("the instances never reported degraded while every write failed")
	}
	if getsOOM.sent == 0 {
		t.Error("no GET was sent while Redis was out of memory: the scenario proved nothing")
	}
	if gets.fivexx != 0 || gets.transport != 0 {
		t.Errorf("GET routes: %d 5xx, %d transport errors while Redis was out of memory (want 0): %v", gets.fivexx, gets.transport, gets.byStatus)
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
		t.Errorf("backend back to redis %v after the memory was freed, want within 5s", recovery)
	}
	stillWorks(t, f)
}
