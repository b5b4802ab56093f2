package lockhttp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/aura-platform/redishttp/internal/pipe"
	"github.com/redis/go-redis/v9"
)

// On one Redis deployment (a node or a cluster: quorum 1) a lock is taken,
// extended and released without redsync: there is no quorum to count, and
// each step is one script (acquire.lua, extend.lua, release.lua) sent
// through the node's Runner. The arithmetic is redsync's: a lock is valid
// for TTL less the time its acquisition or extension took, less a clock
// drift allowance of TTL/100; an acquisition that failed for any reason but
// a holder is undone with a compare-and-delete, in case the script ran.

// driftFactor is the clock drift allowance, a fraction of TTL (redsync's
// default).
const driftFactor = 0.01

// errTooLate is an acquisition or extension that answered after the lock's
// validity had run out.
var errTooLate = errors.New("lockhttp: Redis answered after the lock's validity ran out")

// luaScript is a script with its SHA-1 ready to be put in a command's
// arguments.
type luaScript struct {
	sha, src any
}

func newLuaScript(s *redis.Script, src string) luaScript {
	return luaScript{sha: s.Hash(), src: src}
}

var (
	acquireLua = newLuaScript(acquireScript, acquireSrc)
	extendLua  = newLuaScript(extendScript, extendSrc)
	releaseLua = newLuaScript(releaseScript, releaseSrc)
)

// run runs s with args through r (pipe.Runner.EvalArgs): args[0] and
// args[1] are for the command name and the script, args[2] is the number of
// keys, the keys follow. Building the arguments here, rather than through
// redis.Script.Run, saves the copies and conversions of its variadic
// arguments on every request.
func (s luaScript) run(ctx context.Context, r *pipe.Runner, args []any) (any, error) {
	return r.EvalArgs(ctx, s.sha, s.src, args)
}

// lockValue returns a new random lock value: 16 random bytes in base64, as
// redsync's.
func lockValue() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	var s [24]byte
	base64.StdEncoding.Encode(s[:], b[:])
	return string(s[:])
}

// validity is when a lock taken or extended by a call that started at start
// and ended at now stops being valid by our clock.
func (b *redisBackend) validity(start, now time.Time) time.Time {
	return now.Add(b.ttl - now.Sub(start) - time.Duration(float64(b.ttl)*driftFactor))
}

// tryLockOne makes one attempt at name's lock on the one deployment.
func (b *redisBackend) tryLockOne(ctx context.Context, name string) (lease, time.Duration, error) {
	l := &singleLease{b: b, name: name, value: lockValue()}
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, b.acquireTO)
	v, err := acquireLua.run(cctx, b.clients[0], []any{nil, nil, 2, l.name, name + fenceSuffix, l.value, b.ttlArg, b.fenceArg})
	cancel()
	if err == nil {
		res, _ := v.([]any)
		var flag, val int64
		if len(res) >= 2 {
			flag, _ = res[0].(int64)
			val, _ = res[1].(int64)
		}
		switch {
		case len(res) < 2:
			err = fmt.Errorf("lockhttp: acquire script returned %v", v)
		case flag != 1:
			return nil, time.Duration(max(val, 0)) * time.Millisecond, errTaken
		default:
			now := time.Now()
			l.valid = b.validity(start, now)
			if now.Before(l.valid) {
				l.tok = val
				return l, 0, nil
			}
			err = errTooLate
		}
	}
	// The script may have run (a timeout after it was sent, a late answer):
	// undo it.
	cctx, cancel = context.WithTimeout(ctx, b.acquireTO)
	_ = l.unlock(cctx)
	cancel()
	if ctx.Err() != nil {
		return nil, 0, ctx.Err()
	}
	return nil, 0, fmt.Errorf("%w: %w", errQuorum, err)
}

// singleLease is a lock held on one deployment.
type singleLease struct {
	b     *redisBackend
	name  any // the lock key, a string converted once for every script call
	value any // the lock value, likewise
	tok   int64
	valid time.Time // written by extend, which the watchdog serialises
}

func (l *singleLease) fence() int64 { return l.tok }

func (l *singleLease) until() time.Time { return l.valid }

// extend renews the lock: errNotOurs when Redis answers that it is gone or
// another holder's, an error wrapping errQuorum when Redis failed or
// answered too late.
func (l *singleLease) extend(ctx context.Context) error {
	start := time.Now()
	v, err := extendLua.run(ctx, l.b.clients[0], []any{nil, nil, 1, l.name, l.value, l.b.ttlArg})
	if err != nil {
		return fmt.Errorf("%w: %w", errQuorum, err)
	}
	if n, _ := v.(int64); n != 1 {
		return fmt.Errorf("%w: %w", ErrLockLost, errNotOurs)
	}
	now := time.Now()
	valid := l.b.validity(start, now)
	if !now.Before(valid) {
		return fmt.Errorf("%w: %w", errQuorum, errTooLate)
	}
	l.valid = valid
	return nil
}

// unlock releases the lock if it is still ours. A lock that already
// expired is not an error; one that another request holds is errNotOurs.
func (l *singleLease) unlock(ctx context.Context) error {
	v, err := releaseLua.run(ctx, l.b.clients[0], []any{nil, nil, 1, l.name, l.value})
	if err != nil {
		return err
	}
	if n, _ := v.(int64); n == 0 {
		return errNotOurs
	}
	return nil
}
