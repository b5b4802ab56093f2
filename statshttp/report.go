package statshttp

import (
	"context"
	"sort"
	"strconv"
	"time"

	mw "github.com/aura-platform/redishttp/middleware"
)

// Report sources: where the figures of a report come from.
const (
	// sourceRedis: totals of every instance, read from Redis.
	sourceRedis = "redis"
	// sourceLocal: this instance's figures only, because there is no Redis
	// client or Redis could not be read in time.
	sourceLocal = "local"
)

// report is the JSON document StatsHandler serves. Its first fields are
// the summary a dashboard reads (timestamp, patterns with name, count and
// hitRate, performance with hits, misses and hitRate); the rest adds
// figures per pattern, rate limiting, locks, the backend and each
// instance.
type report struct {
	// Timestamp is when the report was built, in UTC.
	Timestamp time.Time `json:"timestamp"`
	// Patterns lists cache figures per pattern (route name): declared
	// Patterns first, in order, then the others by name.
	Patterns []patternReport `json:"patterns"`
	// Performance sums the cache figures over every pattern.
	Performance perfReport `json:"performance"`
	// RateLimit holds rate-limiting figures, in total and per route.
	RateLimit rateReport `json:"rateLimit"`
	// Locks holds locking and idempotency figures, in total and per route.
	Locks lockReport `json:"locks"`
	// Backend describes the backend state of the instances.
	Backend backendReport `json:"backend"`
	// Instances lists the live instances, this one first, each with its own
	// figures.
	Instances []instanceReport `json:"instances"`
	// Source is "redis" (every instance's totals, read from Redis) or
	// "local" (this instance's figures only: no client, or Redis did not
	// answer in time).
	Source string `json:"source"`
	// Instance is the ID of the instance that built the report.
	Instance string `json:"instance"`
	// Warnings says, in words meant for operators, what is missing from
	// the report (never internal error text).
	Warnings []string `json:"warnings,omitempty"`
}

// patternReport holds one cache pattern's figures.
type patternReport struct {
	// Name is the pattern (route) name.
	Name string `json:"name"`
	// Count is the number of live keys, from Options.LiveKeys; 0 without it.
	Count int64 `json:"count"`
	// HitRate is (hits+stale)/(hits+stale+misses) as a percentage with at
	// most one decimal, e.g. "92%" or "87.2%"; "0%" before any request.
	HitRate string `json:"hitRate"`
	// Hits counts fresh entries served from cache.
	Hits int64 `json:"hits"`
	// Misses counts requests that found no usable entry.
	Misses int64 `json:"misses"`
	// Loads counts the times the handler or loader actually ran.
	Loads int64 `json:"loads"`
	// Stale counts stale entries served.
	Stale int64 `json:"stale"`
	// Coalesced counts requests that waited for another request's load or
	// read of the same key.
	Coalesced int64 `json:"coalesced"`
	// Errors counts cache backend failures.
	Errors int64 `json:"errors"`
	// Bypass counts requests or responses that were not cacheable.
	Bypass int64 `json:"bypass"`
	// Stores counts entries written.
	Stores int64 `json:"stores"`
	// Invalidations counts entries removed.
	Invalidations int64 `json:"invalidations"`
}

// perfReport sums the cache figures over every pattern.
type perfReport struct {
	// Hits counts fresh entries served from cache.
	Hits int64 `json:"hits"`
	// Misses counts requests that found no usable entry.
	Misses int64 `json:"misses"`
	// HitRate is formatted as patternReport.HitRate.
	HitRate string `json:"hitRate"`
	// Stale counts stale entries served.
	Stale int64 `json:"stale"`
	// Coalesced counts requests that waited for another's load.
	Coalesced int64 `json:"coalesced"`
	// Loads counts handler or loader runs.
	Loads int64 `json:"loads"`
	// Errors counts cache backend failures.
	Errors int64 `json:"errors"`
}

// rateReport holds rate-limiting figures.
type rateReport struct {
	// Allowed counts requests let through.
	Allowed int64 `json:"allowed"`
	// Denied counts requests refused with 429.
	Denied int64 `json:"denied"`
	// Errors counts limiter backend failures.
	Errors int64 `json:"errors"`
	// DenyRate is denied/(allowed+denied) as a percentage.
	DenyRate string `json:"denyRate"`
	// Routes breaks the figures down per route (omitted per instance).
	Routes []rateRouteReport `json:"routes,omitempty"`
}

// rateRouteReport holds one route's rate-limiting figures.
type rateRouteReport struct {
	// Name is the route name.
	Name string `json:"name"`
	// Allowed counts requests let through.
	Allowed int64 `json:"allowed"`
	// Denied counts requests refused with 429.
	Denied int64 `json:"denied"`
	// Errors counts limiter backend failures.
	Errors int64 `json:"errors"`
	// DenyRate is denied/(allowed+denied) as a percentage.
	DenyRate string `json:"denyRate"`
}

// lockReport holds locking and idempotency figures.
type lockReport struct {
	// Acquired counts locks taken.
	Acquired int64 `json:"acquired"`
	// Contended counts requests refused because the lock was held.
	Contended int64 `json:"contended"`
	// Expired counts locks lost while the handler ran.
	Expired int64 `json:"expired"`
	// Replayed counts idempotent responses replayed.
	Replayed int64 `json:"replayed"`
	// Errors counts lock backend failures.
	Errors int64 `json:"errors"`
	// Routes breaks the figures down per route (omitted per instance).
	Routes []lockRouteReport `json:"routes,omitempty"`
}

// lockRouteReport holds one route's locking figures.
type lockRouteReport struct {
	// Name is the route name.
	Name string `json:"name"`
	// Acquired counts locks taken.
	Acquired int64 `json:"acquired"`
	// Contended counts requests refused because the lock was held.
	Contended int64 `json:"contended"`
	// Expired counts locks lost while the handler ran.
	Expired int64 `json:"expired"`
	// Replayed counts idempotent responses replayed.
	Replayed int64 `json:"replayed"`
	// Errors counts lock backend failures.
	Errors int64 `json:"errors"`
}

// backendReport describes the backend state.
type backendReport struct {
	// State is the reporting instance's backend state: "redis",
	// "degraded", "memory" or "unknown".
	State string `json:"state"`
	// Since is when State began, when known.
	Since *time.Time `json:"since,omitempty"`
	// Instances counts the live instances in each state.
	Instances map[string]int `json:"instances,omitempty"`
	// Changes counts state changes by the state entered.
	Changes map[string]int64 `json:"changes"`
}

// instanceReport holds one instance's own figures.
type instanceReport struct {
	// ID names the instance (Options.InstanceID).
	ID string `json:"id"`
	// Self is true for the instance that built the report.
	Self bool `json:"self"`
	// Started is when the instance's Recorder was created.
	Started time.Time `json:"started"`
	// LastSeen is the instance's last successful flush or heartbeat (now
	// for Self); an idle instance's lags by up to InstanceTTL/3.
	LastSeen time.Time `json:"lastSeen"`
	// Backend is the instance's backend state and its changes.
	Backend backendReport `json:"backend"`
	// Performance sums the instance's cache figures.
	Performance perfReport `json:"performance"`
	// RateLimit sums the instance's rate-limiting figures.
	RateLimit rateReport `json:"rateLimit"`
	// Locks sums the instance's locking figures.
	Locks lockReport `json:"locks"`
}

// instanceData is one instance's raw figures.
type instanceData struct {
	id                   string
	self                 bool
	routes, backend      counts
	state                string
	since, started, seen time.Time
}

// report builds the report StatsHandler serves: the totals of every
// instance from Redis plus this instance's not yet flushed counts, or, when
// there is no client or Redis does not answer within ReadTimeout, this
// instance's figures alone (Source "local"). It never fails.
func (r *Recorder) report(ctx context.Context) *report {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ReadTimeout)
	defer cancel()
	now := time.Now()
	rep := &report{Timestamp: now.UTC(), Instance: r.cfg.InstanceID, Source: sourceLocal}

	self := instanceData{id: r.cfg.InstanceID, self: true, started: r.started, seen: now}
	self.state, self.since = r.backendNow()
	var totals, totalBackend counts
	insts := []instanceData{self}
	if r.client != nil {
		routes, backend, others, local, localBackend, err := r.readCluster(ctx, now)
		if err == nil {
			rep.Source = sourceRedis
			totals, totalBackend = routes, backend
			insts = append(insts, others...)
			insts[0].routes, insts[0].backend = local, localBackend
		} else {
			rep.Warnings = append(rep.Warnings, "redis unavailable: figures are this instance's only")
		}
	}
	if totals == nil {
		insts[0].routes, insts[0].backend = r.local()
		totals, totalBackend = insts[0].routes, insts[0].backend
	}

	var live map[string]int64
	if r.cfg.LiveKeys != nil {
		var err error
		if live, err = r.cfg.LiveKeys.LiveKeys(ctx); err != nil {
			live = nil
			rep.Warnings = append(rep.Warnings, "live key counts unavailable")
		}
	}
	rep.Patterns = r.patterns(totals, live)
	rep.Performance = performance(totals)
	rep.RateLimit = rateLimit(totals, true)
	rep.Locks = locks(totals, true)
	rep.Backend = backendReport{State: self.state, Since: timePtr(self.since), Instances: map[string]int{},
		Changes: changes(totalBackend)}
	for _, in := range insts {
		rep.Backend.Instances[in.state]++
		rep.Instances = append(rep.Instances, instanceReport{
			ID: in.id, Self: in.self, Started: in.started.UTC(), LastSeen: in.seen.UTC(),
			Backend:     backendReport{State: in.state, Since: timePtr(in.since), Changes: changes(in.backend)},
			Performance: performance(in.routes),
			RateLimit:   rateLimit(in.routes, false),
			Locks:       locks(in.routes, false),
		})
	}
	return rep
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func hasAny(a *[numKinds]int64, kinds ...mw.EventKind) bool {
	for _, k := range kinds {
		if a[k] != 0 {
			return true
		}
	}
	return false
}

var (
	cacheKinds = []mw.EventKind{mw.CacheHit, mw.CacheMiss, mw.CacheStale, mw.CacheCoalesced, mw.CacheLoad,
		mw.CacheError, mw.CacheBypass, mw.CacheStore, mw.CacheInvalidate}
	rateKinds = []mw.EventKind{mw.RateAllowed, mw.RateDenied, mw.RateError}
	lockKinds = []mw.EventKind{mw.LockAcquired, mw.LockContended, mw.LockExpired, mw.LockReplayed, mw.LockError}
)

// patterns lists declared patterns first, then every other name with cache
// traffic or live keys, by name.
func (r *Recorder) patterns(c counts, live map[string]int64) []patternReport {
	seen := map[string]bool{}
	names := make([]string, 0, len(r.cfg.Patterns))
	for _, n := range r.cfg.Patterns {
		if n == "" {
			n = defaultRoute
		}
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	var rest []string
	for n, a := range c {
		if !seen[n] && hasAny(a, cacheKinds...) {
			seen[n] = true
			rest = append(rest, n)
		}
	}
	for n := range live {
		if !seen[n] {
			seen[n] = true
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	out := make([]patternReport, 0, len(names)+len(rest))
	for _, n := range append(names, rest...) {
		a := c[n]
		if a == nil {
			a = new([numKinds]int64)
		}
		out = append(out, patternReport{
			Name: n, Count: live[n], HitRate: hitRate(a[mw.CacheHit], a[mw.CacheStale], a[mw.CacheMiss]),
			Hits: a[mw.CacheHit], Misses: a[mw.CacheMiss], Loads: a[mw.CacheLoad], Stale: a[mw.CacheStale],
			Coalesced: a[mw.CacheCoalesced], Errors: a[mw.CacheError], Bypass: a[mw.CacheBypass],
			Stores: a[mw.CacheStore], Invalidations: a[mw.CacheInvalidate],
		})
	}
	return out
}

func performance(c counts) perfReport {
	h, s, m := c.sum(mw.CacheHit), c.sum(mw.CacheStale), c.sum(mw.CacheMiss)
	return perfReport{Hits: h, Misses: m, HitRate: hitRate(h, s, m), Stale: s,
		Coalesced: c.sum(mw.CacheCoalesced), Loads: c.sum(mw.CacheLoad), Errors: c.sum(mw.CacheError)}
}

func rateLimit(c counts, perRoute bool) rateReport {
	rl := rateReport{Allowed: c.sum(mw.RateAllowed), Denied: c.sum(mw.RateDenied), Errors: c.sum(mw.RateError)}
	rl.DenyRate = percent(rl.Denied, rl.Allowed+rl.Denied)
	if perRoute {
		for _, n := range c.sortedNames() {
			if a := c[n]; hasAny(a, rateKinds...) {
				rl.Routes = append(rl.Routes, rateRouteReport{Name: n, Allowed: a[mw.RateAllowed], Denied: a[mw.RateDenied],
					Errors: a[mw.RateError], DenyRate: percent(a[mw.RateDenied], a[mw.RateAllowed]+a[mw.RateDenied])})
			}
		}
	}
	return rl
}

func locks(c counts, perRoute bool) lockReport {
	l := lockReport{Acquired: c.sum(mw.LockAcquired), Contended: c.sum(mw.LockContended), Expired: c.sum(mw.LockExpired),
		Replayed: c.sum(mw.LockReplayed), Errors: c.sum(mw.LockError)}
	if perRoute {
		for _, n := range c.sortedNames() {
			if a := c[n]; hasAny(a, lockKinds...) {
				l.Routes = append(l.Routes, lockRouteReport{Name: n, Acquired: a[mw.LockAcquired], Contended: a[mw.LockContended],
					Expired: a[mw.LockExpired], Replayed: a[mw.LockReplayed], Errors: a[mw.LockError]})
			}
		}
	}
	return l
}

func changes(b counts) map[string]int64 {
	out := map[string]int64{}
	for n, a := range b {
		if v := a[mw.BackendChange]; v != 0 {
			out[n] = v
		}
	}
	return out
}

// hitRate is (hits+stale)/(hits+stale+misses) as a percentage.
func hitRate(hits, stale, misses int64) string {
	return percent(hits+stale, hits+stale+misses)
}

// percent formats n/d as "92%" or "87.2%" (one decimal at most, rounded);
// "0%" when d is 0.
func percent(n, d int64) string {
	if d <= 0 {
		return "0%"
	}
	s := strconv.FormatFloat(float64(n)*100/float64(d), 'f', 1, 64)
	if len(s) > 2 && s[len(s)-2:] == ".0" {
		s = s[:len(s)-2]
	}
	return s + "%"
}
