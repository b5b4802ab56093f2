package fallback

// OnFailure says what a feature package does while Redis is failing (the
// Monitor reports it unavailable, or a call fails). Its zero value,
// Default, means the package's own documented default.
type OnFailure uint8

const (
	// Default picks the package's default: UseMemory for rate limits,
	// FailClosed for locks.
	Default OnFailure = iota
	// UseMemory keeps the feature working on this process's memory: a rate
	// limiter counts locally (each instance enforces the full limit), a
	// lock is a process-local mutex (no protection across instances).
	UseMemory
	// FailClosed refuses requests with 503 Service Unavailable, a
	// Retry-After header and a problem JSON body; the handler does not run.
	FailClosed
	// PassThrough serves requests without the feature: rate limits only
	// (unlimited, without rate-limit headers). Locks refuse it.
	PassThrough
)

// String returns "default", "use-memory", "fail-closed" or "pass-through".
func (f OnFailure) String() string {
	switch f {
	case Default:
		return "default"
	case UseMemory:
		return "use-memory"
	case FailClosed:
		return "fail-closed"
	case PassThrough:
		return "pass-through"
	}
	return "unknown"
}
