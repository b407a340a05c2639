package imap

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// timeoutListener gives its connections a read deadline of at most
// IdleTimeout. It sits below TLS (imapserver must see the *tls.Conn): the
// library's own deadlines are constants (35 minutes while authenticated),
// the configured idle timeout caps them.
type timeoutListener struct {
	net.Listener
	idle time.Duration
}

func (l timeoutListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	// imapserver sets no read deadline before its greeting, and on the
	// implicit-TLS port writing the greeting runs the handshake, which
	// reads: without this a client that never says hello would hold its
	// connection for ever.
	_ = c.SetReadDeadline(time.Now().Add(min(handshakeTimeout, l.idle)))
	return &timeoutConn{Conn: c, idle: l.idle}, nil
}

// handshakeTimeout bounds the TLS handshake and the wait for the first
// command, like imapserver's own per-command read timeout.
const handshakeTimeout = 30 * time.Second

// timeoutConn is an accepted connection, below TLS. Besides capping read
// deadlines it can gather writes: imapserver flushes after every response,
// and TLS turns each flush into one or more records and as many socket
// writes (three for a FETCH response with a 10 KiB literal). Between
// gather and flush the records are collected and sent gatherSize bytes at
// a time; the bytes on the wire are the same.
//
// Writes come one at a time (TLS serialises them); Close may come from
// another goroutine at any moment.
type timeoutConn struct {
	net.Conn
	idle time.Duration

	mu        sync.Mutex
	gathering bool
	buf       []byte // gathered, not sent yet
	// err is the failure of a gathered write: TLS above took those bytes
	// as sent, so nothing may follow them.
	err error

	// stopped: reads end as at the end of the input (see stopReading).
	stopped atomic.Bool
}

const (
	// gatherSize is the most a gathering connection holds back.
	gatherSize = 64 << 10
	// flushTimeout bounds sending the last gathered bytes (imapserver
	// has cleared its write deadline by then); the same as imapserver's
	// own timeout for writing a response.
	flushTimeout = 30 * time.Second
	// closeFlushTimeout bounds sending what is gathered when the
	// connection is closed (a BYE written in the middle of a FETCH at
	// shutdown); the same as TLS allows its closing alert.
	closeFlushTimeout = 5 * time.Second
)

var gatherBufs = sync.Pool{New: func() any { b := make([]byte, 0, gatherSize); return &b }}

// rawConn returns the timeoutConn below c, nil if there is none.
func rawConn(c net.Conn) *timeoutConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	t, _ := c.(*timeoutConn)
	return t
}

// stopReading makes every later read from the socket end as if the client
// had closed its side: imapserver answers the command it is on and the
// commands already read ahead (at most a few KiB, buffered by TLS and
// imapserver), then sees the end of its input and closes the session.
func (c *timeoutConn) stopReading() { c.stopped.Store(true) }

func (c *timeoutConn) Read(p []byte) (int, error) {
	if c.stopped.Load() {
		return 0, io.EOF
	}
	return c.Conn.Read(p)
}

func (c *timeoutConn) cap(t time.Time) time.Time {
	limit := time.Now().Add(c.idle)
	if t.IsZero() || t.After(limit) {
		return limit
	}
	return t
}

func (c *timeoutConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.cap(t))
}

func (c *timeoutConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetReadDeadline(c.cap(t))
}

// gather holds writes back until flush (or until gatherSize bytes wait).
func (c *timeoutConn) gather() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gathering || c.err != nil {
		return
	}
	c.gathering = true
	c.buf = (*gatherBufs.Get().(*[]byte))[:0]
}

// flush sends what was gathered and ends gathering. An error is sticky:
// every later write fails with it.
func (c *timeoutConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.gathering {
		return c.err
	}
	c.sendNowLocked()
	c.stopLocked()
	return c.err
}

// send sends what was gathered so far and goes on gathering: the writer
// is about to wait, and the client may as well read meanwhile.
func (c *timeoutConn) send() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gathering {
		c.sendNowLocked()
	}
}

// sendNowLocked sends what is gathered between two responses, when
// imapserver has no write deadline set.
func (c *timeoutConn) sendNowLocked() {
	if len(c.buf) > 0 && c.err == nil {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(flushTimeout))
		c.sendLocked()
		_ = c.Conn.SetWriteDeadline(time.Time{})
	}
}

func (c *timeoutConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if !c.gathering {
		return c.Conn.Write(p)
	}
	if len(c.buf)+len(p) > cap(c.buf) {
		if err := c.sendLocked(); err != nil {
			return 0, err
		}
		if len(p) > cap(c.buf) {
			n, err := c.Conn.Write(p)
			c.err = err
			return n, err
		}
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

// Close sends what is gathered (within closeFlushTimeout), then closes.
// While a write is under way it closes at once: that unblocks a write to
// a client that does not read, as closing is expected to.
//
// Otherwise the close lingers, as nginx's and Postfix's do: the sending
// side is shut (the client reads everything sent, then the end), and what
// the client still sends is read and dropped for at most lingerTimeout or
// lingerBytes before the socket closes. Closing a socket with unread input
// makes the kernel send a reset, which can destroy the last responses
// before the client reads them: the NO and BYE for a refused literal whose
// octets are still arriving, or a BYE after a pipelined command.
func (c *timeoutConn) Close() error {
	if !c.mu.TryLock() {
		return c.Conn.Close()
	}
	if c.gathering {
		if len(c.buf) > 0 && c.err == nil {
			_ = c.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
			c.sendLocked()
		}
		c.stopLocked()
	}
	c.mu.Unlock()
	hc, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok || hc.CloseWrite() != nil {
		return c.Conn.Close()
	}
	go func() {
		_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTimeout))
		_, _ = io.CopyN(io.Discard, c.Conn, lingerBytes)
		c.Conn.Close()
	}()
	return nil
}

// A closing connection reads and drops what the client still sends for at
// most this long, or this much (see Close).
const (
	lingerTimeout = 2 * time.Second
	lingerBytes   = 1 << 20
)

func (c *timeoutConn) sendLocked() error {
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	c.err = err
	return err
}

func (c *timeoutConn) stopLocked() {
	c.gathering = false
	b := c.buf[:0]
	c.buf = nil
	gatherBufs.Put(&b)
}
