package aura_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/examples/server/aura"
	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const secret = "Zq9xK7wVb2jR"

func mapLookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// UPSTASH_REDIS_URL is the demo's second name for the Redis URL: used when
// REDIS_URL is unset or blank, and named in the startup line and in errors.
func TestUpstashRedisURL(t *testing.T) {
	for _, tc := range []struct {
		name             string
		env              map[string]string
		mode, url, from  string
		wantStringSuffix string
	}{
		{"UPSTASH_REDIS_URL alone", map[string]string{"UPSTASH_REDIS_URL": "rediss://default:" + secret + "@eu1.upstash.io:6379"},
			"redis", "rediss://default:" + secret + "@eu1.upstash.io:6379", "UPSTASH_REDIS_URL",
			"redis rediss://default:xxxxx@eu1.upstash.io:6379 (from UPSTASH_REDIS_URL)"},
		{"REDIS_URL wins", map[string]string{"REDIS_URL": "redis://a:1", "UPSTASH_REDIS_URL": "rediss://b:2"},
			"redis", "redis://a:1", "REDIS_URL", "redis redis://a:1 (from REDIS_URL)"},
		{"blank REDIS_URL falls to UPSTASH_REDIS_URL", map[string]string{"REDIS_URL": "  ", "UPSTASH_REDIS_URL": "rediss://b:2"},
			"redis", "rediss://b:2", "UPSTASH_REDIS_URL", "(from UPSTASH_REDIS_URL)"},
		{"sentinel keeps the Upstash URL for credentials", map[string]string{"REDIS_SENTINEL_ADDRS": "s:26379", "REDIS_SENTINEL_MASTER": "m", "UPSTASH_REDIS_URL": "rediss://b:2"},
			"sentinel", "rediss://b:2", "UPSTASH_REDIS_URL", `redis sentinel master "m" via s:26379`},
		{"neither: embedded", nil, "memory", "", "",
			"embedded in-memory (no REDIS_URL, UPSTASH_REDIS_URL, REDIS_SENTINEL_ADDRS or REDIS_CLUSTER_ADDRS)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := aura.LoadConfig(mapLookup(tc.env))
			require.NoError(t, err)
			assert.Equal(t, tc.mode, cfg.Redis.Mode())
			assert.Equal(t, tc.url, cfg.Redis.URL)
			assert.Equal(t, tc.from, cfg.Redis.URLVar)
			s := cfg.Redis.String()
			assert.True(t, strings.HasSuffix(s, tc.wantStringSuffix), "String() = %q", s)
			assert.NotContains(t, s, secret)
		})
	}

	t.Run("TLS", func(t *testing.T) {
		cfg, err := aura.LoadConfig(mapLookup(map[string]string{"UPSTASH_REDIS_URL": "rediss://default:pw@eu1.upstash.io:6379"}))
		require.NoError(t, err)
		c, err := cfg.Redis.NewClient()
		require.NoError(t, err)
		defer c.Close()
		o := c.(*redis.Client).Options()
		require.NotNil(t, o.TLSConfig)
		assert.Equal(t, "eu1.upstash.io", o.TLSConfig.ServerName)
	})

	t.Run("bad URL named, password hidden", func(t *testing.T) {
		_, err := aura.LoadConfig(mapLookup(map[string]string{"UPSTASH_REDIS_URL": "https://default:" + secret + "@eu1.upstash.io"}))
		require.ErrorIs(t, err, fallback.ErrInvalidOptions)
		assert.Contains(t, err.Error(), "UPSTASH_REDIS_URL is not a valid redis:// or rediss:// URL")
		for i := 0; i+4 <= len(secret); i++ {
			assert.NotContains(t, err.Error(), secret[i:i+4])
		}
	})
}

func TestEnableRedisCache(t *testing.T) {
	for v, disabled := range map[string]bool{"false": true, "0": true, " FALSE ": true, "TRUE": false, "1": false, "": false} {
		cfg, err := aura.LoadConfig(mapLookup(map[string]string{"ENABLE_REDIS_CACHE": v}))
		require.NoError(t, err, v)
		assert.Equal(t, disabled, cfg.CacheDisabled, "ENABLE_REDIS_CACHE=%q", v)
	}
	cfg, err := aura.LoadConfig(mapLookup(nil))
	require.NoError(t, err)
	assert.False(t, cfg.CacheDisabled, "caching is on by default")

	_, err = aura.LoadConfig(mapLookup(map[string]string{"ENABLE_REDIS_CACHE": "nope"}))
	require.ErrorIs(t, err, aura.ErrConfig)
	assert.Contains(t, err.Error(), `ENABLE_REDIS_CACHE="nope" is not a boolean`)

	// Off end to end: every weather request goes upstream, marked BYPASS.
	cfg, err = aura.LoadConfig(env("bypass:", map[string]string{"ENABLE_REDIS_CACHE": "false", "UPSTREAM_LATENCY_SCALE": "0"}))
	require.NoError(t, err)
	app, err := aura.NewWithClient(cfg, nil, quietLogger())
	require.NoError(t, err)
	defer app.Close()
	srv := httptest.NewServer(app.Handler())
	defer srv.Close()
	for i := 0; i < 2; i++ {
		r := do(t, "GET", srv.URL+"/api/weather?lat=1&lon=2", "", nil)
		require.Equal(t, 200, r.status, r.body)
		assert.Equal(t, "BYPASS", r.header.Get("X-Cache"))
	}
}

func TestTTLClasses(t *testing.T) {
	vars := map[string]string{"CACHE_TTL_WEATHER": "2m", "CACHE_TTL_AI": " 90s "}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	tc, err := aura.LoadTTLClasses(lookup)
	require.NoError(t, err)
	want := aura.DefaultTTLClasses
	want.Weather, want.AI = 2*time.Minute, 90*time.Second
	assert.Equal(t, want, tc)
	assert.Equal(t, aura.TTLClasses{Weather: 10 * time.Minute, News: 15 * time.Minute, Subscription: 5 * time.Minute,
		OAuth: 10 * time.Minute, AI: time.Hour}, aura.DefaultTTLClasses, "defaults (documented in the README)")
	for _, bad := range []string{"soon", "0", "-1m", "500us"} {
		vars = map[string]string{"CACHE_TTL_NEWS": bad}
		_, err := aura.LoadTTLClasses(lookup)
		require.ErrorIs(t, err, aura.ErrConfig, bad)
		assert.Contains(t, err.Error(), "CACHE_TTL_NEWS", bad)
	}
	vars = map[string]string{"CACHE_TTL_OAUTH": " "}
	tc, err = aura.LoadTTLClasses(lookup)
	require.NoError(t, err)
	assert.Equal(t, aura.DefaultTTLClasses, tc, "a blank value keeps the default")
}

func TestAutoPipelineEnv(t *testing.T) {
	for v, on := range map[string]bool{"1": true, "true": true, " 1 ": true, "0": false, "false": false, "": false} {
		cfg, err := aura.LoadConfig(mapLookup(map[string]string{aura.EnvAutoPipeline: v}))
		require.NoError(t, err, v)
		assert.Equal(t, on, cfg.AutoPipeline, "%s=%q", aura.EnvAutoPipeline, v)
	}
	cfg, err := aura.LoadConfig(mapLookup(nil))
	require.NoError(t, err)
	assert.False(t, cfg.AutoPipeline, "off by default, as in the library")

	_, err = aura.LoadConfig(mapLookup(map[string]string{aura.EnvAutoPipeline: "yes please"}))
	require.ErrorIs(t, err, aura.ErrConfig)
	assert.Contains(t, err.Error(), `REDIS_AUTOPIPELINE="yes please" is not 1 or 0`)

	// On, against a Redis: the demo serves through the auto-pipeliner.
	tg := redistest.New(t)
	cfg, err = aura.LoadConfig(env(tg.Prefix, map[string]string{aura.EnvAutoPipeline: "1", "UPSTREAM_LATENCY_SCALE": "0"}))
	require.NoError(t, err)
	require.True(t, cfg.AutoPipeline)
	app, err := aura.NewWithClient(cfg, tg.NewClient(t), quietLogger())
	require.NoError(t, err)
	defer app.Close()
	srv := httptest.NewServer(app.Handler())
	defer srv.Close()
	var xcache []string
	for range 2 {
		r := do(t, "GET", srv.URL+"/api/weather?lat=3&lon=4", "", nil)
		require.Equal(t, 200, r.status, r.body)
		xcache = append(xcache, r.header.Get("X-Cache"))
	}
	assert.Equal(t, []string{"MISS", "HIT"}, xcache)
}
