package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/aura-platform/redishttp/examples/server/aura"
)

// raw GET + EVALSHA + headers: what a careful hand-written handler does for
// a cached, rate-limited route: one EVALSHA for the limit, one GET for the
// cached body (the example server's weather JSON for the same coordinates),
// and the rate-limit and cache headers the example server's weather route
// sends (X-RateLimit-*, RateLimit, RateLimit-Policy, X-Cache, Cache-Status,
// Age, ETag). The same-work baseline of the full stack.
func init() {
	register(contender{
		order: 13, name: "raw GET + EVALSHA + headers", group: "raw", minRT: 2,
		path: weatherPath, check: checkWeather,
		setup: func(ctx context.Context, e env) (http.Handler, func(), error) {
			bodyKey, countKey := e.prefix+"body", e.prefix+"count"
			wx, err := aura.NewUpstream(0).Weather(ctx, 52.52, 13.41)
			if err != nil {
				return nil, nil, err
			}
			body, err := json.Marshal(wx)
			if err != nil {
				return nil, nil, err
			}
			body = append(body, '\n')
			if err := e.client.Set(ctx, bodyKey, body, time.Hour).Err(); err != nil {
				return nil, nil, err
			}
			if err := limiterScript.Load(ctx, e.client).Err(); err != nil {
				return nil, nil, err
			}
			const limit = 1_000_000_000_000
			sum := sha256.Sum256(body)
			etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n, err := limiterScript.Run(r.Context(), e.client, []string{countKey}, 3600000).Int64()
				if err != nil {
					http.Error(w, "redis", http.StatusBadGateway)
					return
				}
				b, err := e.client.Get(r.Context(), bodyKey).Bytes()
				if err != nil {
					http.Error(w, "redis", http.StatusBadGateway)
					return
				}
				now := time.Now().Unix()
				left := 3600 - now%3600
				rem := strconv.FormatInt(limit-n, 10)
				hd := w.Header()
				hd.Set("X-RateLimit-Limit", strconv.FormatInt(limit, 10))
				hd.Set("X-RateLimit-Remaining", rem)
				hd.Set("X-RateLimit-Reset", strconv.FormatInt(now+left, 10))
				hd.Set("RateLimit-Policy", `"api";q=`+strconv.FormatInt(limit, 10)+";w=3600")
				hd.Set("RateLimit", `"api";r=`+rem+";t="+strconv.FormatInt(left, 10))
				hd.Set("X-Cache", "HIT")
				hd.Set("Cache-Status", "aura; hit")
				hd.Set("Age", "0")
				hd.Set("ETag", etag)
				hd.Set("Content-Type", "application/json")
				hd.Set("Content-Length", strconv.Itoa(len(b)))
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(b)
			})
			return h, func() { e.client.Del(context.Background(), bodyKey, countKey) }, nil
		},
	})
}
