// Package blob holds Diwan's object store: the Store contract through which
// raw messages and attachments are written and read, a filesystem store for
// one machine (FS) and an S3 store on minio-go for several (S3), and
// Instrument, which times any Store's calls for Prometheus. One conformance
// suite, package blobtest, runs against both stores, bare and instrumented.
//
// An object is an immutable byte stream under a key. A Store streams: it never
// holds a whole object in memory (the S3 store buffers at most two upload
// parts of S3Options.PartSize, and none for a stream that is a file section
// of the declared size, an *io.SectionReader, whose parts it sends straight
// from the file). It never lets a partly written object become
// visible: a Put that fails or is cancelled leaves no object behind. It never
// reads or writes outside its directory or bucket, whatever the key says.
//
// The package must never know what a key means (messages, mailboxes,
// attachments are the callers' business), never talk to the database, and
// never log: errors go back to the caller, which logs them once.
package blob

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors a Store returns. Implementations wrap them with detail; callers test
// with errors.Is.
var (
	// ErrNotFound: no object under the key.
	ErrNotFound = errors.New("blob: not found")
	// ErrInvalidKey: the key (or list prefix) is refused; see ValidateKey.
	ErrInvalidKey = errors.New("blob: invalid key")
	// ErrSizeMismatch: a Put declared a size and the stream was shorter or
	// longer. Nothing was stored.
	ErrSizeMismatch = errors.New("blob: size mismatch")
	// ErrInvalidRange: OpenRange was given a negative offset or a length
	// below -1.
	ErrInvalidRange = errors.New("blob: invalid range")
)

// Info describes a stored object.
type Info struct {
	Key  string
	Size int64
	// SHA256 is the lowercase hex SHA-256 of the content. Put and PutKey
	// always fill it; Stat and List leave it empty when the store does not
	// know it without reading the object.
	SHA256  string
	ModTime time.Time
}

// Store is an object store. Every method is safe for concurrent use. Keys
// are checked with ValidateKey before anything is touched; a refused key is
// ErrInvalidKey.
//
// Keys are '/'-separated paths. Callers must not use a key that is also a
// directory of other keys ("a/b" beside "a/b/c"): stores that keep objects
// as files (FS; versitygw's and MinIO's S3) cannot hold both and refuse the
// second with ErrInvalidKey, leaving the first alone.
type Store interface {
	// Put stores the stream under a new random key ("ab/cd/<32 hex>", from
	// crypto/rand) and returns its Info with Size and SHA256 of what was
	// stored. size is the exact length of r, or -1 when unknown; a stream
	// that does not match a declared size is refused with ErrSizeMismatch.
	// Put reads r until EOF (or size bytes and a check for one more) and
	// never holds the whole stream in memory. When Put returns nil the object
	// is durable (fsynced, or acknowledged by S3). When it returns an error —
	// a read error from r (wrapped, errors.Is works), a cancelled ctx, a
	// size mismatch, a storage failure — no object was created.
	Put(ctx context.Context, r io.Reader, size int64) (Info, error)

	// PutKey is Put under a key the caller chose, typically derived from the
	// content (its SHA-256). An existing object under the key is replaced
	// atomically: readers see the old or the new content, never a mix.
	// Concurrent PutKey calls of the same content on the same key all
	// succeed and leave that content.
	PutKey(ctx context.Context, key string, r io.Reader, size int64) (Info, error)

	// Open returns the whole object for reading; the caller closes it. A
	// missing key is ErrNotFound, reported by Open itself, not by the first
	// Read. Reading may fail once ctx is done.
	Open(ctx context.Context, key string) (io.ReadCloser, error)

	// OpenRange returns length bytes starting at offset; length -1 reads to
	// the end. The range is cut at the end of the object: a range that runs
	// past the end yields the bytes up to the end, and one that starts at or
	// past the end (or has length 0) yields no bytes, without error. A
	// negative offset or a length below -1 is ErrInvalidRange. A missing key
	// is ErrNotFound.
	OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)

	// Stat describes the object without reading it. A missing key is
	// ErrNotFound. SHA256 may be empty (see Info).
	Stat(ctx context.Context, key string) (Info, error)

	// Delete removes the object. A missing key is ErrNotFound, so callers
	// that do not care test for it.
	Delete(ctx context.Context, key string) error

	// List calls fn for every object whose key starts with prefix ("" for
	// all), in ascending byte order of keys, streaming: it does not collect
	// the listing first. An error from fn stops the listing and is returned.
	// Objects being written (temporary files, incomplete uploads) are never
	// listed. The prefix follows the key rules except that it may end in
	// '/' or in a partial segment; otherwise it is ErrInvalidKey.
	List(ctx context.Context, prefix string, fn func(Info) error) error

	// Ping reports whether the store is reachable and usable, quickly and
	// without retrying, for readiness checks.
	Ping(ctx context.Context) error
}

// DefaultPartSize and DefaultThreads are the S3 upload settings used when
// S3Options leaves them zero.
const (
	DefaultPartSize = 16 << 20
	DefaultThreads  = 4
)
