package lockhttp

import (
	"context"
	"sync/atomic"
)

type fenceKey struct{}

// Fence returns the fencing token of the lock held for the request whose
// context is ctx, and whether there is one. Tokens of one lock key only
// grow: pass the token to your storage with every write and have it refuse
// a token lower than the highest it has seen (see the package examples), so
// a handler that lost its lock cannot overwrite a newer holder's work.
func Fence(ctx context.Context) (int64, bool) {
	t, ok := ctx.Value(fenceKey{}).(int64)
	return t, ok
}

// handlerCtx is the context a Locker's handler runs with: the request's
// context made cancellable (cancelled with ErrLockLost when the lock is
// lost), answering Fence with the lock's token and, for an idempotent
// request, NotApplied with its flag. It is one value where a
// context.WithValue per item would be two more allocations per request.
type handlerCtx struct {
	context.Context
	tok        int64
	notApplied *atomic.Bool // nil without an Idempotency-Key
}

func (c *handlerCtx) Value(key any) any {
	switch key.(type) {
	case fenceKey:
		return c.tok
	case notAppliedKey:
		if c.notApplied != nil {
			return c.notApplied
		}
	}
	return c.Context.Value(key)
}

type notAppliedKey struct{}

// NotApplied tells the Locker serving the request whose context is ctx that
// the handler changed nothing: when the handler returns, its response is
// not stored and the request's idempotency claim is released, so a retry
// with the same Idempotency-Key runs the handler again at once. Call it
// only when you know no write took effect (the store refused it, was never
// asked, or a read-back shows nothing was written). Without it, a response
// that cannot be replayed (a 5xx) keeps the claim until it expires, since
// the Locker cannot know whether the handler committed. It does nothing
// outside a Locker's handler or for a request without an Idempotency-Key.
func NotApplied(ctx context.Context) {
	if f, ok := ctx.Value(notAppliedKey{}).(*atomic.Bool); ok {
		f.Store(true)
	}
}
