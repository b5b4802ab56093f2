package redistest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestKeySlot(t *testing.T) {
	// Values from the Redis Cluster specification and CLUSTER KEYSLOT.
	for key, want := range map[string]int{
		"":                     12739 % 16384 * 0, // crc16("") = 0
		"123456789":            0x31C3 % 16384,
		"foo":                  12182,
		"{user1000}.following": KeySlot("user1000"),
		"foo{}{bar}":           KeySlot("foo{}{bar}"),
		"foo{{bar}}zap":        KeySlot("{bar"),
		"foo{bar}{zap}":        KeySlot("bar"),
	} {
		if got := KeySlot(key); got != want {
			t.Errorf("KeySlot(%q) = %d, want %d", key, got, want)
		}
	}
	if KeySlot("foo{}{bar}") != int(crc16("foo{}{bar}")%16384) {
		t.Error("empty hash tag must hash the whole key")
	}
}

func TestClusterSetGetAcrossSlots(t *testing.T) {
	c := StartCluster(t, 3, 0)
	if len(c.Nodes) != 3 || len(c.Addrs()) != 3 {
		t.Fatalf("nodes = %d", len(c.Nodes))
	}
	cc := c.Client(t)
	ctx := t.Context()
	owners := map[*Server]int{}
	for i := range 60 {
		key := fmt.Sprintf("key:%d", i)
		if err := cc.Set(ctx, key, i, time.Minute).Err(); err != nil {
			t.Fatalf("SET %s: %v", key, err)
		}
		if got, err := cc.Get(ctx, key).Int(); err != nil || got != i {
			t.Fatalf("GET %s = %d, %v", key, got, err)
		}
		m := c.MasterFor(key)
		if m == nil {
			t.Fatalf("MasterFor(%s) = nil", key)
		}
		owners[m]++
		// Our slot computation agrees with the server's.
		slot, err := do(m.Addr, time.Second, "CLUSTER", "KEYSLOT", key)
		if err != nil || slot != int64(KeySlot(key)) {
			t.Fatalf("CLUSTER KEYSLOT %s = %v, %v; KeySlot = %d", key, slot, err, KeySlot(key))
		}
		// The owner has the key itself (no MOVED).
		if v, err := doString(m.Addr, time.Second, "GET", key); err != nil || v != fmt.Sprint(i) {
			t.Fatalf("GET %s on MasterFor node = %q, %v", key, v, err)
		}
	}
	if len(owners) != 3 {
		t.Fatalf("60 keys landed on %d masters, want 3", len(owners))
	}
	if err := c.WaitHealthy(time.Second); err != nil {
		t.Fatal(err)
	}

	// The same cluster as the REDIS_CLUSTER_ADDRS target of Targets/Run.
	t.Run("as_target", func(t *testing.T) {
		t.Setenv(EnvClusterAddrs, strings.Join(c.Addrs(), ","))
		if k := kinds(); k[len(k)-1] != NameCluster {
			t.Fatalf("kinds = %v", k)
		}
		testRunTargets(t)
		testCleanup(t)
	})
	if n, err := do(c.Nodes[0].Addr, time.Second, "DBSIZE"); err != nil {
		t.Fatal(err)
	} else if keys := Keys(t, cc, "rt:*"); len(keys) != 0 {
		t.Fatalf("cluster target left %d keys (DBSIZE %v), e.g. %v", len(keys), n, keys[0])
	}
}

func TestClusterFailover(t *testing.T) {
	start := time.Now()
	c := StartCluster(t, 3, 1)
	if len(c.Nodes) != 6 {
		t.Fatalf("nodes = %d", len(c.Nodes))
	}
	t.Logf("6-node cluster up in %v", time.Since(start))
	cc := c.Client(t)
	ctx := t.Context()

	const key = "failover:key"
	old := c.MasterFor(key)
	// Write on the master and wait until its replica has it.
	opt := FaultOptions(old.Addr)
	opt.ReadTimeout = 5 * time.Second // WAIT blocks until the replica acks
	direct := redis.NewClient(opt)
	defer direct.Close()
	var waitCmd *redis.Cmd
	if _, err := direct.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, key, "v", 0)
		waitCmd = p.Do(ctx, "WAIT", 1, 4000)
		return nil
	}); err != nil || waitCmd.Val() != int64(1) {
		t.Fatalf("SET+WAIT on master: acked by %v replicas, %v", waitCmd.Val(), err)
	}

	old.Kill()
	killed := time.Now()
	if err := c.WaitHealthy(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("failover done %v after kill", time.Since(killed))
	now := c.MasterFor(key)
	if now == nil || now == old || !now.Running() {
		t.Fatalf("MasterFor after failover = %v (old %s)", now, old.Addr)
	}
	var got string
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got, err = cc.Get(ctx, key).Result(); err == nil {
			break
		}
	}
	if err != nil || got != "v" {
		t.Fatalf("GET after failover = %q, %v", got, err)
	}

	// The old master comes back as a replica and the cluster is whole.
	old.Restart()
	if err := c.WaitHealthy(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if m := c.MasterFor(key); m != now {
		t.Fatalf("after the old master rejoined, MasterFor = %s, want %s", m.Addr, now.Addr)
	}
	t.Logf("whole test %v", time.Since(start))
}

func TestClusterPausedNodeIgnoredByWaitHealthy(t *testing.T) {
	c := StartCluster(t, 3, 0)
	m := c.MasterFor("x")
	m.Pause()
	// Other nodes still say ok until the node timeout passes; WaitHealthy
	// must not hang on the paused node itself.
	start := time.Now()
	_ = c.WaitHealthy(200 * time.Millisecond)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("WaitHealthy took %v with a paused node", d)
	}
	m.Resume()
	if err := c.WaitHealthy(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}
