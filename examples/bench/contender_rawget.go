package main

import (
	"context"
	"net/http"
	"time"
)

// raw GET: one go-redis GET of the body per request; the same-work
// baseline of every cache hit.
func init() {
	register(contender{
		order: 10, name: "raw GET", group: "raw", minRT: 1,
		setup: func(ctx context.Context, e env) (http.Handler, func(), error) {
			key := e.prefix + "body"
			if err := e.client.Set(ctx, key, e.body, time.Hour).Err(); err != nil {
				return nil, nil, err
			}
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, err := e.client.Get(r.Context(), key).Bytes()
				if err != nil {
					http.Error(w, "redis", http.StatusBadGateway)
					return
				}
				writeBody(w, b)
			})
			return h, func() { e.client.Del(context.Background(), key) }, nil
		},
	})
}
