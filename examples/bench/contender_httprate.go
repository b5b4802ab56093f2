package main

import (
	"context"
	"net/http"
	"time"

	"github.com/go-chi/httprate"
	httprateredis "github.com/go-chi/httprate-redis"
)

// go-chi/httprate with the httprate-redis counter, keyed by IP (one key on
// loopback), a limit never reached. The local in-memory fallback is off so
// that every request really goes to Redis.
func init() {
	register(contender{
		order: 31, name: "peer go-chi/httprate-redis", group: "peer", baseline: "raw EVALSHA", minCmds: 2,
		setup: func(_ context.Context, e env) (http.Handler, func(), error) {
			mw := httprate.Limit(1<<30, time.Hour,
				httprate.WithKeyByIP(),
				httprateredis.WithRedisLimitCounter(&httprateredis.Config{
					Client: e.client, PrefixKey: e.prefix + "httprate", FallbackDisabled: true,
				}))
			return mw(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeBody(w, e.body) })), noop, nil
		},
	})
}
