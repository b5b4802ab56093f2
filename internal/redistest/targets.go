package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Target names, as found in Target.Name and used as subtest names by Run.
const (
	// NameMiniredis is the in-process miniredis target.
	NameMiniredis = "miniredis"
	// NameRedis is the real server named by REDIS_URL.
	NameRedis = "redis"
	// NameCluster is the Redis Cluster named by REDIS_CLUSTER_ADDRS.
	NameCluster = "cluster"
)

// Environment variables read by the harness.
const (
	// EnvRedisURL names a real Redis server, e.g. redis://127.0.0.1:6379/0.
	EnvRedisURL = "REDIS_URL"
	// EnvClusterAddrs is a comma-separated list of Redis Cluster seed nodes.
	EnvClusterAddrs = "REDIS_CLUSTER_ADDRS"
	// EnvCI is "true" on CI machines.
	EnvCI = "CI"
)

// cleanupTimeout bounds the key deletion done when a test ends.
const cleanupTimeout = 30 * time.Second

// Target is one Redis deployment a test runs against.
type Target struct {
	// Name is "miniredis", "redis" or "cluster".
	Name string
	// Client talks to the deployment; it is closed by t.Cleanup.
	Client redis.UniversalClient
	// Prefix is unique to this test and target, e.g.
	// "rt:TestFoo_miniredis:1a2b3c4d:". Put every key the test writes under
	// it: they are all deleted when the test ends. It contains no hash tag
	// braces and no glob characters; on the cluster target, keys that must
	// share a slot put their own tag after it (Prefix + "{user1}:a").
	Prefix string
	// Mini is the in-process server for the miniredis target (so tests can
	// FastForward its clock), nil for the others.
	Mini *miniredis.Miniredis
	// Cluster is true for the cluster target.
	Cluster bool

	// newClient returns a fresh client to the same deployment.
	newClient func() redis.UniversalClient
}

// InCI reports whether the CI environment variable is true ("true", "1",
// "TRUE", ... as understood by strconv.ParseBool).
func InCI() bool {
	v, err := strconv.ParseBool(os.Getenv(EnvCI))
	return err == nil && v
}

// kinds lists the deployments configured by the environment, in order.
func kinds() []string {
	k := []string{NameMiniredis}
	if os.Getenv(EnvRedisURL) != "" {
		k[0] = NameRedis
	}
	if clusterAddrs() != nil {
		k = append(k, NameCluster)
	}
	return k
}

func clusterAddrs() []string {
	var addrs []string
	for _, a := range strings.Split(os.Getenv(EnvClusterAddrs), ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// Targets returns every configured deployment: an in-process miniredis when
// REDIS_URL is unset, or the real server REDIS_URL names; plus a cluster
// target when REDIS_CLUSTER_ADDRS is set. Each target has its own Prefix.
// When the test ends, every key under each prefix is deleted (SCAN MATCH +
// UNLINK in batches, on every master of a cluster) and the clients are
// closed; a miniredis is shut down. Targets fails the test when a
// configured server does not answer PING.
func Targets(t testing.TB) []Target {
	t.Helper()
	var tgs []Target
	for _, k := range kinds() {
		tgs = append(tgs, newTarget(t, k))
	}
	return tgs
}

// Run runs fn in a subtest named after each target of Targets (t.Run(tg.Name,
// ...)). Each subtest gets its own target, created and cleaned up within the
// subtest, so fn may call t.Parallel.
func Run(t *testing.T, fn func(t *testing.T, tg Target)) {
	t.Helper()
	for _, k := range kinds() {
		t.Run(k, func(t *testing.T) {
			fn(t, newTarget(t, k))
		})
	}
}

// New returns one target: the real server when REDIS_URL is set, else a
// fresh in-process miniredis. It never returns the cluster target.
func New(t testing.TB) Target {
	t.Helper()
	return newTarget(t, kinds()[0])
}

// NewClient returns another independent client (its own connection pool)
// to the same deployment as tg, like a second instance of a service in a
// multi-instance test. It is closed when the test ends.
func (tg Target) NewClient(t testing.TB) redis.UniversalClient {
	t.Helper()
	if tg.newClient == nil {
		t.Fatal("redistest: NewClient on a Target not made by redistest")
	}
	c := tg.newClient()
	t.Cleanup(func() { closeClient(t, c) })
	return c
}

func newTarget(t testing.TB, kind string) Target {
	t.Helper()
	tg := Target{Name: kind, Prefix: newPrefix(t.Name())}
	switch kind {
	case NameMiniredis:
		m, err := miniredis.Run()
		if err != nil {
			t.Fatalf("redistest: start miniredis: %v", err)
		}
		t.Cleanup(m.Close) // registered first: runs after the clients close
		tg.Mini = m
		addr := m.Addr()
		tg.newClient = func() redis.UniversalClient {
			return redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
		}
	case NameRedis:
		url := os.Getenv(EnvRedisURL)
		if _, err := redis.ParseURL(url); err != nil {
			t.Fatalf("redistest: %s=%q: %v", EnvRedisURL, url, err)
		}
		tg.newClient = func() redis.UniversalClient {
			opt, _ := redis.ParseURL(url) // validated above
			opt.ContextTimeoutEnabled = true
			return redis.NewClient(opt)
		}
	case NameCluster:
		addrs := clusterAddrs()
		tg.Cluster = true
		tg.newClient = func() redis.UniversalClient {
			return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
		}
	}
	tg.Client = tg.newClient()
	t.Cleanup(func() { closeClient(t, tg.Client) })
	if err := ping(tg.Client); err != nil {
		t.Fatalf("redistest: %s target does not answer PING (%s): %v", kind, describe(kind), err)
	}
	// Registered last so it runs first: keys go before the client closes.
	// It uses a client of its own, in case the test closed tg.Client.
	t.Cleanup(func() {
		if err := deletePrefix(tg.newClient, tg.Prefix); err != nil {
			t.Errorf("redistest: deleting keys %s* on %s: %v", tg.Prefix, tg.Name, err)
		}
	})
	return tg
}

func describe(kind string) string {
	switch kind {
	case NameRedis:
		return EnvRedisURL + "=" + os.Getenv(EnvRedisURL)
	case NameCluster:
		return EnvClusterAddrs + "=" + os.Getenv(EnvClusterAddrs)
	}
	return "in-process"
}

func ping(c redis.UniversalClient) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if cc, ok := c.(*redis.ClusterClient); ok {
		return cc.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error {
			return n.Ping(ctx).Err()
		})
	}
	return c.Ping(ctx).Err()
}

func closeClient(t testing.TB, c redis.UniversalClient) {
	if err := c.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		t.Logf("redistest: closing client: %v", err)
	}
}

// newPrefix builds "rt:<sanitized name>:<8 random hex>:".
func newPrefix(name string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "rt:" + sanitize(name) + ":" + hex.EncodeToString(b[:]) + ":"
}

// sanitize keeps letters, digits and "._-/" and replaces anything else
// (hash tag braces, glob characters, spaces, colons) with '_'.
func sanitize(name string) string {
	const max = 64
	var sb strings.Builder
	for _, r := range name {
		if sb.Len() >= max {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '.', r == '_', r == '-', r == '/':
			sb.WriteRune(r)
		default:
			sb.WriteByte('_')
		}
	}
	return sb.String()
}

// deletePrefix deletes every key under prefix with a fresh client (the
// test may have closed or broken its own), using SCAN MATCH prefix* and
// UNLINK in batches; on a cluster it does so on every master.
func deletePrefix(newClient func() redis.UniversalClient, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	c := newClient()
	defer c.Close()
	if cc, ok := c.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			return deleteOnNode(ctx, m, prefix, true)
		})
	}
	return deleteOnNode(ctx, c, prefix, false)
}

const scanBatch = 500

func deleteOnNode(ctx context.Context, c redis.Cmdable, prefix string, perKey bool) error {
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, prefix+"*", scanBatch).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if perKey {
				// Keys on one cluster node span many slots: a multi-key
				// UNLINK would fail with CROSSSLOT, so pipeline one per key.
				_, err = c.Pipelined(ctx, func(p redis.Pipeliner) error {
					for _, k := range keys {
						p.Unlink(ctx, k)
					}
					return nil
				})
			} else {
				err = c.Unlink(ctx, keys...).Err()
			}
			if err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}
