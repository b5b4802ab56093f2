// Package idempotency holds the parts of lockhttp's Idempotency-Key
// support that users never call: parsing the header, fingerprinting a
// request, and the records kept in Redis (or in memory) per key.
package idempotency

import (
	"errors"
	"strings"
)

// KeyHeader is the request header of the IETF
// draft-ietf-httpapi-idempotency-key-header.
const KeyHeader = "Idempotency-Key"

// ReplayedHeader is set to "true" on responses replayed from a record.
const ReplayedHeader = "Idempotent-Replayed"

// MaxKeyLen is the longest accepted Idempotency-Key value.
const MaxKeyLen = 255

// ErrBadKey is returned by ParseKey for a header value that is empty, too
// long, repeated, or not printable ASCII.
var ErrBadKey = errors.New("lockhttp: malformed Idempotency-Key")

// ParseKey returns the key of a request's Idempotency-Key header values: a
// Structured Field string ("..." with \" and \\ escapes) as the draft
// specifies, or, as many clients send it, a bare value. The key is 1 to
// MaxKeyLen printable ASCII characters. No header gives "", nil; more than
// one gives ErrBadKey.
func ParseKey(values []string) (string, error) {
	switch len(values) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", ErrBadKey
	}
	v := strings.Trim(values[0], " \t")
	if strings.HasPrefix(v, `"`) {
		var b strings.Builder
		i := 1
		for ; i < len(v); i++ {
			c := v[i]
			if c == '\\' {
				i++
				if i >= len(v) || (v[i] != '"' && v[i] != '\\') {
					return "", ErrBadKey
				}
				b.WriteByte(v[i])
				continue
			}
			if c == '"' {
				break
			}
			b.WriteByte(c)
		}
		if i != len(v)-1 { // no closing quote, or text after it
			return "", ErrBadKey
		}
		v = b.String()
	}
	if v == "" || len(v) > MaxKeyLen {
		return "", ErrBadKey
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return "", ErrBadKey
		}
	}
	return v, nil
}
