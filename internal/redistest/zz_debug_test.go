package redistest

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestZZLeakDebug(t *testing.T) {
	start := time.Now()
	err := goleak.Find()
	t.Logf("first find after %v: %v", time.Since(start), err)
	err = findLeaks(5 * time.Second)
	t.Logf("settled after %v: %v", time.Since(start), err)
}
