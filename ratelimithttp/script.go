package ratelimithttp

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The two scripts, run with redis.Script (EVALSHA, then EVAL once if the
// server has not cached the script). fixed.lua is the hot path (fixed
// windows only: no TIME, no tables per policy, a flat integer reply);
// sliding.lua runs whenever one of a request's policies is a sliding
// window.
var (
	//go:embed lua/fixed.lua
	fixedLua string
	//go:embed lua/sliding.lua
	slidingLua string

	fixedScript   = redis.NewScript(fixedLua)
	slidingScript = redis.NewScript(slidingLua)
)

// errBadReply is wrapped when Redis answers a script with something it
// cannot have produced (a proxy, or a different script under its SHA).
var errBadReply = errors.New("ratelimithttp: unexpected reply from redis")

// runScript evaluates ps for the client key in one round trip and fills
// res.
func runScript(ctx context.Context, c redis.Scripter, prefix, key string, cost int64, ps []*compiled, res *Result) error {
	sliding := false
	nk, size := 0, 0
	for _, p := range ps {
		sliding = sliding || p.sliding
		nk += len(p.suffixes)
		for _, sfx := range p.suffixes {
			size += len(prefix) + len(key) + 2 + len(sfx)
		}
	}

	// All key names in one string: one allocation whatever their number.
	var b strings.Builder
	b.Grow(size)
	for _, p := range ps {
		for _, sfx := range p.suffixes {
			b.WriteString(prefix)
			b.WriteByte('{')
			b.WriteString(key)
			b.WriteByte('}')
			b.WriteString(sfx)
		}
	}
	all := b.String()
	keys := make([]string, nk)
	ki, start, base := 0, 0, len(prefix)+len(key)+2
	for _, p := range ps {
		for _, sfx := range p.suffixes {
			end := start + base + len(sfx)
			keys[ki] = all[start:end]
			ki, start = ki+1, end
		}
	}

	script := fixedScript
	var args []any
	if sliding {
		script = slidingScript
		args = make([]any, 0, 2+3*len(ps))
		args = append(args, cost, len(ps))
		for _, p := range ps {
			args = append(args, p.args[:]...)
		}
	} else {
		args = make([]any, 0, 1+2*len(ps))
		args = append(args, cost)
		for _, p := range ps {
			args = append(args, p.args[1], p.args[2])
		}
	}
	v, err := script.Run(ctx, c, keys, args...).Int64Slice()
	if err != nil {
		return err
	}
	if sliding {
		return decodeSliding(v, ps, res)
	}
	return decodeFixed(v, cost, ps, res)
}

// decodeFixed reads fixed.lua's reply: allowed, then per policy the units
// used and the window's remaining milliseconds (negative: a whole period).
func decodeFixed(v []int64, cost int64, ps []*compiled, res *Result) error {
	if len(v) != 1+2*len(ps) {
		return fmt.Errorf("%w: %d values for %d policies", errBadReply, len(v), len(ps))
	}
	res.Allowed = v[0] == 1
	// Fixed windows live on Redis key expiry; only the epoch conversion
	// of the reset headers uses this process's clock.
	now := time.Now()
	res.Now = now
	res.States = res.States[:0]
	for i, p := range ps {
		used, ttl := v[1+2*i], v[2+2*i]
		reset := p.window
		if ttl >= 0 {
			reset = time.Duration(ttl) * time.Millisecond
		}
		var retry int64
		if !res.Allowed && used+cost > p.p.Rate.Limit {
			if cost > p.p.Rate.Limit {
				retry = -1
			} else {
				retry = max(reset.Milliseconds(), 1)
			}
		}
		res.States = append(res.States, newState(p, used, now, reset, retry))
	}
	return nil
}

// decodeSliding reads sliding.lua's reply: allowed, Redis time in ms, then
// per policy the units used, ms until reset, and ms to wait (0: room; -1:
// never).
func decodeSliding(v []int64, ps []*compiled, res *Result) error {
	if len(v) != 2+3*len(ps) {
		return fmt.Errorf("%w: %d values for %d policies", errBadReply, len(v), len(ps))
	}
	res.Allowed = v[0] == 1
	now := time.UnixMilli(v[1])
	res.Now = now
	res.States = res.States[:0]
	for i, p := range ps {
		used, resetMS, retryMS := v[2+3*i], v[3+3*i], v[4+3*i]
		res.States = append(res.States, newState(p, used, now, time.Duration(resetMS)*time.Millisecond, retryMS))
	}
	return nil
}

// newState builds a policy's state; retryMS is -1 when the cost can never
// fit, else the wait in milliseconds (0 when the policy has room).
func newState(p *compiled, used int64, now time.Time, resetAfter time.Duration, retryMS int64) State {
	rem := max(p.p.Rate.Limit-used, 0)
	resetAfter = max(resetAfter, 0)
	s := State{
		Policy:     p.p.Name,
		Algorithm:  p.p.Algorithm,
		Limit:      p.p.Rate.Limit,
		Window:     p.window,
		Used:       used,
		Remaining:  rem,
		ResetAfter: resetAfter,
		Reset:      now.Add(resetAfter),
		pc:         p,
	}
	switch {
	case retryMS < 0:
		s.Exceeded, s.Never = true, true
	case retryMS > 0:
		s.Exceeded = true
		s.RetryAfter = time.Duration(retryMS) * time.Millisecond
	}
	return s
}
