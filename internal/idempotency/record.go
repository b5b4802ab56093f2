package idempotency

import (
	"crypto/rand"
	"errors"

	"github.com/aura-platform/redishttp/internal/stored"
)

// ErrCorrupt is returned by Decode for bytes that are not a record.
var ErrCorrupt = errors.New("lockhttp: corrupt idempotency record")

// Records, as stored in Redis (or in memory):
//
//	running:   'R' fingerprint[32] owner[16]
//	completed: 'C' fingerprint[32] stored.Response encoding
//
// lockhttp's complete.lua relies on the 'R' tag.
const (
	tagRunning   = 'R'
	tagCompleted = 'C'
	ownerSize    = 16
)

// Running returns a new running record (a claim) for fp, with a random
// owner, so that two claims of one request never compare equal.
func Running(fp Fingerprint) []byte {
	b := make([]byte, 1+FingerprintSize+ownerSize)
	b[0] = tagRunning
	copy(b[1:], fp[:])
	_, _ = rand.Read(b[1+FingerprintSize:])
	return b
}

// Completed returns the completed record of fp holding s.
func Completed(fp Fingerprint, s *stored.Response) []byte {
	b := make([]byte, 0, 1+FingerprintSize+64+len(s.Body))
	b = append(b, tagCompleted)
	b = append(b, fp[:]...)
	return s.Encode(b)
}

// IsRunning reports whether b is tagged as a running record.
func IsRunning(b []byte) bool { return len(b) > 0 && b[0] == tagRunning }

// Record is a decoded record.
type Record struct {
	Completed bool
	FP        Fingerprint
	Resp      stored.Response // when Completed
}

// Decode decodes a record, returning ErrCorrupt for anything else.
func Decode(b []byte) (Record, error) {
	var rec Record
	if len(b) < 1+FingerprintSize {
		return rec, ErrCorrupt
	}
	copy(rec.FP[:], b[1:])
	switch b[0] {
	case tagRunning:
		if len(b) != 1+FingerprintSize+ownerSize {
			return rec, ErrCorrupt
		}
		return rec, nil
	case tagCompleted:
		resp, err := stored.Decode(b[1+FingerprintSize:])
		if err != nil {
			return rec, ErrCorrupt
		}
		rec.Completed, rec.Resp = true, resp
		return rec, nil
	}
	return rec, ErrCorrupt
}
