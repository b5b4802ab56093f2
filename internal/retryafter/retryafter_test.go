package retryafter_test

import (
	"math"
	"testing"

	"github.com/aura-platform/redishttp/internal/retryafter"
)

func TestSeconds(t *testing.T) {
	tests := []struct {
		in   float64
		want int64
	}{
		{0, 1}, {-3, 1}, {0.0001, 1}, {0.999, 1}, {1, 1}, {1.0000001, 2}, {59.5, 60}, {60, 60},
		{math.NaN(), 1}, {math.Inf(-1), 1}, {math.Inf(1), 1 << 30}, {1e300, 1 << 30}, {1<<30 + 0.5, 1 << 30},
	}
	for _, tt := range tests {
		if got := retryafter.Seconds(tt.in); got != tt.want {
			t.Errorf("Seconds(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
