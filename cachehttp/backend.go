package cachehttp

import (
	"context"
	"strconv"
	"time"

	"github.com/aura-platform/redishttp/middleware"
)

// key locates one entry: its full physical name and its hash-tag group.
type key struct {
	name  string // <prefix>{g<N>}<kind>:<esc>
	group int
	esc   string // escaped logical key with suffixes
	kind  byte
}

// write is one entry store.
type write struct {
	key   key
	value []byte
	route string
	tags  []string
	ttl   time.Duration // backend lifetime of the entry
	// token is the lease placeholder the writer holds; when set, the write
	// happens only while the key still holds it (an invalidation or another
	// writer in between wins).
	token []byte
	// started is when the load began: the write is dropped when one of tags
	// was invalidated at or after it.
	started time.Time
}

// backend is one storage tier. The cache uses the Redis backend while the
// fallback monitor says Redis is available and the in-memory one otherwise.
// A further tier (an in-process L1 in front of Redis, a publish hook for
// cross-instance coherence) implements the same interface in a file of its
// own and wraps the Redis backend.
type backend interface {
	// fetch returns the value under k (an entry or another reader's lease
	// placeholder), or nil when absent. When token is not nil and the key is
	// absent, it stores token as a placeholder for leaseTTL in the same
	// atomic step, and the caller owns the fill.
	fetch(ctx context.Context, k key, token []byte, leaseTTL time.Duration) ([]byte, error)
	// store writes an entry, its tag memberships and live-key record
	// atomically; see write. It reports whether the entry was written.
	store(ctx context.Context, w write) (bool, error)
	// release removes k only while it still holds the placeholder token.
	release(ctx context.Context, k key, token []byte) error
	// tryLease takes a refresh lease (a separate key) for ttl.
	tryLease(ctx context.Context, name string, ttl time.Duration) (bool, error)
	// delete removes entries and returns how many existed.
	delete(ctx context.Context, keys []key) (int, error)
	// invalidateTags removes every entry carrying any of tags and stamps the
	// tags so that loads in flight do not store.
	invalidateTags(ctx context.Context, tags []string) (int, error)
	// invalidateMatch removes entries whose escaped key matches scanGlob
	// (a SCAN MATCH superset) and for which keep returns true.
	invalidateMatch(ctx context.Context, scanGlob string, keep func(esc string) bool) (int, error)
	// liveKeys counts unexpired entries per route name.
	liveKeys(ctx context.Context, routes []string) (map[string]int64, error)
}

// layout builds physical key names.
type layout struct {
	prefix string
	groups int
}

func (l layout) base(group int) string {
	return l.prefix + "{g" + strconv.Itoa(group) + "}"
}

func (l layout) key(kind byte, esc string) key {
	g := groupOf(esc, l.groups)
	return key{name: l.base(g) + string(kind) + ":" + esc, group: g, esc: esc, kind: kind}
}

func (l layout) tagSet(group int, tag string) string {
	return l.base(group) + "t:" + middleware.KeyPart(tag)
}
func (l layout) tagStamp(group int, tag string) string {
	return l.base(group) + "s:" + middleware.KeyPart(tag)
}
func (l layout) live(group int, route string) string { return l.base(group) + "z:" + route }
func (l layout) lease(k key) string                  { return l.base(k.group) + "l:" + string(k.kind) + ":" + k.esc }

// parse splits a physical name into group base length, kind and escaped key.
func (l layout) parse(name string) (kind byte, esc string, ok bool) {
	if len(name) <= len(l.prefix) || name[:len(l.prefix)] != l.prefix {
		return 0, "", false
	}
	rest := name[len(l.prefix):]
	if len(rest) < 5 || rest[0] != '{' || rest[1] != 'g' {
		return 0, "", false
	}
	i := 2
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 2 || i+3 > len(rest) || rest[i] != '}' || rest[i+2] != ':' {
		return 0, "", false
	}
	kind = rest[i+1]
	if kind != kindHTTP && kind != kindData {
		return 0, "", false
	}
	return kind, rest[i+3:], true
}
