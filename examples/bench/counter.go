package main

import (
	"context"
	"net"
	"strings"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// rtCounter is a go-redis hook counting what a contender's client sends to
// Redis, in two ways:
//
//   - rt, round trips (writes): one per command sent on its own and one per
//     pipeline, transaction or auto-pipelined batch (a batch is one write
//     and one read on the connection, however many commands it carries);
//   - cmds, commands: every command, alone or inside a pipeline, batch or
//     transaction (MULTI and EXEC included).
//
// Without pipelining the two are equal. An auto-pipeliner runs each batch
// it flushes through the client's pipeline hook (a batch of one may run
// through the command hook instead), so under concurrency rt falls below
// cmds while cmds still counts what Redis has to execute.
//
// Connection setup, which go-redis runs through the same hooks when it opens
// a pooled connection (HELLO, AUTH, SELECT, CLIENT
// SETINFO/SETNAME/TRACKING, READONLY), is not counted: it is paid once per
// connection, not per request.
type rtCounter struct{ rt, cmds atomic.Int64 }

// rtCount is a reading of an rtCounter, or the difference of two.
type rtCount struct{ rt, cmds int64 }

func (c *rtCounter) load() rtCount { return rtCount{rt: c.rt.Load(), cmds: c.cmds.Load()} }

func (a rtCount) sub(b rtCount) rtCount { return rtCount{rt: a.rt - b.rt, cmds: a.cmds - b.cmds} }

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
			c.rt.Add(1)
			c.cmds.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (c *rtCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var n int64
		for _, cmd := range cmds {
			if !connSetup(cmd) {
				n++
			}
		}
		if n > 0 {
			c.rt.Add(1)
			c.cmds.Add(n)
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
