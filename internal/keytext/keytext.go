// Package keytext builds the text of Redis key parts: the escaping that
// middleware.KeyPart and cachehttp's key layout share, the canonical query
// string and the client address as keyed.
package keytext

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// MaxPart is the longest escaped key part middleware.KeyPart keeps verbatim;
// longer parts become a digest.
const MaxPart = 128

// Escape escapes s for use in a Redis key. Letters, digits, "-._~@/=,+" and
// the bytes listed in extra pass through; every other byte (including
// '*', '?', '[', ']', '{', '}', '\\', '%', '|', spaces and control
// characters) becomes %XX, so distinct inputs stay distinct and none can act
// as a glob character or a Redis Cluster hash tag. A result longer than max
// becomes "%h" followed by 40 hex digits of the SHA-256 of s; "%h" cannot
// come out of the escaping, so hashed and verbatim results never collide.
// middleware.KeyPart is Escape(s, "", MaxPart).
func Escape(s, extra string, max int) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if escSafe(s[i], extra) {
			n++
		} else {
			n += 3
		}
	}
	if n > max {
		sum := sha256.Sum256([]byte(s))
		return "%h" + hex.EncodeToString(sum[:20])
	}
	if n == len(s) {
		return s
	}
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if escSafe(c, extra) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

func escSafe(c byte, extra string) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '@', '/', '=', ',', '+':
		return true
	}
	return extra != "" && strings.IndexByte(extra, c) >= 0
}

// Unescape reverses Escape. ok is false for hashed results ("%h...") and
// malformed input.
func Unescape(s string) (string, bool) {
	if strings.HasPrefix(s, "%h") {
		return "", false
	}
	if strings.IndexByte(s, '%') < 0 {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b = append(b, byte(v))
		i += 2
	}
	return string(b), true
}

// Query encodes q with its parameters sorted by name and each parameter's
// values in their original order, so that "?b=2&a=1" and "?a=1&b=2" produce
// the same text.
func Query(q url.Values) string {
	return q.Encode() // url.Values.Encode sorts by key and escapes both sides.
}

// Addr formats a for use in a key: IPv4 as is, IPv6 as its /64 prefix, and
// "unknown" for the zero Addr.
func Addr(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
