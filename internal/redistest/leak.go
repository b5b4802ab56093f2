package redistest

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// leakGrace is how long VerifyNoLeaks waits for goroutines to end.
const leakGrace = 5 * time.Second

// VerifyNoLeaks runs the package's tests and then, if they passed, fails
// the test binary when any goroutine is left over, like
// goleak.VerifyTestMain. Use it as the whole body of TestMain:
//
//	func TestMain(m *testing.M) { redistest.VerifyNoLeaks(m) }
//
// It ignores no go-redis or miniredis function by name. Instead it keeps
// looking for up to 5 s, because go-redis ends some background work a
// little after Close returns (a failed dial probe sleeps 1 s between
// tries, a cluster state reload waits out a 200 ms cooldown). A goroutine
// still there after that is a real leak: a client, proxy, server or
// miniredis nobody closed, or a goroutine of the code under test. Extra
// goleak options (e.g. goleak.IgnoreTopFunction for a third-party
// library's known background goroutine) may be passed; each should say why.
func VerifyNoLeaks(m *testing.M, opts ...goleak.Option) {
	code := m.Run()
	if code == 0 {
		if err := findLeaks(leakGrace, opts...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// findLeaks polls goleak.Find until it reports nothing or grace has passed.
func findLeaks(grace time.Duration, opts ...goleak.Option) error {
	deadline := time.Now().Add(grace)
	for {
		err := goleak.Find(opts...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
