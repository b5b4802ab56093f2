package fallback

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ErrConfig is wrapped by every configuration error; errors.Is(err,
// fallback.ErrConfig) tells a bad environment from a runtime failure.
var ErrConfig = errors.New("fallback: invalid configuration")

// Environment variables read by ConfigFromEnv.
const (
	EnvRedisURL        = "REDIS_URL"
	EnvUpstashRedisURL = "UPSTASH_REDIS_URL"
	EnvClusterAddrs    = "REDIS_CLUSTER_ADDRS"
	EnvEnableCache     = "ENABLE_REDIS_CACHE"
)

// Config says which Redis to use, as the seed system configured it from its
// environment. The zero value is embedded in-memory mode with caching on.
type Config struct {
	// URL is a redis:// or rediss:// URL for a single node (or a proxy such
	// as Upstash). Empty when not set.
	URL string
	// URLVar names the variable URL came from, for messages.
	URLVar string
	// ClusterAddrs, when not empty, selects a Redis Cluster with these seed
	// nodes; it takes precedence over URL. The URL's password, username and
	// TLS settings, when one is also given, apply to the cluster.
	ClusterAddrs []string
	// CacheDisabled is true when ENABLE_REDIS_CACHE=false: callers should
	// not cache at all (rate limits and locks still work).
	CacheDisabled bool
}

// ConfigFromEnv reads the configuration from the process environment.
func ConfigFromEnv() (Config, error) { return LoadConfig(os.LookupEnv) }

// LoadConfig reads the configuration through lookup (os.LookupEnv or a map
// in tests). REDIS_URL wins over UPSTASH_REDIS_URL; REDIS_CLUSTER_ADDRS is a
// comma-separated list of host:port. A malformed value is an error wrapping
// ErrConfig that names the variable and never contains a password.
func LoadConfig(lookup func(string) (string, bool)) (Config, error) {
	var c Config
	for _, name := range []string{EnvRedisURL, EnvUpstashRedisURL} {
		if v, ok := lookup(name); ok && strings.TrimSpace(v) != "" {
			c.URL, c.URLVar = strings.TrimSpace(v), name
			break
		}
	}
	if c.URL != "" {
		if _, err := redis.ParseURL(c.URL); err != nil {
			return Config{}, fmt.Errorf("%w: %s is not a valid redis:// or rediss:// URL (%s): %s",
				ErrConfig, c.URLVar, RedactURL(c.URL), redactURLs(err.Error()))
		}
	}
	if v, ok := lookup(EnvClusterAddrs); ok && strings.TrimSpace(v) != "" {
		for _, a := range strings.Split(v, ",") {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			host, port, err := net.SplitHostPort(a)
			if err != nil || host == "" {
				return Config{}, fmt.Errorf("%w: %s entry %q is not host:port", ErrConfig, EnvClusterAddrs, a)
			}
			if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
				return Config{}, fmt.Errorf("%w: %s entry %q has an invalid port", ErrConfig, EnvClusterAddrs, a)
			}
			c.ClusterAddrs = append(c.ClusterAddrs, a)
		}
	}
	if v, ok := lookup(EnvEnableCache); ok && strings.TrimSpace(v) != "" {
		on, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return Config{}, fmt.Errorf("%w: %s=%q is not a boolean", ErrConfig, EnvEnableCache, v)
		}
		c.CacheDisabled = !on
	}
	return c, nil
}

// Mode returns "cluster", "redis" or "memory": what NewClient will build.
func (c Config) Mode() string {
	switch {
	case len(c.ClusterAddrs) > 0:
		return "cluster"
	case c.URL != "":
		return "redis"
	}
	return "memory"
}

// String describes the configuration for logs, with credentials redacted.
func (c Config) String() string {
	switch c.Mode() {
	case "cluster":
		return "redis cluster " + strings.Join(c.ClusterAddrs, ",")
	case "redis":
		return "redis " + RedactURL(c.URL) + " (from " + c.URLVar + ")"
	}
	return "embedded in-memory (no REDIS_URL, UPSTASH_REDIS_URL or REDIS_CLUSTER_ADDRS)"
}

// NewClient builds the client the configuration names: a *redis.Client for a
// URL, a *redis.ClusterClient for cluster addresses, and nil (with a nil
// error) for embedded mode. It does not connect; hand the client to
// NewMonitor to learn whether it answers.
func (c Config) NewClient() (redis.UniversalClient, error) {
	switch c.Mode() {
	case "cluster":
		o := &redis.ClusterOptions{Addrs: c.ClusterAddrs}
		if c.URL != "" {
			u, err := redis.ParseURL(c.URL)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %s", ErrConfig, c.URLVar, redactURLs(err.Error()))
			}
			o.Username, o.Password, o.TLSConfig = u.Username, u.Password, u.TLSConfig
		}
		return redis.NewClusterClient(o), nil
	case "redis":
		o, err := redis.ParseURL(c.URL)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %s", ErrConfig, c.URLVar, redactURLs(err.Error()))
		}
		return redis.NewClient(o), nil
	}
	return nil, nil
}

// RedactURL returns u with any password replaced by "xxxxx"; text that does
// not parse as a URL is replaced entirely, since it may hold a secret.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" {
		return "<unparseable URL>"
	}
	return p.Redacted()
}

var urlWithUserinfo = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/@"]*@`)

// redactURLs removes userinfo from every URL-looking run in s.
func redactURLs(s string) string {
	return urlWithUserinfo.ReplaceAllStringFunc(s, func(m string) string {
		i := strings.Index(m, "://")
		return m[:i+3] + "xxxxx@"
	})
}
