// Package fallback is redishttp's graceful-degradation core: a health monitor
// with a circuit breaker over a redis.UniversalClient, the in-memory backends
// the feature packages use while Redis is down (and as the embedded default
// when no Redis is configured), and configuration from the environment.
//
//	cfg, err := fallback.ConfigFromEnv() // REDIS_URL, REDIS_SENTINEL_ADDRS and REDIS_SENTINEL_MASTER, REDIS_CLUSTER_ADDRS
//	if err != nil {
//		log.Fatal(err) // names the variable, never prints a password
//	}
//	client, err := cfg.NewClient() // nil client: embedded in-memory mode
//	if err != nil {
//		log.Fatal(err)
//	}
//	mon, err := fallback.NewMonitor(client, fallback.MonitorOptions{})
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer mon.Close()
//	log.Printf("backend: %s", mon.State()) // redis, degraded or memory
//
// The monitor's states:
//
//   - StateRedis: Redis accepts writes; the feature packages use it. The
//     monitor learns from the outcomes of their calls (FailureThreshold
//     failures in a row open the breaker) and does not poll: it PINGs only
//     after IdleProbe (30 s) without a successful call, and writes its probe
//     key every ProbeInterval only while calls are failing.
//   - StateDegraded: Redis is configured but failing; the breaker is open, the
//     feature packages use their in-memory backends (or fail closed, where
//     they were told to) and a background probe writes a small expiring key
//     (MonitorOptions.ProbeKey) until Redis has accepted it
//     RecoverySuccesses times in a row. A server that answers PING but
//     refuses writes (out of memory with noeviction, read-only) stays
//     degraded, in one state with one log line per transition.
//   - StateMemory: no Redis is configured; the in-memory backends are the
//     permanent default.
package fallback
