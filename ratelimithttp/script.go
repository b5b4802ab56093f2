package ratelimithttp

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"sync"
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

// scratch holds a request's working memory; the middleware pools it so the
// common case (up to four policies) allocates only what go-redis needs.
type scratch struct {
	res    Result
	states [4]State
	pols   [4]*compiled
	keys   [8]string
	args   [2 + 3*4]any
	kbuf   []byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch {
	sc := scratchPool.Get().(*scratch)
	sc.res = Result{States: sc.states[:0], Tightest: -1}
	return sc
}

func putScratch(sc *scratch) {
	clear(sc.args[:])
	scratchPool.Put(sc)
}

// runScript evaluates ps for the client key in one round trip and fills
// res. sc, when not nil, provides reusable buffers.
func runScript(ctx context.Context, c redis.Scripter, prefix, key string, cost int64, ps []*compiled, res *Result, sc *scratch) error {
	if sc == nil {
		sc = new(scratch)
	}
	// All key names in one string: one allocation whatever their number.
	b := sc.kbuf[:0]
	var ends [8]int
	endv := ends[:0]
	for _, p := range ps {
		for _, s := range p.suffixes {
			b = append(b, prefix...)
			b = append(b, '{')
			b = append(b, key...)
			b = append(b, '}')
			b = append(b, s...)
			endv = append(endv, len(b))
		}
	}
	sc.kbuf = b
	all := string(b)
	keys := sc.keys[:0]
	start := 0
	for _, e := range endv {
		keys = append(keys, all[start:e])
		start = e
	}
	args := sc.args[:0]
	args = append(args, cost, len(ps))
	for _, p := range ps {
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
	// Without a sliding policy the script skips TIME: every window then
	// lives on Redis key expiry and only the epoch conversion of the reset
	// headers uses this process's clock.
	now := time.Now()
	if v[1] > 0 {
		now = time.UnixMilli(v[1])
	}
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
