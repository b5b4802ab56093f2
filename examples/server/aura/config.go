package aura

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/ulule/limiter/v3"
)

// ErrConfig wraps every configuration error of the demo server except
// those of the Redis variables (REDIS_URL and the others read by
// fallback.LoadConfig), which wrap fallback.ErrInvalidOptions.
var ErrConfig = errors.New("aura: invalid configuration")

// minTokenLength is the shortest STATS_TOKEN statshttp accepts, in bytes.
const minTokenLength = 16

// Environment variables the demo reads beside fallback's Redis variables.
const (
	// EnvUpstashRedisURL is the Redis URL used when REDIS_URL is unset or
	// blank, as Upstash provides it.
	EnvUpstashRedisURL = "UPSTASH_REDIS_URL"
	// EnvEnableCache set to a false boolean ("false", "0") turns response
	// caching off; rate limits and locks still work.
	EnvEnableCache = "ENABLE_REDIS_CACHE"
	// EnvAutoPipeline ("1" or "0") turns go-redis auto-pipelining of the
	// per-request commands on or off.
	EnvAutoPipeline = "REDIS_AUTOPIPELINE"
)

// Config is the demo server's configuration, read from the environment by
// LoadConfig:
//
//	ADDR                    listen address (the -addr flag wins), default :8080
//	REDIS_URL, UPSTASH_REDIS_URL, REDIS_SENTINEL_ADDRS + REDIS_SENTINEL_MASTER, REDIS_CLUSTER_ADDRS
//	                        select Redis; none → embedded in-memory mode
//	ENABLE_REDIS_CACHE      "false" turns response caching off
//	STATS_TOKEN             bearer token for stats, metrics, dashboard and admin
//	                        routes, at least 16 bytes (LoadConfig refuses a
//	                        shorter one); a random one is generated and logged
//	                        when unset
//	CACHE_TTL_WEATHER, CACHE_TTL_NEWS, CACHE_TTL_SUBSCRIPTION, CACHE_TTL_OAUTH, CACHE_TTL_AI
//	                        TTL classes (10m, 15m, 5m, 10m, 1h)
//	UPSTREAM_LATENCY_SCALE  float scaling the simulated upstream latencies (default 1)
//	API_RATE_LIMIT          per-user limit on every /api/ route (default 1000-H)
//	AURA_RATE_LIMIT         per-user limit on POST /api/auras (default 100-H)
//	KEY_PREFIX              prefix of every Redis key the demo writes (default "aura:")
//	TRUSTED_PROXIES         comma-separated CIDRs whose X-Forwarded-For is believed
//	REDIS_COMMAND_TIMEOUT   per-command Redis budget on the request path before the
//	                        breaker counts a failure (default 150ms; raise it for a
//	                        Redis across a WAN, such as Upstash)
//	REDIS_AUTOPIPELINE      "1" sends the per-request Redis commands through go-redis's
//	                        auto-pipeliner, "0" does not (default: the library's
//	                        default, redishttp.Options.AutoPipeline)
type Config struct {
	Addr  string
	Redis fallback.Config
	// CacheDisabled is true when ENABLE_REDIS_CACHE is false: the routes
	// are served without caching (X-Cache: BYPASS).
	CacheDisabled  bool
	StatsToken     string
	TokenGenerated bool
	LatencyScale   float64
	APIRate        limiter.Rate
	APIRateText    string
	AuraRate       limiter.Rate
	AuraRateText   string
	KeyPrefix      string
	TrustedProxies []string
	CommandTimeout time.Duration
	// AutoPipeline is REDIS_AUTOPIPELINE.
	AutoPipeline bool
	lookup       func(string) (string, bool)
}

// LoadConfig reads the configuration through lookup (os.LookupEnv in main).
func LoadConfig(lookup func(string) (string, bool)) (Config, error) {
	get := func(k string) string {
		v, _ := lookup(k)
		return strings.TrimSpace(v)
	}
	c := Config{Addr: get("ADDR"), lookup: lookup, KeyPrefix: get("KEY_PREFIX")}
	if c.Addr == "" {
		c.Addr = ":8080"
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = "aura:"
	}
	var err error
	// REDIS_URL wins over UPSTASH_REDIS_URL; errors and Redis.String name
	// the one the URL came from.
	if c.Redis, err = fallback.LoadConfig(lookup, "REDIS_URL", EnvUpstashRedisURL); err != nil {
		return Config{}, err
	}
	if v := get(EnvEnableCache); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			raw, _ := lookup(EnvEnableCache)
			return Config{}, fmt.Errorf("%w: %s=%q is not a boolean", ErrConfig, EnvEnableCache, raw)
		}
		c.CacheDisabled = !on
	}
	c.StatsToken = get("STATS_TOKEN")
	if n := len(c.StatsToken); n > 0 && n < minTokenLength {
		return Config{}, fmt.Errorf("%w: STATS_TOKEN is %d bytes, need at least %d: the admin routes (stats, metrics, "+
			"dashboard, invalidation) must not be guessable; generate one with `openssl rand -hex 32`, "+
			"or leave STATS_TOKEN unset to have one generated and logged at startup", ErrConfig, n, minTokenLength)
	}
	if c.StatsToken == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		c.StatsToken, c.TokenGenerated = hex.EncodeToString(b), true
	}
	c.LatencyScale = 1
	if v := get("UPSTREAM_LATENCY_SCALE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1000 {
			return Config{}, fmt.Errorf("%w: UPSTREAM_LATENCY_SCALE=%q is not a float in [0, 1000]", ErrConfig, v)
		}
		c.LatencyScale = f
	}
	if c.APIRate, c.APIRateText, err = rateFromEnv(get, "API_RATE_LIMIT", "1000-H"); err != nil {
		return Config{}, err
	}
	if c.AuraRate, c.AuraRateText, err = rateFromEnv(get, "AURA_RATE_LIMIT", "100-H"); err != nil {
		return Config{}, err
	}
	c.CommandTimeout = 150 * time.Millisecond
	if v := get("REDIS_COMMAND_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Millisecond || d > time.Minute {
			return Config{}, fmt.Errorf("%w: REDIS_COMMAND_TIMEOUT=%q is not a duration between 1ms and 1m", ErrConfig, v)
		}
		c.CommandTimeout = d
	}
	if v := get(EnvAutoPipeline); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("%w: %s=%q is not 1 or 0", ErrConfig, EnvAutoPipeline, v)
		}
		c.AutoPipeline = on
	}
	for _, p := range strings.Split(get("TRUSTED_PROXIES"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.TrustedProxies = append(c.TrustedProxies, p)
		}
	}
	return c, nil
}

func rateFromEnv(get func(string) string, name, def string) (limiter.Rate, string, error) {
	v := get(name)
	if v == "" {
		v = def
	}
	r, err := limiter.NewRateFromFormatted(v)
	if err != nil || r.Limit <= 0 {
		return limiter.Rate{}, "", fmt.Errorf("%w: %s=%q is not a rate like 100-H (limit-S|M|H|D)", ErrConfig, name, v)
	}
	return r, v, nil
}
