package statshttp

import (
	"context"
	"net/http"

	mw "github.com/aura-platform/redishttp/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricNamespace starts every metric name.
const metricNamespace = "redishttp"

// counterDescs maps each route event kind to its counter, labelled by route
// only.
var counterDescs = func() [numKinds]*prometheus.Desc {
	var d [numKinds]*prometheus.Desc
	def := func(k mw.EventKind, subsystem, name, help string) {
		d[k] = prometheus.NewDesc(prometheus.BuildFQName(metricNamespace, subsystem, name), help, []string{"route"}, nil)
	}
	def(mw.CacheHit, "cache", "hits_total", "Fresh cache entries served.")
	def(mw.CacheMiss, "cache", "misses_total", "Requests that found no usable cache entry.")
	def(mw.CacheStale, "cache", "stale_total", "Stale cache entries served.")
	def(mw.CacheCoalesced, "cache", "coalesced_total", "Requests that waited for another request's load or read of the same key.")
	def(mw.CacheLoad, "cache", "loads_total", "Times the handler or loader ran to fill the cache.")
	def(mw.CacheError, "cache", "errors_total", "Cache backend failures (the request was still served).")
	def(mw.CacheBypass, "cache", "bypasses_total", "Requests or responses that were not cacheable.")
	def(mw.CacheStore, "cache", "stores_total", "Cache entries written.")
	def(mw.CacheInvalidate, "cache", "invalidations_total", "Cache entries removed.")
	def(mw.RateAllowed, "ratelimit", "allowed_total", "Rate-limited requests let through.")
	def(mw.RateDenied, "ratelimit", "denied_total", "Requests refused with 429.")
	def(mw.RateError, "ratelimit", "errors_total", "Rate limiter backend failures.")
	def(mw.LockAcquired, "lock", "acquired_total", "Locks taken for requests.")
	def(mw.LockContended, "lock", "contended_total", "Requests refused because the lock was held.")
	def(mw.LockExpired, "lock", "expired_total", "Locks lost while the handler ran.")
	def(mw.LockReplayed, "lock", "replayed_total", "Idempotent responses replayed.")
	def(mw.LockError, "lock", "errors_total", "Lock backend failures.")
	return d
}()

var (
	descBackendChanges = prometheus.NewDesc(prometheus.BuildFQName(metricNamespace, "backend", "changes_total"),
		"Backend state changes, by the state entered.", []string{"state"}, nil)
	descBackendState = prometheus.NewDesc(prometheus.BuildFQName(metricNamespace, "backend", "state"),
		"1 for the current backend state, 0 for the others.", []string{"state"}, nil)
	descLiveKeys = prometheus.NewDesc(prometheus.BuildFQName(metricNamespace, "cache", "live_keys"),
		"Live cache keys per pattern, as reported by the cache.", []string{"route"}, nil)
	descFlushes = prometheus.NewDesc(prometheus.BuildFQName(metricNamespace, "stats", "flushes_total"),
		"Flushes of this instance's counts to Redis.", nil, nil)
	descFlushErrors = prometheus.NewDesc(prometheus.BuildFQName(metricNamespace, "stats", "flush_errors_total"),
		"Failed flushes of this instance's counts to Redis.", nil, nil)
)

var _ prometheus.Collector = (*Recorder)(nil)

// Describe sends the descriptors of every metric the Recorder exports
// (prometheus.Collector).
func (r *Recorder) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range counterDescs {
		if d != nil {
			ch <- d
		}
	}
	for _, d := range []*prometheus.Desc{descBackendChanges, descBackendState, descLiveKeys, descFlushes, descFlushErrors} {
		ch <- d
	}
}

// Collect sends this instance's counters (prometheus.Collector). They are
// the instance's own figures, not the cluster totals: Prometheus scrapes
// every instance and sums them itself. A route's series of a family (cache,
// ratelimit, lock) appear once it has an event of that family; declared
// Patterns have their cache series from the start. Route names are bounded
// by Options.MaxRoutes.
func (r *Recorder) Collect(ch chan<- prometheus.Metric) {
	declared := make(map[string]bool, len(r.cfg.Patterns))
	for _, p := range r.cfg.Patterns {
		declared[p] = true
	}
	for _, rs := range r.routes.all() {
		var v [numKinds]float64
		for k := range v {
			v[k] = float64(rs.n[k].Load())
		}
		for _, fam := range [][]mw.EventKind{cacheKinds, rateKinds, lockKinds} {
			show := fam[0] == mw.CacheHit && declared[rs.name]
			for _, k := range fam {
				show = show || v[k] != 0
			}
			if !show {
				continue
			}
			for _, k := range fam {
				ch <- prometheus.MustNewConstMetric(counterDescs[k], prometheus.CounterValue, v[k], rs.name)
			}
		}
	}
	for _, rs := range r.backend.all() {
		if n := rs.n[mw.BackendChange].Load(); n != 0 || rs.name != overflowRoute {
			ch <- prometheus.MustNewConstMetric(descBackendChanges, prometheus.CounterValue, float64(n), rs.name)
		}
	}
	state, _ := r.backendNow()
	for _, s := range backendStates {
		v := 0.0
		if s == state {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descBackendState, prometheus.GaugeValue, v, s)
	}
	if r.cfg.LiveKeys != nil {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.ReadTimeout)
		live, err := r.cfg.LiveKeys.LiveKeys(ctx)
		cancel()
		if err == nil {
			for name, n := range live {
				if name = r.routeLabel(name); name != "" {
					ch <- prometheus.MustNewConstMetric(descLiveKeys, prometheus.GaugeValue, float64(n), name)
				}
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(descFlushes, prometheus.CounterValue, float64(r.flushes.Load()))
	ch <- prometheus.MustNewConstMetric(descFlushErrors, prometheus.CounterValue, float64(r.flushErrors.Load()))
}

// routeLabel returns name if it is a counted route, "" otherwise, so the
// live-key gauge stays as bounded as the counters.
func (r *Recorder) routeLabel(name string) string {
	if (*r.routes.m.Load())[name] != nil {
		return name
	}
	return ""
}

// MetricsHandler serves the Recorder's metrics in the Prometheus exposition
// format from a registry of its own (so nothing else leaks in), protected
// like the other handlers. To add them to an existing registry instead,
// register the Recorder itself: it is a prometheus.Collector.
func (r *Recorder) MetricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(r) // a fresh registry: cannot collide
	return r.protect(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}), false)
}
