package statshttp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	mw "github.com/aura-platform/redishttp/middleware"
	"github.com/aura-platform/redishttp/statshttp"
)

// Three instances, each with its own client to the same Redis, take
// concurrent traffic; the report of any of them shows the sum of all three
// within 2 s (default FlushInterval 1s), and each instance's own figures.
func TestThreeInstancesReportTheSum(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		per := []traffic{
			{"Product Pages": {mw.CacheHit: 90, mw.CacheMiss: 10, mw.CacheLoad: 10, mw.CacheStale: 3},
				"login": {mw.RateAllowed: 40, mw.RateDenied: 7}, "checkout": {mw.LockAcquired: 5, mw.LockContended: 2}},
			{"Product Pages": {mw.CacheHit: 30, mw.CacheMiss: 30, mw.CacheCoalesced: 11},
				"User Profiles": {mw.CacheHit: 8, mw.CacheMiss: 2}, "login": {mw.RateDenied: 3}},
			{"User Profiles": {mw.CacheHit: 50, mw.CacheMiss: 50, mw.CacheError: 1},
				"checkout": {mw.LockReplayed: 4, mw.LockExpired: 1}, "login": {mw.RateAllowed: 1, mw.RateError: 2}},
		}
		var recs []*statshttp.Recorder
		for i := range per {
			recs = append(recs, newRecorder(t, tg.NewClient(t), statshttp.Options{
				Prefix: tg.Prefix, InstanceID: fmt.Sprintf("inst-%d", i), Patterns: []string{"Product Pages", "User Profiles"},
			}))
		}
		for i, tr := range per {
			send(recs[i], tr, 8)
		}
		sum := func(route string, k mw.EventKind) int64 {
			var n int64
			for _, tr := range per {
				n += int64(tr[route][k])
			}
			return n
		}
		start := time.Now()
		for i, rec := range recs {
			eventually(t, 2*time.Second-time.Since(start), func() string {
				rep := fetchReport(t, rec)
				if rep.Source != statshttp.SourceRedis || len(rep.Instances) != 3 {
					return fmt.Sprintf("instance %d: source %q, %d instances", i, rep.Source, len(rep.Instances))
				}
				wd, up := pattern(t, rep, "Product Pages"), pattern(t, rep, "User Profiles")
				got := []int64{wd.Hits, wd.Misses, wd.Loads, wd.Stale, wd.Coalesced, up.Hits, up.Misses, up.Errors,
					rep.RateLimit.Allowed, rep.RateLimit.Denied, rep.RateLimit.Errors,
					rep.Locks.Acquired, rep.Locks.Contended, rep.Locks.Replayed, rep.Locks.Expired}
				want := []int64{sum("Product Pages", mw.CacheHit), sum("Product Pages", mw.CacheMiss), sum("Product Pages", mw.CacheLoad),
					sum("Product Pages", mw.CacheStale), sum("Product Pages", mw.CacheCoalesced),
					sum("User Profiles", mw.CacheHit), sum("User Profiles", mw.CacheMiss), sum("User Profiles", mw.CacheError),
					sum("login", mw.RateAllowed), sum("login", mw.RateDenied), sum("login", mw.RateError),
					sum("checkout", mw.LockAcquired), sum("checkout", mw.LockContended), sum("checkout", mw.LockReplayed),
					sum("checkout", mw.LockExpired)}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					return fmt.Sprintf("instance %d: totals %v, want %v", i, got, want)
				}
				return ""
			})
		}
		t.Logf("%s: all three instances reported the sum %v after the traffic", tg.Name, time.Since(start).Round(time.Millisecond))

		// Each instance's own section holds its own traffic only.
		rep := fetchReport(t, recs[1])
		for _, in := range rep.Instances {
			var i int
			if _, err := fmt.Sscanf(in.ID, "inst-%d", &i); err != nil {
				t.Fatalf("unexpected instance %q", in.ID)
			}
			var hits, misses int64
			for _, kinds := range per[i] {
				hits += int64(kinds[mw.CacheHit])
				misses += int64(kinds[mw.CacheMiss])
			}
			if in.Performance.Hits != hits || in.Performance.Misses != misses || in.Self != (i == 1) {
				t.Errorf("instance %s: hits %d misses %d self %v, want %d %d %v",
					in.ID, in.Performance.Hits, in.Performance.Misses, in.Self, hits, misses, i == 1)
			}
			if in.RateLimit.Denied != int64(per[i]["login"][mw.RateDenied]) {
				t.Errorf("instance %s: denied %d", in.ID, in.RateLimit.Denied)
			}
		}
	})
}

// Counts observed while flushes run are neither lost nor counted twice,
// and a stopped instance drops out of the instance list after InstanceTTL
// while its counts stay in the totals.
func TestConcurrentFlushesAndInstanceExpiry(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		opts := statshttp.Options{Token: testToken, Prefix: tg.Prefix, FlushInterval: 10 * time.Millisecond, InstanceTTL: 300 * time.Millisecond}
		a := newRecorder(t, tg.NewClient(t), withID(opts, "a"))
		b, err := statshttp.New(tg.NewClient(t), withID(opts, "b"))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { // hammer the report while traffic and flushes run
			defer close(done)
			for range 20 {
				_ = a.Report(context.Background())
			}
		}()
		send(a, traffic{"r": {mw.CacheHit: 3000}}, 16)
		send(b, traffic{"r": {mw.CacheHit: 2000, mw.CacheMiss: 500}}, 16)
		<-done
		if err := b.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		eventually(t, 3*time.Second, func() string {
			rep := fetchReport(t, a)
			if rep.Performance.Hits != 5000 || rep.Performance.Misses != 500 {
				return fmt.Sprintf("hits %d misses %d, want 5000 500", rep.Performance.Hits, rep.Performance.Misses)
			}
			if len(rep.Instances) != 1 || rep.Instances[0].ID != "a" {
				return fmt.Sprintf("instances %d, want only a", len(rep.Instances))
			}
			return ""
		})
	})
}

func withID(o statshttp.Options, id string) statshttp.Options { o.InstanceID = id; return o }
