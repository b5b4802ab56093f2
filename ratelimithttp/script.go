package ratelimithttp

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed limit.lua
var limitLua string

// limitScript checks and counts all policies of a request in one EVALSHA.
var limitScript = redis.NewScript(limitLua)

// ErrBadReply is wrapped when Redis answers the script with something it
// cannot have produced (a proxy or a different script under its SHA).
var ErrBadReply = errors.New("ratelimithttp: unexpected reply from redis")

// compiled is a validated policy with its key suffixes and script
// arguments prepared once.
type compiled struct {
	p        Policy
	suffixes []string      // one per Redis key the policy uses
	args     [3]any        // algorithm, limit, period ms (already boxed)
	window   time.Duration // p.Rate.Period
}

func compile(p Policy) compiled {
	c := compiled{p: p, window: p.Rate.Period}
	ms := p.Rate.Period.Milliseconds()
	switch p.Algorithm {
	case SlidingWindow:
		c.suffixes = []string{":s:" + p.Name + ":log", ":s:" + p.Name + ":sum"}
		c.args = [3]any{"1", strconv.FormatInt(p.Rate.Limit, 10), strconv.FormatInt(ms, 10)}
	default:
		c.suffixes = []string{":f:" + p.Name}
		c.args = [3]any{"0", strconv.FormatInt(p.Rate.Limit, 10), strconv.FormatInt(ms, 10)}
	}
	return c
}

// hashTag returns the part of every Redis key of one client: prefix plus
// the client key inside a hash tag, so all of them share a cluster slot.
func hashTag(prefix, key string) string { return prefix + "{" + key + "}" }

// runScript evaluates ps for key in one round trip and fills res.
func runScript(ctx context.Context, c redis.Scripter, tag string, cost int64, ps []*compiled, res *Result) error {
	nk := 0
	for _, p := range ps {
		nk += len(p.suffixes)
	}
	keys := make([]string, 0, nk)
	args := make([]any, 0, 2+3*len(ps))
	args = append(args, cost, len(ps))
	for _, p := range ps {
		for _, s := range p.suffixes {
			keys = append(keys, tag+s)
		}
		args = append(args, p.args[:]...)
	}
	v, err := limitScript.Run(ctx, c, keys, args...).Int64Slice()
	if err != nil {
		return err
	}
	if len(v) != 2+3*len(ps) {
		return fmt.Errorf("%w: %d values for %d policies", ErrBadReply, len(v), len(ps))
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
	rem := p.p.Rate.Limit - used
	if rem < 0 {
		rem = 0
	}
	if resetAfter < 0 {
		resetAfter = 0
	}
	s := State{
		Policy:     p.p.Name,
		Algorithm:  p.p.Algorithm,
		Limit:      p.p.Rate.Limit,
		Window:     p.window,
		Used:       used,
		Remaining:  rem,
		ResetAfter: resetAfter,
		Reset:      now.Add(resetAfter),
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
