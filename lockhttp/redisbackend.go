package lockhttp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aura-platform/redishttp/internal/pipe"
	"github.com/go-redsync/redsync/v4"
	rsredis "github.com/go-redsync/redsync/v4/redis"
	"github.com/go-redsync/redsync/v4/redis/goredis/v9"
)

// fenceSuffix names a lock's fencing counter: lock name + suffix, so both
// share the lock name's hash tag.
const fenceSuffix = ":fence"

// redisBackend keeps locks and idempotency records on one Redis deployment
// (a node or a cluster, quorum 1) or on several independent masters
// (Redlock, quorum n/2+1). This file holds the Redlock locks (redsync
// mutexes); the locks on one deployment are in redissingle.go, the records
// in redisrecords.go.
type redisBackend struct {
	clients   []*pipe.Runner
	rs        *redsync.Redsync // Redlock only
	quorum    int
	mutexOpts []redsync.Option
	cmdTO     time.Duration
	fenceMs   int64

	// One deployment: the lock's TTL, the bound of an acquire call, and
	// the script arguments every request passes.
	ttl       time.Duration
	acquireTO time.Duration
	ttlArg    any // TTL in ms
	fenceArg  any // fence retention in ms
}

func newRedisBackend(clients []*pipe.Runner, o *Options) *redisBackend {
	b := &redisBackend{
		clients:  clients,
		quorum:   len(clients)/2 + 1,
		cmdTO:    o.CommandTimeout,
		fenceMs:  o.FenceRetention.Milliseconds(),
		ttl:      o.TTL,
		ttlArg:   o.TTL.Milliseconds(),
		fenceArg: o.FenceRetention.Milliseconds(),
	}
	// Each acquire attempt is bounded by TTL*factor (redsync's timeout
	// factor): within the command timeout and at most half the TTL.
	factor := min(0.5, float64(o.CommandTimeout)/float64(o.TTL))
	b.acquireTO = time.Duration(int64(float64(o.TTL) * factor))
	if len(clients) == 1 {
		return b // redissingle.go: no redsync
	}
	pools := make([]rsredis.Pool, len(clients))
	for i, c := range clients {
		pools[i] = &fencedPool{Pool: goredis.NewPool(c.Client()), client: c, node: i, b: b}
	}
	b.rs = redsync.New(pools...)
	b.mutexOpts = []redsync.Option{
		redsync.WithExpiry(o.TTL),
		redsync.WithTries(1),
		redsync.WithTimeoutFactor(factor),
	}
	return b
}

func (b *redisBackend) local() bool { return false }

// attempt collects, per node, what the acquire script said during one
// redsync TryLock: the fencing token drawn, or the holder's remaining TTL.
// Each node's goroutine writes only its own slot; redsync waits for all of
// them before it returns, which orders the writes before our reads.
type attempt struct{ nodes []nodeResult }

type nodeResult struct {
	answered bool
	taken    bool   // we took the lock on this node
	value    int64  // fencing token when taken, else the lock's PTTL (ms)
	holder   string // the other holder's lock value, when not taken
}

type attemptKey struct{}

// fencedPool is redsync's go-redis v9 pool with two changes: SETNX is done
// by acquire.lua, which also draws the fencing token in the same round
// trip, and both it and redsync's own scripts (extend, release) go through
// the node's pipe.Runner, auto-pipelined or not. Everything else (quorum,
// drift, the scripts themselves) is redsync's own.
type fencedPool struct {
	rsredis.Pool
	client *pipe.Runner
	node   int
	b      *redisBackend
}

func (p *fencedPool) Get(ctx context.Context) (rsredis.Conn, error) {
	c, err := p.Pool.Get(ctx)
	if err != nil {
		return nil, err
	}
	return &fencedConn{Conn: c, ctx: ctx, p: p}, nil
}

type fencedConn struct {
	rsredis.Conn
	ctx context.Context
	p   *fencedPool
}

// Eval runs one of redsync's scripts (release, extend) as redsync's
// go-redis pool does, through the node's Runner.
func (c *fencedConn) Eval(script *rsredis.Script, keysAndArgs ...any) (any, error) {
	args := make([]any, 3, 3+len(keysAndArgs))
	args[2] = script.KeyCount
	return c.p.client.EvalArgs(c.ctx, script.Hash, script.Src, append(args, keysAndArgs...))
}

func (c *fencedConn) SetNX(name, value string, expiry time.Duration) (bool, error) {
	res, err := acquireScript.Run(c.ctx, c.p.client, []string{name, name + fenceSuffix},
		value, expiry.Milliseconds(), c.p.b.fenceMs).Slice()
	if err != nil {
		return false, err
	}
	var nr nodeResult
	if len(res) >= 2 {
		flag, _ := res[0].(int64)
		nr.value, _ = res[1].(int64)
		nr.answered, nr.taken = true, flag == 1
		if len(res) >= 3 {
			nr.holder, _ = res[2].(string)
		}
	}
	if !nr.answered {
		return false, fmt.Errorf("lockhttp: acquire script returned %v", res)
	}
	if a, ok := c.ctx.Value(attemptKey{}).(*attempt); ok {
		a.nodes[c.p.node] = nr
	}
	return nr.taken, nil
}

// errSplit is a Redlock attempt that found no holder with a quorum and got
// no quorum itself: concurrent acquirers split the masters between them.
// Somebody must win, so it is retried after a random pause even when failing
// fast.
var errSplit = errors.New("lockhttp: split vote")

// splitRetries bounds the retries of split votes; splitDelay spreads them
// with a jittered exponential backoff (at most about 1.5s in all), so that
// a crowd of identical requests thins out until one of them wins.
const splitRetries = 12

func splitDelay(attempt int) time.Duration {
	ceil := min(200*time.Millisecond, 5*time.Millisecond<<min(attempt, 8))
	return time.Millisecond + rand.N(ceil)
}

func (b *redisBackend) lock(ctx context.Context, name string, wait time.Duration) (lease, time.Duration, error) {
	var deadline time.Time
	if wait > 0 {
		deadline = time.Now().Add(wait)
	}
	backoff := 10 * time.Millisecond
	splits := 0
	for {
		l, retry, err := b.try(ctx, name)
		var d time.Duration
		switch {
		case errors.Is(err, errSplit) && splits < splitRetries:
			d = splitDelay(splits)
			splits++
		case errors.Is(err, errSplit), errors.Is(err, errTaken):
			// Held, or still split after the retries: contention.
			left := time.Until(deadline)
			if wait <= 0 || left <= 0 {
				return nil, retry, errTaken
			}
			// A jittered backoff, never past the holder's expiry or our
			// deadline.
			d = backoff/2 + rand.N(backoff/2+1)
			d = min(d, left, max(retry, time.Millisecond))
			backoff = min(backoff*2, 200*time.Millisecond)
		default:
			return l, retry, err
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, retry, errTaken
		case <-t.C:
		}
	}
}

// try makes one attempt at name's lock.
func (b *redisBackend) try(ctx context.Context, name string) (lease, time.Duration, error) {
	if len(b.clients) == 1 {
		return b.tryLockOne(ctx, name)
	}
	return b.tryLock(ctx, name)
}

// tryLock makes one attempt at name's lock on the Redlock masters.
func (b *redisBackend) tryLock(ctx context.Context, name string) (lease, time.Duration, error) {
	a := &attempt{nodes: make([]nodeResult, len(b.clients))}
	m := b.rs.NewMutex(name, b.mutexOpts...)
	err := m.TryLockContext(context.WithValue(ctx, attemptKey{}, a))
	if err == nil {
		var tok int64
		for _, n := range a.nodes {
			if n.taken && n.value > tok {
				tok = n.value
			}
		}
		if len(b.clients) > 1 {
			if err := b.raiseFence(ctx, name, tok); err != nil {
				b.release(ctx, m)
				return nil, 0, err
			}
		}
		return &redisLease{m: m, tok: tok, b: b}, 0, nil
	}
	if ctx.Err() != nil {
		return nil, 0, ctx.Err()
	}
	// Classify from what each node said: one holder on a quorum is
	// contention; too few nodes answering is an outage; anything else is a
	// split between concurrent acquirers.
	var (
		answered int
		pttl     int64
		holders  = make(map[string]int, len(a.nodes))
		top      int
	)
	for _, n := range a.nodes {
		if !n.answered {
			continue
		}
		answered++
		if n.taken {
			continue
		}
		pttl = max(pttl, n.value)
		holders[n.holder]++
		top = max(top, holders[n.holder])
	}
	switch {
	case top >= b.quorum:
		return nil, time.Duration(pttl) * time.Millisecond, errTaken
	case answered < b.quorum || top == 0:
		return nil, 0, fmt.Errorf("%w: %w", errQuorum, err)
	}
	return nil, time.Duration(pttl) * time.Millisecond, errSplit
}

// raiseFence makes a token drawn on a quorum of Redlock masters known to a
// quorum: any later quorum overlaps it, so later tokens are higher.
func (b *redisBackend) raiseFence(ctx context.Context, name string, tok int64) error {
	cctx, cancel := context.WithTimeout(ctx, b.cmdTO)
	defer cancel()
	errs := make([]error, len(b.clients))
	each(len(b.clients), func(i int) {
		errs[i] = raiseFenceScript.Run(cctx, b.clients[i], []string{name + fenceSuffix}, tok, b.fenceMs).Err()
	})
	return b.quorumErr(errs)
}

func (b *redisBackend) quorumErr(errs []error) error {
	ok := 0
	for _, e := range errs {
		if e == nil {
			ok++
		}
	}
	if ok >= b.quorum {
		return nil
	}
	return fmt.Errorf("%w: %w", errQuorum, errors.Join(errs...))
}

func (b *redisBackend) release(ctx context.Context, m *redsync.Mutex) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cmdTO)
	defer cancel()
	_, _ = m.UnlockContext(cctx)
}

type redisLease struct {
	m   *redsync.Mutex
	tok int64
	b   *redisBackend
}

func (l *redisLease) fence() int64 { return l.tok }

func (l *redisLease) until() time.Time { return l.m.Until() }

// extend renews the lock on a quorum. When more nodes than a quorum can
// spare answered that the lock is not ours, it is lost for sure
// (errNotOurs); any other failure leaves its state unknown.
func (l *redisLease) extend(ctx context.Context) error {
	ok, err := l.m.ExtendContext(ctx)
	if ok {
		return nil
	}
	if err == nil {
		err = redsync.ErrExtendFailed
	}
	if nodesTaken(err) > len(l.b.clients)-l.b.quorum {
		return fmt.Errorf("%w: %w: %w", ErrLockLost, errNotOurs, err)
	}
	return fmt.Errorf("%w: %w", errQuorum, err)
}

// nodesTaken counts the nodes that redsync reports holding another value.
func nodesTaken(err error) int {
	var taken *redsync.ErrTaken
	if errors.As(err, &taken) {
		return len(taken.Nodes)
	}
	n := 0
	var walk func(error)
	walk = func(e error) {
		var nt *redsync.ErrNodeTaken
		switch x := e.(type) {
		case nil:
		case interface{ Unwrap() []error }:
			for _, c := range x.Unwrap() {
				walk(c)
			}
		default:
			if errors.As(e, &nt) {
				n++
			}
		}
	}
	walk(err)
	return n
}

func (l *redisLease) unlock(ctx context.Context) error {
	ok, err := l.m.UnlockContext(ctx)
	if ok || errors.Is(err, redsync.ErrLockAlreadyExpired) {
		return nil
	}
	return err
}
