package redistest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// The proxy tests run against miniredis so they need no redis-server.

const pingCmd = "*1\r\n$4\r\nPING\r\n" // miniredis speaks no inline commands

func rawPing(t *testing.T, addr string) (string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, pingCmd); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

func TestProxyForwardsAndLatency(t *testing.T) {
	m := miniredis.RunT(t)
	p := StartProxy(t, m.Addr())
	c := redis.NewClient(&redis.Options{Addr: p.Addr})
	t.Cleanup(func() { c.Close() })
	ctx := t.Context()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Get("k"); got != "v" {
		t.Fatalf("value through proxy = %q", got)
	}

	p.SetLatency(60 * time.Millisecond)
	start := time.Now()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 120*time.Millisecond {
		t.Fatalf("round trip %v with 60ms latency each way, want >= 120ms", d)
	}
	p.SetLatency(0)
	start = time.Now()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 60*time.Millisecond {
		t.Fatalf("round trip %v after latency removed", d)
	}
}

func TestProxyDropConnections(t *testing.T) {
	m := miniredis.RunT(t)
	p := StartProxy(t, m.Addr())

	conn, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, pingCmd)
	r := bufio.NewReader(conn)
	if line, err := r.ReadString('\n'); err != nil || line != "+PONG\r\n" {
		t.Fatalf("PING through proxy = %q, %v", line, err)
	}
	if n := p.ActiveConns(); n != 1 {
		t.Fatalf("ActiveConns = %d, want 1", n)
	}
	p.DropConnections()
	conn.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("read after drop: %v, want EOF", err)
	}
	waitFor(t, func() bool { return p.ActiveConns() == 0 })
	if m.CurrentConnectionCount() != 0 {
		waitFor(t, func() bool { return m.CurrentConnectionCount() == 0 })
	}

	// A go-redis client reconnects by itself on the next command(s).
	c := redis.NewClient(FaultOptions(p.Addr))
	t.Cleanup(func() { c.Close() })
	ctx := t.Context()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	p.DropConnections()
	var okAfter bool
	for range 3 {
		if c.Ping(ctx).Err() == nil {
			okAfter = true
			break
		}
	}
	if !okAfter {
		t.Fatal("client did not recover after DropConnections")
	}
}

func TestProxyBlackhole(t *testing.T) {
	m := miniredis.RunT(t)
	p := StartProxy(t, m.Addr())
	c := redis.NewClient(FaultOptions(p.Addr))
	t.Cleanup(func() { c.Close() })
	ctx := t.Context()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	p.SetBlackhole(true)
	p.SetBlackhole(true) // idempotent
	err := c.Ping(ctx).Err()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("PING through a blackhole: %v, want a timeout", err)
	}
	// New connections are accepted but hang as well.
	conn, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatalf("blackhole refused a connection: %v", err)
	}
	defer conn.Close()
	io.WriteString(conn, pingCmd)
	conn.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	r := bufio.NewReader(conn)
	if _, err := r.ReadByte(); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read through blackhole: %v, want timeout", err)
	}

	p.SetBlackhole(false)
	p.SetBlackhole(false)
	conn.SetReadDeadline(time.Now().Add(time.Second))
	if line, err := r.ReadString('\n'); err != nil || line != "+PONG\r\n" {
		t.Fatalf("held PING delivered after blackhole off = %q, %v", line, err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after blackhole off: %v", err)
	}
}

func TestProxyRefuse(t *testing.T) {
	m := miniredis.RunT(t)
	p := StartProxy(t, m.Addr())
	p.SetRefuse(true)
	if line, err := rawPing(t, p.Addr); err == nil {
		t.Fatalf("refusing proxy answered %q", line)
	}
	c := redis.NewClient(FaultOptions(p.Addr))
	t.Cleanup(func() { c.Close() })
	if err := c.Ping(t.Context()).Err(); err == nil {
		t.Fatal("PING through refusing proxy succeeded")
	}
	p.SetRefuse(false)
	if line, err := rawPing(t, p.Addr); err != nil || line != "+PONG\r\n" {
		t.Fatalf("PING after refuse off = %q, %v", line, err)
	}
}

func TestProxyUpstreamDown(t *testing.T) {
	p := StartProxy(t, "127.0.0.1:"+itoa(FreePort(t)))
	if line, err := rawPing(t, p.Addr); err == nil {
		t.Fatalf("proxy to nowhere answered %q", line)
	}
	waitFor(t, func() bool { return p.ActiveConns() == 0 })
}

func TestProxyCloseWhileBusy(t *testing.T) {
	m := miniredis.RunT(t)
	p := StartProxy(t, m.Addr())
	p.SetLatency(time.Hour)
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		io.WriteString(c, pingCmd)
	}
	p.SetBlackhole(true)
	waitFor(t, func() bool { return p.ActiveConns() == 3 })
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close hung with held connections")
	}
	p.Close() // idempotent
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(time.Second))
		// EOF, or a reset since the proxy closed with our PING unread.
		if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Errorf("conn after Close: %v, want it closed", err)
		}
		c.Close()
	}
	if _, err := net.DialTimeout("tcp", p.Addr, 200*time.Millisecond); err == nil {
		t.Fatal("closed proxy still accepts")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 2s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
