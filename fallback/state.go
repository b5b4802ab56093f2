package fallback

// State is the monitor's view of the backend.
type State int32

const (
	// StateRedis means Redis is configured and answering.
	StateRedis State = iota
	// StateDegraded means Redis is configured but failing: the breaker is
	// open and requests use the in-memory backends until it recovers.
	StateDegraded
	// StateMemory means no Redis is configured: embedded in-memory mode.
	StateMemory
)

// String returns "redis", "degraded" or "memory".
func (s State) String() string {
	switch s {
	case StateRedis:
		return "redis"
	case StateDegraded:
		return "degraded"
	case StateMemory:
		return "memory"
	}
	return "unknown"
}
