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

func withFence(ctx context.Context, tok int64) context.Context {
	return context.WithValue(ctx, fenceKey{}, tok)
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
