package blob_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"diwan.gov.sy/diwan/internal/blob"
	"diwan.gov.sy/diwan/internal/blob/blobtest"
	"diwan.gov.sy/diwan/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func newFS(t testing.TB) *blob.FS {
	t.Helper()
	s, err := blob.NewFS(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newS3 returns a store on a fresh bucket of the test binary's versitygw.
func newS3(t testing.TB) *blob.S3 {
	t.Helper()
	srv := testenv.S3(t)
	s, err := blob.NewS3(t.Context(), s3Options(srv, testenv.Bucket(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func s3Options(srv testenv.S3Server, bucket string) blob.S3Options {
	return blob.S3Options{
		Endpoint:  srv.Endpoint,
		Bucket:    bucket,
		AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey,
		Region:    srv.Region,
	}
}

// The store's two ways of writing an object: unnamed files linked into
// place (where the file system has them; Linux file systems in use do),
// and named temporary files renamed into place.
var fsWays = []struct {
	name string
	set  func(t testing.TB, s *blob.FS)
}{
	{"tmpfile", func(t testing.TB, s *blob.FS) {
		if !s.TmpfileForTest() {
			t.Skip("the file system of the test directory has no O_TMPFILE")
		}
	}},
	{"rename", func(_ testing.TB, s *blob.FS) { s.WithoutTmpfileForTest() }},
}

func TestFS(t *testing.T) {
	for _, way := range fsWays {
		t.Run(way.name, func(t *testing.T) {
			blobtest.Run(t, func(t *testing.T) blob.Store {
				s := newFS(t)
				way.set(t, s)
				return s
			})
		})
	}
}

func TestS3(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return newS3(t) })
}

// The suite again with the smallest parts S3 allows, uploaded one at a
// time: many part boundaries, and the serial path.
func TestS3SmallPartsOneThread(t *testing.T) {
	srv := testenv.S3(t)
	blobtest.Run(t, func(t *testing.T) blob.Store {
		o := s3Options(srv, testenv.Bucket(t))
		o.PartSize, o.Threads = 5<<20, 1
		s, err := blob.NewS3(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestValidateKey(t *testing.T) {
	for _, key := range blobtest.InvalidKeys {
		if err := blob.ValidateKey(key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
	for _, key := range []string{
		"a", "a/b/c", "ab/cd/0123456789abcdef0123456789abcdef", ".hidden", "a/.b", "a..b", "...",
		"sha256/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"مرفقات/ملف.pdf", "with space", "a+b=c&d", blobtest.LongestKey, strings.Repeat("x", blob.MaxSegmentLen),
	} {
		if err := blob.ValidateKey(key); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", key, err)
		}
	}
}

func FuzzValidateKey(f *testing.F) {
	for _, k := range append(blobtest.InvalidKeys, "a/b", "ab/cd/ef", ".x") {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if blob.ValidateKey(key) != nil {
			return
		}
		// Whatever passes stays inside a directory and means itself.
		if filepath.IsAbs(key) || !filepath.IsLocal(key) || filepath.Clean(key) != key {
			t.Errorf("ValidateKey accepted %q, which is not a clean local path", key)
		}
		if strings.ContainsAny(key, `%\`) {
			t.Errorf("ValidateKey accepted %q", key)
		}
	})
}

// An FS store keeps its files under its directory whatever the keys, and a
// failed put leaves no temporary file.
func TestFSFailedPutLeavesNoFile(t *testing.T) {
	for _, way := range fsWays {
		t.Run(way.name, func(t *testing.T) {
			s := newFS(t)
			way.set(t, s)
			testFSFailedPutLeavesNoFile(t, s)
		})
	}
}

func testFSFailedPutLeavesNoFile(t *testing.T, s *blob.FS) {
	ctx := t.Context()
	if _, err := s.PutKey(ctx, "a/b", blobtest.FailingReader(1, 1<<20), -1); !errors.Is(err, blobtest.Err) {
		t.Fatalf("PutKey = %v, want the reader's error", err)
	}
	if _, err := s.PutKey(ctx, "a/c", blobtest.Stream(1, 10), 11); !errors.Is(err, blob.ErrSizeMismatch) {
		t.Fatalf("PutKey = %v, want ErrSizeMismatch", err)
	}
	var files []string
	err := filepath.WalkDir(s.Dir(), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) != 0 {
		t.Errorf("files left behind: %q (%v)", files, err)
	}
}

// A temporary file that a crash left behind is never listed nor opened.
func TestFSIgnoresTemporaryFiles(t *testing.T) {
	s := newFS(t)
	if err := os.MkdirAll(filepath.Join(s.Dir(), "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir(), "x", ".tmp%0123"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := s.List(t.Context(), "", func(i blob.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Errorf("List = %q, want nothing", keys)
	}
	if _, err := s.Stat(t.Context(), "x/.tmp%0123"); !errors.Is(err, blob.ErrInvalidKey) {
		t.Errorf("Stat of a temporary file = %v, want ErrInvalidKey", err)
	}
}

// A symbolic link planted in the store's directory cannot lead outside it.
func TestFSSymlinkCannotEscape(t *testing.T) {
	s := newFS(t)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(s.Dir(), "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(t.Context(), "link/secret"); err == nil {
		t.Error("Open through a symlink to outside the store succeeded")
	}
	if _, err := s.PutKey(t.Context(), "link/new", strings.NewReader("x"), 1); err == nil {
		t.Error("PutKey through a symlink to outside the store succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file appeared outside the store: %v", err)
	}
}

// A key that is also a directory of keys cannot be stored on a file system;
// the FS store says so with ErrInvalidKey and leaves the other key alone.
func TestFSKeyClashIsInvalidKey(t *testing.T) {
	s := newFS(t)
	ctx := t.Context()
	if _, err := s.PutKey(ctx, "a/b/c", strings.NewReader("c"), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutKey(ctx, "a/b", strings.NewReader("b"), 1); !errors.Is(err, blob.ErrInvalidKey) {
		t.Errorf("PutKey(a/b) beside a/b/c = %v, want ErrInvalidKey", err)
	}
	if _, err := s.PutKey(ctx, "a/b/c/d", strings.NewReader("d"), 1); !errors.Is(err, blob.ErrInvalidKey) {
		t.Errorf("PutKey(a/b/c/d) below object a/b/c = %v, want ErrInvalidKey", err)
	}
	if err := s.Delete(ctx, "a/b"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Delete of a directory = %v, want ErrNotFound", err)
	}
	if info, err := s.Stat(ctx, "a/b/c"); err != nil || info.Size != 1 {
		t.Errorf("Stat(a/b/c) = %+v, %v", info, err)
	}
}

func TestNewFSCreatesPrivateDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "blobs")
	s, err := blob.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("store directory: %v, mode %v; want 0700", err, fi.Mode())
	}
}

// A multipart upload that fails half-way is aborted: no object, and no
// incomplete upload holding parts on the server.
func TestS3FailedMultipartUploadIsAborted(t *testing.T) {
	srv := testenv.S3(t)
	bucket := testenv.Bucket(t)
	s, err := blob.NewS3(t.Context(), s3Options(srv, bucket))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, size := range []int64{-1, 40 << 20} {
		if _, err := s.PutKey(t.Context(), "fail/multipart", blobtest.FailingReader(1, 20<<20), size); !errors.Is(err, blobtest.Err) {
			t.Fatalf("PutKey (size %d) = %v, want the reader's error", size, err)
		}
		// A context cancelled while parts are on their way.
		ctx, cancel := context.WithCancel(t.Context())
		r := &cancelAfter{r: blobtest.Stream(2, 40<<20), n: 24 << 20, cancel: cancel}
		if _, err := s.PutKey(ctx, "fail/cancelled", r, size); !errors.Is(err, context.Canceled) {
			t.Fatalf("PutKey (size %d) cancelled = %v, want context.Canceled", size, err)
		}
		cancel()
	}
	c, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""), Region: srv.Region})
	if err != nil {
		t.Fatal(err)
	}
	for u := range c.ListIncompleteUploads(t.Context(), bucket, "", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		t.Errorf("incomplete upload left: %s (%s)", u.Key, u.UploadID)
	}
	for _, key := range []string{"fail/multipart", "fail/cancelled"} {
		if _, err := s.Stat(t.Context(), key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Stat(%s) = %v, want ErrNotFound", key, err)
		}
	}
}

// cancelAfter cancels a context once it has handed out n bytes.
type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n -= int64(n); c.n <= 0 {
		c.cancel()
	}
	return n, err
}

// versitygw keeps objects as files, so it refuses a key beside a directory
// of keys like the FS store does, and the store says ErrInvalidKey.
func TestS3KeyClashIsInvalidKey(t *testing.T) {
	s := newS3(t)
	ctx := t.Context()
	if _, err := s.PutKey(ctx, "a/b/c", strings.NewReader("c"), 1); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a/b", "a/b/c/d"} {
		if _, err := s.PutKey(ctx, key, strings.NewReader("x"), 1); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("PutKey(%q) beside a/b/c = %v, want ErrInvalidKey", key, err)
		}
	}
}

// An object that fits in one part carries its digest, so Stat returns it,
// whether or not its size was declared.
func TestS3StatReturnsDigestOfOnePartObjects(t *testing.T) {
	s := newS3(t)
	for _, n := range []int64{5, 3 << 20, blob.DefaultPartSize - 1} {
		for _, size := range []int64{n, -1} {
			info, err := s.Put(t.Context(), blobtest.Stream(9, n), size)
			if err != nil {
				t.Fatal(err)
			}
			st, err := s.Stat(t.Context(), info.Key)
			if err != nil || st.SHA256 != info.SHA256 || info.SHA256 != blobtest.Digest(9, n) {
				t.Errorf("%d bytes, size %d: Stat = %+v, %v; want SHA256 %s", n, size, st, err, info.SHA256)
			}
		}
	}
}

// An S3 server that cannot be reached is reported at once, on one line that
// names it.
func TestNewS3UnreachableServer(t *testing.T) {
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "127.0.0.1:" + strconv.Itoa(port)
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err = blob.NewS3(ctx, blob.S3Options{Endpoint: endpoint, Bucket: "diwan", AccessKey: "k", SecretKey: "secretsecret"})
	if err == nil {
		t.Fatal("NewS3 with nothing listening succeeded")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "s3 at "+endpoint+": ") || strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error %q, want one line starting %q", msg, "s3 at "+endpoint+": ")
	}
	if !strings.Contains(msg, "connection refused") {
		t.Errorf("error %q does not give the reason", msg)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("NewS3 took %v to give up", d)
	}
	t.Log(msg)
}

// Wrong credentials are refused at start-up, with the server's reason.
func TestNewS3WrongCredentials(t *testing.T) {
	srv := testenv.S3(t)
	o := s3Options(srv, testenv.Bucket(t))
	o.SecretKey = "not-the-secret"
	_, err := blob.NewS3(t.Context(), o)
	if err == nil || !strings.HasPrefix(err.Error(), "s3 at "+srv.Endpoint+": ") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("NewS3 with a wrong secret = %v", err)
	}
	t.Log(err)
}

// A second store on an existing bucket (another node starting) is fine.
func TestNewS3ExistingBucket(t *testing.T) {
	srv := testenv.S3(t)
	o := s3Options(srv, testenv.Bucket(t))
	for range 2 {
		s, err := blob.NewS3(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}
