package main

import (
	"context"
	"net/http"
	"time"

	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/middleware/stdlib"
	sredis "github.com/ulule/limiter/v3/drivers/store/redis"
)

// ulule/limiter: its stdlib middleware with its Redis store, one policy
// keyed by client IP (all loopback, so one counter), a limit never reached.
func init() {
	register(contender{
		order: 30, name: "peer ulule/limiter", group: "peer", baseline: "raw EVALSHA", minCmds: 1,
		setup: func(_ context.Context, e env) (http.Handler, func(), error) {
			store, err := sredis.NewStoreWithOptions(e.client, limiter.StoreOptions{Prefix: e.prefix, MaxRetry: 3})
			if err != nil {
				return nil, nil, err
			}
			lim := limiter.New(store, limiter.Rate{Period: time.Hour, Limit: 1 << 40})
			mw := stdlib.NewMiddleware(lim)
			return mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeBody(w, e.body) })), noop, nil
		},
	})
}
