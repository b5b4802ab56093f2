package resilience

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// sentinelMaster is the name the private sentinels monitor the primary under.
const sentinelMaster = "aura"

// testSentinelFailover: a primary, one replica and three sentinels; three
// demo instances configured as the demo is (REDIS_SENTINEL_ADDRS and
// REDIS_SENTINEL_MASTER, fallback.Config.NewClient) under read and write
// load; an operator's forced failover (SENTINEL FAILOVER) promotes the
// replica. Figures: zero 5xx on the cached GET routes; no (user, name)
// created twice, in the answers or in Redis; every create answered 201 is
// on the new primary at the end; a create through each instance after the
// switch lands on the new primary and every instance lists it; how long
// until every instance is back on redis.
//
// The primary runs with min-replicas-to-write 1, as Redis recommends for
// Sentinel: Sentinel announces the switch about a second after it promoted
// the replica, and until then the clients still write to the old primary.
// With its replica gone, the old primary refuses those writes (NOREPLICAS)
// instead of acknowledging them and losing them when Sentinel turns it into
// a replica of the new one. What it cannot prevent is asynchronous
// replication's own window: a write acknowledged in the milliseconds
// before the replica is promoted, not yet replicated, is lost. Those are
// counted (answered during the switch) and reported; any other lost create
// fails the test.
func testSentinelFailover(t *testing.T) {
	s := redistest.StartSentinel(t, sentinelMaster, "--min-replicas-to-write", "1", "--min-replicas-max-lag", "10")
	oldPrimary := s.Data[0].Addr
	f := startFleet(t, 3, map[string]string{
		"REDIS_SENTINEL_ADDRS":  strings.Join(s.SentinelAddrs(), ","),
		"REDIS_SENTINEL_MASTER": s.Master,
	})
	if d := f.waitBackend("redis", 10*time.Second); d < 0 {
		t.Fatal("instances never reported backend redis")
	}
	if st, _, b := f.get(t, 0, "GET", "/healthz", "", nil); st != 200 || !strings.Contains(string(b), `"mode":"sentinel"`) {
		t.Fatalf("healthz: %d %s, want mode sentinel", st, b)
	}
	warm(t, f)
	spec := defaultLoad()
	// Many names, so that new auras are created before, during and after
	// the switch (with few, every pair exists after a second and the rest
	// of the run only sees 409).
	spec.names = 400
	f.resetErrors()
	w := watchStates(f)
	nr := watchNotRedis(f)
	l := startLoad(f, spec)
	time.Sleep(settle)

	failoverAt := time.Now()
	if err := s.Failover(); err != nil {
		l.stop()
		w.done()
		nr.done()
		t.Fatal(err)
	}
	newPrimary, err := s.WaitSwitch(oldPrimary, 20*time.Second)
	if err != nil {
		l.stop()
		w.done()
		nr.done()
		t.Fatal(err)
	}
	switchedAt := time.Now()
	primary := s.Node(newPrimary).Client(t)

	// Recovered: a create through every instance is stored on the new
	// primary (the instances probe at once), and every instance says redis
	// on /healthz.
	probeUser := "sentinel-probe"
	probes := make([]probe, len(f.srvs))
	var wg sync.WaitGroup
	for i := range f.srvs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			probes[i] = createOnPrimary(f, i, probeUser, primary, f.prefix)
		}()
	}
	wg.Wait()
	var probeIDs []string
	var probeRefused int
	var writesAt time.Time
	for i, p := range probes {
		if p.err != nil {
			l.stop()
			w.done()
			nr.done()
			t.Fatalf("instance %d: %v", i, p.err)
		}
		probeIDs = append(probeIDs, p.id)
		probeRefused += p.refused
		if p.at.After(writesAt) {
			writesAt = p.at
		}
	}
	healthz := f.waitBackend("redis", 10*time.Second)
	time.Sleep(settle)
	res := l.stop()
	trips, closes := w.done()
	lastNotRedis := nr.done()
	recoveredAt := writesAt
	if lastNotRedis.After(recoveredAt) {
		recoveredAt = lastNotRedis
	}
	healthzBack := "never left redis"
	if !lastNotRedis.IsZero() {
		healthzBack = "back to redis " + ms(lastNotRedis.Sub(failoverAt)) + " after the command"
	}

	// Every instance lists every probe aura: the writes are shared.
	for i := range f.srvs {
		st, _, b := f.get(t, i, "GET", "/api/auras", "", map[string]string{"X-User-ID": probeUser})
		for _, id := range probeIDs {
			if st != 200 || !strings.Contains(string(b), id) {
				t.Errorf("instance %d: GET /api/auras %d does not list aura %s created after the failover: %s", i, st, id, b)
			}
		}
	}

	gets := count(res, isGet)
	posts := count(res, func(r result) bool { return r.kind == kindAura })
	window := count(res, and(func(r result) bool { return r.kind == kindAura }, within(failoverAt, recoveredAt)))
	noHeaders := count(res, func(r result) bool { return isGet(r) && r.err == nil && !r.limited })
	dupAnswers := createdTwice(res)
	stored, dupStored := storedDuplicates(t, primary, f.prefix, spec.users)
	// Redis replicates asynchronously: a create the old primary
	// acknowledged in the last milliseconds before its replica was
	// promoted can be missing from the new primary. That window is bounded
	// by the switch; a create answered outside it must never be lost.
	switchWindow := func(r result) bool {
		at := r.start.Add(r.took)
		return !at.Before(failoverAt) && !at.After(switchedAt.Add(time.Second))
	}
	lost, lostInSwitch := lostCreates(t, res, primary, f.prefix, spec.users, switchWindow)
	nerr, _, last := f.redisErrors()
	kinds := f.errorKinds()
	keys := make([]string, 0, len(kinds))
	for k := range kinds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("redis error x%d: %s", kinds[k], k)
		if strings.Contains(k, "unknown subcommand 'setinfo'") {
			// go-redis' CLIENT SETINFO at connection set-up, which servers
			// before 7.2 do not know and go-redis ignores.
			nerr -= int64(kinds[k])
		}
	}
	errSpan := "none"
	if nerr > 0 {
		errSpan = "the last " + ms(last.Sub(failoverAt)) + " after the failover command"
	}
	addRow(t, row{
		scenario: "6. sentinel forced failover (SENTINEL FAILOVER)",
		sent:     len(res),
		fivexx: fmtf("GET %d (of %d; %d hits, %d without rate-limit headers); POST /api/auras %d x 503 (%d in the switch window, %d probe creates refused); redis errors %d (%s)",
			gets.fivexx+gets.transport, gets.sent, gets.hits, noHeaders.sent, posts.byStatus[503], window.byStatus[503], probeRefused, nerr, errSpan),
		dups: fmtf("%d (201 answers), %d (stored, %d auras); acknowledged creates missing from the new primary: %d outside the switch, %d answered during it",
			dupAnswers, dupStored, stored, lost, lostInSwitch),
		maxLatency: "GET " + ms(gets.maxLatency) + ", POST " + ms(posts.maxLatency),
		recovery: fmtf("sentinels switched %s after the command; a create through every instance stored on the new primary %s after it; healthz %s (%d breaker trips, %d closes)",
			ms(switchedAt.Sub(failoverAt)), ms(writesAt.Sub(failoverAt)), healthzBack, trips, closes),
	})

	if gets.fivexx != 0 || gets.transport != 0 {
		t.Errorf("GET routes: %d 5xx, %d transport errors during the failover (want 0): %v", gets.fivexx, gets.transport, gets.byStatus)
	}
	if noHeaders.sent != 0 {
		t.Errorf("%d GET answers without rate-limit headers: the limiter stopped working", noHeaders.sent)
	}
	for st, n := range posts.byStatus {
		if st >= 500 && st != 503 || st == 0 {
			t.Errorf("aura creates: %d answered %d", n, st)
		}
	}
	if posts.byStatus[201] == 0 {
		t.Error("no aura was created during the run: the scenario proved nothing")
	}
	if dupAnswers != 0 || dupStored != 0 {
		t.Errorf("duplicates: %d (user, name) pairs answered 201 twice, %d stored twice", dupAnswers, dupStored)
	}
	if lost != 0 {
		t.Errorf("%d creates answered 201 outside the switch window are not on the new primary: acknowledged writes were lost", lost)
	}
	if healthz < 0 {
		t.Error("backend never back to redis on every instance after the failover")
	} else if d := recoveredAt.Sub(failoverAt); d > 10*time.Second {
		// A generous bound for a loaded machine; the figure is the result.
		t.Errorf("every instance back on redis with writes on the new primary %v after the failover command, want within a few seconds", d)
	}
	stillWorks(t, f)
}

// probe is the outcome of createOnPrimary.
type probe struct {
	id      string    // the aura created
	refused int       // attempts answered 503 on the way
	at      time.Time // when the create that landed was answered
	err     error
}

// createOnPrimary creates an aura for user through instance i until one is
// answered 201 and is stored on primary (503 while the switch is under way
// is retried). An aura answered 201 but missing from primary is an error:
// it was acknowledged by the old primary.
func createOnPrimary(f *fleet, i int, user string, primary *redis.Client, prefix string) probe {
	var p probe
	deadline := time.Now().Add(10 * time.Second)
	for attempt := 0; ; attempt++ {
		if time.Now().After(deadline) {
			p.err = fmt.Errorf("no create stored on the new primary within 10s (%d refused)", p.refused)
			return p
		}
		name := fmt.Sprintf("after-failover-%d-%d", i, attempt)
		r := f.do(context.Background(), i, "POST", "/api/auras", `{"name":"`+name+`"}`, map[string]string{"X-User-ID": user})
		if r.err != nil || r.status != 201 {
			if r.err != nil || r.status != 503 {
				p.err = fmt.Errorf("create after the failover: status %d, %v", r.status, r.err)
				return p
			}
			p.refused++
			time.Sleep(20 * time.Millisecond)
			continue
		}
		p.at = r.start.Add(r.took)
		// f.do discards the body: find the aura by its name.
		m, err := primary.HGetAll(context.Background(), prefix+"data:{"+user+"}:auras").Result()
		if err != nil {
			p.err = fmt.Errorf("read the new primary: %v", err)
			return p
		}
		for id, v := range m {
			var a struct {
				Name string `json:"name"`
			}
			if json.Unmarshal([]byte(v), &a) == nil && a.Name == name {
				p.id = id
				return p
			}
		}
		p.err = fmt.Errorf("aura %q answered 201 after the switch but is not on the new primary", name)
		return p
	}
}

// notRedisWatch samples every instance's backend state (what /healthz
// reports) and remembers the last moment one of them was not redis.
type notRedisWatch struct {
	stop chan struct{}
	wg   sync.WaitGroup
	last time.Time
}

func watchNotRedis(f *fleet) *notRedisWatch {
	w := &notRedisWatch{stop: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tk.C:
			}
			for _, a := range f.apps {
				if a.Monitor().State().String() != "redis" {
					w.last = time.Now()
				}
			}
		}
	}()
	return w
}

// done stops the watch and returns the last time an instance was not on
// redis (zero if none ever was).
func (w *notRedisWatch) done() time.Time {
	close(w.stop)
	w.wg.Wait()
	return w.last
}

// lostCreates counts the (user, name) pairs answered 201 that the new
// primary does not hold, split by whether inSwitch says the answer came
// during the switch.
func lostCreates(t *testing.T, res []result, primary *redis.Client, prefix string, users int, inSwitch func(result) bool) (outside, during int) {
	t.Helper()
	have := map[string]bool{}
	for u := range users {
		user := fmt.Sprintf("au%d", u)
		m, err := primary.HGetAll(context.Background(), prefix+"data:{"+user+"}:auras").Result()
		if err != nil {
			t.Fatalf("read auras: %v", err)
		}
		for _, v := range m {
			var a struct {
				Name string `json:"name"`
			}
			if err := json.Unmarshal([]byte(v), &a); err != nil {
				t.Fatalf("stored aura %s: %v", v, err)
			}
			have[user+"\x00"+a.Name] = true
		}
	}
	for _, r := range res {
		if r.kind == kindAura && r.status == 201 && !have[r.user+"\x00"+r.name] {
			if inSwitch(r) {
				during++
			} else {
				outside++
			}
		}
	}
	return outside, during
}
