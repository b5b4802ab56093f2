package redistest

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy on a free loopback port in front of a target
// address (e.g. a Server.Addr), for latency and connection faults. Its
// methods are safe for concurrent use.
type Proxy struct {
	// Addr is the proxy's "127.0.0.1:port"; point clients here.
	Addr string

	target string
	ln     net.Listener
	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup

	mu      sync.Mutex
	latency time.Duration
	refuse  bool
	lose    int           // replies still to lose (LoseReplies)
	hold    chan struct{} // non-nil while blackholed; closed when that ends
	conns   map[*proxyConn]struct{}
}

type proxyConn struct {
	client net.Conn
	done   chan struct{}
	once   sync.Once

	mu       sync.Mutex
	upstream net.Conn
}

func (pc *proxyConn) close() {
	pc.once.Do(func() {
		close(pc.done)
		pc.client.Close()
		pc.mu.Lock()
		if pc.upstream != nil {
			pc.upstream.Close()
		}
		pc.mu.Unlock()
	})
}

// StartProxy starts a proxy to target on a free loopback port. It is
// closed when the test ends (see Close).
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: proxy listen: %v", err)
	}
	p := &Proxy{
		Addr:   ln.Addr().String(),
		target: target,
		ln:     ln,
		closed: make(chan struct{}),
		conns:  map[*proxyConn]struct{}{},
	}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Close stops listening, closes every connection and waits until all the
// proxy's goroutines have returned. It is safe to call more than once.
func (p *Proxy) Close() {
	p.once.Do(func() {
		close(p.closed)
		p.ln.Close()
		p.DropConnections()
	})
	p.wg.Wait()
}

// SetLatency delays every chunk of data by d before it is forwarded, in
// each direction (so a request/reply round trip gains at least 2*d).
// Zero removes the delay.
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	p.latency = d
	p.mu.Unlock()
}

// DropConnections closes every current connection, both the client side
// and the upstream side. New connections are accepted as usual.
func (p *Proxy) DropConnections() {
	p.mu.Lock()
	conns := make([]*proxyConn, 0, len(p.conns))
	for pc := range p.conns {
		conns = append(conns, pc)
	}
	p.mu.Unlock()
	for _, pc := range conns {
		pc.close()
	}
}

// SetBlackhole, when on, makes the proxy accept connections but forward
// nothing in either direction, like a hung server or a network partition:
// clients see timeouts, not errors. Data held meanwhile is forwarded when
// it is turned off again, as TCP would deliver it after a partition heals.
func (p *Proxy) SetBlackhole(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case on && p.hold == nil:
		p.hold = make(chan struct{})
	case !on && p.hold != nil:
		close(p.hold)
		p.hold = nil
	}
}

// SetRefuse, when on, makes the proxy close new connections as soon as it
// accepts them (existing ones are untouched; see DropConnections).
func (p *Proxy) SetRefuse(on bool) {
	p.mu.Lock()
	p.refuse = on
	p.mu.Unlock()
}

// LoseReplies makes the proxy lose the next n replies: each time Redis
// answers, the answer is dropped and the connection closed, after Redis
// has executed what it answers. The client sees a broken connection where
// its commands may or may not have run, and go-redis retries them: the
// fault that makes a command run twice.
func (p *Proxy) LoseReplies(n int) {
	p.mu.Lock()
	p.lose = n
	p.mu.Unlock()
}

// ActiveConns returns the number of client connections currently open
// through the proxy.
func (p *Proxy) ActiveConns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			select {
			case <-p.closed:
				return
			case <-time.After(5 * time.Millisecond): // e.g. EMFILE: retry
				continue
			}
		}
		pc := &proxyConn{client: c, done: make(chan struct{})}
		p.mu.Lock()
		refuse := p.refuse
		select {
		case <-p.closed:
			refuse = true
		default:
		}
		if !refuse {
			p.conns[pc] = struct{}{}
			p.wg.Add(1)
		}
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		go p.serve(pc)
	}
}

func (p *Proxy) serve(pc *proxyConn) {
	defer p.wg.Done()
	defer func() {
		pc.close()
		p.mu.Lock()
		delete(p.conns, pc)
		p.mu.Unlock()
	}()
	if !p.wait(pc) {
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		return
	}
	pc.mu.Lock()
	pc.upstream = up
	pc.mu.Unlock()
	select {
	case <-pc.done: // dropped while dialing
		up.Close()
		return
	default:
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.pipe(pc, up, pc.client)
	}()
	p.pipe(pc, pc.client, up)
}

// pipe forwards src to dst chunk by chunk until either side fails, then
// closes the whole connection pair.
func (p *Proxy) pipe(pc *proxyConn, src, dst net.Conn) {
	defer pc.close()
	buf := make([]byte, 32<<10)
	reply := src != pc.client
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait(pc) {
				return
			}
			if reply && p.loseOne() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// loseOne reports whether a reply is to be lost, counting it.
func (p *Proxy) loseOne() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lose <= 0 {
		return false
	}
	p.lose--
	return true
}

// wait holds a chunk while the proxy is blackholed, then applies the
// latency. It returns false when the connection was closed meanwhile.
func (p *Proxy) wait(pc *proxyConn) bool {
	for {
		p.mu.Lock()
		hold, lat := p.hold, p.latency
		p.mu.Unlock()
		if hold != nil {
			select {
			case <-hold:
				continue // re-read the settings
			case <-pc.done:
				return false
			}
		}
		if lat <= 0 {
			return true
		}
		timer := time.NewTimer(lat)
		select {
		case <-timer.C:
			return true
		case <-pc.done:
			timer.Stop()
			return false
		}
	}
}
