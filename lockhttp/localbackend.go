package lockhttp

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aura-platform/redishttp/internal/idempotency"
	"github.com/aura-platform/redishttp/internal/memory"
)

// localBackend is the explicitly chosen single-instance backend: a
// process-local keyed mutex for locks, an in-memory store for idempotency
// records, and a process-wide counter (started at the clock in
// microseconds, like the Redis tokens) for fencing.
type localBackend struct {
	mu         *memory.KeyedMutex
	recs       *memory.Store
	recMu      sync.Mutex // makes claim/complete/unclaim atomic on recs
	tok        atomic.Int64
	retryAfter time.Duration
}

func newLocalBackend(o *Options) *localBackend {
	b := &localBackend{
		mu:         memory.NewKeyedMutex(),
		recs:       memory.NewStore(0),
		retryAfter: o.RetryAfter,
	}
	b.tok.Store(time.Now().UnixMicro())
	return b
}

func (b *localBackend) local() bool { return true }

func (b *localBackend) lock(ctx context.Context, name string, wait time.Duration) (lease, time.Duration, error) {
	if wait <= 0 {
		unlock, ok := b.mu.TryLock(name)
		if !ok {
			return nil, b.retryAfter, errTaken
		}
		return &localLease{release: unlock, tok: b.tok.Add(1)}, 0, nil
	}
	cctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	unlock, err := b.mu.Lock(cctx, name)
	if err != nil {
		return nil, b.retryAfter, errTaken
	}
	return &localLease{release: unlock, tok: b.tok.Add(1)}, 0, nil
}

type localLease struct {
	release func()
	tok     int64
}

// never is the validity of a local lease: it cannot expire.
var never = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

func (l *localLease) until() time.Time             { return never }
func (l *localLease) fence() int64                 { return l.tok }
func (l *localLease) extend(context.Context) error { return nil }
func (l *localLease) unlock(context.Context) error { l.release(); return nil }

func (b *localBackend) claim(_ context.Context, key string, fp idempotency.Fingerprint, run []byte, ttl time.Duration) (claimResult, error) {
	b.recMu.Lock()
	defer b.recMu.Unlock()
	v, ok := b.recs.Get(key)
	if !ok {
		b.recs.Set(key, run, ttl)
		return claimResult{state: claimed}, nil
	}
	rec, err := idempotency.Decode(v)
	if err != nil {
		b.recs.Delete(key)
		return claimResult{}, err
	}
	if rec.Completed {
		return claimResult{state: completed, rec: rec, mismatch: rec.FP != fp}, nil
	}
	return claimResult{state: running, mismatch: rec.FP != fp}, nil
}

func (b *localBackend) complete(_ context.Context, key string, rec []byte, retention time.Duration) error {
	b.recMu.Lock()
	defer b.recMu.Unlock()
	if v, ok := b.recs.Get(key); ok && !idempotency.IsRunning(v) {
		return nil
	}
	b.recs.Set(key, rec, retention)
	return nil
}

func (b *localBackend) unclaim(_ context.Context, key string, run []byte) error {
	b.recMu.Lock()
	defer b.recMu.Unlock()
	if v, ok := b.recs.Get(key); ok && bytes.Equal(v, run) {
		b.recs.Delete(key)
	}
	return nil
}

func (b *localBackend) extendClaim(_ context.Context, key string, run []byte, ttl time.Duration) error {
	b.recMu.Lock()
	defer b.recMu.Unlock()
	if v, ok := b.recs.Get(key); ok && bytes.Equal(v, run) {
		b.recs.Set(key, run, ttl)
		return nil
	}
	return fmt.Errorf("%w: %w: idempotency claim", ErrLockLost, errNotOurs)
}

func (b *localBackend) close() error { return b.recs.Close() }
