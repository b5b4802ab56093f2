package main

import (
	"context"
	"net"
	"strings"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// rtCounter is a go-redis hook counting Redis round trips: one per command
// and one per pipeline or transaction (a pipeline is one write and one read
// on the connection). Connection setup, which go-redis runs through the same
// hooks when it opens a pooled connection (HELLO, AUTH, SELECT, CLIENT
// SETINFO/SETNAME/TRACKING, READONLY), is not counted: it is paid once per
// connection, not per request.
type rtCounter struct{ n atomic.Int64 }

// connSetup reports whether cmd is one of the commands go-redis sends to
// initialise a new connection.
func connSetup(cmd redis.Cmder) bool {
	switch strings.ToLower(cmd.Name()) {
	case "hello", "auth", "select", "readonly":
		return true
	case "client":
		if args := cmd.Args(); len(args) > 1 {
			sub, _ := args[1].(string)
			switch strings.ToLower(sub) {
			case "setinfo", "setname", "tracking", "maint_notifications":
				return true
			}
		}
	}
	return false
}

func (c *rtCounter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

func (c *rtCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !connSetup(cmd) {
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (c *rtCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			if !connSetup(cmd) {
				c.n.Add(1)
				break
			}
		}
		return next(ctx, cmds)
	}
}

// newCountedClient returns a fresh client for one contender and its counter.
func newCountedClient(addr string) (*redis.Client, *rtCounter) {
	// ContextTimeoutEnabled as fallback.Config.NewClient sets it, so every
	// contender runs on the client configuration the toolkit recommends.
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	rc := &rtCounter{}
	c.AddHook(rc)
	return c, rc
}
