package lockhttp

import "context"

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
