package redistest

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestServerKillRestart(t *testing.T) {
	s := StartServer(t)
	if !strings.HasPrefix(s.Addr, "127.0.0.1:") || !s.Running() {
		t.Fatalf("server %s running=%v", s.Addr, s.Running())
	}
	c := s.Client(t)
	ctx := t.Context()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	s.Kill()
	if s.Running() {
		t.Fatal("Running after Kill")
	}
	start := time.Now()
	if err := c.Get(ctx, "k").Err(); err == nil || err == redis.Nil {
		t.Fatalf("GET on a killed server: err = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("GET on a killed server took %v; fault client should fail fast", d)
	}
	s.Kill() // idempotent

	addr := s.Addr
	s.Restart()
	if !s.Running() || s.Addr != addr {
		t.Fatalf("after Restart: running=%v addr=%s (was %s)", s.Running(), s.Addr, addr)
	}
	// Same address, empty data (no persistence); the old client recovers.
	var err error
	for range 3 { // the first command may still pick a dead pooled conn
		if err = c.Get(ctx, "k").Err(); err == redis.Nil {
			break
		}
	}
	if err != redis.Nil {
		t.Fatalf("GET after restart: err = %v, want redis.Nil", err)
	}

	// Restart of a running server works too.
	s.Restart()
	if err := s.Client(t).Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestServerPauseResume(t *testing.T) {
	s := StartServer(t)
	c := s.Client(t)
	ctx := t.Context()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Pause()
	if !s.Paused() || !s.Running() {
		t.Fatalf("paused=%v running=%v", s.Paused(), s.Running())
	}
	start := time.Now()
	err := c.Get(ctx, "k").Err()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("GET on a paused server: err = %v, want a timeout", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > time.Second {
		t.Fatalf("timeout after %v, want ~200ms", d)
	}
	s.Resume()
	if s.Paused() {
		t.Fatal("still paused")
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET after resume = %q, %v", got, err)
	}
}

func TestServerPausedIsKilledAtCleanup(t *testing.T) {
	var s *Server
	t.Run("inner", func(t *testing.T) {
		s = StartServer(t, "--maxmemory", "10mb")
		maxmem, err := do(s.Addr, time.Second, "CONFIG", "GET", "maxmemory")
		if err != nil || maxmem.([]any)[1] != "10485760" {
			t.Fatalf("extra args not applied: %v %v", maxmem, err)
		}
		s.Pause()
	})
	if s.Running() {
		t.Fatal("server still running after its test ended")
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Fatalf("server dir not removed: %v", err)
	}
}

func TestServerPortTaken(t *testing.T) {
	// A port held by someone else makes Restart wait for it (up to 5 s).
	s := StartServer(t)
	s.Kill()
	l, err := net.Listen("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		l.Close()
	}()
	s.Restart()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if err := s.Client(t).Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
}
