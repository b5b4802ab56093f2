// Package retryafter computes the whole seconds a Retry-After header carries.
package retryafter

import "math"

// Max caps Retry-After (and Seconds) at 2^30 s (34 years), far
// beyond any real wait and well inside int64 and float64's exact integers.
const Max = 1 << 30

// Seconds rounds a duration in seconds up to a whole number of seconds,
// with a minimum of 1, as Retry-After needs. NaN counts as 0 (so 1) and
// values above 2^30 seconds (about 34 years), +Inf included, are capped there.
func Seconds(s float64) int64 {
	if math.IsNaN(s) || s < 1 {
		return 1
	}
	if s > Max {
		return Max
	}
	n := int64(s)
	if float64(n) < s {
		n++
	}
	if n < 1 {
		n = 1
	}
	return n
}
