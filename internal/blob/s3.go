package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Options configure the S3 store.
type S3Options struct {
	Endpoint  string // host:port, no scheme
	Bucket    string // created if missing
	AccessKey string
	SecretKey string
	Region    string // "" lets the client discover it
	UseTLS    bool

	// PartSize is the size of one part of a multipart upload, and so the
	// memory one upload buffers; 0 means DefaultPartSize. S3 allows 5 MiB to
	// 5 GiB, and at most 10,000 parts per object.
	PartSize uint64
	// Threads says how much of an upload runs at once; 0 means
	// DefaultThreads. 1: parts are read and uploaded in turn, one buffer of
	// PartSize. 2 or more: the next part is read while the previous one
	// uploads, two buffers. More parts in flight would take more buffers,
	// past the memory bound (see S3), so values above 2 act as 2.
	Threads uint
}

// S3 is a Store in one bucket of an S3-compatible server (MinIO, Ceph,
// SeaweedFS, versitygw, AWS), on minio-go.
//
// An object that fits in one part (declared size up to PartSize, or a
// stream that ends before PartSize bytes) is read into memory and sent in
// one PUT that carries its SHA-256 as user metadata (X-Amz-Meta-Sha256), so
// Stat returns it. A larger one goes up as a
// multipart upload: S3 cannot attach metadata once the data is in, so Stat's
// SHA256 stays empty for those and callers keep the digest Put returned. A
// multipart upload that fails is aborted, so no object and no stray parts
// remain. Objects can be at most PartSize × 10,000 bytes (156 GiB by
// default).
//
// The multipart upload is driven here rather than by minio-go's PutObject,
// which, given a stream, reads a part and then uploads it, one after the
// other, and buffers Threads parts (64 MiB at the defaults) if asked to
// overlap them. This store reads and hashes the next part while the previous
// one uploads, in two buffers: an upload holds at most 2 × PartSize of
// memory (32 MiB by default), and the SHA-256 costs no time when a CPU core
// is free.
type S3 struct {
	client   *minio.Client // retries transient failures
	core     minio.Core    // same client, for single-request GETs
	probe    *minio.Client // no retries: start-up check and Ping
	tr       *http.Transport
	bucket   string
	endpoint string
	partSize int64
	threads  uint
}

var _ Store = (*S3)(nil)

const (
	// smallUnknown is how much of a stream of undeclared size is read
	// before a whole part's buffer is taken.
	smallUnknown = 1 << 20
	// maxParts is S3's limit of parts per multipart upload.
	maxParts = 10000
	// contentType is what every object is stored as.
	contentType = "application/octet-stream"
)

// metaSHA256 is the user metadata key (header X-Amz-Meta-Sha256) that holds
// an object's digest.
const metaSHA256 = "Sha256"

// NewS3 connects to the server, checks that it answers, and creates the
// bucket if it does not exist. A server that cannot be reached or refuses the
// credentials is an error "s3 at <endpoint>: <reason>" on one line.
func NewS3(ctx context.Context, o S3Options) (*S3, error) {
	if o.Endpoint == "" {
		return nil, errors.New("s3: no endpoint given")
	}
	if o.Bucket == "" {
		return nil, fmt.Errorf("s3 at %s: no bucket given", o.Endpoint)
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.Threads == 0 {
		o.Threads = DefaultThreads
	}
	if o.PartSize < 5<<20 || o.PartSize > 5<<30 {
		return nil, fmt.Errorf("s3 at %s: part size %d is outside S3's 5 MiB to 5 GiB", o.Endpoint, o.PartSize)
	}
	tr, err := minio.DefaultTransport(o.UseTLS)
	if err != nil {
		return nil, endpointError(o.Endpoint, err)
	}
	newClient := func(retries int) (*minio.Client, error) {
		return minio.New(o.Endpoint, &minio.Options{
			Creds:      credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""),
			Secure:     o.UseTLS,
			Region:     o.Region,
			Transport:  tr,
			MaxRetries: retries,
		})
	}
	client, err := newClient(0) // minio-go's default: 10 attempts
	if err != nil {
		return nil, endpointError(o.Endpoint, err)
	}
	probe, err := newClient(1)
	if err != nil {
		return nil, endpointError(o.Endpoint, err)
	}
	s := &S3{
		client:   client,
		core:     minio.Core{Client: client},
		probe:    probe,
		tr:       tr,
		bucket:   o.Bucket,
		endpoint: o.Endpoint,
		partSize: int64(o.PartSize),
		threads:  o.Threads,
	}
	exists, err := probe.BucketExists(ctx, o.Bucket)
	if err != nil {
		return nil, endpointError(o.Endpoint, err)
	}
	if !exists {
		err := client.MakeBucket(ctx, o.Bucket, minio.MakeBucketOptions{Region: o.Region})
		if err != nil {
			// BucketAlreadyOwnedByYou, or another node won the race: fine
			// as long as the bucket is now there and ours to use.
			if ok, err2 := probe.BucketExists(ctx, o.Bucket); err2 != nil || !ok {
				return nil, endpointError(o.Endpoint, fmt.Errorf("create bucket %s: %w", o.Bucket, err))
			}
		}
	}
	return s, nil
}

// Close drops idle connections. The store must not be used afterwards.
func (s *S3) Close() error {
	s.tr.CloseIdleConnections()
	return nil
}

// Bucket returns the store's bucket.
func (s *S3) Bucket() string { return s.bucket }

// Put implements Store.
func (s *S3) Put(ctx context.Context, r io.Reader, size int64) (Info, error) {
	return s.put(ctx, randomKey(), r, size)
}

// PutKey implements Store. S3 replaces an object atomically and the last
// writer wins, which for the same content is the same object.
func (s *S3) PutKey(ctx context.Context, key string, r io.Reader, size int64) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	return s.put(ctx, key, r, size)
}

func (s *S3) put(ctx context.Context, key string, r io.Reader, size int64) (Info, error) {
	if size < -1 {
		return Info{}, fmt.Errorf("blob: put %s: negative size %d", key, size)
	}
	if maxSize := s.partSize * maxParts; size > maxSize {
		return Info{}, fmt.Errorf("blob: put %s: %d bytes, more than the %d that %d parts of %d hold", key, size, maxSize, maxParts, s.partSize)
	}
	if f, ok := r.(fileSection); ok && size > 0 && f.Size() == size {
		return s.putSection(ctx, key, f)
	}
	pr := newPutReader(ctx, r, size)
	var (
		buf   []byte // the first part
		n     int
		ended bool
		err   error
	)
	switch {
	case size >= 0 && size <= s.partSize:
		buf = make([]byte, size)
		n, ended, err = readPart(pr, buf)
	case size < 0:
		// Most undeclared streams are small: try a small buffer first.
		buf = make([]byte, smallUnknown)
		n, ended, err = readPart(pr, buf)
		if err == nil && !ended {
			buf = append(make([]byte, 0, s.partSize), buf...)[:s.partSize]
			var m int
			m, ended, err = readPart(pr, buf[n:])
			n += m
		}
	default:
		buf = make([]byte, s.partSize)
		n, ended, err = readPart(pr, buf)
	}
	if err != nil {
		return Info{}, fmt.Errorf("blob: put %s: %w", key, err)
	}

	var up minio.UploadInfo
	if ended {
		// The whole object is in buf: one PUT, which carries the digest.
		if err := ctx.Err(); err != nil {
			return Info{}, fmt.Errorf("blob: put %s: %w", key, err)
		}
		wctx, cancel := s.writeContext(ctx)
		defer cancel()
		up, err = s.client.PutObject(wctx, s.bucket, key, bytes.NewReader(buf[:n]), int64(n), minio.PutObjectOptions{
			ContentType:          contentType,
			UserMetadata:         map[string]string{metaSHA256: pr.sum()},
			DisableContentSha256: true,
			DisableMultipart:     true,
		})
	} else {
		up, err = s.putParts(ctx, key, pr, buf[:n])
	}
	if err != nil {
		if rerr := pr.readError(); rerr != nil {
			// The stream's fault (or the caller's context), not the server's.
			return Info{}, fmt.Errorf("blob: put %s: %w", key, rerr)
		}
		return Info{}, s.opError("put", key, err)
	}
	mod := up.LastModified
	if mod.IsZero() {
		mod = time.Now()
	}
	return Info{Key: key, Size: pr.n, SHA256: pr.sum(), ModTime: mod}, nil
}

// putParts uploads an object as a multipart upload whose first part, full,
// is in first and the rest still in pr. The next part is read (and hashed)
// into a second buffer while the previous one goes over the network; with
// Threads 1 the two alternate instead. Any failure aborts the upload, so the
// server keeps neither an object nor parts.
func (s *S3) putParts(ctx context.Context, key string, pr *putReader, first []byte) (up minio.UploadInfo, err error) {
	id, err := s.core.NewMultipartUpload(ctx, s.bucket, key, minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return up, err
	}
	type result struct {
		num  int
		part minio.ObjectPart
		err  error
	}
	var (
		inflight chan result // the part being uploaded, if any
		parts    []minio.CompletePart
	)
	wait := func() error {
		res := <-inflight
		inflight = nil
		if res.err != nil {
			return res.err
		}
		parts = append(parts, minio.CompletePart{PartNumber: res.num, ETag: res.part.ETag})
		return nil
	}
	defer func() {
		if err == nil {
			return
		}
		// Let a part on its way land (or fail) before aborting: aborting
		// under a part still being written can leave that part behind.
		if inflight != nil {
			_ = wait()
		}
		s.abort(ctx, key, id)
	}()

	cur, spare := first, make([]byte, s.partSize)
	ended := false
	for num := 1; len(cur) > 0; num++ {
		if num > maxParts {
			return up, fmt.Errorf("the object is larger than %d parts of %d bytes", maxParts, s.partSize)
		}
		if err := ctx.Err(); err != nil {
			return up, err
		}
		inflight = make(chan result, 1)
		go func(ch chan<- result, num int, data []byte) {
			p, err := s.putPart(ctx, key, id, num, data)
			ch <- result{num, p, err}
		}(inflight, num, cur)

		var next []byte
		if !ended {
			if s.threads < 2 {
				if err := wait(); err != nil {
					return up, err
				}
			}
			m, e, err := readPart(pr, spare)
			if err != nil {
				return up, err
			}
			next, ended = spare[:m], e
		}
		if inflight != nil {
			if err := wait(); err != nil {
				return up, err
			}
		}
		cur, spare = next, cur[:cap(cur)]
	}
	if err := pr.done(); err != nil {
		return up, err
	}
	if err := ctx.Err(); err != nil {
		return up, err
	}
	wctx, cancel := s.writeContext(ctx)
	defer cancel()
	return s.core.CompleteMultipartUpload(wctx, s.bucket, key, id, parts, minio.PutObjectOptions{})
}

// fileSection is a stream that can be read at any offset and knows its
// size: an *io.SectionReader over a spool file. The S3 store sends its
// parts straight from it instead of through part buffers.
type fileSection interface {
	io.ReaderAt
	Size() int64
}

// putSection uploads a file section straight from the file, so that none
// of it is held in memory: in one PUT when it fits one part, else as a
// multipart upload whose parts are read from the section (up to Threads at
// a time). The section is read once first for its SHA-256; it must not
// change while the put runs (a spool file does not). Any failure aborts
// the upload.
func (s *S3) putSection(ctx context.Context, key string, f fileSection) (Info, error) {
	size := f.Size()
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("blob: put %s: %w", key, err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, &ctxReader{ctx: ctx, r: io.NewSectionReader(f, 0, size)}); err != nil {
		return Info{}, fmt.Errorf("blob: put %s: read the object's stream: %w", key, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if size <= s.partSize {
		wctx, cancel := s.writeContext(ctx)
		defer cancel()
		up, err := s.client.PutObject(wctx, s.bucket, key, io.NewSectionReader(f, 0, size), size, minio.PutObjectOptions{
			ContentType:          contentType,
			UserMetadata:         map[string]string{metaSHA256: sum},
			DisableContentSha256: true,
			DisableMultipart:     true,
		})
		if err != nil {
			return Info{}, s.opError("put", key, err)
		}
		return Info{Key: key, Size: size, SHA256: sum, ModTime: modTime(up)}, nil
	}
	id, err := s.core.NewMultipartUpload(ctx, s.bucket, key, minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return Info{}, s.opError("put", key, err)
	}
	n := int((size + s.partSize - 1) / s.partSize)
	parts := make([]minio.CompletePart, n)
	errs := make([]error, n)
	sem := make(chan struct{}, max(s.threads, 1))
	var wg sync.WaitGroup
	for i := range n {
		if ctx.Err() != nil {
			errs[i] = ctx.Err()
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			off := int64(i) * s.partSize
			l := min(s.partSize, size-off)
			wctx, cancel := s.writeContext(ctx)
			defer cancel()
			p, err := s.core.PutObjectPart(wctx, s.bucket, key, id, i+1, io.NewSectionReader(f, off, l), l,
				minio.PutObjectPartOptions{DisableContentSha256: true})
			parts[i], errs[i] = minio.CompletePart{PartNumber: i + 1, ETag: p.ETag}, err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		s.abort(ctx, key, id)
		if cerr := ctx.Err(); cerr != nil {
			return Info{}, fmt.Errorf("blob: put %s: %w", key, cerr)
		}
		return Info{}, s.opError("put", key, err)
	}
	wctx, cancel := s.writeContext(ctx)
	defer cancel()
	up, err := s.core.CompleteMultipartUpload(wctx, s.bucket, key, id, parts, minio.PutObjectOptions{})
	if err != nil {
		s.abort(ctx, key, id)
		return Info{}, s.opError("put", key, err)
	}
	return Info{Key: key, Size: size, SHA256: sum, ModTime: modTime(up)}, nil
}

// modTime is when the server says it stored the object, else now.
func modTime(up minio.UploadInfo) time.Time {
	if up.LastModified.IsZero() {
		return time.Now()
	}
	return up.LastModified
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// writeTimeout bounds one write request (a PUT, a part, a completion) once
// started; see writeContext.
const writeTimeout = 10 * time.Minute

// writeContext returns the context for a write request: not cancelled with
// ctx, because a request cut off by the client may still complete on the
// server after the client has given up on it (versitygw then even revives
// an aborted upload with the late part). A write, once started, runs to its
// answer; ctx is checked before each one.
func (s *S3) writeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
}

func (s *S3) putPart(ctx context.Context, key, id string, num int, data []byte) (minio.ObjectPart, error) {
	wctx, cancel := s.writeContext(ctx)
	defer cancel()
	return s.core.PutObjectPart(wctx, s.bucket, key, id, num, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectPartOptions{DisableContentSha256: true})
}

// abort ends a multipart upload, even when ctx is what ended it.
func (s *S3) abort(ctx context.Context, key, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_ = s.core.AbortMultipartUpload(ctx, s.bucket, key, id)
}

// readPart fills buf from pr as far as the stream goes and reports whether
// the stream has ended (for a declared size, putReader knows that as soon as
// the last byte is read).
func readPart(pr *putReader, buf []byte) (n int, ended bool, err error) {
	n, err = io.ReadFull(pr, buf)
	if rerr := pr.readError(); rerr != nil {
		return n, false, rerr // io.ReadFull drops an error that comes with the last byte
	}
	switch err {
	case nil:
		if pr.size >= 0 && pr.n == pr.size {
			// All declared bytes are in (an empty buffer reads nothing, so
			// the check for more may not have run yet).
			if err := pr.done(); err != nil {
				return n, false, err
			}
			return n, true, nil
		}
		return n, false, nil
	case io.EOF, io.ErrUnexpectedEOF:
		return n, true, nil
	}
	return n, false, err
}

// Open implements Store. The GET is made before Open returns, so a missing
// key is reported here.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	body, _, _, err := s.core.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.opError("open", key, err)
	}
	return body, nil
}

// OpenRange implements Store with an HTTP Range request. A range that starts
// at or past the end is refused by S3 (416 InvalidRange); that is answered
// with an empty reader once a HEAD has shown the object exists.
func (s *S3) OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if err := checkRange(offset, length); err != nil {
		return nil, err
	}
	if offset == 0 && length == -1 {
		return s.Open(ctx, key)
	}
	if length == 0 {
		if _, err := s.Stat(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	var opts minio.GetObjectOptions
	end := int64(0) // with offset > 0: "bytes=offset-"
	if length > 0 {
		end = offset + length - 1
	}
	if err := opts.SetRange(offset, end); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRange, err)
	}
	body, _, _, err := s.core.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		if minioCode(err) == minio.InvalidRange {
			if _, err := s.Stat(ctx, key); err != nil {
				return nil, err
			}
			return io.NopCloser(bytes.NewReader(nil)), nil
		}
		return nil, s.opError("open", key, err)
	}
	return body, nil
}

// Stat implements Store.
func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	oi, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return Info{}, s.opError("stat", key, err)
	}
	info := Info{Key: key, Size: oi.Size, ModTime: oi.LastModified}
	if h := oi.Metadata.Get("X-Amz-Meta-" + metaSHA256); isSHA256Hex(h) {
		info.SHA256 = h
	}
	return info, nil
}

// Delete implements Store. S3 deletes a missing key without complaint, so a
// HEAD comes first to report ErrNotFound.
func (s *S3) Delete(ctx context.Context, key string) error {
	if _, err := s.Stat(ctx, key); err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return s.opError("delete", key, err)
	}
	return nil
}

// List implements Store with ListObjectsV2, which returns keys in byte
// order one page (1,000 keys) at a time.
func (s *S3) List(ctx context.Context, prefix string, fn func(Info) error) error {
	if err := validatePrefix(prefix); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops minio-go's lister when fn ends the walk early
	for oi := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			return s.opError("list", prefix, oi.Err)
		}
		if ValidateKey(oi.Key) != nil {
			continue // not written through a Store (e.g. a "dir/" marker)
		}
		if err := fn(Info{Key: oi.Key, Size: oi.Size, ModTime: oi.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Ping implements Store: one HEAD on the bucket, without retries.
func (s *S3) Ping(ctx context.Context) error {
	ok, err := s.probe.BucketExists(ctx, s.bucket)
	if err != nil {
		return endpointError(s.endpoint, err)
	}
	if !ok {
		return endpointError(s.endpoint, fmt.Errorf("bucket %s does not exist", s.bucket))
	}
	return nil
}

// opError maps NoSuchKey to ErrNotFound, a key that clashes with a
// "directory" of other keys to ErrInvalidKey (servers that keep objects as
// files refuse those), and names the operation otherwise.
func (s *S3) opError(op, key string, err error) error {
	switch code := minioCode(err); code {
	case minio.NoSuchKey:
		return fmt.Errorf("%w: %s", ErrNotFound, key)
	case "ExistingObjectIsDirectory", "ObjectParentIsFile", // versitygw
		"XMinioParentIsObject", "XMinioObjectExistsAsDirectory": // MinIO
		return fmt.Errorf("%w: %q clashes with another key (a key cannot also be a directory of keys): %s", ErrInvalidKey, key, code)
	}
	if fromServer(err) {
		err = endpointError(s.endpoint, err)
	}
	return fmt.Errorf("blob: %s %s: %w", op, key, err)
}

// fromServer reports whether err came from the S3 server or the way to it
// (rather than from a context or the store itself).
func fromServer(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ue *url.Error
	var er minio.ErrorResponse
	return errors.As(err, &ue) || errors.As(err, &er)
}

func minioCode(err error) string {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		return er.Code
	}
	return ""
}

// s3Error is an error of the S3 server or of the way to it, on one line:
// "s3 at <endpoint>: <reason>".
type s3Error struct {
	endpoint, reason string
	err              error
}

func (e *s3Error) Error() string { return "s3 at " + e.endpoint + ": " + e.reason }
func (e *s3Error) Unwrap() error { return e.err }

func endpointError(endpoint string, err error) error {
	var se *s3Error
	if errors.As(err, &se) {
		return err
	}
	reason := err.Error()
	var ue *url.Error
	var er minio.ErrorResponse
	switch {
	case errors.As(err, &er) && er.Code != "":
		reason = er.Code
		if er.Message != "" {
			reason += ": " + er.Message
		}
		if er.BucketName != "" {
			reason = "bucket " + er.BucketName + ": " + reason
		}
	case errors.As(err, &ue):
		// "Head "http://…/bucket/": dial tcp …: connection refused" → the
		// cause, without the URL.
		reason = ue.Err.Error()
	}
	return &s3Error{endpoint: endpoint, reason: strings.Join(strings.Fields(reason), " "), err: err}
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
