package resilience

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// hotKey returns the Redis key of a cached hot weather entry.
func hotKey(t *testing.T, c *redis.ClusterClient, prefix string) string {
	t.Helper()
	var mu sync.Mutex // ForEachMaster runs the masters concurrently
	var found string
	err := c.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
		iter := m.Scan(ctx, 0, prefix+"cache:*weather*", 100).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			if found == "" && strings.Contains(iter.Val(), hotLocationKey) {
				found = iter.Val()
			}
			mu.Unlock()
		}
		return iter.Err()
	})
	if err != nil || found == "" {
		t.Fatalf("hot weather key not found (%v)", err)
	}
	return found
}

// hotLocationKey is the key part of hotLocations[0].
const hotLocationKey = "48.86:2.35"

// testFailover: on a 3-master cluster with one replica each, the master
// that owns a hot cache entry is killed mid-load and its replica takes
// over. Figures: zero 5xx on the GET routes; cache and rate limits work
// across the instances afterwards; Redis errors happen only within the
// failover window, and are counted.
func testFailover(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	f := startFleet(t, 3, map[string]string{"REDIS_CLUSTER_ADDRS": strings.Join(c.Addrs(), ",")})
	if d := f.waitBackend("redis", 10*time.Second); d < 0 {
		t.Fatal("instances never reported backend redis")
	}
	warm(t, f)
	admin := c.Client(t)
	key := hotKey(t, admin, f.prefix)
	master := c.MasterFor(key)
	if master == nil {
		t.Fatal("no master for the hot key")
	}
	spec := defaultLoad()
	f.resetErrors()
	l := startLoad(f, spec)
	time.Sleep(settle)
	killedAt := time.Now()
	master.Kill()
	if err := c.WaitHealthy(20 * time.Second); err != nil {
		l.stop()
		t.Fatalf("no failover: %v", err)
	}
	healthyAt := time.Now()
	recovery := f.waitBackend("redis", 10*time.Second)
	backAt := time.Now()
	// Observe the instances for a while after they first all said redis:
	// count breaker trips (flapping) and when the last Redis error was.
	w := watchStates(f)
	time.Sleep(3 * time.Second)
	flapTrips, _ := w.done()
	time.Sleep(settle)
	res := l.stop()
	promoted := c.MasterFor(key)

	gets := count(res, isGet)
	posts := count(res, func(r result) bool { return r.kind == kindAura })
	noHeaders := count(res, func(r result) bool { return isGet(r) && r.err == nil && !r.limited })
	nerr, first, last := f.redisErrors()
	window := backAt.Add(time.Second)
	deadDials := 0
	for k, v := range f.errorKinds() {
		t.Logf("redis error x%d: %s", v, k)
		if strings.Contains(k, master.Addr) {
			deadDials += v
		}
	}
	// A fresh client: admin's slot map still points at the dead master.
	_, dupStored := storedDuplicates(t, c.Client(t), f.prefix, spec.users)
	dupAnswers := createdTwice(res)
	addRow(t, row{
		scenario: "4. cluster master failover",
		sent:     len(res),
		fivexx: fmtf("GET %d (of %d, %d without rate-limit headers); POST /api/auras %d x 503; redis errors %d (%d dials to the dead master), last %s after the kill",
			gets.fivexx+gets.transport, gets.sent, noHeaders.sent, posts.byStatus[503], nerr, deadDials, ms(last.Sub(killedAt))),
		dups:       fmtf("%d (stored), %d (201 answers)", dupStored, dupAnswers),
		maxLatency: "GET " + ms(gets.maxLatency) + ", POST " + ms(posts.maxLatency),
		recovery: fmtf("replica promoted %s after the kill; all healthz redis %s later; then %d breaker trips in the 3s after",
			ms(healthyAt.Sub(killedAt)), ms(recovery), flapTrips),
	})
	t.Logf("hot key %s: master %s killed, now served by %v; errors first %v last %v after the kill",
		key, master.Addr, promoted.Addr, first.Sub(killedAt), last.Sub(killedAt))

	if promoted == nil || promoted == master {
		t.Errorf("the hot key's slot was not taken over by a replica")
	}
	if gets.fivexx != 0 || gets.transport != 0 {
		t.Errorf("GET routes: %d 5xx, %d transport errors during the failover (want 0): %v", gets.fivexx, gets.transport, gets.byStatus)
	}
	if noHeaders.sent != 0 {
		t.Errorf("%d GET answers without rate-limit headers: the limiter stopped working", noHeaders.sent)
	}
	if slow := count(res, and(isGet, within(killedAt, window))); slow.hits*2 < slow.sent {
		t.Errorf("only %d of %d GETs in the failover window were cache hits", slow.hits, slow.sent)
	}
	if nerr > 0 && first.Before(killedAt) {
		// A 150ms command timeout can fire on a loaded 2-core machine
		// without any fault; anything else before the kill is a bug.
		if msg := f.firstError(); strings.Contains(msg, "deadline exceeded") || strings.Contains(msg, "i/o timeout") {
			t.Logf("a command timed out %v before the kill (machine load): %s", killedAt.Sub(first), msg)
		} else {
			t.Errorf("redis error %v before the kill: %s", killedAt.Sub(first), msg)
		}
	}
	if nerr > 0 && last.After(window) {
		// fallback.Config.NewClient reloads the cluster slot map every
		// second, so errors must stop soon after the failover; a single
		// late timeout can come from machine load alone, a flapping
		// breaker cannot.
		t.Logf("redis errors continue %v after all instances were back (window ended %v after the kill); %d dials to the dead master; %d breaker trips in the 3s after recovery",
			last.Sub(backAt), window.Sub(killedAt), deadDials, flapTrips)
		if flapTrips > 1 {
			t.Errorf("the breaker flapped %d times after the failover: instances still use a stale slot map", flapTrips)
		}
	}
	for st, n := range posts.byStatus {
		if st >= 500 && st != 503 || st == 0 {
			t.Errorf("aura creates: %d answered %d", n, st)
		}
	}
	if dupStored != 0 {
		t.Errorf("%d auras stored twice", dupStored)
	}
	if dupAnswers != 0 {
		// Replication is asynchronous: a create acknowledged by the old
		// master just before it died may never reach the replica, and a
		// retry then succeeds again. Counted, not hidden.
		t.Logf("%d (user, name) pairs answered 201 twice (acknowledged writes lost in the failover)", dupAnswers)
	}
	if recovery < 0 {
		t.Error("backend never back to redis after the failover")
	}
	stillWorks(t, f)
}
