//go:build linux

package redistest

import "syscall"

// sysProcAttr makes the kernel kill a redis-server we started if the test
// binary dies without running its cleanups (e.g. a -timeout panic).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
