package statshttp

import (
	"context"
	"time"
)

// Test-only names for the report the JSON handler serves, so the external
// tests can decode it and read it without going through HTTP.
type (
	Report       = report
	Pattern      = patternReport
	LiveKeysFunc func(ctx context.Context) (map[string]int64, error)
)

// LiveKeys calls f(ctx).
func (f LiveKeysFunc) LiveKeys(ctx context.Context) (map[string]int64, error) { return f(ctx) }

// Report builds the report StatsHandler serves.
func (r *Recorder) Report(ctx context.Context) *Report { return r.report(ctx) }

const (
	SourceLocal   = sourceLocal
	SourceRedis   = sourceRedis
	DefaultRoute  = defaultRoute
	OverflowRoute = overflowRoute
)

// SetLiveTimes shortens the streams' heartbeat and lifetime.
func (r *Recorder) SetLiveTimes(heartbeat, lifetime time.Duration) {
	r.live.heartbeat, r.live.lifetime = heartbeat, lifetime
}

// LiveBuilds counts the reports built for the streams.
func (r *Recorder) LiveBuilds() int64 { return r.live.builds.Load() }
