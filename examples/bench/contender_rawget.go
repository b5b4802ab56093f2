package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
)

// rawCmds is what the hand-written raw contenders call: the contender's
// client, or its auto-pipeliner.
type rawCmds interface {
	Get(ctx context.Context, key string) *redis.StringCmd
	SetNX(ctx context.Context, key string, value any, expiration time.Duration) *redis.BoolCmd
	redis.Scripter
}

// rawTarget returns the contender's client, or, when pipelined, the
// client's blocking auto-pipeliner (client.AutoPipeline()): each call still
// blocks until its reply, but the calls of concurrent requests are written
// to Redis together and their replies read together. The client owns and
// closes it.
func rawTarget(e env, pipelined bool) (rawCmds, error) {
	if !pipelined {
		return e.client, nil
	}
	ap, err := e.client.AutoPipeline()
	if err != nil {
		return nil, fmt.Errorf("auto-pipeliner: %w", err)
	}
	return ap, nil
}

// rawGet serves the body read with one GET per request.
func rawGet(ctx context.Context, e env, pipelined bool) (http.Handler, func(), error) {
	c, err := rawTarget(e, pipelined)
	if err != nil {
		return nil, nil, err
	}
	key := e.prefix + "body"
	if err := e.client.Set(ctx, key, e.body, time.Hour).Err(); err != nil {
		return nil, nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := c.Get(r.Context(), key).Bytes()
		if err != nil {
			http.Error(w, "redis", http.StatusBadGateway)
			return
		}
		writeBody(w, b)
	})
	return h, func() { e.client.Del(context.Background(), key) }, nil
}

// raw GET: one go-redis GET of the body per request; the same-work
// baseline of every cache hit. The pipelined twin sends it through the
// client's auto-pipeliner: the baseline of the pipelined cache hit.
func init() {
	register(contender{
		order: 10, name: "raw GET", group: "raw", minCmds: 1,
		setup: func(ctx context.Context, e env) (http.Handler, func(), error) { return rawGet(ctx, e, false) },
	})
	register(contender{
		order: 15, name: "raw GET (pipelined)", group: "raw", minCmds: 1,
		setup: func(ctx context.Context, e env) (http.Handler, func(), error) { return rawGet(ctx, e, true) },
	})
}
