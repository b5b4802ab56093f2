package aura

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"

	"github.com/aura-platform/redishttp/lockhttp"
	"github.com/aura-platform/redishttp/middleware"
)

// createAuraRequest is the body of POST /api/auras. The handler decodes it,
// and the lock key decodes the same type the way encoding/json does
// (lockhttp.JSONKey), so both see the same name whatever the case of the
// field name or however often it is repeated.
type createAuraRequest struct {
	Name string `json:"name"`
}

// auraName is the one place that says what an aura name is. It returns the
// name as stored (raw with surrounding white space trimmed), the key under
// which names compare (AuraNameKey of it), and whether the name is valid.
// The create lock, the handler and both stores all go through it, so the lock
// covers exactly the names that the store would call equal.
func auraName(raw string) (name, key string, ok bool) {
	name = strings.TrimSpace(raw)
	return name, AuraNameKey(name), auraNameRE.MatchString(name)
}

// AuraNameKey returns the key under which aura names compare: two names of
// one user are the same aura when their keys are equal. Surrounding white
// space is ignored, runs of inner spaces count as one, and letters compare
// without regard to case (Unicode simple case folding, as strings.EqualFold:
// "Dup", "dup" and "DUP" are one name). No other Unicode normalisation is
// applied: valid names cannot contain combining marks, so a name has one
// spelling in them, and compatibility forms such as full-width letters are
// different names.
func AuraNameKey(name string) string {
	name = strings.TrimSpace(name)
	var b strings.Builder
	b.Grow(len(name))
	space := false
	for _, r := range name {
		if r == ' ' {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

// foldRune maps r to the smallest rune of its simple case-folding orbit
// (k, K and the Kelvin sign all map to K), so that two strings have equal
// folds exactly when strings.EqualFold says they are equal.
func foldRune(r rune) rune {
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	return m
}

// createLockKey keys the create lock by the name key of the request's body,
// decoded as the handler decodes it. An empty or missing name does not name
// what to lock (400, as before the handler runs); an invalid name is keyed by
// its digest, so the handler still answers 422 without a hostile name
// becoming a Redis key.
var createLockKey = lockhttp.JSONKey(maxJSONBody, func(in createAuraRequest) (string, error) {
	if in.Name == "" {
		return "", middleware.ErrNoKey
	}
	_, key, ok := auraName(in.Name)
	if !ok {
		sum := sha256.Sum256([]byte(in.Name))
		return "invalid:" + hex.EncodeToString(sum[:16]), nil
	}
	return "name:" + key, nil
})
