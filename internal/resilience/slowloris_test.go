package resilience

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aura-platform/redishttp/examples/server/aura"
)

// startRealServer serves the demo (embedded mode: the transport is under
// test here, not Redis) with aura.NewServer on a real loopback listener.
func startRealServer(t *testing.T) (*http.Server, string) {
	t.Helper()
	cfg, err := aura.LoadConfig(env(uniquePrefix(t), nil))
	if err != nil {
		t.Fatal(err)
	}
	app, err := aura.NewWithClient(cfg, nil, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := aura.NewServer(ln.Addr().String(), app.Handler())
	srv.ErrorLog = nil
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done; app.Close() })
	return srv, ln.Addr().String()
}

// heapLive returns the bytes of live heap objects after a GC.
func heapLive() uint64 {
	runtime.GC()
	runtime.GC() // sync.Pool keeps a victim cache for one more cycle
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// testSlowloris: slow clients and huge headers against aura.NewServer.
// Figures: every server timeout set; a client that trickles its headers is
// cut off at ReadHeaderTimeout; headers over MaxHeaderBytes get 431; memory
// and goroutines stay bounded with many slow connections open and return
// to the baseline once they are cut off.
func testSlowloris(t *testing.T) {
	srv, addr := startRealServer(t)
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 ||
		srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 1<<20 {
		t.Fatalf("aura.NewServer leaves a timeout or the header limit unset: %+v", srv)
	}

	// Huge headers: one 100 KiB header, and many small ones adding up.
	for name, hdr := range map[string]string{
		"one 100KiB header":   "X-Big: " + strings.Repeat("a", 100<<10) + "\r\n",
		"2000 headers of 50B": strings.Repeat("X-Many: "+strings.Repeat("b", 40)+"\r\n", 2000),
	} {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		go func() { _, _ = io.WriteString(c, "GET /api/news?topic=tech HTTP/1.1\r\nHost: x\r\n"+hdr+"\r\n") }()
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if !strings.HasPrefix(line, "HTTP/1.1 431") {
			t.Errorf("%s: got %q (%v), want 431", name, line, err)
		}
	}

	n := 200
	if raceOn {
		n = 100
	}
	goBefore := runtime.NumGoroutine()
	heapBefore := heapLive()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var cutAfter []time.Duration
	stop := make(chan struct{})
	opened := make(chan struct{}, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				opened <- struct{}{}
				return
			}
			defer c.Close()
			start := time.Now()
			// 32 KiB of headers at once, then one more header line every
			// 300ms: never finishing the request.
			_, _ = io.WriteString(c, "GET /api/news?topic=tech HTTP/1.1\r\nHost: x\r\nX-Pad: "+strings.Repeat("p", 32<<10)+"\r\n")
			opened <- struct{}{}
			closed := make(chan struct{})
			go func() {
				defer close(closed)
				_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
				_, _ = io.Copy(io.Discard, c) // returns when the server closes
				mu.Lock()
				cutAfter = append(cutAfter, time.Since(start))
				mu.Unlock()
			}()
			tk := time.NewTicker(300 * time.Millisecond)
			defer tk.Stop()
			for {
				select {
				case <-closed:
					return
				case <-stop:
					return
				case <-tk.C:
					if _, err := io.WriteString(c, "X-Drip: 1\r\n"); err != nil {
						<-closed
						return
					}
				}
			}
		}()
	}
	for range n {
		<-opened
	}
	time.Sleep(time.Second)
	heapOpen := heapLive()
	goOpen := runtime.NumGoroutine()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(srv.ReadHeaderTimeout + 10*time.Second):
		close(stop)
		<-done
		t.Fatalf("slow clients were not cut off within ReadHeaderTimeout (%v) + 10s", srv.ReadHeaderTimeout)
	}
	var maxCut, minCut time.Duration
	minCut = time.Hour
	for _, d := range cutAfter {
		maxCut, minCut = max(maxCut, d), min(minCut, d)
	}
	time.Sleep(200 * time.Millisecond)
	heapAfter := heapLive()
	goAfter := runtime.NumGoroutine()
	perConn := int64(heapOpen-min(heapOpen, heapBefore)) / int64(n)
	// The server reads at most MaxHeaderBytes plus net/http's 4 KiB slack
	// per connection; a long header line is gathered by appending
	// fragments (capacity doubling), and the clients' own buffers live in
	// this process too: twice that is the bound for both ends together.
	bound := 2 * (int64(srv.MaxHeaderBytes) + 4096)
	addRow(t, row{
		scenario: fmtf("5. %d slowloris conns (32KiB headers + drip)", n),
		sent:     n + 2,
		fivexx:   "huge headers: 431 (one 100KiB header; 2000 small ones)",
		dups:     "n/a",
		maxLatency: fmtf("cut off after %s..%s (ReadHeaderTimeout %s)",
			ms(minCut), ms(maxCut), ms(srv.ReadHeaderTimeout)),
		recovery: fmtf("heap +%d KiB/conn while open (bound %d KiB), +%d KiB after; goroutines %d → %d → %d",
			perConn>>10, bound>>10, (int64(heapAfter)-int64(heapBefore))>>10, goBefore, goOpen, goAfter),
	})
	if len(cutAfter) != n {
		t.Errorf("%d of %d slow connections were cut off", len(cutAfter), n)
	}
	if maxCut > srv.ReadHeaderTimeout+2*time.Second {
		t.Errorf("a slow client was held %v, over ReadHeaderTimeout %v + 2s", maxCut, srv.ReadHeaderTimeout)
	}
	// The clock starts when Dial returns, which a busy scheduler can
	// delay past the server's accept: only a cut far earlier than the
	// timeout means something else closed the connection.
	if minCut < srv.ReadHeaderTimeout/2 {
		t.Errorf("a slow client was cut after %v, before ReadHeaderTimeout %v: something else closed it", minCut, srv.ReadHeaderTimeout)
	}
	if perConn > bound {
		t.Errorf("each slow connection holds %d bytes of heap, over the bound %d", perConn, bound)
	}
	// Back to the baseline, within 1 MiB (closed sockets wait for a GC
	// cycle to run their cleanups).
	if grown := int64(heapAfter) - int64(heapBefore); grown > 1<<20 {
		t.Errorf("live heap %d KiB larger after the slow clients were cut off", grown>>10)
	}
	if goAfter > goBefore+10 {
		t.Errorf("goroutines %d before, %d after the slow clients were cut off", goBefore, goAfter)
	}
}
