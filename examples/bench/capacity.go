package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// capacityFlag selects the capacity model instead of the HTTP comparison.
var capacityFlag = flag.Bool("capacity", false,
	"measure Redis-side cost per feature operation (INFO commandstats and cpu) and memory per entry, and print a capacity table")

// capacityEntries is how many cache entries, rate-limit identities, lock
// keys and idempotency records are written for the memory figures (and
// read by the cold-key rows).
var capacityEntries = flag.Int("capacity-entries", 20000,
	"with -capacity: entries written per memory figure (cache entries, rate-limit identities, lock keys, idempotency records)")

// capacityTagged is how many entries one tag invalidation removes.
const capacityTagged = 1000

// cmdStat is one command's cumulative calls and microseconds.
type cmdStat struct{ calls, usec int64 }

// target is one Redis deployment the rows run against: a single server,
// or the masters of a cluster.
type target struct {
	label  string
	client redis.UniversalClient
	nodes  []*capNode
	slots  []slotRange // cluster only: which master owns which slots
}

// capNode is one server (a master, on a cluster): an admin client for INFO
// and CONFIG RESETSTAT, and a hook counting the commands the target's
// client sent to it.
type capNode struct {
	addr  string
	admin *redis.Client
	sent  *cmdCounter
}

func (t *target) close() {
	_ = t.client.Close()
	for _, n := range t.nodes {
		_ = n.admin.Close()
	}
}

// newSingleTarget connects to one Redis server.
func newSingleTarget(ctx context.Context, cfg config) (*target, error) {
	n := &capNode{addr: cfg.redisAddr, admin: redis.NewClient(&redis.Options{Addr: cfg.redisAddr}), sent: &cmdCounter{}}
	if err := n.admin.Ping(ctx).Err(); err != nil {
		_ = n.admin.Close()
		return nil, fmt.Errorf("redis at %s: %w", cfg.redisAddr, err)
	}
	// ContextTimeoutEnabled stays off (the packages log a notice about it):
	// with it, a command that a busy machine delays past the packages'
	// short deadlines opens their breakers, and the row would be served
	// partly from the in-memory fallback instead of Redis.
	client := redis.NewClient(&redis.Options{Addr: cfg.redisAddr, PoolSize: cfg.conns + 10})
	client.AddHook(n.sent)
	return &target{label: "single node", client: client, nodes: []*capNode{n}}, nil
}

// openConns opens conns connections from the client to every node before
// anything is measured, so that the memory figures do not include new
// connections.
func (t *target) openConns(ctx context.Context, conns int) error {
	pings := func(ctx context.Context, c redis.Cmdable) error {
		errs := make([]error, conns)
		var wg sync.WaitGroup
		for i := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = c.Ping(ctx).Err()
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	if cc, ok := t.client.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return pings(ctx, c) })
	}
	return pings(ctx, t.client)
}

// nodeSnap is one server's counters at one moment.
type nodeSnap struct {
	stats map[string]cmdStat
	sent  map[string]int64
	cpu   float64 // used_cpu_user + used_cpu_sys, seconds
}

// snap is a target's counters, the time and this process's CPU at one
// moment.
type snap struct {
	nodes      []nodeSnap
	at         time.Time
	clientCPU  float64
	machineCPU float64
}

// resetStats runs CONFIG RESETSTAT on every node, so INFO commandstats
// starts from zero for the row.
func (t *target) resetStats(ctx context.Context) error {
	for _, n := range t.nodes {
		if err := n.admin.ConfigResetStat(ctx).Err(); err != nil {
			return fmt.Errorf("%s: %w", n.addr, err)
		}
	}
	return nil
}

// snapshot reads INFO commandstats and cpu from every node and the client
// side counts. before says which side of the measured interval it is on,
// so the clock and the client CPU are read next to the interval.
func (t *target) snapshot(ctx context.Context, before bool) (snap, error) {
	var s snap
	if !before {
		s.at, s.clientCPU, s.machineCPU = time.Now(), ownCPU(), machineCPU()
	}
	for _, n := range t.nodes {
		info, err := n.admin.Info(ctx, "commandstats", "cpu").Result()
		if err != nil {
			return s, fmt.Errorf("%s: %w", n.addr, err)
		}
		cpu, _ := strconv.ParseFloat(infoField(info, "used_cpu_user"), 64)
		sys, _ := strconv.ParseFloat(infoField(info, "used_cpu_sys"), 64)
		s.nodes = append(s.nodes, nodeSnap{stats: parseCommandStats(info), sent: n.sent.snapshot(), cpu: cpu + sys})
	}
	if before {
		s.at, s.clientCPU, s.machineCPU = time.Now(), ownCPU(), machineCPU()
	}
	return s, nil
}

// meas accumulates the differences between snapshots over a row's
// measured intervals.
type meas struct {
	ops        int64
	wall       time.Duration
	clientCPU  float64
	machineCPU float64
	nodes      []nodeSnap // differences
}

func (m *meas) add(before, after snap, ops int64) {
	m.ops += ops
	m.wall += after.at.Sub(before.at)
	m.clientCPU += after.clientCPU - before.clientCPU
	m.machineCPU += after.machineCPU - before.machineCPU
	if m.nodes == nil {
		m.nodes = make([]nodeSnap, len(after.nodes))
		for i := range m.nodes {
			m.nodes[i] = nodeSnap{stats: map[string]cmdStat{}, sent: map[string]int64{}}
		}
	}
	for i := range after.nodes {
		d := &m.nodes[i]
		for k, v := range diffStats(before.nodes[i].stats, after.nodes[i].stats) {
			t := d.stats[k]
			t.calls += v.calls
			t.usec += v.usec
			d.stats[k] = t
		}
		for k, v := range diffCounts(before.nodes[i].sent, after.nodes[i].sent) {
			d.sent[k] += v
		}
		d.cpu += after.nodes[i].cpu - before.nodes[i].cpu
	}
}

// nodeRow is one server's share of a row, per operation.
type nodeRow struct {
	cmds     float64 // commands the client sent to it
	executed float64 // commands it executed, those run by scripts included (INFO commandstats)
	usec     float64 // its command execution time (INFO commandstats)
	cpu      float64 // its process CPU time (INFO cpu), µs
}

// capRow is one line of the capacity table, for one target.
type capRow struct {
	name      string
	ops       int64
	wall      time.Duration
	clientCPU float64 // seconds of this process's CPU over wall
	machine   float64 // seconds of the whole machine's CPU over wall
	cmds      float64 // Redis commands sent per operation
	usec      float64 // Redis command execution µs per operation
	cpu       float64 // Redis process CPU µs per operation
	commands  string  // the commands seen, most frequent first
	nodes     []nodeRow
	mem       memFig
}

func (r capRow) opsPerSec() float64 {
	if r.wall <= 0 {
		return 0
	}
	return float64(r.ops) / r.wall.Seconds()
}

// redisCores is the Redis servers' CPU over the row's wall time, in
// cores (summed over nodes).
func (r capRow) redisCores() float64 {
	if r.wall <= 0 {
		return 0
	}
	return r.cpu * float64(r.ops) / 1e6 / r.wall.Seconds()
}

// busiestCPU is the Redis CPU µs per operation of the node that spends the
// most: the first to run out of its core when the load grows.
func (r capRow) busiestCPU() float64 {
	var top float64
	for _, n := range r.nodes {
		top = max(top, n.cpu)
	}
	return top
}

func (r capRow) clientCores() float64 {
	if r.wall <= 0 {
		return 0
	}
	return r.clientCPU / r.wall.Seconds()
}

// machineCores is the whole machine's CPU over the row's wall time, in
// cores: bench and Redis, and whatever else ran.
func (r capRow) machineCores() float64 {
	if r.wall <= 0 {
		return 0
	}
	return r.machine / r.wall.Seconds()
}

// memFig is the memory growth per entry written, and how it spread over
// the nodes.
type memFig struct {
	perEntry float64
	share    []float64
	label    string // what one entry is, for the memory table; "" when not measured
}

// maybeRunCapacity runs the capacity model and exits when -capacity is set;
// otherwise it returns and the HTTP comparison runs.
func maybeRunCapacity(cfg config, private string) {
	if *capacityFlag {
		os.Exit(runCapacity(cfg, private, os.Stdout))
	}
}

// runCapacity drives each feature in-process against Redis (and, with
// -cluster or -private-cluster, against a Redis Cluster under the same
// load, row by row), reads INFO commandstats and cpu around it, and prints
// markdown tables. It returns the process exit code.
func runCapacity(cfg config, private string, out io.Writer) int {
	if err := capacityMain(cfg, private, out); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}

func capacityMain(cfg config, private string, out io.Writer) error {
	if cfg.conns < 1 || cfg.duration <= 0 || cfg.bodySize < 1 || *capacityEntries < 1 {
		return fmt.Errorf("-conns, -duration, -body and -capacity-entries must be positive")
	}
	if private != "" {
		addr, stop, err := startPrivateRedis(private)
		if err != nil {
			return err
		}
		defer stop()
		cfg.redisAddr = addr
	} else {
		fmt.Fprintln(os.Stderr, "bench: -capacity without -private-redis: other clients of this Redis distort INFO commandstats")
	}
	ctx := context.Background()
	single, err := newSingleTarget(ctx, cfg)
	if err != nil {
		return err
	}
	defer single.close()
	targets := []*target{single}
	addrs, stopCluster, err := capacityClusterAddrs()
	if err != nil {
		return err
	}
	if stopCluster != nil {
		defer stopCluster()
	}
	if len(addrs) > 0 {
		ct, err := newClusterTarget(ctx, cfg, addrs)
		if err != nil {
			return err
		}
		defer ct.close()
		targets = append(targets, ct)
	}
	for _, t := range targets {
		if err := t.openConns(ctx, cfg.conns); err != nil {
			return err
		}
	}
	rows, err := runCapacityCases(ctx, cfg, targets)
	if err != nil {
		return err
	}
	printCapacity(ctx, out, cfg, targets, rows)
	return nil
}

// runCapacityCases runs every case on every target and returns
// rows[case][target]. With two targets each case alternates between them
// (A B, then B A) so that drift on the machine hits both alike.
func runCapacityCases(ctx context.Context, cfg config, targets []*target) ([][]capRow, error) {
	runID := make([]byte, 4)
	_, _ = rand.Read(runID)
	envs := make([]*capEnv, len(targets))
	for i, t := range targets {
		envs[i] = &capEnv{cfg: cfg, t: t, prefix: "cap:" + hex.EncodeToString(runID) + ":", body: strings.Repeat("a", cfg.bodySize)}
		defer envs[i].close()
	}
	var rows [][]capRow
	for _, cs := range capacityCases(cfg.conns) {
		r, err := runCase(ctx, cfg, envs, cs)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// prepared is a case set up on one target.
type prepared struct {
	op      func(worker int, i int64) error
	mem     memFig
	cleanup func()
}

// capCase is one row of the table.
type capCase struct {
	name string
	// model says how the row's commands should spread over a cluster's
	// masters.
	model   model
	prepare func(ctx context.Context, e *capEnv) (prepared, error)
	// minCmds is the fewest commands per operation that prove every
	// operation reached Redis (0: not checked). Fewer means a breaker
	// opened and the in-memory fallback served some of them.
	minCmds float64
	// perCall, when set, measures the operation itself, one call at a
	// time, for about d (tag invalidation); op is then unused.
	perCall func(ctx context.Context, e *capEnv, d time.Duration, m *meas) error
}

func runCase(ctx context.Context, cfg config, envs []*capEnv, cs capCase) ([]capRow, error) {
	start := time.Now()
	preps := make([]prepared, len(envs))
	for k, e := range envs {
		p, err := cs.prepare(ctx, e)
		if err != nil {
			return nil, fmt.Errorf("%s on %s: %w", cs.name, e.t.label, err)
		}
		if p.cleanup != nil {
			defer p.cleanup()
		}
		preps[k] = p
	}
	if cs.perCall == nil {
		for k, e := range envs {
			if _, err := phase(cfg.conns, cfg.warmup, preps[k].op); err != nil {
				return nil, fmt.Errorf("%s on %s: %w", cs.name, e.t.label, err)
			}
		}
	}
	ms := make([]meas, len(envs))
	rounds := 1
	if len(envs) > 1 {
		rounds = 4 // A B, B A, A B, B A: each target gets cfg.duration in four parts
	}
	d := cfg.duration / time.Duration(rounds)
	for r := range rounds {
		for j := range envs {
			k := j
			if r%2 == 1 {
				k = len(envs) - 1 - j
			}
			var err error
			if cs.perCall != nil {
				err = cs.perCall(ctx, envs[k], d, &ms[k])
			} else {
				err = measurePhase(ctx, envs[k].t, cfg.conns, d, preps[k].op, &ms[k])
			}
			if err != nil {
				return nil, fmt.Errorf("%s on %s: %w", cs.name, envs[k].t.label, err)
			}
		}
	}
	out := make([]capRow, len(envs))
	for k := range envs {
		out[k] = perOp(cs.name, &ms[k])
		out[k].mem = preps[k].mem
		if out[k].cmds < cs.minCmds-0.005 {
			out[k].name += " ⚠"
			fmt.Fprintf(os.Stderr, "bench: %s on %s: %.2f commands per operation, not %.0f: some were served by the in-memory fallback (a breaker opened); its figures are not Redis's\n",
				cs.name, envs[k].t.label, out[k].cmds, cs.minCmds)
		}
		r := out[k]
		fmt.Fprintf(os.Stderr, "%-12s %-48s %8.0f ops/s  %.2f cmds/op  %.2f usec/op  %.2f cpu usec/op  cores %.2f+%.2f/%.2f  %s\n",
			envs[k].t.label, r.name, r.opsPerSec(), r.cmds, r.usec, r.cpu, r.clientCores(), r.redisCores(), r.machineCores(), r.commands)
	}
	fmt.Fprintf(os.Stderr, "%-12s %-48s %.1fs\n", "", "(row time)", time.Since(start).Seconds())
	return out, nil
}

// phase runs op from conns goroutines for d and returns how many calls
// completed.
func phase(conns int, d time.Duration, op func(worker int, i int64) error) (int64, error) {
	var ops atomic.Int64
	var firstErr atomic.Value
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(0); time.Now().Before(stop); i++ {
				if err := op(w, i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				ops.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, err
	}
	return ops.Load(), nil
}

// measurePhase resets the target's commandstats, runs op for d and adds
// the differences to m.
func measurePhase(ctx context.Context, t *target, conns int, d time.Duration, op func(int, int64) error, m *meas) error {
	if err := t.resetStats(ctx); err != nil {
		return err
	}
	before, err := t.snapshot(ctx, true)
	if err != nil {
		return err
	}
	n, err := phase(conns, d, op)
	if err != nil {
		return err
	}
	after, err := t.snapshot(ctx, false)
	if err != nil {
		return err
	}
	m.add(before, after, n)
	return nil
}

// memoryPer writes n entries with put, from conns goroutines, and returns
// the used_memory growth per entry (connection buffers left out) and its
// spread over the nodes.
func memoryPer(ctx context.Context, t *target, conns, n int, label string, put func(i int) error) (memFig, error) {
	before, err := usedMemory(ctx, t)
	if err != nil {
		return memFig{}, err
	}
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += conns {
				if err := put(i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return memFig{}, err
	}
	after, err := usedMemory(ctx, t)
	if err != nil {
		return memFig{}, err
	}
	var total int64
	for i := range after {
		total += after[i] - before[i]
	}
	fig := memFig{perEntry: float64(total) / float64(n), label: label}
	for i := range after {
		if total > 0 {
			fig.share = append(fig.share, float64(after[i]-before[i])/float64(total))
		}
	}
	return fig, nil
}

func usedMemory(ctx context.Context, t *target) ([]int64, error) {
	var out []int64
	for _, n := range t.nodes {
		info, err := n.admin.Info(ctx, "memory").Result()
		if err != nil {
			return nil, err
		}
		v, err := strconv.ParseInt(infoField(info, "used_memory"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: used_memory: %w", n.addr, err)
		}
		// Connection buffers grow and shrink with the load, not with the
		// data: leave them out where Redis reports them (Redis 7+).
		if c, err := strconv.ParseInt(infoField(info, "mem_clients_normal"), 10, 64); err == nil {
			v -= c
		}
		out = append(out, v)
	}
	return out, nil
}

func infoField(info, field string) string {
	for l := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), field+":"); ok {
			return v
		}
	}
	return "?"
}

// ignoredCommand reports the commands that are not part of an operation:
// those this program sends to measure (INFO, CONFIG), connection set-up and
// cluster topology (HELLO, CLIENT, PING, CLUSTER, COMMAND, READONLY), and
// MULTI/EXEC, whose queued commands are counted themselves.
func ignoredCommand(name string) bool {
	base, _, _ := strings.Cut(name, "|")
	switch base {
	case "info", "config", "hello", "client", "ping", "cluster", "command", "readonly", "multi", "exec":
		return true
	}
	return false
}

// parseCommandStats parses INFO commandstats, leaving out ignoredCommand.
func parseCommandStats(info string) map[string]cmdStat {
	out := map[string]cmdStat{}
	for l := range strings.SplitSeq(info, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(l), "cmdstat_")
		if !ok {
			continue
		}
		cmd, fields, ok := strings.Cut(rest, ":")
		if !ok || ignoredCommand(cmd) {
			continue
		}
		var s cmdStat
		for f := range strings.SplitSeq(fields, ",") {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "calls":
				s.calls, _ = strconv.ParseInt(v, 10, 64)
			case "usec":
				s.usec, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		out[cmd] = s
	}
	return out
}

func diffStats(before, after map[string]cmdStat) map[string]cmdStat {
	out := map[string]cmdStat{}
	for k, a := range after {
		b := before[k]
		if d := (cmdStat{a.calls - b.calls, a.usec - b.usec}); d.calls > 0 {
			out[k] = d
		}
	}
	return out
}

// cmdCounter is a go-redis hook that counts the commands a client sends,
// by name, so that commands run inside scripts (which INFO commandstats
// also lists, and whose time the script's own entry already includes) are
// not counted twice.
type cmdCounter struct {
	mu sync.Mutex
	n  map[string]int64
}

func (c *cmdCounter) add(cmds ...redis.Cmder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int64{}
	}
	for _, cmd := range cmds {
		c.n[strings.ToLower(cmd.Name())]++
	}
}

func (c *cmdCounter) snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// DialHook passes dials through.
func (c *cmdCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook counts one command.
func (c *cmdCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.add(cmd)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook counts every command of a pipeline or transaction.
func (c *cmdCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.add(cmds...)
		return next(ctx, cmds)
	}
}

func diffCounts(before, after map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, a := range after {
		if d := a - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// perOp turns one measurement into per-operation figures. Commands are
// those the client sent (top level); each is charged its node's mean
// usec_per_call for its name, so a script's EVALSHA carries the time of
// the commands it runs and they are not charged again.
func perOp(name string, m *meas) capRow {
	r := capRow{name: name, ops: m.ops, wall: m.wall, clientCPU: m.clientCPU, machine: m.machineCPU}
	if m.ops == 0 {
		return r
	}
	ops := float64(m.ops)
	sent := map[string]int64{}
	executed := map[string]int64{}
	for _, n := range m.nodes {
		var nr nodeRow
		for k, c := range n.sent {
			if ignoredCommand(k) {
				continue
			}
			sent[k] += c
			nr.cmds += float64(c)
			if s := n.stats[k]; s.calls > 0 {
				nr.usec += float64(c) * float64(s.usec) / float64(s.calls)
			}
		}
		for k, s := range n.stats {
			executed[k] += s.calls
			nr.executed += float64(s.calls)
		}
		nr.cmds /= ops
		nr.executed /= ops
		nr.usec /= ops
		nr.cpu = n.cpu * 1e6 / ops
		r.cmds += nr.cmds
		r.usec += nr.usec
		r.cpu += nr.cpu
		r.nodes = append(r.nodes, nr)
	}
	type kv struct {
		k string
		n int64
	}
	var list []kv
	for k, n := range sent {
		list = append(list, kv{k, n})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].n > list[j].n || list[i].n == list[j].n && list[i].k < list[j].k })
	var parts []string
	for _, e := range list {
		if per := float64(e.n) / ops; per >= 0.01 {
			parts = append(parts, fmt.Sprintf("%s ×%.2f", strings.ToUpper(e.k), per))
		}
	}
	var inner []string
	for k, c := range executed {
		if script := c - sent[k]; script > 0 && float64(script)/ops >= 0.01 {
			inner = append(inner, fmt.Sprintf("%s ×%.2f", strings.ToUpper(strings.ReplaceAll(k, "|", " ")), float64(script)/ops))
		}
	}
	sort.Strings(inner)
	r.commands = strings.Join(parts, ", ")
	if len(inner) > 0 {
		r.commands += "; in scripts: " + strings.Join(inner, ", ")
	}
	return r
}

// printCapacity writes the tables: rows on the single node with their
// per-core figures, the memory figures, and, with a cluster target, the
// side-by-side comparison and the per-master counts.
func printCapacity(ctx context.Context, out io.Writer, cfg config, targets []*target, rows [][]capRow) {
	info, _ := targets[0].nodes[0].admin.Info(ctx, "server").Result()
	fmt.Fprintf(out, "Go %s, %s/%s, %d CPUs; Redis %s; %d goroutines, %v per row and target, %d-byte values.\n\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), infoField(info, "redis_version"),
		cfg.conns, cfg.duration, cfg.bodySize)
	fmt.Fprintln(out, "Single node:")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| operation | Redis commands / op | command µs / op | Redis CPU µs / op | ops/s per Redis core: commands only | ops/s per Redis core: whole process | measured ops/s | commands |")
	fmt.Fprintln(out, "|---|---:|---:|---:|---:|---:|---:|---|")
	for _, rr := range rows {
		r := rr[0]
		fmt.Fprintf(out, "| %s | %.2f | %.2f | %.1f | %s | %s | %s | %s |\n", r.name, r.cmds, r.usec, r.cpu,
			perCore(r.usec), perCore(r.cpu), count(r.opsPerSec()), r.commands)
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "Memory (used_memory growth over %d entries; per 1M extrapolated):\n\n", *capacityEntries)
	if len(targets) > 1 {
		fmt.Fprintln(out, "| stored | bytes each | per 1M | bytes each, cluster (all masters) | growth per master |")
		fmt.Fprintln(out, "|---|---:|---:|---:|---|")
	} else {
		fmt.Fprintln(out, "| stored | bytes each | per 1M |")
		fmt.Fprintln(out, "|---|---:|---:|")
	}
	for _, rr := range rows {
		m := rr[0].mem
		if m.label == "" {
			continue
		}
		fmt.Fprintf(out, "| %s | %.0f | %s |", m.label, m.perEntry, perMillion(m.perEntry))
		if len(rr) > 1 {
			if c := rr[1].mem; c.perEntry > 0 {
				fmt.Fprintf(out, " %.0f | %s |", c.perEntry, shares(c.share))
			} else {
				fmt.Fprint(out, " – | – |")
			}
		}
		fmt.Fprintln(out)
	}
	if len(targets) > 1 {
		printCluster(out, cfg, targets, rows)
	}
}

// printCluster writes the single node against the cluster, row by row.
func printCluster(out io.Writer, cfg config, targets []*target, rows [][]capRow) {
	ct := targets[1]
	fmt.Fprintln(out)
	fmt.Fprintf(out, "Redis Cluster, %d masters (%s), same load, alternating with the single node:\n\n", len(ct.nodes), strings.Join(nodeAddrs(ct), ", "))
	fmt.Fprintln(out, "| operation | ops/s single | ops/s cluster | measured cluster / single | cores busy, single: bench + Redis (machine) | cores busy, cluster: bench + Redis (machine) | commands / op single → cluster | command µs / op single → cluster | Redis CPU µs / op single → cluster (busiest master) | Redis-bound capacity, cluster / single |")
	fmt.Fprintln(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, rr := range rows {
		s, c := rr[0], rr[1]
		ratio := "–"
		if s.opsPerSec() > 0 {
			ratio = fmt.Sprintf("%.2f", c.opsPerSec()/s.opsPerSec())
		}
		capRatio := "–"
		if b := c.busiestCPU(); b > 0 {
			capRatio = fmt.Sprintf("%.1f", s.cpu/b)
		}
		fmt.Fprintf(out, "| %s | %s | %s | %s | %.2f + %.2f (%.2f) | %.2f + %.2f (%.2f) | %.2f → %.2f | %.2f → %.2f | %.1f → %.1f (%.1f) | %s |\n",
			s.name, count(s.opsPerSec()), count(c.opsPerSec()), ratio, s.clientCores(), s.redisCores(), s.machineCores(),
			c.clientCores(), c.redisCores(), c.machineCores(), s.cmds, c.cmds, s.usec, c.usec, s.cpu, c.cpu, c.busiestCPU(), capRatio)
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Per master (INFO commandstats of each master; commands sent / executed including those run by scripts, per operation):")
	fmt.Fprintln(out)
	var hdr, sep strings.Builder
	for i := range ct.nodes {
		fmt.Fprintf(&hdr, " master %d sent / executed |", i+1)
		sep.WriteString("---:|")
	}
	fmt.Fprintf(out, "| operation | executed / op, single |%s largest share | model: largest share | Redis CPU µs / op per master | model |\n", hdr.String())
	fmt.Fprintf(out, "|---|---:|%s---:|---:|---:|---|\n", sep.String())
	cases := capacityCases(cfg.conns)
	for ci, rr := range rows {
		s, c := rr[0], rr[1]
		var cells strings.Builder
		var total, top float64
		var cpus []string
		for _, n := range c.nodes {
			total += n.executed
			top = max(top, n.executed)
			fmt.Fprintf(&cells, " %.2f / %.2f |", n.cmds, n.executed)
			cpus = append(cpus, fmt.Sprintf("%.1f", n.cpu))
		}
		share := "–"
		if total > 0 {
			share = fmt.Sprintf("%.0f %%", 100*top/total)
		}
		m := cases[ci].model
		fmt.Fprintf(out, "| %s | %.2f |%s %s | %.0f %% | %s | %s |\n", s.name, sumExecuted(s), cells.String(), share,
			100*m.largestShare(ct), strings.Join(cpus, " / "), m.text)
	}
	fmt.Fprintln(out)
	groups := cacheGroupsPerMaster(ct, 64)
	fmt.Fprintf(out, "Cache hash-tag groups {g0}..{g63} per master: %s; statshttp's {stats} is on master %d.\n",
		joinInts(groups), masterOf(ct, keySlot("{stats}"))+1)
}

func sumExecuted(r capRow) float64 {
	var t float64
	for _, n := range r.nodes {
		t += n.executed
	}
	return t
}

func nodeAddrs(t *target) []string {
	var out []string
	for _, n := range t.nodes {
		out = append(out, n.addr)
	}
	return out
}

func shares(s []float64) string {
	if len(s) == 0 {
		return "–"
	}
	var parts []string
	for _, v := range s {
		parts = append(parts, fmt.Sprintf("%.0f %%", 100*v))
	}
	return strings.Join(parts, " / ")
}

func joinInts(v []int) string {
	var parts []string
	for _, n := range v {
		parts = append(parts, strconv.Itoa(n))
	}
	return strings.Join(parts, " / ")
}

// perCore is how many operations of usec µs one core executes per second.
func perCore(usec float64) string {
	if usec <= 0 {
		return "–"
	}
	return count(1e6 / usec)
}

func count(v float64) string {
	switch {
	case v <= 0:
		return "–"
	case v >= 1000:
		return fmt.Sprintf("%.0fk", v/1000)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}

// perMillion is the memory of one million entries of b bytes each.
func perMillion(b float64) string {
	v := b * 1e6
	if v >= 1e9 {
		return fmt.Sprintf("%.2f GB", v/1e9)
	}
	return fmt.Sprintf("%.0f MB", v/1e6)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
