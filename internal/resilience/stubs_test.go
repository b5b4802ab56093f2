package resilience

import "testing"

func testSlowloris(t *testing.T) { t.Skip("todo") }
