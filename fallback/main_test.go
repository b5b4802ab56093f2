package fallback_test

import (
	"testing"

	"github.com/aura-platform/redishttp/internal/redistest"
)

// TestMain fails the package when any goroutine outlives the tests: monitors
// that Close did not stop, stores whose clean-up goroutine kept running.
func TestMain(m *testing.M) { redistest.VerifyNoLeaks(m) }
