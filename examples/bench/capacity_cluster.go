package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	capacityCluster = flag.String("cluster", "",
		"with -capacity: comma-separated addresses of a Redis Cluster that gets the same load as the single node, row by row")
	capacityPrivateCluster = flag.String("private-cluster", "",
		"with -capacity: start a private 3-master Redis Cluster with this redis-server binary on free loopback ports and use it as -cluster")
)

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// slotRange is a run of slots owned by one master (an index into
// target.nodes).
type slotRange struct{ start, end, master int }

// capacityClusterAddrs returns the cluster addresses given by -cluster, or
// starts the private cluster -private-cluster asks for (and returns its
// stop function). Neither: nil.
func capacityClusterAddrs() ([]string, func(), error) {
	switch {
	case *capacityPrivateCluster != "" && *capacityCluster != "":
		return nil, nil, fmt.Errorf("-cluster and -private-cluster exclude each other")
	case *capacityPrivateCluster != "":
		return startPrivateCluster(*capacityPrivateCluster, 3)
	case *capacityCluster != "":
		fmt.Fprintln(os.Stderr, "bench: -cluster: other clients of this cluster distort INFO commandstats; -private-cluster avoids that")
		return strings.Split(*capacityCluster, ","), nil, nil
	}
	return nil, nil, nil
}

// newClusterTarget connects to the cluster at addrs, finds its masters and
// their slots (CLUSTER SLOTS), and counts the commands the cluster client
// sends to each master with a hook on that master's node client.
func newClusterTarget(ctx context.Context, cfg config, addrs []string) (*target, error) {
	probe := redis.NewClient(&redis.Options{Addr: strings.TrimSpace(addrs[0])})
	//lint:ignore SA1019 CLUSTER SLOTS answers on Redis 6 too; CLUSTER SHARDS needs 7.
	slots, err := probe.ClusterSlots(ctx).Result()
	_ = probe.Close()
	if err != nil {
		return nil, fmt.Errorf("cluster at %s: %w", addrs[0], err)
	}
	t := &target{label: "cluster"}
	index := map[string]int{}
	for _, s := range slots {
		if len(s.Nodes) == 0 {
			continue
		}
		addr := s.Nodes[0].Addr
		i, ok := index[addr]
		if !ok {
			i = len(t.nodes)
			index[addr] = i
			t.nodes = append(t.nodes, &capNode{addr: addr, admin: redis.NewClient(&redis.Options{Addr: addr}), sent: &cmdCounter{}})
		}
		t.slots = append(t.slots, slotRange{s.Start, s.End, i})
	}
	if len(t.nodes) == 0 {
		return nil, fmt.Errorf("cluster at %s: no slots assigned", addrs[0])
	}
	// ContextTimeoutEnabled stays off, as on the single node.
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, PoolSize: cfg.conns + 10})
	// The map is complete before the client makes its first node client.
	cc.OnNewNode(func(c *redis.Client) {
		if i, ok := index[c.Options().Addr]; ok {
			c.AddHook(t.nodes[i].sent)
		}
	})
	t.client = cc
	if err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() }); err != nil {
		t.close()
		return nil, fmt.Errorf("cluster at %s: %w", addrs[0], err)
	}
	return t, nil
}

// startPrivateCluster starts n redis-server masters with cluster mode on
// free loopback ports (bus ports included), without persistence, splits
// the slots evenly between them, joins them, and waits until every node
// reports the cluster ok. It returns the addresses and a function that
// stops the servers and removes their directory.
func startPrivateCluster(bin string, n int) ([]string, func(), error) {
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "bench-cluster-")
	if err != nil {
		return nil, nil, err
	}
	var cmds []*exec.Cmd
	stop := func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
		_ = os.RemoveAll(dir)
	}
	var addrs []string
	for i := range n {
		port, bus := ports[2*i], ports[2*i+1]
		nd := filepath.Join(dir, strconv.Itoa(port))
		if err := os.Mkdir(nd, 0o700); err != nil {
			stop()
			return nil, nil, err
		}
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--cluster-port", strconv.Itoa(bus),
			"--bind", "127.0.0.1", "--protected-mode", "yes", "--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf", "--dir", nd, "--save", "", "--appendonly", "no")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			stop()
			return nil, nil, fmt.Errorf("start %s: %w", bin, err)
		}
		cmds = append(cmds, cmd)
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(port))
	}
	if err := formCluster(addrs, ports); err != nil {
		stop()
		return nil, nil, err
	}
	return addrs, stop, nil
}

// formCluster assigns each node an even share of the slots, introduces the
// nodes to the first one, and waits for every node to see them all.
func formCluster(addrs []string, ports []int) error {
	ctx := context.Background()
	var clients []*redis.Client
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for i, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		clients = append(clients, c)
		for c.Ping(ctx).Err() != nil {
			if time.Now().After(deadline) {
				return fmt.Errorf("private cluster node %s did not answer", a)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := c.Do(ctx, "cluster", "set-config-epoch", i+1).Err(); err != nil {
			return fmt.Errorf("%s: cluster set-config-epoch: %w", a, err)
		}
		lo, hi := i*clusterSlots/len(addrs), (i+1)*clusterSlots/len(addrs)
		args := []any{"cluster", "addslots"}
		for s := lo; s < hi; s++ {
			args = append(args, s)
		}
		if err := c.Do(ctx, args...).Err(); err != nil {
			return fmt.Errorf("%s: cluster addslots: %w", a, err)
		}
	}
	for i := 1; i < len(addrs); i++ {
		if err := clients[0].Do(ctx, "cluster", "meet", "127.0.0.1", ports[2*i], ports[2*i+1]).Err(); err != nil {
			return fmt.Errorf("cluster meet %s: %w", addrs[i], err)
		}
	}
	for _, c := range clients {
		for {
			info, err := c.ClusterInfo(ctx).Result()
			if err == nil && infoField(info, "cluster_state") == "ok" &&
				infoField(info, "cluster_known_nodes") == strconv.Itoa(len(addrs)) {
				//lint:ignore SA1019 CLUSTER SLOTS answers on Redis 6 too; CLUSTER SHARDS needs 7.
				slots, err := c.ClusterSlots(ctx).Result()
				if err == nil && len(slots) == len(addrs) {
					break
				}
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("private cluster did not form: %s", strings.TrimSpace(info))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// freePorts returns n distinct free loopback ports (held open together
// while they are picked, so none repeats).
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// keySlot is the Redis Cluster hash slot of key: CRC16 (XMODEM) of the
// key, or of its hash tag (the part between the first { and the next }
// when that part is not empty), modulo 16384.
func keySlot(key string) int {
	if s := strings.IndexByte(key, '{'); s >= 0 {
		if e := strings.IndexByte(key[s+1:], '}'); e > 0 {
			key = key[s+1 : s+1+e]
		}
	}
	return int(crc16(key) % clusterSlots)
}

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

// masterOf is the index of the master that owns slot, or -1.
func masterOf(t *target, slot int) int {
	for _, r := range t.slots {
		if slot >= r.start && slot <= r.end {
			return r.master
		}
	}
	return -1
}

// cacheGroupsPerMaster counts cachehttp's hash-tag groups {g0}..{gN-1} per
// master.
func cacheGroupsPerMaster(t *target, groups int) []int {
	out := make([]int, len(t.nodes))
	for g := range groups {
		if m := masterOf(t, keySlot("{g"+strconv.Itoa(g)+"}")); m >= 0 {
			out[m]++
		}
	}
	return out
}

// model is what a row's keys predict for a cluster: how its commands
// spread over the masters.
type model struct {
	kind spreadKind
	text string
	tags []string // spreadTags: the hash tags the row's operations use, equally often
}

type spreadKind int

const (
	// spreadSlots: many keys hashed over all slots; each master gets its
	// share of the slots.
	spreadSlots spreadKind = iota
	// spreadGroups: keys spread evenly over cachehttp's 64 hash-tag groups;
	// each master gets its share of the groups.
	spreadGroups
	// oneMaster: every command goes to one master.
	oneMaster
	// spreadTags: a few hash tags, used equally often; each master gets
	// its share of them.
	spreadTags
)

// largestShare is the share of the row's commands that the model gives
// the busiest master.
func (m model) largestShare(t *target) float64 {
	var top float64
	switch m.kind {
	case oneMaster:
		return 1
	case spreadGroups:
		for _, n := range cacheGroupsPerMaster(t, 64) {
			top = max(top, float64(n)/64)
		}
	case spreadTags:
		per := make([]int, len(t.nodes))
		for _, tag := range m.tags {
			if i := masterOf(t, keySlot("{"+tag+"}")); i >= 0 {
				per[i]++
			}
		}
		for _, n := range per {
			top = max(top, float64(n)/float64(len(m.tags)))
		}
	default:
		owned := make([]int, len(t.nodes))
		for _, r := range t.slots {
			owned[r.master] += r.end - r.start + 1
		}
		for _, n := range owned {
			top = max(top, float64(n)/clusterSlots)
		}
	}
	return top
}
