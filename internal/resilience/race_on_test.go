//go:build race

package resilience

// raceOn scales the load down: the race detector costs 5-10x CPU.
const raceOn = true
