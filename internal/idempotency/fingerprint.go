package idempotency

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"net/http"

	"github.com/aura-platform/redishttp/internal/keytext"
)

// FingerprintSize is the size of a request fingerprint (SHA-256).
const FingerprintSize = sha256.Size

// Fingerprint identifies an idempotent request's content: SHA-256 over its
// method, path, canonical query and body, each length-prefixed so no two
// different requests share an encoding.
type Fingerprint = [FingerprintSize]byte

// Sum returns the fingerprint of a request's method, path, canonical query
// (parameters sorted) and body.
func Sum(method, path, query string, body []byte) Fingerprint {
	h := sha256.New()
	writeField(h, []byte(method))
	writeField(h, []byte(path))
	writeField(h, []byte(query))
	writeField(h, body)
	var fp Fingerprint
	h.Sum(fp[:0])
	return fp
}

// OfRequest returns the fingerprint of r, whose body is body.
func OfRequest(r *http.Request, body []byte) Fingerprint {
	return Sum(r.Method, r.URL.Path, keytext.Query(r.URL.Query()), body)
}

func writeField(h hash.Hash, b []byte) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
	h.Write(b)
}
