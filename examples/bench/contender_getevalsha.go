package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aura-platform/redishttp/examples/server/aura"
)

// weatherLimit is the hourly limit the weather contenders announce.
const weatherLimit = 1_000_000_000_000

// weatherJSON is the body the example server sends for weatherPath.
func weatherJSON(ctx context.Context) ([]byte, error) {
	wx, err := aura.NewUpstream(0).Weather(ctx, 52.52, 13.41)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(wx)
	if err != nil {
		return nil, err
	}
	return append(body, '\n'), nil
}

// weatherETag is the strong validator the example server's cache gives body.
func weatherETag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
}

// setWeatherHeaders sets the rate-limit and cache headers the example
// server's weather route sends, for the n-th request of the hour.
func setWeatherHeaders(hd http.Header, n int64, etag string, size int) {
	now := time.Now().Unix()
	left := 3600 - now%3600
	rem := strconv.FormatInt(weatherLimit-n, 10)
	hd.Set("X-RateLimit-Limit", strconv.FormatInt(weatherLimit, 10))
	hd.Set("X-RateLimit-Remaining", rem)
	hd.Set("X-RateLimit-Reset", strconv.FormatInt(now+left, 10))
	hd.Set("RateLimit-Policy", `"api";q=`+strconv.FormatInt(weatherLimit, 10)+";w=3600")
	hd.Set("RateLimit", `"api";r=`+rem+";t="+strconv.FormatInt(left, 10))
	hd.Set("X-Cache", "HIT")
	hd.Set("Cache-Status", "aura; hit")
	hd.Set("Age", "0")
	hd.Set("ETag", etag)
	hd.Set("Content-Type", "application/json")
	hd.Set("Content-Length", strconv.Itoa(size))
}

// rawGetEvalSha runs the limiter script, reads the weather JSON with one
// GET and sends the example server's headers.
func rawGetEvalSha(ctx context.Context, e env, pipelined bool) (http.Handler, func(), error) {
	c, err := rawTarget(e, pipelined)
	if err != nil {
		return nil, nil, err
	}
	bodyKey, countKey := e.prefix+"body", e.prefix+"count"
	body, err := weatherJSON(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := e.client.Set(ctx, bodyKey, body, time.Hour).Err(); err != nil {
		return nil, nil, err
	}
	if err := limiterScript.Load(ctx, e.client).Err(); err != nil {
		return nil, nil, err
	}
	etag := weatherETag(body)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := limiterScript.Run(r.Context(), c, []string{countKey}, 3600000).Int64()
		if err != nil {
			http.Error(w, "redis", http.StatusBadGateway)
			return
		}
		b, err := c.Get(r.Context(), bodyKey).Bytes()
		if err != nil {
			http.Error(w, "redis", http.StatusBadGateway)
			return
		}
		setWeatherHeaders(w.Header(), n, etag, len(b))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
	})
	return h, func() { e.client.Del(context.Background(), bodyKey, countKey) }, nil
}

// raw GET + EVALSHA + headers: what a careful hand-written handler does for
// a cached, rate-limited route: one EVALSHA for the limit, one GET for the
// cached body (the example server's weather JSON for the same coordinates),
// and the rate-limit and cache headers the example server's weather route
// sends (X-RateLimit-*, RateLimit, RateLimit-Policy, X-Cache, Cache-Status,
// Age, ETag). The same-work baseline of the full stack; the pipelined twin,
// both commands through the client's auto-pipeliner, is the baseline of the
// pipelined full stack.
//
// bare (weather JSON): the same body and headers written with no Redis at
// all: the ceiling of the weather contenders.
func init() {
	register(contender{
		order: 13, name: "raw GET + EVALSHA + headers", group: "raw", minCmds: 2,
		path: weatherPath, check: checkWeather, ceiling: "bare (weather JSON)",
		setup: func(ctx context.Context, e env) (http.Handler, func(), error) { return rawGetEvalSha(ctx, e, false) },
	})
	register(contender{
		order: 18, name: "raw GET + EVALSHA + headers (pipelined)", group: "raw", minCmds: 2,
		path: weatherPath, check: checkWeather, ceiling: "bare (weather JSON)",
		setup: func(ctx context.Context, e env) (http.Handler, func(), error) { return rawGetEvalSha(ctx, e, true) },
	})
	register(contender{
		order: 1, name: "bare (weather JSON)", group: "ceiling",
		path: weatherPath, check: checkWeather,
		setup: func(ctx context.Context, _ env) (http.Handler, func(), error) {
			body, err := weatherJSON(ctx)
			if err != nil {
				return nil, nil, err
			}
			etag := weatherETag(body)
			var n atomic.Int64 // the request count the rate-limit headers announce
			h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				setWeatherHeaders(w.Header(), n.Add(1), etag, len(body))
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(body)
			})
			return h, noop, nil
		},
	})
}
