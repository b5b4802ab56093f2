package ratelimithttp

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/aura-platform/redishttp/middleware"
)

// Done when: limit 5/minute shared by 3 instances, 200 concurrent requests,
// exactly 5 succeed, with and without the auto-pipeliner.
func TestSharedLimitAcrossInstances(t *testing.T) {
	for _, algo := range []Algorithm{FixedWindow, SlidingWindow} {
		t.Run(algo.String(), func(t *testing.T) {
			withAutoPipeline(t, func(t *testing.T, auto bool) { sharedLimitAcrossInstances(t, algo, auto) })
		})
	}
}

func sharedLimitAcrossInstances(t *testing.T, algo Algorithm, auto bool) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		var hs []http.Handler
		for i := range 3 {
			c := tg.Client
			if i > 0 {
				c = tg.NewClient(t)
			}
			l := newLimiter(t, tg, c, Options{Policies: []Policy{{Name: "api", Rate: rate(5, time.Minute), Algorithm: algo}}, AutoPipeline: auto})
			hs = append(hs, l.Handler(okHandler))
		}
		var mu sync.Mutex
		codes := map[int]int{}
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := do(hs[i%3], "GET", "/api/x", "alice")
				mu.Lock()
				codes[w.Code]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if codes[200] != 5 || codes[429] != 195 || len(codes) != 2 {
			t.Fatalf("status counts %v, want 5×200 and 195×429", codes)
		}
		// Rejected requests did not consume: the counter is exactly 5.
		var used string
		var err error
		if algo == FixedWindow {
			used, err = tg.Client.Get(t.Context(), tg.Prefix+"{u:alice}:f:api").Result()
		} else {
			used, err = tg.Client.Get(t.Context(), tg.Prefix+"{u:alice}:s:api:sum").Result()
		}
		if err != nil || used != "5" {
			t.Fatalf("stored count %q (%v), want 5", used, err)
		}
	})
}

// Done when: two policies on one request both enforced, headers from the
// tighter one.
func TestTwoPoliciesTighterHeaders(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		l := newLimiter(t, tg, tg.Client, Options{Policies: []Policy{
			{Name: "hourly", Rate: rate(5, time.Hour)},
			{Name: "burst", Rate: rate(3, time.Minute), Algorithm: SlidingWindow},
		}})
		h := l.Handler(okHandler)
		for i := 1; i <= 3; i++ {
			w := do(h, "GET", "/api/x", "bob")
			if w.Code != 200 {
				t.Fatalf("request %d: %d", i, w.Code)
			}
			if got := headerInt(t, w, "X-RateLimit-Limit"); got != 3 {
				t.Fatalf("request %d: limit header %d, want the burst policy's 3", i, got)
			}
			if got := headerInt(t, w, "X-RateLimit-Remaining"); got != int64(3-i) {
				t.Fatalf("request %d: remaining %d, want %d", i, got, 3-i)
			}
			pol := field(t, w, "RateLimit-Policy")
			if q, _ := pol.Int("q"); pol.Name != "burst" || q != 3 {
				t.Fatalf("RateLimit-Policy %+v", pol)
			}
			if wv, _ := pol.Int("w"); wv != 60 {
				t.Fatalf("RateLimit-Policy w=%d, want 60", wv)
			}
			rl := field(t, w, "RateLimit")
			if r, _ := rl.Int("r"); rl.Name != "burst" || r != int64(3-i) {
				t.Fatalf("RateLimit %+v", rl)
			}
		}
		w := do(h, "GET", "/api/x", "bob")
		if w.Code != http.StatusTooManyRequests {
			t.Fatalf("4th request: %d, want 429 from the burst policy", w.Code)
		}
		if got := field(t, w, "RateLimit"); got.Name != "burst" {
			t.Fatalf("denied headers describe %q", got.Name)
		}
		if w.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("429 content type %q", w.Header().Get("Content-Type"))
		}
		// The refused request was counted in neither policy.
		if n, _ := tg.Client.Get(t.Context(), tg.Prefix+"{u:bob}:f:hourly").Int(); n != 3 {
			t.Fatalf("hourly counter %d, want 3", n)
		}
		// The hourly policy is enforced too: a fresh burst window is not enough.
		other := newLimiter(t, tg, tg.Client, Options{Policies: []Policy{
			{Name: "hourly", Rate: rate(5, time.Hour)},
			{Name: "burst2", Rate: rate(100, time.Minute)},
		}})
		h2 := other.Handler(okHandler)
		for i := 4; i <= 5; i++ {
			if w := do(h2, "GET", "/", "bob"); w.Code != 200 {
				t.Fatalf("hourly request %d: %d", i, w.Code)
			}
		}
		w = do(h2, "GET", "/", "bob")
		if w.Code != 429 || field(t, w, "RateLimit").Name != "hourly" {
			t.Fatalf("6th hourly request: %d %q", w.Code, w.Header().Get("RateLimit"))
		}
	})
}

// Done when: Retry-After within 1 s of the real reset.
func TestRetryAfterMatchesReset(t *testing.T) {
	for _, algo := range []Algorithm{FixedWindow, SlidingWindow} {
		t.Run(algo.String(), func(t *testing.T) {
			redistest.Run(t, func(t *testing.T, tg redistest.Target) {
				clk := newClock(tg)
				l := newLimiter(t, tg, tg.Client, Options{Policies: []Policy{{Name: "p", Rate: rate(2, 4*time.Second), Algorithm: algo}}})
				h := l.Handler(okHandler)
				start := time.Now()
				for range 2 {
					if w := do(h, "GET", "/", "carol"); w.Code != 200 {
						t.Fatalf("status %d", w.Code)
					}
				}
				clk.advance(1500 * time.Millisecond)
				w := do(h, "GET", "/", "carol")
				if w.Code != http.StatusTooManyRequests {
					t.Fatalf("status %d, want 429", w.Code)
				}
				retry := headerInt(t, w, "Retry-After")
				// Real reset: the key's remaining TTL on Redis.
				key := tg.Prefix + "{u:carol}:f:p"
				if algo == SlidingWindow {
					key = tg.Prefix + "{u:carol}:s:p:log"
				}
				pttl, err := tg.Client.PTTL(t.Context(), key).Result()
				if err != nil || pttl <= 0 {
					t.Fatalf("PTTL %v %v", pttl, err)
				}
				if d := float64(retry) - pttl.Seconds(); d < 0 || d > 1 {
					t.Fatalf("Retry-After %d s, real reset in %v", retry, pttl)
				}
				reset := headerInt(t, w, "X-RateLimit-Reset")
				if tg.Mini == nil {
					real := time.Now().Add(pttl).Unix()
					if reset < real-1 || reset > real+1 {
						t.Fatalf("X-RateLimit-Reset %d, real %d", reset, real)
					}
				}
				if rl := field(t, w, "RateLimit"); true {
					if tv, _ := rl.Int("t"); tv != retry {
						t.Fatalf("RateLimit t=%d, Retry-After %d", tv, retry)
					}
				}
				// Still refused shortly before the announced time, allowed after it.
				if tg.Mini == nil && time.Since(start) < 2*time.Second {
					clk.advance(pttl - 700*time.Millisecond)
					if w := do(h, "GET", "/", "carol"); w.Code != 429 {
						t.Fatalf("before reset: %d", w.Code)
					}
					clk.advance(800 * time.Millisecond)
				} else {
					clk.advance(pttl + 50*time.Millisecond)
				}
				if w := do(h, "GET", "/", "carol"); w.Code != 200 {
					t.Fatalf("after Retry-After: %d", w.Code)
				}
			})
		})
	}
}

// Done when: a client rotating X-Forwarded-For from an untrusted address
// stays one key.
func TestRotatingForwardedForIsOneKey(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		ips, err := middleware.NewClientIP("10.0.0.0/8")
		if err != nil {
			t.Fatal(err)
		}
		l := newLimiter(t, tg, tg.Client, Options{ClientIP: ips, Policies: []Policy{{Name: "ip", Rate: rate(3, time.Minute)}}})
		h := l.Handler(okHandler)
		ok := 0
		for i := range 20 {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = "203.0.113.7:5000"
			r.Header.Set("X-Forwarded-For", "198.51.100."+strconv.Itoa(i)+", 10.1.1.1")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code == 200 {
				ok++
			}
		}
		if ok != 3 {
			t.Fatalf("%d requests allowed, want 3: the rotating header must not create keys", ok)
		}
		// A trusted proxy's forwarded clients are told apart, IPv6 by /64.
		for _, c := range []struct {
			xff  string
			want int
		}{{"2001:db8:1:2::1", 200}, {"2001:db8:1:2::ffff", 200}, {"2001:db8:1:2:aaaa::1", 200}, {"2001:db8:1:2::9", 429}, {"2001:db8:9::1", 200}} {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = "10.2.3.4:80"
			r.Header.Set("X-Forwarded-For", c.xff)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != c.want {
				t.Fatalf("client %s: %d, want %d", c.xff, w.Code, c.want)
			}
		}
	})
}

func TestCostExemptTierAndKeyErrors(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		l := newLimiter(t, tg, tg.Client, Options{
			Policies: []Policy{{Name: "free", Rate: rate(10, time.Minute)}},
			Tiers:    map[string][]Policy{"pro": {{Name: "pro", Rate: rate(100, time.Minute)}}},
			Tier: func(r *http.Request) string {
				if middleware.UserFromContext(r.Context()) == "paying" {
					return "pro"
				}
				return ""
			},
			Cost: func(r *http.Request) int64 {
				n, _ := strconv.ParseInt(r.URL.Query().Get("cost"), 10, 64)
				return n
			},
			Exempt: func(r *http.Request) bool { return r.URL.Path == "/health" },
			Key:    middleware.ByUser(),
		})
		h := l.Handler(okHandler)
		if w := do(h, "GET", "/x?cost=7", "dan"); w.Code != 200 || headerInt(t, w, "X-RateLimit-Remaining") != 3 {
			t.Fatalf("cost 7: %d remaining %s", w.Code, w.Header().Get("X-RateLimit-Remaining"))
		}
		w := do(h, "GET", "/x?cost=4", "dan")
		if w.Code != 429 || headerInt(t, w, "X-RateLimit-Remaining") != 3 {
			t.Fatalf("cost 4 over 3 remaining: %d %s", w.Code, w.Header().Get("X-RateLimit-Remaining"))
		}
		if w := do(h, "GET", "/x?cost=3", "dan"); w.Code != 200 {
			t.Fatalf("cost 3 (refused cost not consumed): %d", w.Code)
		}
		w = do(h, "GET", "/x?cost=11", "erin")
		if w.Code != 429 || w.Header().Get("Retry-After") != "" {
			t.Fatalf("cost above the limit: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
		}
		for range 5 {
			if w := do(h, "GET", "/health", "dan"); w.Code != 200 || w.Header().Get("X-RateLimit-Limit") != "" {
				t.Fatalf("exempt: %d %v", w.Code, w.Header())
			}
		}
		if w := do(h, "GET", "/x?cost=50", "paying"); w.Code != 200 || headerInt(t, w, "X-RateLimit-Limit") != 100 {
			t.Fatalf("pro tier: %d %v", w.Code, w.Header())
		}
		if w := do(h, "GET", "/x", ""); w.Code != http.StatusUnauthorized {
			t.Fatalf("anonymous with ByUser key: %d", w.Code)
		}
	})
}

// Two limiters chained (API-wide outside, one route inside) write every
// header once, describing the tighter policy; one limiter with a Match
// policy does the same in one round trip.
func TestChainedLimitersNoDuplicateHeaders(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		api, _ := NewPolicy("api", "1000-H")
		order, _ := NewPolicy("order", "3-H")
		outer := newLimiter(t, tg, tg.Client, Options{Policies: []Policy{api}, Route: "api"})
		inner := newLimiter(t, tg, tg.Client, Options{Policies: []Policy{order}, Route: "orders"})
		mux := http.NewServeMux()
		mux.Handle("POST /api/orders", inner.Handler(okHandler))
		mux.Handle("/api/", okHandler)
		h := outer.Handler(mux)
		orderOnly := order
		orderOnly.Match = func(r *http.Request) bool { return r.Method == "POST" && r.URL.Path == "/api/orders" }
		single := newLimiter(t, tg, tg.Client, Options{Prefix: tg.Prefix + "one:", Policies: []Policy{api, orderOnly}}).Handler(okHandler)
		for _, hh := range []http.Handler{h, single} {
			w := do(hh, "GET", "/api/weather", "fay")
			if w.Code != 200 || field(t, w, "RateLimit").Name != "api" || headerInt(t, w, "X-RateLimit-Limit") != 1000 {
				t.Fatalf("GET: %d %v", w.Code, w.Header())
			}
			for i := 1; i <= 3; i++ {
				w := do(hh, "POST", "/api/orders", "fay")
				if w.Code != 200 {
					t.Fatalf("POST %d: %d", i, w.Code)
				}
				for _, k := range []string{headerLimit, headerRemaining, headerReset, headerPolicy, headerRateLimit} {
					if n := len(w.Header()[k]); n != 1 {
						t.Fatalf("POST %d: %s sent %d times: %q", i, k, n, w.Header()[k])
					}
				}
				if got := field(t, w, "RateLimit"); got.Name != "order" {
					t.Fatalf("POST %d: headers describe %q, want order", i, got.Name)
				}
				if r := headerInt(t, w, "X-RateLimit-Remaining"); r != int64(3-i) {
					t.Fatalf("POST %d: remaining %d", i, r)
				}
			}
			w = do(hh, "POST", "/api/orders", "fay")
			if w.Code != 429 || field(t, w, "RateLimit").Name != "order" || len(w.Header()[headerRetryAfter]) != 1 {
				t.Fatalf("4th POST: %d %v", w.Code, w.Header())
			}
		}
		// With the outer limit tighter, the inner one keeps its headers off.
		tight := newLimiter(t, tg, tg.Client, Options{Prefix: tg.Prefix + "t:", Policies: []Policy{{Name: "tiny", Rate: rate(2, time.Hour)}}})
		loose := newLimiter(t, tg, tg.Client, Options{Prefix: tg.Prefix + "t:", Policies: []Policy{{Name: "big", Rate: rate(50, time.Hour)}}})
		w := do(tight.Handler(loose.Handler(okHandler)), "GET", "/", "gus")
		if w.Code != 200 || field(t, w, "RateLimit").Name != "tiny" || len(w.Header()[headerLimit]) != 1 {
			t.Fatalf("outer tighter: %v", w.Header())
		}
	})
}

// The round-trip budget: one Redis command per request for any number of
// policies (after the script is cached on the server), with and without
// the auto-pipeliner (a batch of one is a command sent alone).
func TestOneRoundTripPerRequest(t *testing.T) {
	withAutoPipeline(t, oneRoundTripPerRequest)
}

func oneRoundTripPerRequest(t *testing.T, auto bool) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		for n := 1; n <= 3; n++ {
			client := tg.NewClient(t)
			cnt := &commandCounter{}
			client.AddHook(cnt)
			ps := []Policy{
				{Name: "a", Rate: rate(1000, time.Hour)},
				{Name: "b", Rate: rate(100, time.Minute), Algorithm: SlidingWindow},
				{Name: "c", Rate: rate(50, time.Second)},
			}[:n]
			l := newLimiter(t, tg, client, Options{Policies: ps, Prefix: tg.Prefix + strconv.Itoa(n) + ":", AutoPipeline: auto})
			h := l.Handler(okHandler)
			// Load the script where every measured key lives (EVALSHA +
			// EVAL once per node: on a cluster, each user's hash tag may
			// map to a node that has not cached it yet).
			for i := range 4 {
				do(h, "GET", "/", "u"+strconv.Itoa(i))
			}
			cnt.reset()
			const reqs = 20
			for i := range reqs {
				if w := do(h, "GET", "/", "u"+strconv.Itoa(i%4)); w.Code != 200 {
					t.Fatalf("status %d", w.Code)
				}
			}
			if got := cnt.trips.Load(); got != reqs {
				t.Fatalf("%d policies: %d round trips for %d requests (%v)", n, got, reqs, cnt.names)
			}
			for _, name := range cnt.names {
				if name != "evalsha" {
					t.Fatalf("%d policies: unexpected command %q", n, name)
				}
			}
		}
	})
}

func TestNewValidates(t *testing.T) {
	cases := []Options{
		{},
		{Policies: []Policy{{Name: "", Rate: rate(1, time.Second)}}},
		{Policies: []Policy{{Name: "a b", Rate: rate(1, time.Second)}}},
		{Policies: []Policy{{Name: "a", Rate: rate(0, time.Second)}}},
		{Policies: []Policy{{Name: "a", Rate: rate(1, 0)}}},
		{Policies: []Policy{{Name: "a", Rate: rate(1, time.Second)}, {Name: "a", Rate: rate(2, time.Second)}}},
		{Tiers: map[string][]Policy{"x": nil}},
		{Policies: []Policy{{Name: "a", Rate: rate(1, time.Second)}}, OnFailure: 9},
	}
	for i, o := range cases {
		if _, err := New(nil, o); err == nil {
			t.Errorf("case %d: New accepted %+v", i, o)
		}
	}
	if _, err := NewPolicy("x", "100-Y"); !errors.Is(err, ErrBadPolicy) {
		t.Errorf("bad rate: %v", err)
	}
	ps, err := ParsePolicies("burst=~10-S, hourly=1000-H")
	if err != nil || len(ps) != 2 || ps[0].Algorithm != SlidingWindow || ps[1].Rate.Limit != 1000 || ps[1].Rate.Period != time.Hour {
		t.Fatalf("ParsePolicies: %+v %v", ps, err)
	}
	if _, err := ParsePolicies("nonsense"); !errors.Is(err, ErrBadPolicy) {
		t.Errorf("ParsePolicies(nonsense): %v", err)
	}
}

func TestClientKeyBounded(t *testing.T) {
	long := string(make([]byte, 5000))
	for _, k := range []string{long, "a{b}c", "x y", "\x00"} {
		got := clientKey(k)
		if len(got) > maxKey || got == k {
			t.Errorf("clientKey(%.20q) = %q", k, got)
		}
	}
	if clientKey("u:alice") != "u:alice" {
		t.Error("safe key changed")
	}
}
