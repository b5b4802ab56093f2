// Package resilience holds redishttp's fault and hostile-input suite. It has
// no API: everything lives in its tests, which drive the Aura demo
// (examples/server/aura) the way production traffic would, while private
// redis-server processes are killed, paused, slowed down or failed over
// (internal/redistest), and print one table row per scenario:
//
//	go test -race -v -run 'TestFault|TestSlow' ./internal/resilience
//
// The scenarios, their figures and the attacks tried are listed in
// SECURITY.md at the repository root.
package resilience
