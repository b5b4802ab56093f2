package lockhttp

import (
	"context"
	"sync"
	"time"

	"github.com/aura-platform/redishttp/internal/idempotency"
)

// backend is where locks and idempotency records live: Redis (one node, a
// cluster, or Redlock masters) or, when chosen, process memory.
type backend interface {
	// lock takes name's lock, waiting up to wait for a holder to let go.
	// It returns errTaken (with the holder's remaining time) when the lock
	// stayed held, or an error wrapping errQuorum when Redis failed.
	lock(ctx context.Context, name string, wait time.Duration) (lease, time.Duration, error)
	// claim claims an idempotency record for a request with fingerprint fp,
	// storing running as its value, or reports the record that exists.
	claim(ctx context.Context, key string, fp idempotency.Fingerprint, running []byte, ttl time.Duration) (claimResult, error)
	// complete stores a completed record unless one is there already. It
	// is idempotent: a retry after a partly applied attempt is safe.
	complete(ctx context.Context, key string, rec []byte, retention time.Duration) error
	// unclaim deletes the claim if it is still running.
	unclaim(ctx context.Context, key string, running []byte) error
	// extendClaim extends the claim if it is still ours; an error wrapping
	// errNotOurs means it is not.
	extendClaim(ctx context.Context, key string, running []byte, ttl time.Duration) error
	// local reports whether this is the process-local backend.
	local() bool
}

// lease is a held lock.
type lease interface {
	// fence returns the lock's fencing token.
	fence() int64
	// extend renews the lock for another TTL. An error wrapping errNotOurs
	// means it is lost; any other error leaves its state unknown.
	extend(ctx context.Context) error
	// until is when the lock stops being valid by our clock unless
	// extended: the start of the last successful acquisition or extension
	// plus TTL, less the clock drift allowance.
	until() time.Time
	// unlock releases the lock if it is still held.
	unlock(ctx context.Context) error
}

type claimState uint8

const (
	claimed   claimState = iota // the claim is ours
	completed                   // a completed response is stored: replay it or 422
	running                     // another request with this key is running
)

type claimResult struct {
	state    claimState
	rec      idempotency.Record // the completed record, when state == completed
	mismatch bool               // the existing record has another fingerprint
}

// each runs fn(i) for i in [0, n) concurrently, fn(0) on the calling
// goroutine (so one node costs no goroutine), and waits for them all.
func each(n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		wg.Go(func() { fn(i) })
	}
	fn(0)
	wg.Wait()
}
