package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterNodeTimeout is cluster-node-timeout for private clusters: a
// killed master is failed over by its replica within a few seconds.
const clusterNodeTimeout = 1000 * time.Millisecond

// Cluster is a private Redis Cluster of redis-server processes on free
// loopback ports, built with redis-cli --cluster create. Its nodes can be
// killed, paused and restarted one by one. Which nodes are masters is
// redis-cli's choice and changes on failover: use MasterFor.
type Cluster struct {
	// Nodes are all the cluster's servers, in creation order.
	Nodes []*Server
}

// StartCluster starts masters*(1+replicasPerMaster) cluster-enabled
// redis-server processes (cluster-node-timeout 1000 ms, any replica allowed
// to fail over), creates the cluster with
// `redis-cli --cluster create ... --cluster-replicas R --cluster-yes` and
// waits until every node reports cluster_state:ok with all 16384 slots
// assigned and every replica is linked to its master. masters must be at
// least 3 (a redis-cli requirement). It skips or fails the test as
// RequireRedisServer does when redis-server or redis-cli is missing.
func StartCluster(t testing.TB, masters, replicasPerMaster int) *Cluster {
	t.Helper()
	RequireRedisServer(t)
	requireBinary(t, "redis-cli")
	if masters < 3 || replicasPerMaster < 0 {
		t.Fatalf("redistest: StartCluster(%d, %d): need at least 3 masters", masters, replicasPerMaster)
	}
	c := &Cluster{}
	args := []string{
		"--cluster-enabled", "yes",
		"--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", strconv.Itoa(int(clusterNodeTimeout / time.Millisecond)),
		"--cluster-replica-validity-factor", "0",
		"--repl-ping-replica-period", "1",
		"--repl-diskless-sync-delay", "0", // replicas sync at once, not after 5 s
	}
	c.Nodes = startServers(t, masters*(1+replicasPerMaster), true, args)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cli := append([]string{"--cluster", "create"}, c.Addrs()...)
	cli = append(cli, "--cluster-replicas", strconv.Itoa(replicasPerMaster), "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", cli...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli %s: %v\n%s", strings.Join(cli, " "), err, out)
	}
	if err := c.waitFormed(len(c.Nodes), replicasPerMaster > 0, 30*time.Second); err != nil {
		t.Fatalf("redistest: cluster did not form: %v", err)
	}
	return c
}

// Addrs returns the address of every node, masters and replicas.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return addrs
}

// Client returns a cluster client seeded with every node, with short
// timeouts for fault tests (DialTimeout, ReadTimeout and WriteTimeout
// 250 ms, one dial attempt) and go-redis' default redirect and retry
// handling, so it follows a failover. It is closed when the test ends.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:         c.Addrs(),
		DialTimeout:   250 * time.Millisecond,
		ReadTimeout:   250 * time.Millisecond,
		WriteTimeout:  250 * time.Millisecond,
		PoolTimeout:   500 * time.Millisecond,
		DialerRetries: 1,
	})
	t.Cleanup(func() { closeClient(t, cc) })
	return cc
}

// MasterFor returns the node that currently serves key's hash slot,
// according to the most recent configuration (highest config epoch) any
// running node reports, or nil if no running node answers.
func (c *Cluster) MasterFor(key string) *Server {
	slot := KeySlot(key)
	bestEpoch, bestPort := int64(-1), 0
	for _, n := range c.Nodes {
		if !n.Running() || n.Paused() {
			continue
		}
		nodes, err := doString(n.Addr, time.Second, "CLUSTER", "NODES")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(nodes, "\n") {
			f := strings.Fields(l)
			if len(f) < 9 || !hasFlag(f[2], "master") || !servesSlot(f[8:], slot) {
				continue
			}
			epoch, _ := strconv.ParseInt(f[6], 10, 64)
			if epoch > bestEpoch {
				bestEpoch, bestPort = epoch, nodePort(f[1])
			}
		}
	}
	return c.node(bestPort)
}

// WaitHealthy waits until every running, unpaused node reports
// cluster_state:ok with all 16384 slots served, and routes every slot to a
// running, unpaused master (so after killing a master it waits for the
// failover, not just for the others' stale "ok"). It returns an error describing the last problem seen
// if that does not happen within timeout.
func (c *Cluster) WaitHealthy(timeout time.Duration) error {
	return c.waitFormed(0, false, timeout)
}

// waitFormed polls CLUSTER INFO (and, with linked, INFO replication) on
// every running node; knownNodes > 0 also requires each node to know that
// many nodes.
func (c *Cluster) waitFormed(knownNodes int, linked bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := c.check(knownNodes, linked)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not healthy after %v: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Cluster) check(knownNodes int, linked bool) error {
	up := 0
	for _, n := range c.Nodes {
		if !n.Running() || n.Paused() {
			continue
		}
		up++
		info, err := doString(n.Addr, time.Second, "CLUSTER", "INFO")
		if err != nil {
			return fmt.Errorf("%s: CLUSTER INFO: %w", n.Addr, err)
		}
		for _, want := range [][2]string{
			{"cluster_state", "ok"},
			{"cluster_slots_assigned", "16384"},
			{"cluster_slots_ok", "16384"},
		} {
			if got := infoField(info, want[0]); got != want[1] {
				return fmt.Errorf("%s: %s:%s", n.Addr, want[0], got)
			}
		}
		if err := c.checkOwners(n); err != nil {
			return err
		}
		if knownNodes > 0 {
			if got := infoField(info, "cluster_known_nodes"); got != strconv.Itoa(knownNodes) {
				return fmt.Errorf("%s: cluster_known_nodes:%s, want %d", n.Addr, got, knownNodes)
			}
		}
		if linked {
			repl, err := doString(n.Addr, time.Second, "INFO", "replication")
			if err != nil {
				return fmt.Errorf("%s: INFO replication: %w", n.Addr, err)
			}
			if infoField(repl, "role") == "slave" && infoField(repl, "master_link_status") != "up" {
				return fmt.Errorf("%s: replica link to master is %s", n.Addr, infoField(repl, "master_link_status"))
			}
		}
	}
	if up == 0 {
		return fmt.Errorf("no running node")
	}
	return nil
}

// checkOwners verifies that, in n's view, every master serving slots is one
// of our nodes and is running and not paused (right after a kill, the
// other nodes still say cluster_state:ok until they detect the failure).
func (c *Cluster) checkOwners(n *Server) error {
	nodes, err := doString(n.Addr, time.Second, "CLUSTER", "NODES")
	if err != nil {
		return fmt.Errorf("%s: CLUSTER NODES: %w", n.Addr, err)
	}
	for _, l := range strings.Split(nodes, "\n") {
		f := strings.Fields(l)
		if len(f) < 9 || !hasFlag(f[2], "master") {
			continue
		}
		owner := c.node(nodePort(f[1]))
		if owner == nil || !owner.Running() || owner.Paused() {
			return fmt.Errorf("%s: still routes slots %s to down node %s", n.Addr, f[8], f[1])
		}
	}
	return nil
}

// node returns the node listening on port, or nil.
func (c *Cluster) node(port int) *Server {
	for _, n := range c.Nodes {
		if n.Port == port {
			return n
		}
	}
	return nil
}

func hasFlag(flags, flag string) bool {
	for _, f := range strings.Split(flags, ",") {
		if f == flag {
			return true
		}
	}
	return false
}

// nodePort extracts the port from "ip:port@cport[,hostname]".
func nodePort(addr string) int {
	addr, _, _ = strings.Cut(addr, "@")
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		p, _ := strconv.Atoi(addr[i+1:])
		return p
	}
	return 0
}

// servesSlot reports whether CLUSTER NODES slot fields ("0-5460", "42",
// "[93->-id]" for migrations) include slot.
func servesSlot(fields []string, slot int) bool {
	for _, f := range fields {
		if strings.HasPrefix(f, "[") {
			continue
		}
		lo, hi, isRange := strings.Cut(f, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		if slot >= a && slot <= b {
			return true
		}
	}
	return false
}

// KeySlot returns the Redis Cluster hash slot of key (CRC16 of the key, or
// of its first non-empty {hash tag}, modulo 16384), as CLUSTER KEYSLOT does.
func KeySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16(key) % 16384)
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0).
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
