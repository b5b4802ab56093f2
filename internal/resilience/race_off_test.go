//go:build !race

package resilience

const raceOn = false
