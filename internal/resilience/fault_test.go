package resilience

import (
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
)

// TestFault runs the fault scenarios one after another (their latencies are
// only meaningful when they do not compete with each other for the two
// cores) and prints the figures table at the end.
func TestFault(t *testing.T) {
	redistest.RequireRedisServer(t)
	t.Cleanup(printTable)
	t.Run("kill", testKill)
	t.Run("pause", testPause)
	t.Run("latency", testLatency)
	t.Run("failover", testFailover)
	t.Run("slowloris", testSlowloris)
	t.Run("sentinel", testSentinelFailover)
	t.Run("oom", testOOM)
	t.Run("idempotent pause", testIdempotentPause)
}

// settle is how long the load runs before a fault and after recovery.
const settle = 1500 * time.Millisecond

// testKill: Redis is killed (SIGKILL) for 5 s under load, then restarted.
// Figures: zero 5xx on the cached, rate-limited GET routes; POST
// /api/auras answers 503 with Retry-After during the outage and never
// creates a duplicate; /healthz says "redis" again within 5 s of the
// restart.
func testKill(t *testing.T) {
	// appendfsync always: every acknowledged write survives SIGKILL, so a
	// create answered 201 before the kill is still there after it, and a
	// second one after the restart would be a real duplicate, not data loss.
	srv := redistest.StartServer(t, "--appendonly", "yes", "--appendfsync", "always")
	f := startFleet(t, 3, map[string]string{"REDIS_URL": "redis://" + srv.Addr + "/0"})
	if d := f.waitBackend("redis", 5*time.Second); d < 0 {
		t.Fatal("instances never reported backend redis")
	}
	warm(t, f)
	spec := defaultLoad()
	l := startLoad(f, spec)
	time.Sleep(settle)
	killedAt := time.Now()
	srv.Kill()
	time.Sleep(5 * time.Second)
	srv.Restart()
	restartedAt := time.Now()
	recovery := f.waitBackend("redis", 10*time.Second)
	time.Sleep(settle)
	res := l.stop()

	gets := count(res, isGet)
	aurasAll := count(res, func(r result) bool { return r.kind == kindAura })
	// The outage as clients saw it: from the kill until the instances were
	// back on Redis. Requests started within it must be refused by the lock.
	outage := and(func(r result) bool { return r.kind == kindAura },
		within(killedAt.Add(50*time.Millisecond), restartedAt))
	during := count(res, outage)
	var noRetryAfter, notRefused int
	for _, r := range res {
		if !outage(r) {
			continue
		}
		if r.status != 503 {
			notRefused++
			t.Logf("aura create during the outage: status %d err %v after %v", r.status, r.err, r.start.Sub(killedAt))
		} else if r.retryAfter == "" {
			noRetryAfter++
		}
	}
	dupAnswers := createdTwice(res)
	stored, dupStored := storedDuplicates(t, srv.Client(t), f.prefix, spec.users)

	addRow(t, row{
		scenario: "1. redis killed 5s, restarted",
		sent:     len(res),
		fivexx: fmtf("GET %d (of %d; %d hits); POST /api/auras 503 %d of %d during outage, %d without Retry-After",
			gets.fivexx+gets.transport, gets.sent, gets.hits, during.byStatus[503], during.sent, noRetryAfter),
		dups:       fmtf("%d (201 answers), %d (stored, %d auras)", dupAnswers, dupStored, stored),
		maxLatency: "GET " + ms(gets.maxLatency) + ", POST " + ms(aurasAll.maxLatency),
		recovery:   "healthz redis " + ms(recovery) + " after restart",
	})

	if gets.fivexx != 0 || gets.transport != 0 {
		t.Errorf("GET routes: %d 5xx and %d transport errors during a Redis outage (want 0): %v", gets.fivexx, gets.transport, gets.byStatus)
	}
	if during.sent == 0 {
		t.Error("no aura create was sent during the outage: the scenario proved nothing")
	}
	if notRefused != 0 || noRetryAfter != 0 {
		t.Errorf("aura creates during the outage: %d not answered 503, %d 503 without Retry-After", notRefused, noRetryAfter)
	}
	for st, n := range aurasAll.byStatus {
		if st >= 500 && st != 503 || st == 0 {
			t.Errorf("aura creates: %d answered %d", n, st)
		}
	}
	if dupAnswers != 0 || dupStored != 0 {
		t.Errorf("duplicates: %d (user, name) pairs answered 201 twice, %d stored twice", dupAnswers, dupStored)
	}
	if stored == 0 {
		t.Error("no aura was created at all: the scenario proved nothing")
	}
	if recovery < 0 || recovery > 5*time.Second {
		t.Errorf("backend back to redis %v after the restart, want within 5s", recovery)
	}
	stillWorks(t, f)
}
