package ratelimithttp

import (
	"context"
	"crypto/sha1"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aura-platform/redishttp/internal/ratefield"
	"github.com/redis/go-redis/v9"
)

// The two scripts. fixed.lua is the hot path (fixed windows only: no TIME,
// no tables per policy, a flat integer reply); sliding.lua runs whenever
// one of a request's policies is a sliding window.
var (
	//go:embed fixed.lua
	fixedLua string
	//go:embed sliding.lua
	slidingLua string

	fixedScript   = newScript(fixedLua)
	slidingScript = newScript(slidingLua)
)

// ErrBadReply is wrapped when Redis answers the script with something it
// cannot have produced (a proxy or a different script under its SHA).
var ErrBadReply = errors.New("ratelimithttp: unexpected reply from redis")

// script is a Lua script run with EVALSHA, falling back to EVAL when the
// server has not cached it (NOSCRIPT), as redis.Script.Run does; its
// command name, body and digest are boxed once instead of per call.
type script struct {
	src, sha any
}

var (
	argEvalSha any = "evalsha"
	argEval    any = "eval"
)

func newScript(src string) script {
	sum := sha1.Sum([]byte(src))
	return script{src: src, sha: hex.EncodeToString(sum[:])}
}

// numKeysArgs are the numkeys arguments boxed once, as strings (a cluster
// client reads this argument to find the first key).
var numKeysArgs = func() (a [inlineKeys + 1]any) {
	for i := range a {
		a[i] = strconv.Itoa(i)
	}
	return a
}()

// processor is the part of redis.UniversalClient the scripts need.
type processor interface {
	Process(ctx context.Context, cmd redis.Cmder) error
}

// inlineKeys and inlineArgs size the per-call argument blocks; requests
// needing more (over four sliding policies, over eight fixed ones) get
// plain slices. smallKeys and smallArgs fit the common calls (up to two
// fixed policies, or one sliding) in a smaller block.
const (
	inlineKeys = 8
	inlineArgs = 3 + inlineKeys + 2 + 3*4
	smallKeys  = 2
	smallArgs  = 3 + smallKeys + 2 + 3
)

// callArgs and smallCallArgs hold one script call's keys and command
// arguments in a single allocation. They are never reused: go-redis keeps
// the command's arguments (and the keys they point to) for as long as it
// holds the command, which may outlive the request (an autopipeliner whose
// caller timed out).
type callArgs struct {
	keys [inlineKeys]string
	args [inlineArgs]any
}

type smallCallArgs struct {
	keys [smallKeys]string
	args [smallArgs]any
}

// compiled is a validated policy with its key suffixes, script arguments
// and constant header values prepared once.
type compiled struct {
	p        Policy
	suffixes []string // one per Redis key the policy uses
	sliding  bool
	args     [3]any // for sliding.lua: algorithm, limit, period ms (boxed once)
	window   time.Duration

	// Header values that depend on the policy only, shared read-only by
	// every response (a one-element slice with no spare capacity, so
	// Header.Add copies instead of writing into it).
	limitHdr  []string // X-RateLimit-Limit
	policyHdr []string // RateLimit-Policy
	rlPrefix  string   // RateLimit up to the remaining count: `"name";r=`
}

func compile(p Policy) compiled {
	c := compiled{p: p, window: p.Rate.Period, sliding: p.Algorithm == SlidingWindow}
	limit := strconv.FormatInt(p.Rate.Limit, 10)
	ms := strconv.FormatInt(p.Rate.Period.Milliseconds(), 10)
	if c.sliding {
		c.suffixes = []string{":s:" + p.Name + ":log", ":s:" + p.Name + ":sum"}
		c.args = [3]any{"1", limit, ms}
	} else {
		c.suffixes = []string{":f:" + p.Name}
		c.args = [3]any{"0", limit, ms}
	}
	c.limitHdr = []string{limit}
	c.policyHdr = []string{string(ratefield.AppendPolicy(nil, p.Name, p.Rate.Limit, p.Rate.Period))}
	c.rlPrefix = string(ratefield.AppendString(nil, p.Name)) + ";r="
	return c
}

// hashTag returns the part of every Redis key of one client: prefix plus
// the client key inside a hash tag, so all of them share a cluster slot.
func hashTag(prefix, key string) string { return prefix + "{" + key + "}" }

// scratch holds a request's working memory; the middleware pools it so the
// common case (up to four policies) allocates only the script call.
type scratch struct {
	res    Result
	states [4]State
	pols   [4]*compiled
	kbuf   []byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch {
	sc := scratchPool.Get().(*scratch)
	sc.res = Result{States: sc.states[:0], Tightest: -1}
	return sc
}

func putScratch(sc *scratch) {
	clear(sc.states[:]) // drop references to policies and names
	clear(sc.pols[:])
	scratchPool.Put(sc)
}

// runScript evaluates ps for the client key in one round trip and fills
// res. sc, when not nil, provides a reusable key buffer.
func runScript(ctx context.Context, c processor, prefix, key string, cost int64, ps []*compiled, res *Result, sc *scratch) error {
	sliding := false
	nk := 0
	for _, p := range ps {
		sliding = sliding || p.sliding
		nk += len(p.suffixes)
	}
	s, na := fixedScript, 3+nk+1+2*len(ps)
	if sliding {
		s, na = slidingScript, 3+nk+2+3*len(ps)
	}
	var keys []string
	var args []any
	switch {
	case nk <= smallKeys && na <= smallArgs:
		ca := new(smallCallArgs)
		keys, args = ca.keys[:nk], ca.args[:0]
	case nk <= inlineKeys && na <= inlineArgs:
		ca := new(callArgs)
		keys, args = ca.keys[:nk], ca.args[:0]
	default:
		keys, args = make([]string, nk), make([]any, 0, na)
	}

	// All key names in one string: one allocation whatever their number.
	var b []byte
	if sc != nil {
		b = sc.kbuf[:0]
	}
	for _, p := range ps {
		for _, sfx := range p.suffixes {
			b = append(b, prefix...)
			b = append(b, '{')
			b = append(b, key...)
			b = append(b, '}')
			b = append(b, sfx...)
		}
	}
	all := string(b)
	ki, start, base := 0, 0, len(prefix)+len(key)+2
	for _, p := range ps {
		for _, sfx := range p.suffixes {
			end := start + base + len(sfx)
			keys[ki] = all[start:end]
			ki, start = ki+1, end
		}
	}
	if sc != nil {
		sc.kbuf = b
	}

	args = append(args, argEvalSha, s.sha)
	if nk < len(numKeysArgs) {
		args = append(args, numKeysArgs[nk])
	} else {
		args = append(args, strconv.Itoa(nk))
	}
	for i := range keys {
		args = append(args, &keys[i]) // a pointer boxes without allocating
	}
	args = append(args, cost)
	if sliding {
		args = append(args, len(ps))
		for _, p := range ps {
			args = append(args, p.args[:]...)
		}
	} else {
		for _, p := range ps {
			args = append(args, p.args[1], p.args[2])
		}
	}

	cmd := redis.NewIntSliceCmd(ctx, args...)
	_ = c.Process(ctx, cmd)
	if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") { // HasErrorPrefix allocates
		args[0], args[1] = argEval, s.src
		cmd = redis.NewIntSliceCmd(ctx, args...)
		_ = c.Process(ctx, cmd)
	}
	v, err := cmd.Result()
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
		return fmt.Errorf("%w: %d values for %d policies", ErrBadReply, len(v), len(ps))
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
