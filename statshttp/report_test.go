package statshttp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/internal/redistest"
	mw "github.com/aura-platform/redishttp/middleware"
	"github.com/aura-platform/redishttp/statshttp"
	"github.com/redis/go-redis/v9"
)

// wantRate formats a hit rate the way the report does: a percentage with
// at most one decimal ("92%", "87.2%").
func wantRate(served, total int) string {
	if total == 0 {
		return "0%"
	}
	v := math.Round(float64(served)*1000/float64(total)) / 10
	return strconv.FormatFloat(v, 'f', -1, 64) + "%"
}

// The hit rate of each pattern and overall follows the traffic sent.
func TestHitRatePerPattern(t *testing.T) {
	redistest.Run(t, func(t *testing.T, tg redistest.Target) {
		tr := traffic{
			"Product Pages": {mw.CacheHit: 92, mw.CacheMiss: 8},
			"User Profiles": {mw.CacheHit: 800, mw.CacheStale: 72, mw.CacheMiss: 128},
			"Search":        {mw.CacheMiss: 3},
			"Thirds":        {mw.CacheHit: 1, mw.CacheMiss: 2},
		}
		rec := newRecorder(t, tg.Client, statshttp.Options{Prefix: tg.Prefix, Patterns: []string{"Product Pages", "Idle"}})
		send(rec, tr, 4)
		if err := rec.Flush(context.Background()); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		rep := fetchReport(t, rec)
		var hits, stale, misses int
		for name, k := range tr {
			p := pattern(t, rep, name)
			want := wantRate(k[mw.CacheHit]+k[mw.CacheStale], k[mw.CacheHit]+k[mw.CacheStale]+k[mw.CacheMiss])
			if p.HitRate != want {
				t.Errorf("%s: hitRate %q, want %q", name, p.HitRate, want)
			}
			hits, stale, misses = hits+k[mw.CacheHit], stale+k[mw.CacheStale], misses+k[mw.CacheMiss]
		}
		if got := pattern(t, rep, "Product Pages").HitRate; got != "92%" {
			t.Errorf("Product Pages: %q, want 92%%", got)
		}
		if got := pattern(t, rep, "User Profiles").HitRate; got != "87.2%" {
			t.Errorf("User Profiles: %q, want 87.2%%", got)
		}
		if p := pattern(t, rep, "Idle"); p.HitRate != "0%" || p.Hits != 0 {
			t.Errorf("declared pattern without traffic: %+v", p)
		}
		if rep.Patterns[0].Name != "Product Pages" || rep.Patterns[1].Name != "Idle" {
			t.Errorf("declared patterns not first, in order: %q %q", rep.Patterns[0].Name, rep.Patterns[1].Name)
		}
		perf := rep.Performance
		if perf.Hits != int64(hits) || perf.Misses != int64(misses) || perf.Stale != int64(stale) ||
			perf.HitRate != wantRate(hits+stale, hits+stale+misses) {
			t.Errorf("performance %+v, want hits %d misses %d stale %d", perf, hits, misses, stale)
		}
	})
}

// The JSON has every field of the summary Report documents first, with
// their types, and adds the per-pattern figures and the further sections.
func TestReportKeepsSeedShape(t *testing.T) {
	live := statshttp.LiveKeysFunc(func(context.Context) (map[string]int64, error) {
		return map[string]int64{"Product Pages": 245, "Cold": 7}, nil
	})
	rec := newRecorder(t, nil, statshttp.Options{Patterns: []string{"Product Pages"}, LiveKeys: live})
	send(rec, traffic{"Product Pages": {mw.CacheHit: 23, mw.CacheMiss: 2}, "api": {mw.RateAllowed: 3}}, 2)
	rec.Observe(mw.Event{Kind: mw.BackendChange, Route: "degraded", Value: 1})

	res := get(rec.StatsHandler(), "/api/cache/stats", testToken)
	var doc map[string]any
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	ts, ok := doc["timestamp"].(string)
	if _, err := time.Parse(time.RFC3339, ts); !ok || err != nil {
		t.Errorf("timestamp %v is not an RFC 3339 string", doc["timestamp"])
	}
	pats, _ := doc["patterns"].([]any)
	if len(pats) != 2 {
		t.Fatalf("patterns: %v", doc["patterns"])
	}
	p0, _ := pats[0].(map[string]any)
	want := map[string]any{"name": "Product Pages", "count": 245.0, "hitRate": "92%", "hits": 23.0, "misses": 2.0,
		"loads": 0.0, "stale": 0.0, "coalesced": 0.0}
	for k, v := range want {
		if p0[k] != v {
			t.Errorf("patterns[0].%s = %#v, want %#v", k, p0[k], v)
		}
	}
	if p1, _ := pats[1].(map[string]any); p1["name"] != "Cold" || p1["count"] != 7.0 {
		t.Errorf("a pattern known only from live keys: %v", p1)
	}
	perf, _ := doc["performance"].(map[string]any)
	if perf["hits"] != 23.0 || perf["misses"] != 2.0 || perf["hitRate"] != "92%" {
		t.Errorf("performance: %v", perf)
	}
	for _, k := range []string{"rateLimit", "locks", "backend", "instances", "source", "instance"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("section %q missing", k)
		}
	}
	if doc["source"] != statshttp.SourceLocal {
		t.Errorf("source %v without a client", doc["source"])
	}
	b, _ := doc["backend"].(map[string]any)
	if b["state"] != "degraded" || fmt.Sprint(b["changes"]) != "map[degraded:1]" {
		t.Errorf("backend: %v", b)
	}
}

// A failing live-key source leaves counts at 0 and says so.
func TestLiveKeysError(t *testing.T) {
	rec := newRecorder(t, nil, statshttp.Options{Patterns: []string{"p"},
		LiveKeys: statshttp.LiveKeysFunc(func(context.Context) (map[string]int64, error) { return nil, errors.New("boom") })})
	rep := fetchReport(t, rec)
	if pattern(t, rep, "p").Count != 0 || len(rep.Warnings) != 1 || strings.Contains(rep.Warnings[0], "boom") {
		t.Errorf("warnings %q", rep.Warnings)
	}
}

// With Redis stopped, the endpoint still answers promptly with the local
// figures and says so; once Redis is back nothing counted meanwhile is lost.
func TestRedisDownReportsLocal(t *testing.T) {
	srv := redistest.StartServer(t)
	client := srv.Client(t)
	prefix := "rt:statsdown:"
	rec := newRecorder(t, client, statshttp.Options{Prefix: prefix, FlushInterval: 50 * time.Millisecond, ReadTimeout: 200 * time.Millisecond})
	peer := newRecorder(t, srv.Client(t), statshttp.Options{Prefix: prefix, InstanceID: "peer", FlushInterval: 50 * time.Millisecond})
	send(rec, traffic{"p": {mw.CacheHit: 10}}, 2)
	send(peer, traffic{"p": {mw.CacheHit: 5}}, 2)
	eventually(t, 2*time.Second, func() string {
		if rep := fetchReport(t, rec); rep.Source != statshttp.SourceRedis || rep.Performance.Hits != 15 {
			return fmt.Sprintf("before: source %s hits %d", rep.Source, rep.Performance.Hits)
		}
		return ""
	})

	srv.Pause()
	send(rec, traffic{"p": {mw.CacheHit: 7, mw.CacheMiss: 1}}, 2)
	start := time.Now()
	rep := fetchReport(t, rec)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("report took %v with Redis paused", took)
	}
	if rep.Source != statshttp.SourceLocal || rep.Performance.Hits != 17 || rep.Performance.Misses != 1 ||
		len(rep.Instances) != 1 || len(rep.Warnings) == 0 {
		t.Errorf("Redis down: source %s hits %d misses %d instances %d warnings %q",
			rep.Source, rep.Performance.Hits, rep.Performance.Misses, len(rep.Instances), rep.Warnings)
	}
	time.Sleep(300 * time.Millisecond) // let some flushes fail
	srv.Resume()
	eventually(t, 5*time.Second, func() string {
		rep := fetchReport(t, peer)
		if rep.Source != statshttp.SourceRedis || rep.Performance.Hits != 22 || rep.Performance.Misses != 1 {
			return fmt.Sprintf("after: source %s hits %d misses %d", rep.Source, rep.Performance.Hits, rep.Performance.Misses)
		}
		return ""
	})
}

// Without a client the Recorder counts locally and Flush is a no-op.
func TestNilClientLocalOnly(t *testing.T) {
	rec := newRecorder(t, nil, statshttp.Options{})
	send(rec, traffic{"": {mw.CacheHit: 2}}, 1)
	if err := rec.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	rep := fetchReport(t, rec)
	if rep.Source != statshttp.SourceLocal || pattern(t, rep, statshttp.DefaultRoute).Hits != 2 || len(rep.Warnings) != 0 {
		t.Errorf("%+v", rep)
	}
}

// Close flushes what is left and stops the goroutine.
func TestCloseFlushesAndStops(t *testing.T) {
	tg := redistest.New(t)
	// Other tests' recorders may still be winding down: count relative to
	// what runs before this one starts.
	const run = "statshttp.(*Recorder).run"
	base := goroutines(run)
	rec, err := statshttp.New(tg.NewClient(t), statshttp.Options{Token: testToken, Prefix: tg.Prefix, InstanceID: "closing", FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !eventuallyTrue(time.Second, func() bool { return goroutines(run) >= base+1 }) {
		t.Fatalf("flush goroutine not running: %d (before New: %d)", goroutines(run), base)
	}
	send(rec, traffic{"p": {mw.CacheHit: 4, mw.LockAcquired: 1}}, 2)
	if err := rec.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := rec.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// Close has returned, so this recorder's goroutine is gone; others
	// may only have finished meanwhile.
	if !eventuallyTrue(time.Second, func() bool { return goroutines(run) <= base }) {
		t.Fatalf("%d flush goroutines after Close, %d before New", goroutines(run), base)
	}
	other := newRecorder(t, tg.Client, statshttp.Options{Prefix: tg.Prefix})
	rep := fetchReport(t, other)
	if rep.Performance.Hits != 4 || rep.Locks.Acquired != 1 {
		t.Errorf("after Close: hits %d locks %d, want the last flush's 4 and 1", rep.Performance.Hits, rep.Locks.Acquired)
	}
}

func TestOptionsValidation(t *testing.T) {
	var nilClient *redis.Client
	var nilCluster *redis.ClusterClient
	for _, tc := range []struct {
		name   string
		client redis.UniversalClient
		opts   statshttp.Options
		want   error
		field  string // the field the error must name
	}{
		{"no auth", nil, statshttp.Options{}, statshttp.ErrInvalidOptions, "no Token and no Auth"},
		{"short token", nil, statshttp.Options{Token: "short"}, statshttp.ErrInvalidOptions, "Token is 5 bytes"},
		{"typed-nil client", nilClient, statshttp.Options{Token: testToken}, statshttp.ErrInvalidOptions, "client"},
		{"typed-nil cluster client", nilCluster, statshttp.Options{Token: testToken}, statshttp.ErrInvalidOptions, "client"},
		{"negative FlushInterval", nil, statshttp.Options{Token: testToken, FlushInterval: -1}, statshttp.ErrInvalidOptions, "FlushInterval"},
		{"negative InstanceTTL", nil, statshttp.Options{Token: testToken, InstanceTTL: -time.Second}, statshttp.ErrInvalidOptions, "InstanceTTL"},
		{"negative Retention", nil, statshttp.Options{Token: testToken, Retention: -time.Hour}, statshttp.ErrInvalidOptions, "Retention"},
		{"negative ReadTimeout", nil, statshttp.Options{Token: testToken, ReadTimeout: -1}, statshttp.ErrInvalidOptions, "ReadTimeout"},
		{"negative RefreshInterval", nil, statshttp.Options{Token: testToken, RefreshInterval: -1}, statshttp.ErrInvalidOptions, "RefreshInterval"},
		{"negative AuthFailureWindow", nil, statshttp.Options{Token: testToken, AuthFailureWindow: -1}, statshttp.ErrInvalidOptions, "AuthFailureWindow"},
		{"negative AuthFailureLimit", nil, statshttp.Options{Token: testToken, AuthFailureLimit: -1}, statshttp.ErrInvalidOptions, "AuthFailureLimit"},
		{"negative MaxRoutes", nil, statshttp.Options{Token: testToken, MaxRoutes: -1}, statshttp.ErrInvalidOptions, "MaxRoutes"},
		{"Prefix with a brace", nil, statshttp.Options{Token: testToken, Prefix: "app:{x}:"}, statshttp.ErrInvalidOptions, "Prefix"},
		{"Prefix with a glob", nil, statshttp.Options{Token: testToken, Prefix: "app*:"}, statshttp.ErrInvalidOptions, "Prefix"},
		{"Prefix with a newline", nil, statshttp.Options{Token: testToken, Prefix: "app\n"}, statshttp.ErrInvalidOptions, "Prefix"},
		{"two bad fields name the first", nil, statshttp.Options{Token: testToken, FlushInterval: -1, RefreshInterval: -1}, statshttp.ErrInvalidOptions, "FlushInterval"},
		{"ttl below two flushes", nil, statshttp.Options{Token: testToken, FlushInterval: time.Second, InstanceTTL: time.Second}, statshttp.ErrInvalidOptions, "InstanceTTL"},
		{"too many patterns", nil, statshttp.Options{Token: testToken, MaxRoutes: 2, Patterns: []string{"a", "b"}}, statshttp.ErrInvalidOptions, "MaxRoutes"},
		{"bad instance id", nil, statshttp.Options{Token: testToken, InstanceID: "a\nb"}, statshttp.ErrInvalidOptions, "InstanceID"},
		{"auth only", nil, statshttp.Options{Auth: func(h http.Handler) http.Handler { return h }}, nil, ""},
		{"plain prefix", nil, statshttp.Options{Token: testToken, Prefix: "app:v2:stats:"}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := statshttp.New(tc.client, tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if rec != nil {
				_ = rec.Close()
			}
			if err == nil {
				return
			}
			if rec != nil {
				t.Error("a Recorder returned with an error")
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name %s", err, tc.field)
			}
			if tc.name == "two bad fields name the first" && strings.Contains(err.Error(), "RefreshInterval") {
				t.Errorf("error %q names two fields", err)
			}
		})
	}
}
