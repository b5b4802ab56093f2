package ratelimithttp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/memory"
	"github.com/aura-platform/redishttp/internal/observe"
	"github.com/aura-platform/redishttp/internal/optcheck"
	"github.com/aura-platform/redishttp/middleware"
	"github.com/redis/go-redis/v9"
)

var (
	// ErrNoPolicies is returned by New when neither Policies nor Tiers
	// gives any policy.
	ErrNoPolicies = errors.New("ratelimithttp: no policies")
	// ErrUnavailable is returned by Check in FailClosed mode while Redis is
	// failing; the middleware answers 503.
	ErrUnavailable = errors.New("ratelimithttp: rate-limit backend unavailable")
	// ErrKey wraps the key function's error when a request cannot be keyed.
	ErrKey = errors.New("ratelimithttp: cannot key request")
	// ErrNoClient is returned by NewStore for a nil client, and by New
	// and NewStore for a typed-nil one (a nil *redis.Client stored in the
	// interface), together with ErrInvalidOptions.
	ErrNoClient = errors.New("ratelimithttp: nil redis client")
	// ErrInvalidOptions is wrapped by every error New and NewStore return
	// for a bad option; the message names the field. Errors about the
	// policies also wrap ErrNoPolicies or ErrBadPolicy.
	ErrInvalidOptions = errors.New("ratelimithttp: invalid options")
)

// maxKey bounds the client key embedded in Redis keys.
const maxKey = 200

// Limiter is a configured multi-policy rate limiter. It is safe for
// concurrent use.
type Limiter struct {
	client  redis.UniversalClient
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
// ErrInvalidOptions that names the first bad field: a typed-nil client
// (also ErrNoClient), no policies (also ErrNoPolicies), an invalid policy
// (also ErrBadPolicy), a Prefix with braces or glob characters (they would
// break the Cluster hash tags), an unknown FailureMode or a negative
// FailClosedRetryAfter.
func New(client redis.UniversalClient, opts Options) (*Limiter, error) {
	o := opts
	if optcheck.TypedNil(client) {
		return nil, fmt.Errorf("%w: %w: client is a nil %T; pass a connected client, or an untyped nil for embedded mode",
			ErrInvalidOptions, ErrNoClient, client)
	}
	if len(o.Policies) == 0 && len(o.Tiers) == 0 {
		return nil, fmt.Errorf("%w: %w: set Policies or Tiers", ErrInvalidOptions, ErrNoPolicies)
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
				return nil, fmt.Errorf("%w: %w: Tiers[%q] is empty", ErrInvalidOptions, ErrNoPolicies, name)
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
		failureMode(o.FailureMode),
		optcheck.Duration(ErrInvalidOptions, "FailClosedRetryAfter", o.FailClosedRetryAfter),
	); err != nil {
		return nil, err
	}
	if o.Prefix == "" {
		o.Prefix = "rl:"
	}
	if o.FailClosedRetryAfter <= 0 {
		o.FailClosedRetryAfter = time.Second
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

func failureMode(m FailureMode) error {
	if m > PassThrough {
		return fmt.Errorf("%w: FailureMode %d is unknown; use FailOpen, FailClosed or PassThrough", ErrInvalidOptions, m)
	}
	return nil
}

func compileAll(ps []Policy) []*compiled {
	out := make([]*compiled, len(ps))
	for i, p := range ps {
		c := compile(p)
		out[i] = &c
	}
	return out
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

// Degraded reports whether the last backend call failed, so FailureMode is
// in force.
func (l *Limiter) Degraded() bool { return l.degraded.Load() }

// Transitions returns how many times the limiter switched into or out of
// its failure mode.
func (l *Limiter) Transitions() uint64 { return l.transitions.Load() }

// Mode returns the configured failure mode.
func (l *Limiter) Mode() FailureMode { return l.opts.FailureMode }

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
// round trip), and applies the failure mode when Redis fails. Errors:
// ErrKey (wrapping the key function's error), ErrUnavailable (FailClosed
// while Redis fails), or the caller's context error. An exempt request,
// one no policy matches, or a pass-through during an outage yields an
// allowed Result with Source SourceNone.
func (l *Limiter) Check(r *http.Request) (Result, error) {
	sc := new(scratch)
	sc.res = Result{States: sc.states[:0], Tightest: -1}
	err := l.check(r, sc)
	return sc.res, err
}

func (l *Limiter) check(r *http.Request, sc *scratch) error {
	res := &sc.res
	if l.opts.Exempt != nil && l.opts.Exempt(r) {
		res.Allowed, res.Source = true, SourceNone
		return nil
	}
	ps := l.policies(r, sc.pols[:0])
	if len(ps) == 0 {
		res.Allowed, res.Source = true, SourceNone
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
	return l.take(r.Context(), clientKey(k), cost, ps, res, sc)
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
		res.Allowed, res.Source = true, SourceNone
		return res, nil
	}
	err := l.take(ctx, clientKey(key), max(cost, 1), set, &res, nil)
	return res, err
}

func (l *Limiter) take(ctx context.Context, key string, cost int64, ps []*compiled, res *Result, sc *scratch) error {
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
		cctx, cancel := l.mon.WithTimeout(ctx)
		err = runScript(cctx, l.client, l.opts.Prefix, key, cost, ps, res, sc)
		cancel()
		l.mon.Report(ctx, err)
		if err == nil {
			res.Source = SourceRedis
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
	switch l.opts.FailureMode {
	case FailClosed:
		return ErrUnavailable
	case PassThrough:
		res.Allowed, res.Source, res.States = true, SourceNone, res.States[:0]
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
	res.Allowed, res.Source, res.Now = ok, SourceMemory, now
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
			"route", l.opts.Route, "mode", l.opts.FailureMode.String(), "error", fallback.SafeError(err))
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
