package redishttp_test

import (
	"testing"

	"github.com/aura-platform/redishttp/internal/redistest"
	"go.uber.org/goleak"
)

// The examples' stand-in for the application's client talks to an
// in-process Redis that lives as long as the test binary.
func TestMain(m *testing.M) {
	redistest.VerifyNoLeaks(m,
		goleak.IgnoreAnyFunction("github.com/alicebob/miniredis/v2/server.(*Server).serve"),
		goleak.IgnoreAnyFunction("github.com/alicebob/miniredis/v2/server.(*Server).servePeer"))
}
