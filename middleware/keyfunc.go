package middleware

import (
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/aura-platform/redishttp/internal/keytext"
)

// KeyFunc derives a key from a request, for rate limiting, caching and
// locking. Keys built by the stock functions are safe to embed in Redis keys:
// every part goes through KeyPart, so no input can smuggle separators, glob
// characters, hash tags or control characters into a key, and long input is
// hashed to a bounded length.
type KeyFunc func(*http.Request) (string, error)

var (
	// ErrNoUser is returned by ByUser when the request carries no user.
	ErrNoUser = errors.New("middleware: no authenticated user")
	// ErrNoKey is returned by a key function that cannot key a request.
	ErrNoKey = errors.New("middleware: request has no key")
)

// KeyPart escapes s for use as one component of a key. Letters, digits and
// "-._~@/=,+" pass through; every other byte (including ':', '*', '?', '[',
// ']', '{', '}', '\\', '%', spaces and control characters) is percent-encoded,
// so distinct inputs stay distinct and none of them can act as a separator,
// a glob character or a Redis Cluster hash tag. Results longer than 128
// bytes become "%h" followed by 40 hex digits of the SHA-256 of s, so hostile
// input cannot blow up key sizes; "%h" cannot come out of the escaping, so
// hashed and verbatim parts never collide.
func KeyPart(s string) string { return keytext.Escape(s, "", keytext.MaxPart) }

// ByUser keys a request by the authenticated user ("u:<id>"), and fails with
// ErrNoUser for anonymous requests.
func ByUser() KeyFunc {
	return func(r *http.Request) (string, error) {
		id := UserFromContext(r.Context())
		if id == "" {
			return "", ErrNoUser
		}
		return "u:" + KeyPart(id), nil
	}
}

// ByClientIP keys a request by client address ("ip:<addr>", IPv6 grouped by
// /64) as resolved by c. A nil c trusts no proxy and uses the TCP peer.
func ByClientIP(c *ClientIP) KeyFunc {
	return func(r *http.Request) (string, error) {
		return "ip:" + KeyPart(c.Key(r)), nil
	}
}

// UserOr keys by the authenticated user when there is one and by fallback
// otherwise. UserOr(ByClientIP(ips)) is the usual default for rate limits.
func UserOr(fallback KeyFunc) KeyFunc {
	byUser := ByUser()
	return func(r *http.Request) (string, error) {
		if k, err := byUser(r); err == nil {
			return k, nil
		}
		return fallback(r)
	}
}

// ByHeader keys a request by the value of one header ("h:<value>"); all
// values of a repeated header are joined with ",". A missing header yields
// ErrNoKey.
func ByHeader(name string) KeyFunc {
	name = http.CanonicalHeaderKey(name)
	return func(r *http.Request) (string, error) {
		vs := r.Header.Values(name)
		if len(vs) == 0 {
			return "", ErrNoKey
		}
		return "h:" + KeyPart(strings.Join(vs, ",")), nil
	}
}

// ByRoute keys a request by the pattern that routed it (r.Pattern, set by
// http.ServeMux) or, when none is set, by its method and URL path.
func ByRoute() KeyFunc {
	return func(r *http.Request) (string, error) {
		if r.Pattern != "" {
			return "r:" + KeyPart(r.Pattern), nil
		}
		return "r:" + KeyPart(r.Method+" "+r.URL.Path), nil
	}
}

// ByQuery keys a request by the named query parameters, in sorted order with
// every value of each: "q:" + KeyPart("a=1&b=2&b=3"), so "q:a=1%26b=2%26b=3".
// With no names it uses the whole query, normalised: parameters sorted by
// name, values kept in request order.
func ByQuery(params ...string) KeyFunc {
	names := append([]string(nil), params...)
	sort.Strings(names)
	return func(r *http.Request) (string, error) {
		q := r.URL.Query()
		if len(names) == 0 {
			return "q:" + KeyPart(keytext.Query(q)), nil
		}
		sub := url.Values{}
		for _, n := range names {
			if vs, ok := q[n]; ok {
				sub[n] = vs
			}
		}
		return "q:" + KeyPart(keytext.Query(sub)), nil
	}
}

// Join keys a request by several key functions at once, separated by ':'.
// Each part is already escaped, so the joined key is unambiguous. The first
// error is returned.
func Join(fns ...KeyFunc) KeyFunc {
	return func(r *http.Request) (string, error) {
		var b strings.Builder
		for i, f := range fns {
			k, err := f(r)
			if err != nil {
				return "", err
			}
			if i > 0 {
				b.WriteByte(':')
			}
			b.WriteString(k)
		}
		return b.String(), nil
	}
}

// Static returns a key function that always returns KeyPart(key), for
// limits or locks shared by every request of a route.
func Static(key string) KeyFunc {
	k := "s:" + KeyPart(key)
	return func(*http.Request) (string, error) { return k, nil }
}
