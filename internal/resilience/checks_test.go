package resilience

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

func fmtf(format string, a ...any) string { return fmt.Sprintf(format, a...) }

// stillWorks checks, after a fault has healed, that the instances share
// Redis again: an entry one instance fills is a hit on the others, and one
// user's rate-limit counter goes down by one per request whichever
// instance answers.
func stillWorks(t *testing.T, f *fleet) {
	t.Helper()
	// On a loaded machine a 150ms command timeout can trip a breaker
	// after the recovery; wait (up to 5s) until every instance is on
	// Redis at the same moment before checking that they share it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		all := true
		for _, a := range f.apps {
			all = all && a.Monitor().State().String() == "redis"
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the instances were never all on redis at once within 5s after recovery")
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	loc := fmtf("%d.25&lon=%d.75", time.Now().UnixNano()%80, time.Now().UnixNano()%170)
	for i := range f.srvs {
		st, h, b := f.get(t, i, "GET", "/api/weather?lat="+loc, "", nil)
		want := "HIT"
		if i == 0 {
			want = "MISS"
		}
		if st != 200 || h.Get("X-Cache") != want {
			t.Errorf("after recovery, instance %d: %d X-Cache %q, want 200 %s (%s)", i, st, h.Get("X-Cache"), want, b)
		}
	}
	user := fmtf("fresh-%d", time.Now().UnixNano())
	last := -1
	for i := range 2 * len(f.srvs) {
		st, h, _ := f.get(t, i%len(f.srvs), "GET", "/api/news?topic=tech", "", map[string]string{"X-User-ID": user})
		rem, err := strconv.Atoi(h.Get("X-Ratelimit-Remaining"))
		if st != 200 || err != nil {
			t.Errorf("after recovery: %d, X-RateLimit-Remaining %q", st, h.Get("X-Ratelimit-Remaining"))
			return
		}
		if last >= 0 && rem != last-1 {
			t.Errorf("after recovery, instance %d: remaining %d after %d: the counter is not shared", i%len(f.srvs), rem, last)
		}
		last = rem
	}
}
