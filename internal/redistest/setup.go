package redistest

import (
	"strings"

	"github.com/redis/go-redis/v9"
)

// ConnSetup reports whether go-redis sent cmd to set a new connection up
// (HELLO, CLIENT SETINFO, AUTH, SELECT, READONLY) rather than for a request.
// Round-trip counting hooks leave such commands out: a connection opened in
// the middle of a measurement would otherwise count as extra round trips.
func ConnSetup(cmd redis.Cmder) bool {
	switch strings.ToLower(cmd.Name()) {
	case "hello", "client", "auth", "select", "readonly":
		return true
	}
	return false
}

// ConnSetupPipeline reports whether every command of a pipeline is
// connection set-up (see ConnSetup).
func ConnSetupPipeline(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if !ConnSetup(c) {
			return false
		}
	}
	return len(cmds) > 0
}
