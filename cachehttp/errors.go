package cachehttp

import "errors"

// Sentinel errors. Callers test them with errors.Is; none of their text ever
// reaches an HTTP client.
var (
	// ErrInvalidOptions wraps every configuration error returned by New and
	// NewRoute.
	ErrInvalidOptions = errors.New("cachehttp: invalid options")
	// ErrNotFound is returned by a GetOrLoad loader (wrapped or as is) to say
	// that the value does not exist. It is cached as a negative entry for the
	// negative TTL and returned to every caller until that entry expires.
	ErrNotFound = errors.New("cachehttp: not found")
	// ErrCorruptEntry is reported (through the Observer as CacheError, and by
	// Peek) for a stored entry that fails its checksum or does not decode; such
	// an entry is treated as a miss and deleted.
	ErrCorruptEntry = errors.New("cachehttp: corrupt cache entry")
	// ErrBadPattern is returned by InvalidatePattern for a malformed glob.
	ErrBadPattern = errors.New("cachehttp: invalid pattern")
	// ErrClosed is returned by calls made after Close.
	ErrClosed = errors.New("cachehttp: cache closed")
	// ErrCodec wraps encode and decode failures of a GetOrLoad codec.
	ErrCodec = errors.New("cachehttp: codec")
)
