package middleware

// EventKind names what happened. Feature packages report events; statshttp
// (or any Observer) counts them.
type EventKind uint8

// Event kinds reported by the feature packages.
const (
	// CacheHit: a fresh entry was served from cache.
	CacheHit EventKind = iota + 1
	// CacheMiss: no usable entry; the handler or loader was consulted.
	CacheMiss
	// CacheStale: a stale entry was served (stale-while-revalidate or
	// stale-if-error).
	CacheStale
	// CacheCoalesced: the request waited for another request's load or read
	// of the same key instead of doing its own.
	CacheCoalesced
	// CacheLoad: the handler or loader actually ran to fill the cache.
	CacheLoad
	// CacheError: the cache backend failed; the request was still served.
	CacheError
	// CacheBypass: the request or response was not cacheable.
	CacheBypass
	// CacheStore: an entry was written. Value is +1 for a new live key.
	CacheStore
	// CacheInvalidate: entries were removed; Value is how many, when known.
	CacheInvalidate
	// RateAllowed: a rate-limited request was let through.
	RateAllowed
	// RateDenied: a request was refused with 429.
	RateDenied
	// RateError: the limiter's backend failed and the failure mode applied.
	RateError
	// LockAcquired: a lock was taken for a request.
	LockAcquired
	// LockContended: the lock was held by another request (409).
	LockContended
	// LockExpired: the lock was lost while the handler ran.
	LockExpired
	// LockReplayed: an idempotent response was replayed.
	LockReplayed
	// LockError: the lock backend failed (503).
	LockError
	// BackendChange: the fallback monitor changed state; Route carries the
	// new state's name ("redis", "degraded" or "memory").
	BackendChange
)

var kindNames = [...]string{
	CacheHit: "cache_hit", CacheMiss: "cache_miss", CacheStale: "cache_stale",
	CacheCoalesced: "cache_coalesced", CacheLoad: "cache_load", CacheError: "cache_error",
	CacheBypass: "cache_bypass", CacheStore: "cache_store", CacheInvalidate: "cache_invalidate",
	RateAllowed: "rate_allowed", RateDenied: "rate_denied", RateError: "rate_error",
	LockAcquired: "lock_acquired", LockContended: "lock_contended", LockExpired: "lock_expired",
	LockReplayed: "lock_replayed", LockError: "lock_error", BackendChange: "backend_change",
}

// String returns the kind's snake_case name, as used in metric names.
func (k EventKind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "unknown"
}

// Event is one thing a feature package reports. Route is the route or cache
// pattern name configured by the application (bounded cardinality: never a
// key or a user id). Value is 1 unless the kind says otherwise.
type Event struct {
	// Kind says what happened.
	Kind EventKind
	// Route is the route or pattern name the application configured.
	Route string
	// Value is how many times it happened, 1 unless the kind says otherwise.
	Value int64
}

// Observer receives events. Implementations must be safe for concurrent use,
// must not block, and must not call Redis on the calling goroutine: Observe
// runs on the request path.
type Observer interface {
	Observe(Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// Observe calls f(e).
func (f ObserverFunc) Observe(e Event) { f(e) }

// Observers fans events out to several observers; nil entries are skipped.
func Observers(os ...Observer) Observer {
	var keep []Observer
	for _, o := range os {
		if o != nil {
			keep = append(keep, o)
		}
	}
	switch len(keep) {
	case 0:
		return nil
	case 1:
		return keep[0]
	}
	return ObserverFunc(func(e Event) {
		for _, o := range keep {
			o.Observe(e)
		}
	})
}
