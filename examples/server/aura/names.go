package aura

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

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
// space is ignored (the handler stores the name trimmed); everything else
// counts, case included: "dup", " dup" and "dup\t" are one name, "Dup" is
// another.
func AuraNameKey(name string) string { return strings.TrimSpace(name) }

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
