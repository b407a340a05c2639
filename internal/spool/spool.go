// Package spool holds a received message that must be read more than once
// (hashed and stored, parsed, verified, signed, relayed): in memory when
// small, else in an unlinked temporary file that goes when it is closed,
// whatever happens. SMTP and the mail store both spool through it.
//
// It knows no protocol and no database.
package spool

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"sync"
)

// ErrTooBig: the message has more than Options.Limit bytes. Nothing is
// kept.
var ErrTooBig = errors.New("spool: message too big")

// Options say how to spool one message.
type Options struct {
	// Limit is the most bytes a message may have.
	Limit int64
	// Memory is the largest message held in memory; larger ones go to a
	// temporary file in Dir ("" is os.TempDir()).
	Memory int64
	Dir    string
	// Pattern names the temporary files (os.CreateTemp), for whoever
	// lists the directory while one is open.
	Pattern string
	// Hash computes the message's SHA-256 (Sum) while it is read.
	Hash bool
}

// Spool is one message read to its end. Close it once done.
type Spool struct {
	mem  []byte
	buf  *bytes.Buffer // holds mem; back to buffers at Close
	file *os.File
	size int64
	sum  string
	// lent: mem was given to a reader that may still be reading it after
	// the call that took it failed (an HTTP transport after a cancelled
	// request); it is not reused.
	lent bool
}

// buffers are the memory of closed spools, up to maxPooled each.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooled = 1 << 20

// Read reads r to its end. More than o.Limit bytes is ErrTooBig; a read
// error is returned wrapped (errors.Is and errors.As see it).
func Read(r io.Reader, o Options) (*Spool, error) {
	var h hash.Hash
	if o.Hash {
		h = sha256.New()
	}
	lr := &io.LimitedReader{R: r, N: o.Limit + 1}
	head := buffers.Get().(*bytes.Buffer)
	head.Reset()
	sp := &Spool{buf: head}
	n, err := io.CopyN(head, lr, o.Memory+1)
	if err != nil && err != io.EOF {
		sp.Close()
		return nil, fmt.Errorf("read message: %w", err)
	}
	sp.size = n
	if n <= o.Memory {
		if n > o.Limit {
			sp.Close()
			return nil, fmt.Errorf("message of more than %d bytes: %w", o.Limit, ErrTooBig)
		}
		sp.mem = head.Bytes()
		if h != nil {
			h.Write(sp.mem)
			sp.sum = hex.EncodeToString(h.Sum(nil))
		}
		return sp, nil
	}
	pattern := o.Pattern
	if pattern == "" {
		pattern = "diwan-spool-*"
	}
	f, err := os.CreateTemp(o.Dir, pattern)
	if err != nil {
		sp.Close()
		return nil, fmt.Errorf("spool message: %w", err)
	}
	os.Remove(f.Name()) // unlinked at once: gone when closed
	sp.file = f
	var w io.Writer = f
	if h != nil {
		w = io.MultiWriter(f, h)
	}
	n, err = io.Copy(w, io.MultiReader(head, lr))
	if err != nil {
		sp.Close()
		return nil, fmt.Errorf("spool message: %w", err)
	}
	sp.size = n
	if n > o.Limit {
		sp.Close()
		return nil, fmt.Errorf("message of more than %d bytes: %w", o.Limit, ErrTooBig)
	}
	if h != nil {
		sp.sum = hex.EncodeToString(h.Sum(nil))
	}
	return sp, nil
}

// Reader reads the message from its start; each call a new reader. A
// spool in a file gives a section of it, which a blob store can send
// without buffering.
func (sp *Spool) Reader() io.Reader {
	if sp.file != nil {
		return io.NewSectionReader(sp.file, 0, sp.size)
	}
	return bytes.NewReader(sp.mem)
}

// ReaderWithPrefix reads prefix (a header field put on top: a DKIM
// signature, Authentication-Results), then the message. From a file it is
// still a section (io.ReaderAt with a size) that a blob store sends
// without buffering: a signed 49 MiB message relayed to S3 grew the
// process by 51 MiB as a plain stream, by under 16 MiB as a section.
func (sp *Spool) ReaderWithPrefix(prefix string) io.Reader {
	if prefix == "" {
		return sp.Reader()
	}
	if sp.file != nil {
		return io.NewSectionReader(prefixed{prefix: prefix, r: sp.file}, 0, int64(len(prefix))+sp.size)
	}
	return io.MultiReader(strings.NewReader(prefix), bytes.NewReader(sp.mem))
}

// prefixed reads prefix, then r from its start, at any offset.
type prefixed struct {
	prefix string
	r      io.ReaderAt
}

func (p prefixed) ReadAt(b []byte, off int64) (int, error) {
	n := 0
	if off < int64(len(p.prefix)) {
		n = copy(b, p.prefix[off:])
		if n == len(b) {
			return n, nil
		}
		off = int64(len(p.prefix))
	}
	m, err := p.r.ReadAt(b[n:], off-int64(len(p.prefix)))
	return n + m, err
}

// Size is the message's length in bytes.
func (sp *Spool) Size() int64 { return sp.size }

// Sum is the message's SHA-256 in hex ("" without Options.Hash).
func (sp *Spool) Sum() string { return sp.sum }

// Lend says that a reader of the spool may outlive the call it was given
// to (a failed blob put whose transport still reads): Close then leaves
// the memory to the garbage collector instead of reusing it.
func (sp *Spool) Lend() { sp.lent = true }

// Close releases the file or the memory.
func (sp *Spool) Close() {
	if sp.file != nil {
		sp.file.Close()
	}
	if b := sp.buf; b != nil && !sp.lent && b.Cap() <= maxPooled {
		b.Reset()
		buffers.Put(b)
	}
	sp.buf, sp.mem = nil, nil
}
