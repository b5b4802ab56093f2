package redistest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Ports are chosen at random below the kernel's ephemeral range, so that a
// port freed by a killed Server is not taken by some outgoing connection
// before Restart binds it again, and are never handed out twice by one
// test binary.
var ports struct {
	sync.Mutex
	used map[int]bool
}

// clusterBusOffset is the distance from a cluster node's port to its bus port.
const clusterBusOffset = 10000

// FreePort returns a free loopback TCP port. It is not handed out again by
// this package during the test binary's life.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort(false)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return p
}

// freePort finds a free port on 127.0.0.1; with bus set, port+10000 must be
// free as well (a Redis Cluster node's bus port).
func freePort(bus bool) (int, error) {
	ports.Lock()
	defer ports.Unlock()
	if ports.used == nil {
		ports.used = map[int]bool{}
	}
	lo, hi := 15000, ephemeralStart()
	if bus {
		lo, hi = 10000, hi-clusterBusOffset
	}
	for range 200 {
		var p int
		if hi-lo >= 1000 {
			p = lo + rand.IntN(hi-lo)
		} else {
			// Odd ephemeral range: fall back to whatever the kernel gives.
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return 0, err
			}
			p = l.Addr().(*net.TCPAddr).Port
			l.Close()
		}
		if ports.used[p] || (bus && (p+clusterBusOffset > 65535 || ports.used[p+clusterBusOffset])) {
			continue
		}
		if !portFree(p) || (bus && !portFree(p+clusterBusOffset)) {
			continue
		}
		ports.used[p] = true
		if bus {
			ports.used[p+clusterBusOffset] = true
		}
		return p, nil
	}
	return 0, fmt.Errorf("no free loopback port found")
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// ephemeralStart reads the first port of the kernel's ephemeral range.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				return n
			}
		}
	}
	return 32768
}
