package fallback_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/aura-platform/redishttp/fallback"
	"github.com/redis/go-redis/v9"
)

// cmdLog records the names of the commands a client sends.
type cmdLog struct {
	mu    sync.Mutex
	names []string
}

// take returns the commands sent since the last take, without those that
// set a new connection up (HELLO, CLIENT SETINFO).
func (l *cmdLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n []string
	for _, c := range l.names {
		if c != "hello" && c != "client" {
			n = append(n, c)
		}
	}
	l.names = nil
	return n
}

func (l *cmdLog) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *cmdLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		l.mu.Lock()
		l.names = append(l.names, cmd.Name())
		l.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (l *cmdLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		l.mu.Lock()
		for _, c := range cmds {
			l.names = append(l.names, c.Name())
		}
		l.mu.Unlock()
		return next(ctx, cmds)
	}
}

// TestMonitorProbesOnlyWhenInDoubt: a healthy monitor sends nothing while
// calls succeed, one PING per IdleProbe of silence, write probes at
// ProbeInterval as soon as a call fails (back to silence when the probe
// succeeds), and still notices an outage with no traffic at all and its
// end.
func TestMonitorProbesOnlyWhenInDoubt(t *testing.T) {
	mini := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mini.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	log := &cmdLog{}
	client.AddHook(log)
	logger, _ := testLogger()
	const idle, interval = 300 * time.Millisecond, 20 * time.Millisecond
	m := mustMonitor(fallback.NewMonitor(client, fallback.MonitorOptions{IdleProbe: idle, ProbeInterval: interval, Logger: logger}))
	defer m.Close()
	time.Sleep(100 * time.Millisecond)
	if got := log.take(); len(got) != 1 || got[0] != "ping" {
		t.Fatalf("start-up: %v, want one ping", got)
	}

	// Calls succeeding: no probe at all.
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(interval) {
		m.Report(context.Background(), nil)
	}
	if got := log.take(); len(got) != 0 {
		t.Errorf("probes while calls succeed: %v", got)
	}

	// Silence: one PING per IdleProbe, no more.
	time.Sleep(time.Second)
	got := log.take()
	for _, n := range got {
		if n != "ping" {
			t.Errorf("idle probe sent %q", n)
		}
	}
	if len(got) < 1 || len(got) > int(time.Second/idle)+1 {
		t.Errorf("%d pings in 1s of silence with IdleProbe %v", len(got), idle)
	}

	// A failing call: the probe writes within ProbeInterval; its success
	// clears the failure and the probe goes quiet again.
	m.Report(context.Background(), errors.New("timeout"))
	time.Sleep(5 * interval)
	got = log.take()
	if len(got) != 1 || got[0] != "set" {
		t.Errorf("after one failing call: %v, want one write probe", got)
	}
	time.Sleep(idle / 2)
	if got := log.take(); len(got) != 0 {
		t.Errorf("probes after the write probe succeeded: %v", got)
	}

	// An outage with no traffic: the heartbeat notices it, then the
	// probes find the recovery.
	addr := mini.Addr()
	mini.Close()
	took := waitState(t, m, fallback.StateDegraded, 2*idle+time.Second)
	t.Logf("idle outage -> degraded in %v", took)
	if err := mini.StartAddr(addr); err != nil {
		t.Fatal(err)
	}
	took = waitState(t, m, fallback.StateRedis, 2*time.Second)
	t.Logf("back -> redis in %v", took)
}
