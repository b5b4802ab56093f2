package lockhttp

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"net/http"
	"strings"

	"github.com/aura-platform/redishttp/internal/keytext"
	"github.com/aura-platform/redishttp/internal/stored"
)

// IdempotencyKeyHeader is the request header of the IETF
// draft-ietf-httpapi-idempotency-key-header.
const IdempotencyKeyHeader = "Idempotency-Key"

// ReplayedHeader is set to "true" on responses replayed from an idempotency
// record; every other header, the status and the body are the stored ones.
const ReplayedHeader = "Idempotent-Replayed"

// MaxIdempotencyKeyLen is the longest accepted Idempotency-Key value.
const MaxIdempotencyKeyLen = 255

var (
	// ErrBadIdempotencyKey is returned by ParseIdempotencyKey for a header
	// value that is empty, too long, repeated, or not printable ASCII.
	ErrBadIdempotencyKey = errors.New("lockhttp: malformed Idempotency-Key")
	errCorruptRecord     = errors.New("lockhttp: corrupt idempotency record")
)

// ParseIdempotencyKey returns the key of a request's Idempotency-Key
// header values: a Structured Field string ("..." with \" and \\ escapes) as
// the draft specifies, or, as many clients send it, a bare value. The key is
// 1 to MaxIdempotencyKeyLen printable ASCII characters. No header gives
// "", nil; more than one gives ErrBadIdempotencyKey.
func ParseIdempotencyKey(values []string) (string, error) {
	switch len(values) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", ErrBadIdempotencyKey
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
					return "", ErrBadIdempotencyKey
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
			return "", ErrBadIdempotencyKey
		}
		v = b.String()
	}
	if v == "" || len(v) > MaxIdempotencyKeyLen {
		return "", ErrBadIdempotencyKey
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return "", ErrBadIdempotencyKey
		}
	}
	return v, nil
}

// fingerprintSize is the size of a request fingerprint (SHA-256).
const fingerprintSize = sha256.Size

// Fingerprint identifies an idempotent request's content: SHA-256 over its
// method, path, canonical query (parameters sorted) and body, each
// length-prefixed so no two different requests share an encoding. A retry
// with the same key and a different fingerprint gets 422.
func Fingerprint(method, path, query string, body []byte) [fingerprintSize]byte {
	h := sha256.New()
	writeField(h, []byte(method))
	writeField(h, []byte(path))
	writeField(h, []byte(query))
	writeField(h, body)
	var fp [fingerprintSize]byte
	h.Sum(fp[:0])
	return fp
}

func writeField(h hash.Hash, b []byte) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
	h.Write(b)
}

func requestFingerprint(r *http.Request, body []byte) [fingerprintSize]byte {
	return Fingerprint(r.Method, r.URL.Path, keytext.Query(r.URL.Query()), body)
}

// Idempotency records, as stored in Redis (or in memory):
//
//	running:   'R' fingerprint[32] owner[16]
//	completed: 'C' fingerprint[32] stored.Response encoding
//
// complete.lua relies on the 'R' tag.
const (
	tagRunning   = 'R'
	tagCompleted = 'C'
	ownerSize    = 16
)

func runningRecord(fp [fingerprintSize]byte) []byte {
	b := make([]byte, 1+fingerprintSize+ownerSize)
	b[0] = tagRunning
	copy(b[1:], fp[:])
	_, _ = rand.Read(b[1+fingerprintSize:])
	return b
}

func completedRecord(fp [fingerprintSize]byte, s *stored.Response) []byte {
	b := make([]byte, 0, 1+fingerprintSize+64+len(s.Body))
	b = append(b, tagCompleted)
	b = append(b, fp[:]...)
	return s.Encode(b)
}

// record is a decoded idempotency record.
type record struct {
	completed bool
	fp        [fingerprintSize]byte
	resp      stored.Response
}

func decodeRecord(b []byte) (record, error) {
	var rec record
	if len(b) < 1+fingerprintSize {
		return rec, errCorruptRecord
	}
	copy(rec.fp[:], b[1:])
	switch b[0] {
	case tagRunning:
		if len(b) != 1+fingerprintSize+ownerSize {
			return rec, errCorruptRecord
		}
		return rec, nil
	case tagCompleted:
		resp, err := stored.Decode(b[1+fingerprintSize:])
		if err != nil {
			return rec, errCorruptRecord
		}
		rec.completed, rec.resp = true, resp
		return rec, nil
	}
	return rec, errCorruptRecord
}
