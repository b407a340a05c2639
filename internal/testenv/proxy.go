package testenv

import (
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP relay on 127.0.0.1 in front of a real server, for failure
// tests: Pause stalls every byte in both directions (a network stall, not a
// refused connection) until Resume.
type Proxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	cond    *sync.Cond
	paused  bool
	held    chan struct{} // gets a value when a chunk is held by a pause
	conns   []net.Conn
	closing bool
}

// NewProxy relays 127.0.0.1:<free port> to target until the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, held: make(chan struct{}, 1)}
	p.cond = sync.NewCond(&p.mu)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the address to connect to instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Pause stalls all traffic; Held then tells when a chunk is being held.
func (p *Proxy) Pause() {
	p.mu.Lock()
	p.paused = true
	p.mu.Unlock()
}

// Resume lets the stalled traffic through.
func (p *Proxy) Resume() {
	p.mu.Lock()
	p.paused = false
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Held receives a value once some traffic is stalled by Pause.
func (p *Proxy) Held() <-chan struct{} { return p.held }

// Close stops the relay and drops every connection.
func (p *Proxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	p.closing = true
	p.paused = false
	p.cond.Broadcast()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.closing {
			p.mu.Unlock()
			c.Close()
			up.Close()
			return
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

func (p *Proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			if p.paused {
				select {
				case p.held <- struct{}{}:
				default:
				}
			}
			for p.paused {
				p.cond.Wait()
			}
			closing := p.closing
			p.mu.Unlock()
			if closing {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or a closed connection: close both sides
		}
	}
}
