package statshttp_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	mw "github.com/aura-platform/redishttp/middleware"
	"github.com/aura-platform/redishttp/statshttp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	res := get(h, "/metrics", testToken)
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("metrics: status %d", res.StatusCode)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	return fams
}

// value returns the value of name{label=val}, or -1 when absent.
func value(fams map[string]*dto.MetricFamily, name, label, val string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && l.GetValue() == val {
				if c := m.GetCounter(); c != nil {
					return c.GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

func TestMetricsParseAndMatch(t *testing.T) {
	rec := newRecorder(t, nil, statshttp.Options{Patterns: []string{"Product Pages", "Idle"},
		LiveKeys: statshttp.LiveKeysFunc(func(context.Context) (map[string]int64, error) {
			return map[string]int64{"Product Pages": 12, "unbounded-name": 1}, nil
		})})
	send(rec, traffic{
		"Product Pages": {mw.CacheHit: 9, mw.CacheMiss: 4, mw.CacheLoad: 4, mw.CacheCoalesced: 2},
		"login":         {mw.RateAllowed: 5, mw.RateDenied: 2},
		"pay":           {mw.LockAcquired: 3, mw.LockReplayed: 1},
	}, 3)
	rec.Observe(mw.Event{Kind: mw.BackendChange, Route: "degraded"})
	rec.Observe(mw.Event{Kind: mw.BackendChange, Route: "redis"})
	fams := scrape(t, rec.MetricsHandler())
	for _, c := range []struct {
		name, label, val string
		want             float64
	}{
		{"redishttp_cache_hits_total", "route", "Product Pages", 9},
		{"redishttp_cache_misses_total", "route", "Product Pages", 4},
		{"redishttp_cache_loads_total", "route", "Product Pages", 4},
		{"redishttp_cache_coalesced_total", "route", "Product Pages", 2},
		{"redishttp_cache_hits_total", "route", "Idle", 0},
		{"redishttp_cache_hits_total", "route", "login", -1},
		{"redishttp_ratelimit_allowed_total", "route", "login", 5},
		{"redishttp_ratelimit_denied_total", "route", "login", 2},
		{"redishttp_lock_acquired_total", "route", "pay", 3},
		{"redishttp_lock_replayed_total", "route", "pay", 1},
		{"redishttp_backend_changes_total", "state", "degraded", 1},
		{"redishttp_backend_state", "state", "redis", 1},
		{"redishttp_backend_state", "state", "degraded", 0},
		{"redishttp_cache_live_keys", "route", "Product Pages", 12},
		{"redishttp_cache_live_keys", "route", "unbounded-name", -1},
	} {
		if got := value(fams, c.name, c.label, c.val); got != c.want {
			t.Errorf("%s{%s=%q} = %v, want %v", c.name, c.label, c.val, got, c.want)
		}
	}
	for name, f := range fams {
		if f.GetType() == dto.MetricType_COUNTER && name[len(name)-6:] != "_total" {
			t.Errorf("counter %s lacks _total", name)
		}
	}
	// The Recorder registers in an application's registry too.
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("pedantic gather: %v", err)
	}
}

// Distinct route names are capped; the rest are counted under "other".
func TestRouteCardinalityBounded(t *testing.T) {
	rec := newRecorder(t, nil, statshttp.Options{MaxRoutes: 5})
	tr := traffic{}
	for i := range 50 {
		tr[fmt.Sprintf("route-%02d", i)] = map[mw.EventKind]int{mw.CacheHit: 2}
	}
	send(rec, tr, 8)
	f := scrape(t, rec.MetricsHandler())["redishttp_cache_hits_total"]
	if n := len(f.GetMetric()); n != 5 {
		t.Errorf("%d route series, want 5 (4 names + other)", n)
	}
	var sum float64
	for _, m := range f.GetMetric() {
		sum += m.GetCounter().GetValue()
	}
	if sum != 100 || value(map[string]*dto.MetricFamily{"x": f}, "x", "route", statshttp.OverflowRoute) != 92 {
		t.Errorf("sum %v, other %v; want 100 and 92", sum, value(map[string]*dto.MetricFamily{"x": f}, "x", "route", "other"))
	}
	if rep := fetchReport(t, rec); rep.Performance.Hits != 100 || len(rep.Patterns) != 5 {
		t.Errorf("report: %d hits, %d patterns", rep.Performance.Hits, len(rep.Patterns))
	}
}
