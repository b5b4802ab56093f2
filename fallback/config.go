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
	"time"

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
			return Config{}, urlError(c.URLVar, c.URL, err)
		}
		if strayUserinfo(c.URL) && !hasParsedUser(c.URL) {
			// "redis://u:p#w@host" parses as host "u", port "p" and a
			// fragment: the '@' says a password with an unescaped
			// character was meant.
			return Config{}, fmt.Errorf("%w: %s is not a valid redis:// or rediss:// URL (%s): "+
				"'@' outside the user info; percent-encode special characters in the password",
				ErrConfig, c.URLVar, RedactURL(c.URL))
		}
	}
	if v, ok := lookup(EnvClusterAddrs); ok && strings.TrimSpace(v) != "" {
		if strings.Contains(v, "@") {
			// Credentials in the list: echo none of it.
			return Config{}, fmt.Errorf("%w: %s must list host:port entries without credentials "+
				"(give the password in REDIS_URL)", ErrConfig, EnvClusterAddrs)
		}
		for _, a := range strings.Split(v, ",") {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			host, port, err := net.SplitHostPort(a)
			if err != nil || host == "" || strings.ContainsAny(host, "/ \t") {
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

// ClusterStateReloadInterval is how often a cluster client built by
// NewClient refreshes its slot map, bounding how long it keeps sending a
// failed master's slots to it after a replica took over.
const ClusterStateReloadInterval = time.Second

// NewClient builds the client the configuration names: a *redis.Client for a
// URL, a *redis.ClusterClient for cluster addresses, and nil (with a nil
// error) for embedded mode. It does not connect; hand the client to
// NewMonitor to learn whether it answers. The client has
// ContextTimeoutEnabled set, so the Monitor's per-command timeouts bound
// every call (go-redis otherwise ignores context deadlines on the socket and
// a hung server holds each call for its ReadTimeout).
func (c Config) NewClient() (redis.UniversalClient, error) {
	switch c.Mode() {
	case "cluster":
		o := &redis.ClusterOptions{Addrs: c.ClusterAddrs}
		if c.URL != "" {
			u, err := redis.ParseURL(c.URL)
			if err != nil {
				return nil, urlError(c.URLVar, c.URL, err)
			}
			o.Username, o.Password, o.TLSConfig = u.Username, u.Password, u.TLSConfig
		}
		o.ContextTimeoutEnabled = true
		// A dead master answers no MOVED, so go-redis would keep routing its
		// slots to it until the next periodic reload (60s by default): the
		// breaker would flap for a minute after every failover. Reload the
		// slot map every second instead (one CLUSTER SLOTS, cheap).
		o.ClusterStateReloadInterval = ClusterStateReloadInterval
		return redis.NewClusterClient(o), nil
	case "redis":
		o, err := redis.ParseURL(c.URL)
		if err != nil {
			return nil, urlError(c.URLVar, c.URL, err)
		}
		o.ContextTimeoutEnabled = true
		return redis.NewClient(o), nil
	}
	return nil, nil
}

// RedactURL returns u with any password replaced by "xxxxx"; text that does
// not parse as a URL is replaced entirely, since it may hold a secret. When
// an '@' appears outside the parsed userinfo (a password with an unescaped
// '/', '?' or '#' makes url.Parse see no userinfo at all), everything
// between the scheme and the last '@' is replaced, so no piece of such a
// password survives either; so is the body of an opaque URL ("redis:x").
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" {
		return "<unparseable URL>"
	}
	start := len(p.Scheme) + 1 // after "scheme:", as typed
	if p.Opaque != "" {
		return u[:start] + "xxxxx"
	}
	if p.User == nil && strayUserinfo(u) {
		if strings.HasPrefix(u[start:], "//") {
			start += 2
		}
		return u[:start] + "xxxxx@" + u[strings.LastIndex(u, "@")+1:]
	}
	return p.Redacted()
}

// strayUserinfo reports whether u has an '@': a sign of userinfo, possibly
// one url.Parse did not recognise as such.
func strayUserinfo(u string) bool { return strings.Contains(u, "@") }

// urlError builds the configuration error for a URL that redis.ParseURL
// rejected. The parser's own text is kept only when it cannot hold any part
// of a password: net/url errors quote the whole URL (and "invalid port"
// errors a piece of it), and go-redis quotes the path, where an unescaped
// '/' in a password ends up.
func urlError(varName, raw string, err error) error {
	var ue *url.Error
	detail := redactURLs(err.Error())
	if errors.As(err, &ue) || strayUserinfo(raw) && !hasParsedUser(raw) {
		detail = "malformed URL"
	}
	return fmt.Errorf("%w: %s is not a valid redis:// or rediss:// URL (%s): %s",
		ErrConfig, varName, RedactURL(raw), detail)
}

func hasParsedUser(raw string) bool {
	p, err := url.Parse(raw)
	return err == nil && p.User != nil
}

var urlWithUserinfo = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/@"]*@`)

// redactURLs removes userinfo from every URL-looking run in s.
func redactURLs(s string) string {
	return urlWithUserinfo.ReplaceAllStringFunc(s, func(m string) string {
		i := strings.Index(m, "://")
		return m[:i+3] + "xxxxx@"
	})
}
