package ratelimithttp

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/ratefield"
)

// FuzzHeaders: whatever the policy numbers, the five headers a response
// carries read back to the state they were written from, on the fast path
// (the policy's precomputed strings) and the general one alike, and the
// chain comparison finds a policy at least as tight as itself.
func FuzzHeaders(f *testing.F) {
	f.Add("api", int64(100), int64(3600_000), int64(42), int64(1500), true)
	f.Add("burst.1", int64(1), int64(1), int64(0), int64(0), false)
	f.Add("x", int64(-5), int64(-1), int64(-9), int64(-1), true)
	f.Fuzz(func(t *testing.T, name string, limit, windowMS, remaining, resetMS int64, precomputed bool) {
		p := Policy{Name: name, Rate: rate(limit, time.Duration(windowMS)*time.Millisecond)}
		if p.validate() != nil || limit > ratefield.MaxInt || remaining > ratefield.MaxInt || remaining < 0 ||
			resetMS < 0 || resetMS > ratefield.MaxInt || windowMS > ratefield.MaxInt {
			return
		}
		s := State{Policy: name, Limit: limit, Remaining: remaining, Window: p.Rate.Period,
			ResetAfter: time.Duration(resetMS) * time.Millisecond, Reset: time.UnixMilli(1_700_000_000_000 + resetMS)}
		if precomputed {
			c := compile(p)
			s.pc = &c
		}
		h := http.Header{}
		writeHeaders(h, &s)
		pol, err := ratefield.Parse(h.Get(headerPolicy))
		if err != nil || len(pol) != 1 || pol[0].Name != name {
			t.Fatalf("policy field %q: %+v %v", h.Get(headerPolicy), pol, err)
		}
		if q, _ := pol[0].Int("q"); q != limit {
			t.Fatalf("q=%d, want %d", q, limit)
		}
		if w, _ := pol[0].Int("w"); w != max(ratefield.Seconds(s.Window), 1) {
			t.Fatalf("w=%d for %v", w, s.Window)
		}
		rl, err := ratefield.Parse(h.Get(headerRateLimit))
		if err != nil || len(rl) != 1 || rl[0].Name != name {
			t.Fatalf("ratelimit field %q: %v", h.Get(headerRateLimit), err)
		}
		if r, _ := rl[0].Int("r"); r != remaining {
			t.Fatalf("r=%d, want %d", r, remaining)
		}
		if tv, _ := rl[0].Int("t"); tv != ratefield.Seconds(s.ResetAfter) || time.Duration(tv)*time.Second < s.ResetAfter {
			t.Fatalf("t=%d for %v", tv, s.ResetAfter)
		}
		if got, _ := strconv.ParseInt(h.Get(headerReset), 10, 64); time.Unix(got, 0).Before(s.Reset) {
			t.Fatalf("X-RateLimit-Reset %d before the reset %v", got, s.Reset)
		}
		if h.Get(headerLimit) != strconv.FormatInt(limit, 10) || h.Get(headerRemaining) != strconv.FormatInt(remaining, 10) {
			t.Fatalf("legacy headers %v", h)
		}
		// The chain comparison reads the same header back.
		w := httptest.NewRecorder()
		writeHeaders(w.Header(), &s)
		if !outerTighter(w.Header(), &s) {
			t.Fatal("a policy is not at least as tight as itself")
		}
	})
}
