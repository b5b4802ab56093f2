package statshttp_test

import (
	"runtime"
	"strings"
	"time"
)

// goroutines counts live goroutines whose stack mentions fn.
func goroutines(fn string) int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		// Only frames count: "created by <fn>" names a child's parent.
		for _, line := range strings.Split(g, "\n") {
			if strings.Contains(line, fn) && !strings.HasPrefix(line, "created by ") {
				n++
				break
			}
		}
	}
	return n
}

func eventuallyTrue(d time.Duration, f func() bool) bool {
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
