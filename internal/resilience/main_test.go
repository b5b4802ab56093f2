package resilience

import (
	"context"
	"testing"

	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestMain fails the run if any goroutine (an app, a client, a proxy, a
// server connection) is left when the tests are done.
func TestMain(m *testing.M) {
	// go-redis logs every failed dial; the scenarios cause thousands on
	// purpose and count them through errHook instead.
	redis.SetLogger(silent{})
	redistest.VerifyNoLeaks(m)
}

type silent struct{}

func (silent) Printf(context.Context, string, ...any) {}
