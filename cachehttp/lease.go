package cachehttp

import (
	"context"
	"crypto/rand"
	"time"
)

// newToken returns a fresh lease placeholder.
func newToken() []byte {
	b := make([]byte, 17)
	b[0] = leaseMagic
	_, _ = rand.Read(b[1:])
	return b
}

// waitFill polls for another instance's fill until FillWait passes or ctx
// ends. When the lease disappears without a fill, it takes the lease itself
// and returns its token.
func (c *Cache) waitFill(ctx context.Context, bk backend, k key, token []byte) ([]byte, []byte) {
	deadline := time.Now().Add(c.opts.FillWait)
	d := 5 * time.Millisecond
	for time.Now().Before(deadline) {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil
		case <-t.C:
		}
		if d < 100*time.Millisecond {
			d *= 2
		}
		rctx, cancel := c.redisCtx(ctx)
		v, err := bk.fetch(rctx, k, token, c.opts.LeaseTTL)
		cancel()
		if err != nil {
			return nil, nil
		}
		if v == nil {
			return nil, token
		}
		if !isLease(v) {
			return v, nil
		}
	}
	return nil, nil
}
