package ratelimithttp

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
)

// fixed.lua stops counting at the first policy that refuses, takes back
// the ones counted before it, and only reads the ones after it: a refused
// request counts nowhere, whichever policy refuses.
func TestFixedRefusalCountsNowhere(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		for _, tc := range []struct {
			name  string
			order []Policy
		}{
			{"refusing-middle", []Policy{
				{Name: "hour", Rate: rate(10, time.Hour)},
				{Name: "min", Rate: rate(2, time.Minute)},
				{Name: "sec", Rate: rate(10, time.Second*30)},
			}},
			{"refusing-first", []Policy{
				{Name: "min", Rate: rate(2, time.Minute)},
				{Name: "hour", Rate: rate(10, time.Hour)},
				{Name: "sec", Rate: rate(10, time.Second*30)},
			}},
			{"refusing-last", []Policy{
				{Name: "hour", Rate: rate(10, time.Hour)},
				{Name: "sec", Rate: rate(10, time.Second*30)},
				{Name: "min", Rate: rate(2, time.Minute)},
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				l := newLimiter(t, tg, tg.Client, Options{Policies: tc.order, Prefix: tg.Prefix + tc.name + ":"})
				ctx := t.Context()
				for i := 1; i <= 2; i++ {
					if res, err := l.Take(ctx, "ann", 1, ""); err != nil || !res.Allowed {
						t.Fatalf("take %d: %+v %v", i, res, err)
					}
				}
				res, err := l.Take(ctx, "ann", 1, "")
				if err != nil || res.Allowed || res.source != srcRedis {
					t.Fatalf("third take: %+v %v", res, err)
				}
				for _, s := range res.States {
					if s.Used != 2 {
						t.Fatalf("%s: used %d after the refusal, want 2", s.Policy, s.Used)
					}
					if s.Exceeded != (s.Policy == "min") {
						t.Fatalf("%s: exceeded %v", s.Policy, s.Exceeded)
					}
					n, err := tg.Client.Get(ctx, tg.Prefix+tc.name+":{ann}:f:"+s.Policy).Int64()
					if err != nil || n != 2 {
						t.Fatalf("%s: counter %d (%v), want 2", s.Policy, n, err)
					}
				}
				tight := res.States[res.Tightest]
				if tight.Policy != "min" || res.RetryAfter <= 0 || res.RetryAfter > time.Minute || res.RetryAfter != tight.RetryAfter {
					t.Fatalf("tightest %q, retry %v (%v)", tight.Policy, res.RetryAfter, tight.RetryAfter)
				}
			})
		}
	})
}

// A cost above a limit is refused for good (Never) and leaves no key
// behind; a counter found without expiry gets one.
func TestFixedNeverAndCounterWithoutExpiry(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		ctx := t.Context()
		l := newLimiter(t, tg, tg.Client, Options{Policies: []Policy{
			{Name: "big", Rate: rate(100, time.Hour)},
			{Name: "small", Rate: rate(3, time.Minute)},
		}})
		res, err := l.Take(ctx, "huge", 5, "")
		if err != nil || res.Allowed || !res.Never || res.RetryAfter != 0 {
			t.Fatalf("cost 5 over limit 3: %+v %v", res, err)
		}
		if s := res.States[1]; !s.Never || !s.Exceeded || s.Used != 0 || s.ResetAfter != time.Minute {
			t.Fatalf("small: %+v", s)
		}
		if n, err := tg.Client.Exists(ctx, tg.Prefix+"{huge}:f:big", tg.Prefix+"{huge}:f:small").Result(); err != nil || n != 0 {
			t.Fatalf("refused first request left %d keys (%v)", n, err)
		}

		key := tg.Prefix + "{stale}:f:small"
		if err := tg.Client.Set(ctx, key, 1, 0).Err(); err != nil {
			t.Fatal(err)
		}
		res, err = l.Take(ctx, "stale", 1, "")
		if err != nil || !res.Allowed || res.States[1].Used != 2 || res.States[1].ResetAfter != time.Minute {
			t.Fatalf("stale counter: %+v %v", res, err)
		}
		if ttl, err := tg.Client.PTTL(ctx, key).Result(); err != nil || ttl <= 0 || ttl > time.Minute {
			t.Fatalf("stale counter TTL %v (%v)", ttl, err)
		}
	})
}

// The precomputed per-policy header values equal the ones formatted from
// scratch.
func TestPrecomputedHeaders(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		l := newLimiter(t, tg, tg.Client, Options{Policies: []Policy{
			{Name: "per-min.v1", Rate: rate(7, time.Minute)},
			{Name: "day", Rate: rate(1000, 24*time.Hour)},
		}})
		res, err := l.Take(t.Context(), "hdr", 2, "")
		if err != nil || !res.Allowed {
			t.Fatalf("%+v %v", res, err)
		}
		for _, s := range res.States {
			if s.pc == nil {
				t.Fatalf("%s: no compiled policy", s.Policy)
			}
			pre, plain := http.Header{}, http.Header{}
			writeHeaders(pre, &s)
			s.pc = nil
			writeHeaders(plain, &s)
			if !reflect.DeepEqual(pre, plain) {
				t.Fatalf("%s: precomputed %v, formatted %v", s.Policy, pre, plain)
			}
			if got := pre.Get(headerRemaining); s.Policy == "per-min.v1" && got != "5" {
				t.Fatalf("remaining %q, want 5", got)
			}
		}
	})
}
