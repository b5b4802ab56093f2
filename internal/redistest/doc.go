// Package redistest is the test harness shared by every redishttp package.
//
// It offers three kinds of Redis to test against:
//
//   - Targets, Run and New give the deployments configured for this run:
//     an in-process miniredis, a real Redis server, and a Redis Cluster.
//     Each Target has its own key Prefix; every key under it is deleted
//     when the test ends (SCAN + UNLINK, never KEYS or FLUSH*), so tests
//     can share one real server safely.
//   - StartServer and StartCluster start private redis-server processes on
//     free loopback ports for fault tests: kill, pause, restart, failover.
//     StartSentinel starts a primary, its replica and three sentinels
//     (redis-server --sentinel) for Sentinel failovers.
//   - StartProxy puts a TCP proxy in front of any address to add latency,
//     drop connections, hang (blackhole) or refuse connections, or lose
//     replies after Redis executed the command (LoseReplies). ReplayRig
//     puts one in front of every node of a target, for the fault that
//     makes go-redis resend a command Redis already ran.
//
// CountHook counts the commands a client sends and the writes (single
// commands, pipelines, auto-pipelined batches) they go out in.
//
// A typical test:
//
//	func TestCounter(t *testing.T) {
//		redistest.Run(t, func(t *testing.T, tg redistest.Target) {
//			key := tg.Prefix + "counter"
//			if err := tg.Client.Incr(t.Context(), key).Err(); err != nil {
//				t.Fatal(err)
//			}
//		})
//	}
//
// and a package's TestMain:
//
//	func TestMain(m *testing.M) { redistest.VerifyNoLeaks(m) }
//
// # Environment
//
//   - REDIS_URL: when set (for example redis://127.0.0.1:6379/0), the
//     "redis" target connects to that server (redis.ParseURL) instead of
//     starting a miniredis. Only keys under each target's Prefix are ever
//     written or deleted.
//   - REDIS_CLUSTER_ADDRS: when set to a comma-separated list of host:port
//     seed nodes, an extra "cluster" target (redis.NewClusterClient) is added.
//   - CI: when "true", tests that need redis-server (StartServer,
//     StartCluster, StartSentinel) fail instead of being skipped if it is not installed,
//     so a CI machine cannot silently skip the fault tests.
//
// The harness only ever uses loopback addresses for the processes and
// proxies it starts.
package redistest
