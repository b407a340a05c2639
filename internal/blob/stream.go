package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
)

// putReader is what both stores read a Put's stream through. It hashes
// every byte that passes, counts them, stops at a cancelled context, and
// holds the stream to its declared size: it never hands out more than size
// bytes, and on the read that delivers the last of them it already checks
// that nothing follows, so a consumer that stops at exactly size bytes (the
// S3 store filling its last part buffer) still learns of a longer stream
// before it commits anything. Errors are sticky.
type putReader struct {
	ctx  context.Context
	r    io.Reader
	h    hash.Hash
	n    int64
	size int64 // -1: unknown
	err  error
}

func newPutReader(ctx context.Context, r io.Reader, size int64) *putReader {
	return &putReader{ctx: ctx, r: r, h: sha256.New(), size: size}
}

func (p *putReader) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	if err := p.ctx.Err(); err != nil {
		p.err = err
		return 0, err
	}
	if p.size >= 0 {
		rest := p.size - p.n
		if rest == 0 {
			p.err = p.checkEnd()
			return 0, p.err
		}
		if int64(len(b)) > rest {
			b = b[:rest]
		}
	}
	n, err := p.r.Read(b)
	p.h.Write(b[:n])
	p.n += int64(n)
	switch {
	case err == io.EOF && p.size >= 0 && p.n < p.size:
		err = fmt.Errorf("%w: the stream ended after %d of %d bytes", ErrSizeMismatch, p.n, p.size)
	case err == nil && p.size >= 0 && p.n == p.size:
		err = p.checkEnd()
	case err != nil && err != io.EOF:
		err = fmt.Errorf("read the object's stream: %w", err)
	}
	if err != nil {
		p.err = err
	}
	return n, err
}

// checkEnd reads past the declared size: io.EOF if the stream ends there,
// ErrSizeMismatch if it goes on.
func (p *putReader) checkEnd() error {
	var one [1]byte
	for range 100 {
		n, err := p.r.Read(one[:])
		switch {
		case n > 0:
			return fmt.Errorf("%w: the stream is longer than the declared %d bytes", ErrSizeMismatch, p.size)
		case err == io.EOF:
			return io.EOF
		case err != nil:
			return fmt.Errorf("read the object's stream: %w", err)
		}
	}
	return fmt.Errorf("read the object's stream: %w", io.ErrNoProgress)
}

// done reports the outcome once the consumer has finished: nil only if the
// stream reached its end (and matched a declared size).
func (p *putReader) done() error {
	if p.err == io.EOF {
		return nil
	}
	if p.err != nil {
		return p.err
	}
	// The consumer stopped without seeing the end; look for it ourselves.
	if p.size >= 0 && p.n < p.size {
		return fmt.Errorf("%w: the stream ended after %d of %d bytes", ErrSizeMismatch, p.n, p.size)
	}
	if _, err := p.Read(make([]byte, 1)); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("%w: the stream was not read to its end", ErrSizeMismatch)
		}
		return err
	}
	return nil
}

// sum returns the lowercase hex SHA-256 of everything read so far.
func (p *putReader) sum() string { return hex.EncodeToString(p.h.Sum(nil)) }

// readError returns the reader's error if it has one that is not the normal
// end of the stream; a store prefers it over the error the consumer wrapped
// it in.
func (p *putReader) readError() error {
	if p.err != nil && p.err != io.EOF {
		return p.err
	}
	return nil
}
