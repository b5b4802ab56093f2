package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// readyTimeout bounds how long a started redis-server may take to answer PING.
const readyTimeout = 5 * time.Second

// RequireRedisServer skips the test, with a message saying what to install,
// when redis-server is not on PATH. When CI=true it fails the test instead,
// so that CI cannot pass by skipping every fault test.
func RequireRedisServer(t testing.TB) {
	t.Helper()
	requireBinary(t, "redis-server")
}

func requireBinary(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return
	}
	msg := fmt.Sprintf("redistest: %s not found on PATH; install it (Debian: apt-get install redis-server)", name)
	if InCI() {
		t.Fatal(msg + " — required when CI=true")
		return
	}
	t.Skip(msg)
}

// Server is a private redis-server process on a free loopback port, started
// with --save "" --appendonly no in its own temporary directory and killed
// when the test ends. Its methods are safe for concurrent use; Restart
// reports failure with t.Fatal and so must be called from the test's
// goroutine.
type Server struct {
	// Addr is "127.0.0.1:<Port>"; it stays the same across Restart.
	Addr string
	// Port is the TCP port the server listens on.
	Port int
	// Dir is the server's working directory (logs, cluster nodes.conf).
	Dir string

	t    testing.TB
	args []string // extra arguments
	conf string   // config file given first on the command line, if any (Sentinel)

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when the current process has exited
	paused bool
}

// StartServer starts a private redis-server with extraArgs appended to its
// command line (e.g. "--maxmemory", "1mb") and waits until it answers PING
// (at most 5 s). It skips or fails the test as RequireRedisServer does when
// redis-server is missing. The process is killed when the test ends.
func StartServer(t testing.TB, extraArgs ...string) *Server {
	t.Helper()
	RequireRedisServer(t)
	return startServer(t, false, extraArgs)
}

func startServer(t testing.TB, bus bool, extraArgs []string) *Server {
	t.Helper()
	return startServers(t, 1, bus, extraArgs)[0]
}

// startServers starts n servers at once (their start-up overlaps, which
// matters for a cluster) and waits until each answers PING. A server whose
// port was taken between the check and the bind is retried on another port.
func startServers(t testing.TB, n int, bus bool, extraArgs []string) []*Server {
	t.Helper()
	servers := make([]*Server, n)
	errs := make([]error, n)
	for i := range servers {
		s := &Server{t: t, Dir: t.TempDir(), args: extraArgs}
		// Registered after TempDir's own cleanup, so it runs before the
		// directory is removed.
		t.Cleanup(s.cleanup)
		servers[i] = s
		errs[i] = s.launchOnFreePort(bus)
	}
	deadline := time.Now().Add(readyTimeout)
	for i, s := range servers {
		if errs[i] != nil {
			t.Fatalf("redistest: start redis-server: %v", errs[i])
		}
		s.mu.Lock()
		exited, err := s.waitReady(deadline)
		s.mu.Unlock()
		for attempt := 1; err != nil && exited && attempt < 5; attempt++ {
			s.Kill()
			if err = s.launchOnFreePort(bus); err != nil {
				break
			}
			s.mu.Lock()
			exited, err = s.waitReady(time.Now().Add(readyTimeout))
			s.mu.Unlock()
		}
		if err != nil {
			s.Kill()
			t.Fatalf("redistest: start redis-server: %v\n%s", err, s.logTail(30))
		}
	}
	return servers
}

// launchOnFreePort picks a new port and starts the process on it.
func (s *Server) launchOnFreePort(bus bool) error {
	port, err := freePort(bus)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Port, s.Addr = port, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return s.launch()
}

func (s *Server) logPath() string { return filepath.Join(s.Dir, "redis.log") }

// launch starts the process; s.mu must be held.
func (s *Server) launch() error {
	args := []string{
		"--port", strconv.Itoa(s.Port),
		"--bind", "127.0.0.1",
		"--dir", s.Dir,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--logfile", "",
	}
	args = append(args, s.args...)
	if s.conf != "" {
		args = append([]string{s.conf}, args...)
	}
	log, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close() // the child has its own descriptor
	fmt.Fprintf(log, "### redistest: redis-server %s\n", strings.Join(args, " "))
	cmd := exec.Command("redis-server", args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done, s.paused = cmd, done, false
	return nil
}

// waitReady polls PING until the process we started answers; s.mu held.
func (s *Server) waitReady(deadline time.Time) (exited bool, err error) {
	pid := strconv.Itoa(s.cmd.Process.Pid)
	for {
		select {
		case <-s.done:
			return true, fmt.Errorf("redis-server on %s exited: %v", s.Addr, s.cmd.ProcessState)
		default:
		}
		if err = s.ours(pid); err == nil {
			return false, nil
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("redis-server on %s not ready after %v: %w", s.Addr, readyTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ours checks that the server on s.Addr answers and is the process pid
// (and not some other server that already had the port).
func (s *Server) ours(pid string) error {
	info, err := doString(s.Addr, 500*time.Millisecond, "INFO", "server")
	if err != nil {
		return err
	}
	if got := infoField(info, "process_id"); got != pid {
		return fmt.Errorf("port %d is served by another process (pid %s)", s.Port, got)
	}
	return nil
}

// Client returns a client tuned for fault tests: DialTimeout, ReadTimeout
// and WriteTimeout 200 ms, one dial attempt and no command retries
// (go-redis spells that MaxRetries: -1), so a dead or hung server shows up
// as an error within a fraction of a second. It is closed when the test ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(FaultOptions(s.Addr))
	t.Cleanup(func() { closeClient(t, c) })
	return c
}

// FaultOptions returns the go-redis options Server.Client uses, for tests
// that need to adjust them (e.g. to connect through a Proxy).
func FaultOptions(addr string) *redis.Options {
	return &redis.Options{
		Addr:          addr,
		DialTimeout:   200 * time.Millisecond,
		ReadTimeout:   200 * time.Millisecond,
		WriteTimeout:  200 * time.Millisecond,
		PoolTimeout:   500 * time.Millisecond,
		MaxRetries:    -1, // no retries (0 would mean the default, 3)
		DialerRetries: 1,  // one dial attempt
	}
}

// Kill sends SIGKILL and waits for the process to exit. Data is lost (no
// persistence). It does nothing when the server is not running.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kill()
}

func (s *Server) kill() {
	if s.cmd == nil || !s.running() {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.paused = false
}

// Pause stops the process with SIGSTOP: connections stay open but nothing
// is answered, like a hung server or a long GC pause.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP, true) }

// Resume continues a paused process with SIGCONT.
func (s *Server) Resume() { s.signal(syscall.SIGCONT, false) }

func (s *Server) signal(sig syscall.Signal, paused bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || !s.running() {
		return
	}
	if err := s.cmd.Process.Signal(sig); err == nil {
		s.paused = paused
	}
}

// Restart kills the server if it runs and starts it again on the same
// port, retrying the bind for up to 5 s, then waits until it answers PING.
// Its data is gone; a cluster node keeps its nodes.conf and rejoins.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kill()
	bindDeadline := time.Now().Add(5 * time.Second)
	for {
		err := s.launch()
		if err != nil {
			s.t.Fatalf("redistest: restart redis-server on %s: %v", s.Addr, err)
		}
		exited, err := s.waitReady(time.Now().Add(readyTimeout))
		if err == nil {
			return
		}
		if !exited || time.Now().After(bindDeadline) {
			s.kill()
			s.t.Fatalf("redistest: restart redis-server on %s: %v\n%s", s.Addr, err, s.logTail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Running reports whether the process is alive (paused counts as alive).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil && s.running()
}

// Paused reports whether the process is alive and stopped by Pause.
func (s *Server) Paused() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil && s.running() && s.paused
}

func (s *Server) running() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// logTail returns the last n lines of the server's log (all its runs).
func (s *Server) logTail(n int) string {
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "redis-server log (" + s.Addr + "):\n" + strings.Join(lines, "\n")
}

func (s *Server) cleanup() {
	s.Kill()
	if s.t.Failed() {
		s.t.Log(s.logTail(20))
	}
}
