package fallback_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/fallback"
	"github.com/aura-platform/redishttp/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// freeMemory lifts the limit and deletes the filler keys.
func freeMemory(t *testing.T, node *redis.Client, keys []string) {
	t.Helper()
	ctx := context.Background()
	if err := node.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := node.Del(ctx, k).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// writeTraffic sends writes through m.Do from a few goroutines, over keys
// spread across every cluster slot range, until stop is called; it returns
// how many calls reached Redis and how many failed.
func writeTraffic(client redis.UniversalClient, m *fallback.Monitor, prefix string, workers int, pace time.Duration) (stop func() (calls, failed int64)) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var calls, failed atomic.Int64
	for g := range workers {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("%s{t%d}", prefix, (g*64+i)%64)
				err := m.Do(ctx, func(ctx context.Context) error { return client.Set(ctx, key, "v", time.Minute).Err() })
				if err != fallback.ErrUnavailable {
					calls.Add(1)
					if err != nil {
						failed.Add(1)
					}
				}
				time.Sleep(pace)
			}
		})
	}
	return func() (int64, int64) {
		cancel()
		wg.Wait()
		return calls.Load(), failed.Load()
	}
}

// breakerLines counts the monitor's transition log lines.
func breakerLines(logs string) int {
	return strings.Count(logs, "breaker open") + strings.Count(logs, "breaker closed")
}

// TestMonitorRedisOOM: Redis answers PING but refuses every write with OOM
// (maxmemory reached, noeviction) for several seconds under write traffic.
// The monitor must see what the toolkit needs, writes, and hold one state:
// exactly one transition to degraded with one log line, and one back with
// one log line once memory is freed.
func TestMonitorRedisOOM(t *testing.T) {
	srv := redistest.StartServer(t)
	testMonitorOOM(t, configClient(t, srv.Addr), srv.Client(t), "", 4, 2*time.Millisecond)
}

// TestMonitorRedisOOMSparseTraffic: with one write every 150 ms, fewer
// than FailureThreshold fail between two probes; a probe that only PINGed
// would clear their count each time and the monitor would stay on a Redis
// that refuses every write.
func TestMonitorRedisOOMSparseTraffic(t *testing.T) {
	srv := redistest.StartServer(t)
	testMonitorOOM(t, configClient(t, srv.Addr), srv.Client(t), "", 1, 150*time.Millisecond)
}

// TestMonitorClusterMasterOOM: on a cluster, one master out of memory
// fails the writes whose keys it serves. The write probe covers every
// master, so the state is one stable transition, not a flap between a
// probe that lands on a healthy master and traffic that does not.
func TestMonitorClusterMasterOOM(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	client := cl.Client(t)
	// One master of three (no replicas: every node is a master) runs out
	// of memory; the other two keep accepting writes.
	victim := cl.Nodes[1]
	tag := 0
	for cl.MasterFor(fmt.Sprintf("{f%d}", tag)) != victim {
		tag++
	}
	testMonitorOOM(t, client, victim.Client(t), fmt.Sprintf("{f%d}", tag), 4, 2*time.Millisecond)
}

// testMonitorOOM runs the scenario with node (whose keys carry fillerTag)
// running out of memory.
func testMonitorOOM(t *testing.T, client redis.UniversalClient, node *redis.Client, fillerTag string, workers int, pace time.Duration) {
	logger, logs := testLogger()
	tr := &transitions{}
	m := mustMonitor(fallback.NewMonitor(client, fallback.MonitorOptions{Logger: logger, OnChange: tr.onChange}))
	defer m.Close()
	waitState(t, m, fallback.StateRedis, 5*time.Second)
	prefix := fmt.Sprintf("oom-%d:", time.Now().UnixNano())
	stop := writeTraffic(client, m, prefix, workers, pace)
	time.Sleep(300 * time.Millisecond)

	filler := redistest.FillUntilOOM(t, node, fillerTag+prefix)
	oomAt := time.Now()
	degradedIn := waitState(t, m, fallback.StateDegraded, 5*time.Second)
	time.Sleep(5 * time.Second) // the condition persists under traffic
	duringOOM, _ := tr.get()
	linesDuring := breakerLines(logs.String())

	freeMemory(t, node, filler)
	freedAt := time.Now()
	recoveredIn := waitState(t, m, fallback.StateRedis, 5*time.Second)
	time.Sleep(time.Second)
	calls, failed := stop()
	changes, _ := tr.get()
	t.Logf("OOM for %v: degraded after %v, transitions during OOM %q; recovered %v after memory was freed; transitions %q; %d calls reached Redis, %d failed",
		freedAt.Sub(oomAt).Round(time.Millisecond), degradedIn, duringOOM, recoveredIn, changes, calls, failed)
	if duringOOM != "redis>degraded" || linesDuring != 1 {
		t.Errorf("while Redis was out of memory: transitions %q, %d breaker log lines; want exactly one transition to degraded and one line", duringOOM, linesDuring)
	}
	if changes != "redis>degraded,degraded>redis" || breakerLines(logs.String()) != 2 {
		t.Errorf("transitions %q, %d breaker log lines; want one to degraded and one back, one line each\n%s", changes, breakerLines(logs.String()), logs)
	}
}
