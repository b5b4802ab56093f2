package resilience

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/examples/server/aura"
	"github.com/redis/go-redis/v9"
)

// Request kinds the load sends.
const (
	kindWeather = iota // GET /api/weather: cached, shared, rate limited
	kindNews           // GET /api/news: cached, shared, rate limited
	kindAura           // POST /api/auras: lock-wrapped
	kindCount
)

// Hot set the load cycles through: few keys, so most GETs are cache hits.
var (
	hotLocations = []string{"48.86&lon=2.35", "51.51&lon=-0.13", "40.71&lon=-74.01", "35.68&lon=139.69", "-33.87&lon=151.21", "55.76&lon=37.62"}
	hotTopics    = []string{"tech", "science", "sports", "world"}
)

// loadSpec shapes a load run.
type loadSpec struct {
	workers int           // concurrent clients
	pace    time.Duration // pause between one client's requests
	auras   bool          // mix in POST /api/auras (one request in 8)
	users   int           // distinct aura users
	names   int           // distinct aura names per user
}

// defaultLoad is the load of every fault scenario: bounded so that two
// cores (shared with other test packages, and the race detector) are not
// saturated by the load generator itself, which would measure the
// machine, not the toolkit.
func defaultLoad() loadSpec {
	s := loadSpec{workers: 24, pace: 4 * time.Millisecond, auras: true, users: 4, names: 12}
	if raceOn {
		s.workers, s.pace = 12, 8*time.Millisecond
	}
	return s
}

// load is a running load; stop returns every result.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	res    []result
}

func startLoad(f *fleet, spec loadSpec) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel}
	for w := range spec.workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			var local []result
			defer func() {
				l.mu.Lock()
				l.res = append(l.res, local...)
				l.mu.Unlock()
			}()
			for i := 0; ctx.Err() == nil; i++ {
				inst := (w + i) % len(f.srvs)
				user := fmt.Sprintf("load-u%d", w%8)
				var r result
				switch {
				case spec.auras && rng.IntN(8) == 0:
					au := fmt.Sprintf("au%d", rng.IntN(spec.users))
					name := fmt.Sprintf("n%d", rng.IntN(spec.names))
					r = f.do(ctx, inst, "POST", "/api/auras", `{"name":"`+name+`"}`, map[string]string{"X-User-ID": au})
					r.kind, r.user, r.name = kindAura, au, name
				case rng.IntN(2) == 0:
					r = f.do(ctx, inst, "GET", "/api/weather?lat="+hotLocations[rng.IntN(len(hotLocations))], "", map[string]string{"X-User-ID": user})
					r.kind = kindWeather
				default:
					r = f.do(ctx, inst, "GET", "/api/news?topic="+hotTopics[rng.IntN(len(hotTopics))], "", map[string]string{"X-User-ID": user})
					r.kind = kindNews
				}
				if ctx.Err() != nil && r.err != nil {
					return // cancelled by stop, not a failure
				}
				local = append(local, r)
				t := time.NewTimer(spec.pace)
				select {
				case <-ctx.Done():
				case <-t.C:
				}
				t.Stop()
			}
		}()
	}
	return l
}

func (l *load) stop() []result {
	l.cancel()
	l.wg.Wait()
	sort.Slice(l.res, func(i, j int) bool { return l.res[i].start.Before(l.res[j].start) })
	return l.res
}

// warm fills the hot entries so the load starts on cache hits.
func warm(t *testing.T, f *fleet) {
	t.Helper()
	for _, loc := range hotLocations {
		if st, _, b := f.get(t, 0, "GET", "/api/weather?lat="+loc, "", nil); st != 200 {
			t.Fatalf("warm weather: %d %s", st, b)
		}
	}
	for _, tp := range hotTopics {
		if st, _, b := f.get(t, 0, "GET", "/api/news?topic="+tp, "", nil); st != 200 {
			t.Fatalf("warm news: %d %s", st, b)
		}
	}
}

// tally sums results.
type tally struct {
	sent, fivexx, transport int
	byStatus                map[int]int
	maxLatency              time.Duration
	hits                    int
}

func count(res []result, keep func(result) bool) tally {
	t := tally{byStatus: map[int]int{}}
	for _, r := range res {
		if !keep(r) {
			continue
		}
		t.sent++
		t.byStatus[r.status]++
		switch {
		case r.err != nil:
			t.transport++
		case r.status >= 500:
			t.fivexx++
		}
		if r.xcache == "HIT" {
			t.hits++
		}
		t.maxLatency = max(t.maxLatency, r.took)
	}
	return t
}

func isGet(r result) bool { return r.kind == kindWeather || r.kind == kindNews }

func within(from, to time.Time) func(result) bool {
	return func(r result) bool { return !r.start.Before(from) && r.start.Before(to) }
}

func and(fs ...func(result) bool) func(result) bool {
	return func(r result) bool {
		for _, f := range fs {
			if !f(r) {
				return false
			}
		}
		return true
	}
}

// createdTwice counts, over the whole run, the (user, name) pairs that were
// answered 201 more than once (every extra 201 is one duplicate).
func createdTwice(res []result) int {
	seen := map[string]int{}
	for _, r := range res {
		if r.kind == kindAura && r.status == 201 {
			seen[r.user+"\x00"+r.name]++
		}
	}
	d := 0
	for _, n := range seen {
		d += n - 1
	}
	return d
}

// storedDuplicates reads the demo's aura hashes for users and counts
// auras beyond the first per (user, name): the ground truth in Redis.
func storedDuplicates(t *testing.T, c redis.UniversalClient, prefix string, users int) (auras, dups int) {
	t.Helper()
	for u := range users {
		key := prefix + "data:{" + fmt.Sprintf("au%d", u) + "}:auras"
		m, err := c.HGetAll(context.Background(), key).Result()
		if err != nil {
			t.Fatalf("read auras: %v", err)
		}
		names := map[string]int{}
		for _, v := range m {
			// {"id":..,"userId":..,"name":"n3",..}
			i := strings.Index(v, `"name":"`)
			if i < 0 {
				t.Fatalf("aura without a name: %s", v)
			}
			rest := v[i+8:]
			names[rest[:strings.IndexByte(rest, '"')]]++
		}
		for _, n := range names {
			auras += n
			dups += n - 1
		}
	}
	return auras, dups
}

// row is one line of the figures table.
type row struct {
	scenario   string
	sent       int
	fivexx     string // 5xx on the routes that must not fail, plus notes
	dups       string
	maxLatency string
	recovery   string
}

var (
	rowsMu sync.Mutex
	rows   []row
)

func addRow(t *testing.T, r row) {
	rowsMu.Lock()
	rows = append(rows, r)
	rowsMu.Unlock()
	t.Logf("FIGURES %s | sent %d | 5xx %s | duplicates %s | max latency %s | recovery %s",
		r.scenario, r.sent, r.fivexx, r.dups, r.maxLatency, r.recovery)
}

// printTable writes the figures table (go test -v shows it; without -v the
// same figures are in each test's FIGURES log line when it fails).
func printTable() {
	rowsMu.Lock()
	defer rowsMu.Unlock()
	if len(rows) == 0 {
		return
	}
	race := ""
	if raceOn {
		race = " (-race)"
	}
	if v := os.Getenv(aura.EnvAutoPipeline); v != "" {
		race += ", " + aura.EnvAutoPipeline + "=" + v
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nresilience figures%s\n", race)
	fmt.Fprintf(&b, "| scenario | requests sent | 5xx | duplicates | max latency (budget) | recovery |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s |\n", r.scenario, r.sent, r.fivexx, r.dups, r.maxLatency, r.recovery)
	}
	fmt.Fprint(os.Stdout, b.String())
}

func ms(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}
