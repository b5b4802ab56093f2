// Command proxy is a standalone shared HTTP cache: a cachehttp route in RFC
// 9111 mode in front of an httputil.ReverseProxy. Freshness, validation,
// Vary and invalidation follow the origin's headers as RFC 9111 says; the
// cache lives in Redis, shared by every proxy instance, or in memory when
// no Redis is configured.
//
//	go run ./examples/proxy -origin http://127.0.0.1:9000
//	REDIS_URL=redis://127.0.0.1:6379/0 go run ./examples/proxy -origin http://127.0.0.1:9000 -listen :8081
//
// Redis is chosen as for every redishttp program (REDIS_URL,
// REDIS_CLUSTER_ADDRS, REDIS_SENTINEL_ADDRS with REDIS_SENTINEL_MASTER).
// Flags:
//
//	-origin URL         the origin server (required)
//	-listen ADDR        where to listen (default :8081)
//	-name NAME          this cache's name in Cache-Status (default "proxy")
//	-prefix PREFIX      Redis key prefix (default "proxy:")
//	-max-body BYTES     largest response body stored (default 8 MiB)
//	-heuristic-cap DUR  longest heuristic freshness (default 24h)
//	-targeted NAMES     comma-separated targeted cache-control fields this cache obeys
//	                    over Cache-Control (RFC 9213), e.g. "Acme-CDN-Cache-Control,CDN-Cache-Control"
//	-stats-token TOKEN  serve /_cache/stats with this bearer token (at least 16 bytes; default off)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aura-platform/redishttp"
	"github.com/aura-platform/redishttp/cachehttp"
	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/statshttp"
	"github.com/redis/go-redis/v9"
)

func main() {
	if err := run(os.Args[1:], os.LookupEnv); err != nil {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		os.Exit(1)
	}
}

// config is what the flags set.
type config struct {
	origin, listen, name, prefix, statsToken string
	targeted                                 []string
	maxBody                                  int
	heuristicCap                             time.Duration
}

func parse(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	fs.StringVar(&c.origin, "origin", "", "the origin server URL (required)")
	fs.StringVar(&c.listen, "listen", ":8081", "listen address")
	fs.StringVar(&c.name, "name", "proxy", "this cache's name in Cache-Status")
	fs.StringVar(&c.prefix, "prefix", "proxy:", "Redis key prefix")
	fs.IntVar(&c.maxBody, "max-body", 8<<20, "largest response body stored, in bytes")
	fs.DurationVar(&c.heuristicCap, "heuristic-cap", 24*time.Hour, "longest heuristic freshness")
	fs.StringVar(&c.statsToken, "stats-token", "", "serve /_cache/stats with this bearer token")
	targeted := fs.String("targeted", "", "targeted cache-control fields obeyed over Cache-Control, comma-separated")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	for _, n := range strings.Split(*targeted, ",") {
		if n = strings.TrimSpace(n); n != "" {
			c.targeted = append(c.targeted, n)
		}
	}
	if c.origin == "" {
		return c, errors.New("-origin is required")
	}
	return c, nil
}

// proxy is a built caching proxy.
type proxy struct {
	handler http.Handler
	kit     *redishttp.Kit
}

// Close releases the cache (not the Redis client).
func (p *proxy) Close() error { return p.kit.Close() }

// build makes the caching proxy for c on rdb (nil: in memory).
func build(c config, rdb redis.UniversalClient, logger *slog.Logger) (*proxy, error) {
	origin, err := url.Parse(c.origin)
	if err != nil || origin.Scheme == "" || origin.Host == "" {
		return nil, fmt.Errorf("-origin %q is not an absolute URL", c.origin)
	}
	kit, err := redishttp.New(rdb, redishttp.Options{Prefix: c.prefix, Logger: logger,
		Stats: statshttp.Options{Token: c.statsToken}})
	if err != nil {
		return nil, err
	}
	cache, err := kit.Cache(cachehttp.Options{Name: c.name})
	if err == nil {
		var route *cachehttp.RouteCache
		route, err = cache.NewRoute(cachehttp.Route{Name: "proxy", RFC9111: true, TTL: c.heuristicCap, MaxBody: c.maxBody,
			TargetedCacheControl: c.targeted})
		if err == nil {
			rp := &httputil.ReverseProxy{
				Rewrite: func(pr *httputil.ProxyRequest) {
					pr.SetURL(origin)
					pr.SetXForwarded()
				},
				ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
			}
			mux := http.NewServeMux()
			mux.Handle("/", route.Handler(rp))
			if c.statsToken != "" {
				mux.Handle("/_cache/stats", kit.Stats().StatsHandler())
			}
			return &proxy{handler: mux, kit: kit}, nil
		}
	}
	_ = kit.Close()
	return nil, err
}

func run(args []string, lookup func(string) (string, bool)) error {
	c, err := parse(args)
	if err != nil {
		return err
	}
	redisCfg, err := fallback.LoadConfig(lookup)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	rdb, err := redisCfg.NewClient()
	if err != nil {
		return err
	}
	if rdb != nil {
		defer rdb.Close()
	}
	p, err := build(c, rdb, logger)
	if err != nil {
		return err
	}
	defer p.Close()
	srv := &http.Server{Addr: c.listen, Handler: p.handler, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: time.Minute, WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	logger.Info("caching proxy listening", "listen", c.listen, "origin", c.origin, "redis", redisCfg.String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
