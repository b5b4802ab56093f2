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
	"unicode"

	"github.com/redis/go-redis/v9"
)

// Environment variables read by ConfigFromEnv and LoadConfig.
const (
	envRedisURL       = "REDIS_URL"
	envClusterAddrs   = "REDIS_CLUSTER_ADDRS"
	envSentinelAddrs  = "REDIS_SENTINEL_ADDRS"
	envSentinelMaster = "REDIS_SENTINEL_MASTER"
)

// Config says which Redis to use: a single node, a cluster, a primary
// behind Sentinel, or none. The zero value is embedded in-memory mode.
type Config struct {
	// URL is a redis:// or rediss:// URL for a single node (or a proxy in
	// front of one). Empty when not set.
	URL string
	// URLVar names the variable URL came from, for messages.
	URLVar string
	// ClusterAddrs, when not empty, selects a Redis Cluster with these
	// nodes as its starting points (the client learns the others from
	// them); it takes precedence over URL and Sentinel. The URL's password,
	// username and TLS settings, when one is also given, apply to the
	// cluster.
	ClusterAddrs []string
	// SentinelAddrs (host:port of the sentinels) and SentinelMaster (the
	// name they monitor the primary under), set together, select a primary
	// managed by Redis Sentinel; they take precedence over URL and yield to
	// ClusterAddrs. The URL's username, password, TLS settings and database
	// number, when one is also given, apply to the primary (its host is not
	// used). The sentinels are asked without a password and with the same
	// TLS settings: a sentinel that requires a password needs a client
	// built with redis.FailoverOptions.SentinelPassword.
	SentinelAddrs []string
	// SentinelMaster is the name the sentinels monitor the primary under;
	// see SentinelAddrs.
	SentinelMaster string

	urlVars []string // the variables LoadConfig read the URL from, for String
}

// ConfigFromEnv reads the configuration from the process environment.
func ConfigFromEnv() (Config, error) { return LoadConfig(os.LookupEnv) }

// LoadConfig reads the configuration through lookup (os.LookupEnv or a map
// in tests). The URL comes from REDIS_URL, or, when urlVars are given, from
// the first of those variables that is set and not blank (a service whose
// platform provides the URL under another name lists it after REDIS_URL);
// URLVar records which. REDIS_CLUSTER_ADDRS and REDIS_SENTINEL_ADDRS are
// comma-separated lists of host:port, and REDIS_SENTINEL_MASTER names the
// primary the sentinels monitor. A malformed value, or one of the two
// Sentinel variables set without the other, is an error wrapping ErrInvalidOptions
// that names the variable and never contains a password.
func LoadConfig(lookup func(string) (string, bool), urlVars ...string) (Config, error) {
	if len(urlVars) == 0 {
		urlVars = []string{envRedisURL}
	}
	c := Config{urlVars: append([]string(nil), urlVars...)}
	for _, name := range urlVars {
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
				ErrInvalidOptions, c.URLVar, redactURL(c.URL))
		}
	}
	if v, ok := lookup(envClusterAddrs); ok && strings.TrimSpace(v) != "" {
		addrs, err := parseAddrs(envClusterAddrs, v, urlVars[0])
		if err != nil {
			return Config{}, err
		}
		c.ClusterAddrs = addrs
	}
	sentinelAddrs, _ := lookup(envSentinelAddrs)
	sentinelMaster, _ := lookup(envSentinelMaster)
	sentinelAddrs, sentinelMaster = strings.TrimSpace(sentinelAddrs), strings.TrimSpace(sentinelMaster)
	switch {
	case sentinelAddrs != "" && sentinelMaster == "":
		return Config{}, fmt.Errorf("%w: %s is set but %s is not: set both (the sentinels and the name "+
			"they monitor the primary under) or neither", ErrInvalidOptions, envSentinelAddrs, envSentinelMaster)
	case sentinelAddrs == "" && sentinelMaster != "":
		return Config{}, fmt.Errorf("%w: %s is set but %s is not: set both (the sentinels and the name "+
			"they monitor the primary under) or neither", ErrInvalidOptions, envSentinelMaster, envSentinelAddrs)
	case sentinelAddrs != "":
		addrs, err := parseAddrs(envSentinelAddrs, sentinelAddrs, urlVars[0])
		if err != nil {
			return Config{}, err
		}
		if len(addrs) == 0 {
			return Config{}, fmt.Errorf("%w: %s lists no host:port", ErrInvalidOptions, envSentinelAddrs)
		}
		if strings.ContainsFunc(sentinelMaster, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			// Not echoed: a value pasted into the wrong variable may be a secret.
			return Config{}, fmt.Errorf("%w: %s must be a master name without spaces or control characters",
				ErrInvalidOptions, envSentinelMaster)
		}
		c.SentinelAddrs, c.SentinelMaster = addrs, sentinelMaster
	}
	return c, nil
}

// parseAddrs splits a comma-separated list of host:port for the variable
// name; empty entries are skipped. urlVar names where a password belongs.
func parseAddrs(name, v, urlVar string) ([]string, error) {
	if strings.Contains(v, "@") {
		// Credentials in the list: echo none of it.
		return nil, fmt.Errorf("%w: %s must list host:port entries without credentials "+
			"(give the password in %s)", ErrInvalidOptions, name, urlVar)
	}
	// Entries are named by position, never echoed: a password pasted into
	// the list by mistake must not reach a log.
	var addrs []string
	for i, a := range strings.Split(v, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" || strings.ContainsAny(host, "/ \t") {
			return nil, fmt.Errorf("%w: %s entry %d is not host:port", ErrInvalidOptions, name, i+1)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("%w: %s entry %d has an invalid port", ErrInvalidOptions, name, i+1)
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

// Mode returns "cluster", "sentinel", "redis" or "memory": what NewClient
// will build.
func (c Config) Mode() string {
	switch {
	case len(c.ClusterAddrs) > 0:
		return "cluster"
	case len(c.SentinelAddrs) > 0 && c.SentinelMaster != "":
		return "sentinel"
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
	case "sentinel":
		return "redis sentinel master " + strconv.Quote(c.SentinelMaster) + " via " + strings.Join(c.SentinelAddrs, ",")
	case "redis":
		return "redis " + redactURL(c.URL) + " (from " + c.URLVar + ")"
	}
	urlVars := c.urlVars
	if len(urlVars) == 0 {
		urlVars = []string{envRedisURL}
	}
	return "embedded in-memory (no " + strings.Join(urlVars, ", ") + ", " + envSentinelAddrs + " or " + envClusterAddrs + ")"
}

// clusterStateReloadInterval is how often a cluster client built by
// NewClient refreshes its slot map, bounding how long it keeps sending a
// failed master's slots to it after a replica took over.
const clusterStateReloadInterval = time.Second

// Settings of the Sentinel client NewClient builds; see NewClient.
const (
	sentinelMaxRetries      = 3
	sentinelMinRetryBackoff = 8 * time.Millisecond
	sentinelDialTimeout     = time.Second
	sentinelPoolTimeout     = time.Second
)

// NewClient builds the client the configuration names: a *redis.Client for a
// URL, a *redis.ClusterClient for cluster addresses, a failover
// *redis.Client (redis.NewFailoverClient) for Sentinel, and nil (with a nil
// error) for embedded mode. It does not connect; hand the client to
// NewMonitor to learn whether it answers. The client has
// ContextTimeoutEnabled set, so the Monitor's per-command timeouts bound
// every call (go-redis otherwise ignores context deadlines on the socket and
// a hung server holds each call for its ReadTimeout).
//
// The Sentinel client asks the sentinels for the primary's address when it
// dials and subscribes to their +switch-master announcements: when one
// arrives it closes its connections to the old primary and dials the new
// one. A command answered READONLY or NOREPLICAS by a demoted primary, or
// whose connection breaks (EOF), is retried up to three times, 8 to 40 ms
// apart, which fits a request's command budget; dials and waits for a pooled
// connection give up after one second (go-redis' defaults: 5 s and 4 s)
// when no context deadline is shorter, so calls made without a deadline
// leave a dead primary or sentinel quickly.
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
		o.ClusterStateReloadInterval = clusterStateReloadInterval
		return redis.NewClusterClient(o), nil
	case "sentinel":
		o := &redis.FailoverOptions{
			MasterName:    c.SentinelMaster,
			SentinelAddrs: append([]string(nil), c.SentinelAddrs...),
		}
		if c.URL != "" {
			u, err := redis.ParseURL(c.URL)
			if err != nil {
				return nil, urlError(c.URLVar, c.URL, err)
			}
			o.Username, o.Password, o.TLSConfig, o.DB = u.Username, u.Password, u.TLSConfig, u.DB
		}
		o.ContextTimeoutEnabled = true
		o.MaxRetries, o.MinRetryBackoff = sentinelMaxRetries, sentinelMinRetryBackoff
		o.DialTimeout, o.PoolTimeout = sentinelDialTimeout, sentinelPoolTimeout
		return redis.NewFailoverClient(o), nil
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

// redactURL returns u with any password replaced by "xxxxx"; text that does
// not parse as a URL is replaced entirely, since it may hold a secret. When
// an '@' appears outside the parsed userinfo (a password with an unescaped
// '/', '?' or '#' makes url.Parse see no userinfo at all), everything
// between the scheme and the last '@' is replaced, so no piece of such a
// password survives either; so is the body of an opaque URL ("redis:x").
func redactURL(u string) string {
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
	if p.User != nil {
		if _, hasPassword := p.User.Password(); !hasPassword {
			// A lone userinfo ("redis://secret@host") is most often a
			// password typed without its colon: hide it whole.
			q := *p
			q.User = url.User("xxxxx")
			return q.String()
		}
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
		ErrInvalidOptions, varName, redactURL(raw), detail)
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
