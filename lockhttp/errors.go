package lockhttp

import "errors"

var (
	// ErrLockLost is the cause (context.Cause) with which a handler's context
	// is cancelled when the watchdog could not extend the lock: another
	// request may hold it now, so the handler should stop, and any write it
	// still makes must carry its fencing token.
	ErrLockLost = errors.New("lockhttp: lock lost while the handler ran")
	// ErrNoBackend is returned by New and NewRedlock when no Redis client is
	// given and Options.Fallback is not LocalMutex: fail-closed locking
	// needs a shared backend.
	ErrNoBackend = errors.New("lockhttp: no redis client and no local fallback chosen")
	// ErrInvalidOptions is returned by New and NewRedlock for an Options
	// value that cannot work (negative durations, a TTL too short to extend).
	ErrInvalidOptions = errors.New("lockhttp: invalid options")
	// ErrTaken is the error of a lock attempt that found the lock held by
	// another request.
	ErrTaken = errors.New("lockhttp: lock held by another request")
	// ErrQuorum is the error of a lock or idempotency operation that could
	// not reach enough Redis nodes (one node down, or a quorum of Redlock
	// masters unreachable).
	ErrQuorum = errors.New("lockhttp: redis unreachable or quorum lost")
	// ErrStaleToken is returned by fenced stores (see the package examples)
	// for a write carrying an older fencing token than one already seen.
	ErrStaleToken = errors.New("lockhttp: stale fencing token")
)
