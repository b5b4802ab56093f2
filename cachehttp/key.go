package cachehttp

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"net/http"
	"strings"

	"github.com/aura-platform/redishttp/internal/glob"
	"github.com/aura-platform/redishttp/internal/keytext"
	"github.com/aura-platform/redishttp/middleware"
)

// maxKeyLen is the longest escaped logical key kept verbatim in Redis; a
// longer one is replaced by "%h" and a SHA-256 digest, so hostile input
// cannot blow up key sizes. Hashed keys are still found by exact lookups,
// tags and Delete, but InvalidatePattern matches them only with a pattern
// made of '*' alone.
const maxKeyLen = 512

// Physical key layout, all under Options.Prefix and one Redis Cluster hash
// tag per group:
//
//	<prefix>{g<N>}h:<escaped key>[|u<user>][|v<vary digest>]   HTTP entry (primary key)
//	<prefix>{g<N>}h:<primary key>|r<variant digest>             variant of a response with Vary
//	<prefix>{g<N>}d:<escaped key>                               GetOrLoad/Set entry
//	<prefix>{g<N>}l:<kind>:<escaped key>                        refresh lease
//	<prefix>{g<N>}t:<tag>                                       tag set (members: entry keys of group N)
//	<prefix>{g<N>}s:<tag>                                       tag invalidation stamp
//	<prefix>{g<N>}z:<route>                                     live keys of a route (zset, score = expiry)
//
// N is FNV-1a(escaped key, without a |r suffix) mod the group count, so the
// variants of a resource share its primary key's group, and every key that one store
// or one invalidation touches shares the {g<N>} hash tag and a Lua script can
// change them atomically on a cluster. The escaping (escapeKey) never
// produces '{', '}', '|', a glob character or a control byte, so no input can
// leave its slot in this layout.
const (
	kindHTTP = 'h'
	kindData = 'd'
)

// escapeKey escapes a logical key for the layout above. Letters, digits, ':'
// and "-._~@/=,+" pass through; every other byte becomes %XX. The mapping is
// injective; results longer than maxKeyLen become "%h"+hex(SHA-256) ("%h" can
// never come out of the escaping).
func escapeKey(s string) string { return keytext.Escape(s, ":", maxKeyLen) }

// unescapeKey reverses escapeKey for the base part of a stored key. ok is
// false for hashed keys and malformed input.
func unescapeKey(s string) (string, bool) { return keytext.Unescape(s) }

// groupOf returns the hash-tag group of an escaped key.
func groupOf(esc string, groups int) int {
	if groups <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(primaryOf(esc)))
	return int(h.Sum32() % uint32(groups))
}

// variantLen is the length of a variant suffix: "|r" and 32 hex digits.
const variantLen = 2 + 32

// primaryOf strips the variant suffix from an escaped key.
func primaryOf(esc string) string {
	if n := len(esc) - variantLen; n >= 0 && esc[n] == '|' && esc[n+1] == 'r' {
		return esc[:n]
	}
	return esc
}

// variantEsc is the escaped key of r's variant of the resource stored under
// the primary key pesc, whose stored response varies on names (RFC 9111
// §4.1): pesc, "|r" and a digest of the names and r's values of them.
func variantEsc(pesc string, names []string, r *http.Request) string {
	return pesc + "|r" + varyDigest(names, r)
}

// varyDigest hashes header names and r's normalised values of them.
func varyDigest(names []string, r *http.Request) string {
	h := sha256.New()
	for _, n := range names {
		h.Write([]byte(n))
		h.Write([]byte{0})
		h.Write([]byte(varyValue(r, n)))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// variantTag is the tag every variant of the resource under the primary
// key pesc carries, so that removing the resource reaches its variants.
// Its leading control byte keeps it apart from tags users choose.
func variantTag(pesc string) string { return "\x00variant:" + pesc }

// defaultKey is the key function routes use unless they set their own:
// method, scheme, host, escaped path and the normalised, sorted query, each
// escaped with middleware.KeyPart and joined with ':'. HEAD is keyed as GET,
// so HEAD requests are served from the GET entry. The scheme comes from the
// connection (r.TLS), never from a request header, and the host is
// lower-cased.
func defaultKey(r *http.Request) (string, error) {
	m := r.Method
	if m == http.MethodHead {
		m = http.MethodGet
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := strings.ToLower(r.Host)
	q := r.URL.RawQuery
	if q != "" && !canonicalRawQuery(q) {
		q = keytext.Query(r.URL.Query())
	}
	return middleware.KeyPart(m) + ":" + scheme + ":" + middleware.KeyPart(host) + ":" +
		middleware.KeyPart(r.URL.EscapedPath()) + ":" + middleware.KeyPart(q), nil
}

var _ middleware.KeyFunc = defaultKey

// EscapeGlob escapes the Redis glob characters (* ? [ ] \) in s, so user
// input placed inside an InvalidatePattern pattern matches only itself:
//
//	c.InvalidatePattern(ctx, "price:"+cachehttp.EscapeGlob(sku)+":*")
func EscapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// scanPattern converts a glob over logical keys into a SCAN MATCH glob over
// escaped keys that matches at least every key the original would (literal
// bytes escaped the way escapeKey does, '?' and classes widened to '*'). The
// exact decision is made afterwards by globMatch on the unescaped key. It
// fails on a malformed pattern.
func scanPattern(p string) (string, error) {
	var b strings.Builder
	star := func() {
		s := b.String()
		if !strings.HasSuffix(s, "*") || strings.HasSuffix(s, `\*`) {
			b.WriteByte('*')
		}
	}
	lit := func(c byte) { b.WriteString(escapeKey(string(c))) }
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*', '?':
			star()
		case '[':
			j := glob.ClassEnd(p, i)
			if j < 0 {
				return "", fmt.Errorf("%w: unterminated '[' in %q", ErrBadPattern, p)
			}
			star()
			i = j
		case '\\':
			if i+1 >= len(p) {
				return "", fmt.Errorf("%w: trailing '\\' in %q", ErrBadPattern, p)
			}
			i++
			lit(p[i])
		case ']':
			return "", fmt.Errorf("%w: unmatched ']' in %q", ErrBadPattern, p)
		default:
			lit(c)
		}
	}
	star() // suffixes (|u…, |v…) follow the base key
	return b.String(), nil
}

// globMatch reports whether s matches the Redis-style glob p ('*', '?',
// '[abc]', '[^a-z]', '\x') in time linear in len(p) × len(s). p must have
// passed scanPattern.
func globMatch(p, s string) bool { return glob.Match(p, s) }

// onlyStars reports whether p is made of '*' alone.
func onlyStars(p string) bool {
	return p != "" && strings.Trim(p, "*") == ""
}

// canonicalRawQuery reports whether raw is already what keytext.Query would
// make of it (so parsing and re-encoding it can be skipped): only unreserved
// characters besides the separators, every pair with exactly one '=', keys
// in strictly increasing order.
func canonicalRawQuery(raw string) bool {
	prev := ""
	for len(raw) > 0 {
		pair := raw
		if i := strings.IndexByte(raw, '&'); i >= 0 {
			pair, raw = raw[:i], raw[i+1:]
			if raw == "" {
				return false
			}
		} else {
			raw = ""
		}
		eq := strings.IndexByte(pair, '=')
		if eq < 0 || strings.IndexByte(pair[eq+1:], '=') >= 0 {
			return false
		}
		k := pair[:eq]
		if k <= prev && prev != "" || k == "" {
			return false
		}
		for i := 0; i < len(pair); i++ {
			c := pair[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
				c == '-' || c == '.' || c == '_' || c == '~' || c == '=') {
				return false
			}
		}
		prev = k
	}
	return true
}
