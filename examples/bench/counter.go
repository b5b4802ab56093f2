package main

import (
	"context"
	"net"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// rtCounter is a go-redis hook counting Redis round trips: one per command
// and one per pipeline or transaction (a pipeline is one write and one read
// on the connection). Connection setup (dial, HELLO) is not counted.
type rtCounter struct{ n atomic.Int64 }

func (c *rtCounter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

func (c *rtCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *rtCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

// newCountedClient returns a fresh client for one contender and its counter.
func newCountedClient(addr string) (*redis.Client, *rtCounter) {
	c := redis.NewClient(&redis.Options{Addr: addr})
	rc := &rtCounter{}
	c.AddHook(rc)
	return c, rc
}
