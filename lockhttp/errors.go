package lockhttp

import "errors"

var (
	// ErrLockLost is the cause (context.Cause) with which a handler's context
	// is cancelled when the watchdog could not extend the lock: another
	// request may hold it now, so the handler should stop, and any write it
	// still makes must carry its fencing token.
	ErrLockLost = errors.New("lockhttp: lock lost while the handler ran")
	// ErrInvalidOptions is returned by New and NewRedlock for an Options
	// value that cannot work (negative durations, a TTL too short to extend,
	// OnFailure PassThrough, a nil client without OnFailure UseMemory).
	ErrInvalidOptions = errors.New("lockhttp: invalid options")
)

var (
	// errTaken is the error of a lock attempt that found the lock held by
	// another request: the Locker answers 409.
	errTaken = errors.New("lockhttp: lock held by another request")
	// errQuorum is the error of a lock or idempotency operation that could
	// not reach enough Redis nodes (one node down, or a quorum of Redlock
	// masters unreachable): the Locker answers 503 or goes local.
	errQuorum = errors.New("lockhttp: redis unreachable or quorum lost")
)
