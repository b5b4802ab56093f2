package redistest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timers of private Sentinel deployments: a primary that stops answering
// is seen down after a second, and a failover that stalls is abandoned
// (and may be retried) after a few.
const (
	sentinelDownAfter       = 1000 * time.Millisecond
	sentinelFailoverTimeout = 4000 * time.Millisecond
	sentinelQuorum          = 2
)

// Sentinel is a private Redis Sentinel deployment on free loopback ports: a
// primary, one replica and three sentinels (quorum 2), each a redis-server
// process in its own temporary directory, killed when the test ends. Which
// data node is the primary changes on failover: ask MasterAddr.
type Sentinel struct {
	// Master is the name the sentinels monitor the primary under.
	Master string
	// Data are the data nodes: Data[0] is the primary at start, Data[1]
	// its replica.
	Data []*Server
	// Sentinels are the three sentinel processes
	// (redis-server <config> --sentinel).
	Sentinels []*Server
}

// StartSentinel starts a primary (with primaryArgs appended to its command
// line, e.g. "--min-replicas-to-write", "1"), a replica of it and three
// sentinels monitoring it as master (sentinel monitor master 127.0.0.1
// <port> 2, down-after-milliseconds 1000, failover-timeout 4000,
// resolve-hostnames no), and waits until the topology is complete: the
// replica linked, and every sentinel knowing the replica and the two other
// sentinels, so that a failover can start at once. It skips or fails the
// test as RequireRedisServer does when redis-server is missing.
func StartSentinel(t testing.TB, master string, primaryArgs ...string) *Sentinel {
	t.Helper()
	RequireRedisServer(t)
	if master == "" || strings.ContainsAny(master, " \t\r\n\"'") {
		t.Fatalf("redistest: StartSentinel: invalid master name %q", master)
	}
	s := &Sentinel{Master: master}
	// Both data nodes may become the primary: replicas sync at once and
	// are pinged every second, like a cluster's.
	common := []string{"--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1"}
	primary := startServer(t, false, append(append([]string{}, common...), primaryArgs...))
	replica := startServer(t, false, append(common, "--replicaof", "127.0.0.1", strconv.Itoa(primary.Port)))
	s.Data = []*Server{primary, replica}

	conf := strings.Join([]string{
		"sentinel resolve-hostnames no",
		fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d %d", master, primary.Port, sentinelQuorum),
		fmt.Sprintf("sentinel down-after-milliseconds %s %d", master, sentinelDownAfter.Milliseconds()),
		fmt.Sprintf("sentinel failover-timeout %s %d", master, sentinelFailoverTimeout.Milliseconds()),
		fmt.Sprintf("sentinel parallel-syncs %s 1", master),
		"",
	}, "\n")
	for range 3 {
		n := startSentinelProcess(t, conf)
		// Refresh INFO every second instead of every ten (Redis 7+; older
		// servers lack SENTINEL DEBUG and keep ten). This only shortens how
		// long Sentinel takes to notice that an old primary still says
		// "master" and turn it into a replica; how fast a failover is
		// announced does not depend on it (Sentinel polls a promoted
		// replica every second in any case).
		_, _ = do(n.Addr, time.Second, "SENTINEL", "DEBUG", "info-period", "1000")
		s.Sentinels = append(s.Sentinels, n)
	}
	if err := s.WaitHealthy(30 * time.Second); err != nil {
		t.Fatalf("redistest: sentinel deployment did not come up: %v", err)
	}
	return s
}

// startSentinelProcess starts one sentinel with conf as its (writable)
// configuration file, retrying on another port if the chosen one was taken.
func startSentinelProcess(t testing.TB, conf string) *Server {
	t.Helper()
	s := &Server{t: t, Dir: t.TempDir(), args: []string{"--sentinel"}}
	t.Cleanup(s.cleanup) // after TempDir's cleanup is registered: runs first
	s.conf = filepath.Join(s.Dir, "sentinel.conf")
	if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil {
		t.Fatalf("redistest: write sentinel config: %v", err)
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = s.launchOnFreePort(false); err != nil {
			break
		}
		s.mu.Lock()
		var exited bool
		exited, err = s.waitReady(time.Now().Add(readyTimeout))
		s.mu.Unlock()
		if err == nil || !exited {
			break
		}
		s.Kill()
	}
	if err != nil {
		s.Kill()
		t.Fatalf("redistest: start sentinel: %v\n%s", err, s.logTail(30))
	}
	return s
}

// SentinelAddrs returns the address of every sentinel, for
// redis.FailoverOptions.SentinelAddrs or REDIS_SENTINEL_ADDRS.
func (s *Sentinel) SentinelAddrs() []string {
	addrs := make([]string, len(s.Sentinels))
	for i, n := range s.Sentinels {
		addrs[i] = n.Addr
	}
	return addrs
}

// MasterAddr returns the primary's address as the first running sentinel
// that answers reports it (SENTINEL get-master-addr-by-name).
func (s *Sentinel) MasterAddr() (string, error) {
	var last error = fmt.Errorf("no running sentinel")
	for _, n := range s.Sentinels {
		if !n.Running() || n.Paused() {
			continue
		}
		addr, err := s.masterAddrFrom(n)
		if err == nil {
			return addr, nil
		}
		last = err
	}
	return "", last
}

func (s *Sentinel) masterAddrFrom(n *Server) (string, error) {
	v, err := do(n.Addr, time.Second, "SENTINEL", "get-master-addr-by-name", s.Master)
	if err != nil {
		return "", fmt.Errorf("sentinel %s: get-master-addr-by-name: %w", n.Addr, err)
	}
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		return "", fmt.Errorf("sentinel %s: get-master-addr-by-name: unexpected reply %v", n.Addr, v)
	}
	host, _ := a[0].(string)
	port, _ := a[1].(string)
	return net.JoinHostPort(host, port), nil
}

// Node returns the data node listening on addr, or nil.
func (s *Sentinel) Node(addr string) *Server {
	for _, n := range s.Data {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// Failover asks the first running sentinel to fail over now (SENTINEL
// FAILOVER <master>), as an operator would before maintenance: the replica
// is promoted without waiting for the primary to fail. It returns when the
// sentinel accepted the request; WaitSwitch waits for the outcome.
func (s *Sentinel) Failover() error {
	for _, n := range s.Sentinels {
		if !n.Running() || n.Paused() {
			continue
		}
		if _, err := doString(n.Addr, time.Second, "SENTINEL", "FAILOVER", s.Master); err != nil {
			return fmt.Errorf("sentinel %s: SENTINEL FAILOVER %s: %w", n.Addr, s.Master, err)
		}
		return nil
	}
	return fmt.Errorf("no running sentinel")
}

// WaitSwitch waits until every running sentinel names a primary other than
// from and that node reports role:master, and returns its address. It
// returns an error describing the last problem seen after timeout.
func (s *Sentinel) WaitSwitch(from string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		addr, err := s.agreedMaster()
		if err == nil && addr == from {
			err = fmt.Errorf("sentinels still name %s", from)
		}
		if err == nil {
			return addr, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no switch away from %s after %v: %w", from, timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// agreedMaster returns the primary every running sentinel names, when they
// agree and that node says it is a master.
func (s *Sentinel) agreedMaster() (string, error) {
	var agreed string
	for _, n := range s.Sentinels {
		if !n.Running() || n.Paused() {
			continue
		}
		addr, err := s.masterAddrFrom(n)
		if err != nil {
			return "", err
		}
		if agreed != "" && addr != agreed {
			return "", fmt.Errorf("sentinels disagree: %s and %s", agreed, addr)
		}
		agreed = addr
	}
	if agreed == "" {
		return "", fmt.Errorf("no running sentinel")
	}
	node := s.Node(agreed)
	if node == nil || !node.Running() || node.Paused() {
		return "", fmt.Errorf("sentinels name %s, which is not a running data node", agreed)
	}
	repl, err := doString(agreed, time.Second, "INFO", "replication")
	if err != nil {
		return "", fmt.Errorf("%s: INFO replication: %w", agreed, err)
	}
	if role := infoField(repl, "role"); role != "master" {
		return "", fmt.Errorf("sentinels name %s, which reports role:%s", agreed, role)
	}
	return agreed, nil
}

// WaitHealthy waits until the deployment is complete and settled: every
// running sentinel names the same primary, which reports role:master;
// every other running data node is its replica with the link up; and every
// sentinel sees the master without a down flag or a failover in progress,
// every running replica without a down flag, and every other running
// sentinel. After a failover this includes the old primary having been
// turned into a replica, which Sentinel does about ten seconds after the
// switch. It returns an error describing the last problem seen after
// timeout.
func (s *Sentinel) WaitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := s.check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not healthy after %v: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Sentinel) check() error {
	master, err := s.agreedMaster()
	if err != nil {
		return err
	}
	_, masterPort, _ := net.SplitHostPort(master)
	replicas := map[string]bool{}
	for _, n := range s.Data {
		if n.Addr == master || !n.Running() || n.Paused() {
			continue
		}
		repl, err := doString(n.Addr, time.Second, "INFO", "replication")
		if err != nil {
			return fmt.Errorf("%s: INFO replication: %w", n.Addr, err)
		}
		if infoField(repl, "role") != "slave" || infoField(repl, "master_port") != masterPort ||
			infoField(repl, "master_link_status") != "up" {
			return fmt.Errorf("%s: role:%s master_port:%s master_link_status:%s, want a linked replica of %s",
				n.Addr, infoField(repl, "role"), infoField(repl, "master_port"), infoField(repl, "master_link_status"), master)
		}
		replicas[n.Addr] = true
	}
	sentinels := 0
	for _, n := range s.Sentinels {
		if n.Running() && !n.Paused() {
			sentinels++
		}
	}
	for _, n := range s.Sentinels {
		if !n.Running() || n.Paused() {
			continue
		}
		m, err := s.fields(n, "MASTER", s.Master)
		if err != nil {
			return err
		}
		if m["flags"] != "master" {
			return fmt.Errorf("sentinel %s: master flags %q", n.Addr, m["flags"])
		}
		if got := m["num-other-sentinels"]; got != strconv.Itoa(sentinels-1) {
			return fmt.Errorf("sentinel %s: knows %s other sentinels, want %d", n.Addr, got, sentinels-1)
		}
		v, err := do(n.Addr, time.Second, "SENTINEL", "REPLICAS", s.Master)
		if err != nil {
			return fmt.Errorf("sentinel %s: SENTINEL REPLICAS: %w", n.Addr, err)
		}
		seen := 0
		list, _ := v.([]any)
		for _, r := range list {
			f := pairs(r)
			addr := net.JoinHostPort(f["ip"], f["port"])
			if !replicas[addr] {
				continue // a stopped node: Sentinel keeps it, flagged down
			}
			if f["flags"] != "slave" || f["master-link-status"] != "ok" {
				return fmt.Errorf("sentinel %s: replica %s flags %q, master link %q", n.Addr, addr, f["flags"], f["master-link-status"])
			}
			seen++
		}
		if seen != len(replicas) {
			return fmt.Errorf("sentinel %s: knows %d of %d running replicas", n.Addr, seen, len(replicas))
		}
	}
	return nil
}

// fields runs SENTINEL <sub> <args...> on n and returns the flat
// field/value reply as a map.
func (s *Sentinel) fields(n *Server, sub string, args ...string) (map[string]string, error) {
	v, err := do(n.Addr, time.Second, append([]string{"SENTINEL", sub}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("sentinel %s: SENTINEL %s: %w", n.Addr, sub, err)
	}
	return pairs(v), nil
}

// pairs turns a RESP2 array of alternating names and values into a map.
func pairs(v any) map[string]string {
	a, _ := v.([]any)
	m := make(map[string]string, len(a)/2)
	for i := 0; i+1 < len(a); i += 2 {
		k, _ := a[i].(string)
		val, _ := a[i+1].(string)
		m[k] = val
	}
	return m
}

// Client returns a failover client (redis.NewFailoverClient) for the
// deployment with short timeouts for fault tests (DialTimeout, ReadTimeout
// and WriteTimeout 250 ms, one dial attempt) and go-redis' default retries,
// so it follows a failover. It is closed when the test ends.
func (s *Sentinel) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:    s.Master,
		SentinelAddrs: s.SentinelAddrs(),
		DialTimeout:   250 * time.Millisecond,
		ReadTimeout:   250 * time.Millisecond,
		WriteTimeout:  250 * time.Millisecond,
		PoolTimeout:   500 * time.Millisecond,
		DialerRetries: 1,
	})
	t.Cleanup(func() { closeClient(t, c) })
	return c
}
