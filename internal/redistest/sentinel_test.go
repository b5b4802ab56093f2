package redistest

import (
	"strings"
	"testing"
	"time"
)

func TestSentinelTopology(t *testing.T) {
	start := time.Now()
	s := StartSentinel(t, "harness")
	t.Logf("deployment up in %v", time.Since(start))
	if len(s.Data) != 2 || len(s.Sentinels) != 3 {
		t.Fatalf("%d data nodes, %d sentinels; want 2 and 3", len(s.Data), len(s.Sentinels))
	}
	for _, n := range append(append([]*Server{}, s.Data...), s.Sentinels...) {
		if !strings.HasPrefix(n.Addr, "127.0.0.1:") || !n.Running() {
			t.Fatalf("node %s running=%v", n.Addr, n.Running())
		}
	}
	// Every sentinel answers get-master-addr-by-name with the primary.
	for _, n := range s.Sentinels {
		addr, err := s.masterAddrFrom(n)
		if err != nil {
			t.Fatal(err)
		}
		if addr != s.Data[0].Addr {
			t.Errorf("sentinel %s names %s as master, want %s", n.Addr, addr, s.Data[0].Addr)
		}
	}
	if got := strings.Join(s.SentinelAddrs(), ","); got != s.Sentinels[0].Addr+","+s.Sentinels[1].Addr+","+s.Sentinels[2].Addr {
		t.Errorf("SentinelAddrs = %s", got)
	}

	// A write through the failover client is replicated, survives a forced
	// failover, and the client then writes to the promoted replica.
	c := s.Client(t)
	ctx := t.Context()
	if err := c.Set(ctx, "before", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := do(s.Data[0].Addr, 3*time.Second, "WAIT", "1", "2000"); err != nil || n != int64(1) {
		t.Fatalf("WAIT 1: %v, %v", n, err)
	}
	if err := s.Failover(); err != nil {
		t.Fatal(err)
	}
	failoverAt := time.Now()
	to, err := s.WaitSwitch(s.Data[0].Addr, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sentinels switched %v after SENTINEL FAILOVER", time.Since(failoverAt))
	if to != s.Data[1].Addr {
		t.Fatalf("switched to %s, want the replica %s", to, s.Data[1].Addr)
	}
	var werr error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		// Until the client hears +switch-master it may still write to the
		// old primary; what counts is that the write reaches the new one.
		if werr = c.Set(ctx, "after", "2", 0).Err(); werr == nil {
			if v, err := doString(to, time.Second, "GET", "after"); err == nil && v == "2" {
				break
			}
			werr = errNotOnNewPrimary
		}
	}
	if werr != nil {
		t.Fatalf("write after the failover: %v", werr)
	}
	if v, err := c.Get(ctx, "before").Result(); err != nil || v != "1" {
		t.Errorf("GET before = %q, %v after the failover", v, err)
	}
	// Sentinel turns the old primary into a replica of the new one.
	if err := s.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("old primary a linked replica %v after SENTINEL FAILOVER", time.Since(failoverAt))
}

type harnessError string

func (e harnessError) Error() string { return string(e) }

const errNotOnNewPrimary = harnessError("write acknowledged but not on the new primary")
