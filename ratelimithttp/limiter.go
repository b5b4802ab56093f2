package ratelimithttp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/memory"
	"github.com/aura-platform/redishttp/internal/observe"
	"github.com/aura-platform/redishttp/internal/optcheck"
	"github.com/aura-platform/redishttp/internal/pipe"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/redis/go-redis/v9"
)

// maxKey bounds the client key embedded in Redis keys.
const maxKey = 200

// Limiter is a configured multi-policy rate limiter. It is safe for
// concurrent use.
type Limiter struct {
	client  redis.UniversalClient
	run     *pipe.Runner // the script's way to client: direct or auto-pipelined
	mon     *fallback.Monitor
	ownMon  bool
	mem     *memory.Limiter
	opts    Options
	base    []*compiled
	tiers   map[string][]*compiled
	key     middleware.KeyFunc
	maxPols int

	degraded    atomic.Bool
	transitions atomic.Uint64
	lastFailure atomic.Int64 // monotonic ns since epoch0 of the latest failure
}

// epoch0 anchors the monotonic clock used to order failures and successes.
var epoch0 = time.Now()

// New returns a Limiter over client. A nil client is embedded mode: all
// counting happens in this process's memory.
//
// New validates the options once and returns an error wrapping
// ErrInvalidOptions that names the first bad field: a typed-nil client, no
// policies, an invalid policy (also ErrBadPolicy), a Prefix with braces or
// glob characters (they would break the Cluster hash tags), an unknown
// OnFailure, a negative RetryAfter or MemoryBytes. New does no I/O.
func New(client redis.UniversalClient, opts Options) (*Limiter, error) {
	o := opts
	if optcheck.TypedNil(client) {
		return nil, optcheck.TypedNilError(ErrInvalidOptions, "client", client)
	}
	if len(o.Policies) == 0 && len(o.Tiers) == 0 {
		return nil, fmt.Errorf("%w: Policies: none given; set Policies or Tiers", ErrInvalidOptions)
	}
	l := &Limiter{client: client}
	if len(o.Policies) > 0 {
		if err := validatePolicies(o.Policies); err != nil {
			return nil, fmt.Errorf("%w: Policies: %w", ErrInvalidOptions, err)
		}
		l.base = compileAll(o.Policies)
	}
	if len(o.Tiers) > 0 {
		l.tiers = make(map[string][]*compiled, len(o.Tiers))
		for name, ps := range o.Tiers {
			if len(ps) == 0 {
				return nil, fmt.Errorf("%w: Tiers[%q] has no policies", ErrInvalidOptions, name)
			}
			if err := validatePolicies(ps); err != nil {
				return nil, fmt.Errorf("%w: Tiers[%q]: %w", ErrInvalidOptions, name, err)
			}
			l.tiers[name] = compileAll(ps)
			l.maxPols = max(l.maxPols, len(ps))
		}
		o.Tiers = nil // compiled; do not keep the caller's map
	}
	l.maxPols = max(l.maxPols, len(l.base))
	if err := optcheck.First(
		optcheck.Prefix(ErrInvalidOptions, "Prefix", o.Prefix),
		onFailure(o.OnFailure),
		optcheck.Duration(ErrInvalidOptions, "RetryAfter", o.RetryAfter),
		optcheck.NonNegative(ErrInvalidOptions, "MemoryBytes", o.MemoryBytes),
	); err != nil {
		return nil, err
	}
	if client != nil {
		run, err := pipe.New(client, o.AutoPipeline)
		if err != nil {
			return nil, fmt.Errorf("%w: AutoPipeline: %w", ErrInvalidOptions, err)
		}
		l.run = run
	}
	if o.Prefix == "" {
		o.Prefix = "rl:"
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = time.Second
	}
	if o.OnFailure == fallback.Default {
		o.OnFailure = fallback.UseMemory
	}
	if o.Route == "" {
		o.Route = "ratelimit"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	l.key = o.Key
	if l.key == nil {
		l.key = middleware.UserOr(middleware.ByClientIP(o.ClientIP))
	}
	l.mem = memory.NewLimiter(o.MemoryBytes)
	l.mon = o.Monitor
	if l.mon == nil && client != nil {
		mon, err := fallback.NewMonitor(client, fallback.MonitorOptions{Logger: o.Logger})
		if err != nil {
			return nil, err
		}
		l.mon = mon
		l.ownMon = true
	}
	o.Policies = nil
	l.opts = o
	return l, nil
}

func onFailure(f fallback.OnFailure) error {
	if f > fallback.PassThrough {
		return fmt.Errorf("%w: OnFailure %d is unknown; use fallback.UseMemory, FailClosed or PassThrough", ErrInvalidOptions, f)
	}
	return nil
}

// Close stops the health monitor the limiter started itself (none when
// Options.Monitor was given or in embedded mode). It does not close the
// Redis client. Close is idempotent.
func (l *Limiter) Close() error {
	if l.ownMon {
		return l.mon.Close()
	}
	return nil
}

// clientKey returns k if it is safe inside a hash tag, else its digest.
func clientKey(k string) string {
	safe := len(k) <= maxKey && k != ""
	for i := 0; safe && i < len(k); i++ {
		if c := k[i]; c <= ' ' || c >= 0x7f || c == '{' || c == '}' {
			safe = false
		}
	}
	if safe {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "%h" + hex.EncodeToString(sum[:20])
}

// policies returns the policies for r, restricted to those that match.
func (l *Limiter) policies(r *http.Request, buf []*compiled) []*compiled {
	set := l.base
	if l.opts.Tier != nil && l.tiers != nil {
		if ps, ok := l.tiers[l.opts.Tier(r)]; ok {
			set = ps
		}
	}
	out := buf[:0]
	for _, p := range set {
		if p.p.Match == nil || p.p.Match(r) {
			out = append(out, p)
		}
	}
	return out
}

// Check decides r without writing a response: it resolves the key, tier,
// cost and exemption, checks and counts the matching policies (one Redis
// round trip), and applies OnFailure when Redis fails. Errors: ErrKey
// (wrapping the key function's error), fallback.ErrUnavailable
// (fallback.FailClosed while Redis fails), or the caller's context error.
// An exempt request, one no policy matches, or a pass-through during an
// outage yields an allowed Result with no States.
func (l *Limiter) Check(r *http.Request) (Result, error) {
	sc := newScratch()
	err := l.check(r, sc)
	return sc.res, err
}

func (l *Limiter) check(r *http.Request, sc *scratch) error {
	res := &sc.res
	if l.opts.Exempt != nil && l.opts.Exempt(r) {
		res.Allowed, res.source = true, srcNone
		return nil
	}
	ps := l.policies(r, sc.pols[:0])
	if len(ps) == 0 {
		res.Allowed, res.source = true, srcNone
		return nil
	}
	k, err := l.key(r)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKey, err)
	}
	cost := int64(1)
	if l.opts.Cost != nil {
		cost = max(l.opts.Cost(r), 1)
	}
	return l.take(r.Context(), clientKey(k), cost, ps, res)
}

// Take checks and counts the given cost for key against the limiter's
// default policies (or tier's, when tier names one), ignoring each
// policy's Match, with the same failure handling as Check. It is the
// non-HTTP entry point (background jobs, gRPC).
func (l *Limiter) Take(ctx context.Context, key string, cost int64, tier string) (Result, error) {
	set := l.base
	if ps, ok := l.tiers[tier]; ok {
		set = ps
	}
	var res Result
	res.Tightest = -1
	if len(set) == 0 {
		res.Allowed, res.source = true, srcNone
		return res, nil
	}
	err := l.take(ctx, clientKey(key), max(cost, 1), set, &res)
	return res, err
}

func (l *Limiter) take(ctx context.Context, key string, cost int64, ps []*compiled, res *Result) error {
	if l.client == nil {
		l.takeMemory(hashTag(l.opts.Prefix, key), cost, ps, res)
		return nil
	}
	var err error
	if l.mon.Available() {
		var started int64
		wasDegraded := l.degraded.Load()
		if wasDegraded {
			started = int64(time.Since(epoch0))
		}
		cctx, cancel := context.WithTimeout(ctx, l.mon.CommandTimeout())
		err = runScript(cctx, l.run, l.opts.Prefix, key, cost, ps, res)
		cancel()
		l.mon.Report(ctx, err)
		if err == nil {
			res.source = srcRedis
			res.finish()
			if wasDegraded {
				l.recovered(started)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err() // the caller gave up; Redis did not fail
		}
	} else {
		err = fallback.ErrUnavailable
	}
	l.failed(err)
	observe.Emit(l.opts.Observer, middleware.RateError, l.opts.Route)
	switch l.opts.OnFailure {
	case fallback.FailClosed:
		return fallback.ErrUnavailable
	case fallback.PassThrough:
		res.Allowed, res.source, res.States = true, srcNone, res.States[:0]
		return nil
	}
	l.takeMemory(hashTag(l.opts.Prefix, key), cost, ps, res)
	return nil
}

// takeMemory decides with this process's counters. Sliding-window policies
// are counted as fixed windows here (see the package documentation).
func (l *Limiter) takeMemory(tag string, cost int64, ps []*compiled, res *Result) {
	ws := make([]memory.Window, len(ps))
	for i, p := range ps {
		ws[i] = memory.Window{Key: tag + p.suffixes[0], Limit: p.p.Rate.Limit, Period: p.window}
	}
	now := time.Now()
	st, ok := l.mem.Take(cost, ws)
	res.Allowed, res.source, res.Now = ok, srcMemory, now
	res.States = res.States[:0]
	for i, p := range ps {
		var retry int64
		if !ok && st[i].Count+cost > p.p.Rate.Limit {
			retry = max(st[i].Reset.Sub(now).Milliseconds(), 1)
			if cost > p.p.Rate.Limit {
				retry = -1
			}
		}
		res.States = append(res.States, newState(p, st[i].Count, now, st[i].Reset.Sub(now), retry))
	}
	res.finish()
}

func (l *Limiter) failed(err error) {
	l.lastFailure.Store(int64(time.Since(epoch0)))
	if l.degraded.CompareAndSwap(false, true) {
		l.transitions.Add(1)
		l.opts.Logger.Debug("ratelimithttp: redis failing; applying failure mode",
			"route", l.opts.Route, "on_failure", l.opts.OnFailure.String(), "error", fallback.SafeError(err))
	}
}

// recovered leaves the failure mode after a success by a call that started
// after the latest failure (a call already in flight when Redis died may
// still succeed; it proves nothing and must not make the state flap).
func (l *Limiter) recovered(started int64) {
	if started > l.lastFailure.Load() && l.degraded.CompareAndSwap(true, false) {
		l.transitions.Add(1)
		l.opts.Logger.Debug("ratelimithttp: redis answering again; shared limits restored", "route", l.opts.Route)
	}
}
