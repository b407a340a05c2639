package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"diwan.gov.sy/diwan/internal/blob"
)

// ErrNoHead is what HeadStore.ReadHead returns when no head was recorded.
var ErrNoHead = errors.New("no chain head recorded")

// HeadStore keeps a copy of the chain head outside the database.
type HeadStore interface {
	// ReadHead returns what WriteHead last wrote, or ErrNoHead (wrapped or
	// not) when nothing was ever written.
	ReadHead(ctx context.Context) ([]byte, error)
	// WriteHead replaces the recorded head with b atomically (a reader sees
	// the old or the new one, whole) and durably before it returns nil.
	WriteHead(ctx context.Context, b []byte) error
	// String names the store in messages: "file /var/lib/diwan/audit-head".
	String() string
}

// head is a recorded chain head: the last linked event's seq and hash, and
// when it was recorded.
type head struct {
	Seq  int64
	Hash string
	Time time.Time
}

const headDomain = "diwan-audit-head-v1"

// encodeHead is one line: "diwan-audit-head-v1 SEQ HASH TIME MAC", MAC
// being the hex HMAC-SHA256 under the chain key of the first four fields
// (written as in the chain), so that a head cannot be forged without the
// master key.
func encodeHead(key []byte, h head) []byte {
	t := h.Time.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
	seq := strconv.FormatInt(h.Seq, 10)
	return []byte(fmt.Sprintf("%s %s %s %s %s\n", headDomain, seq, h.Hash, t, headMAC(key, seq, h.Hash, t)))
}

func headMAC(key []byte, seq, hash, t string) string {
	m := hmac.New(sha256.New, key)
	writeField(m, headDomain)
	writeField(m, seq)
	writeField(m, hash)
	writeField(m, t)
	return hex.EncodeToString(m.Sum(nil))
}

// decodeHead parses and authenticates a recorded head.
func decodeHead(key []byte, b []byte) (head, error) {
	f := strings.Fields(string(bytes.TrimSpace(b)))
	if len(f) != 5 || f[0] != headDomain {
		return head{}, errors.New("not a chain head")
	}
	if !hmac.Equal([]byte(headMAC(key, f[1], f[2], f[3])), []byte(f[4])) {
		return head{}, errors.New("its MAC does not match: changed, or not written under this master key")
	}
	seq, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || seq < 0 {
		return head{}, errors.New("bad seq")
	}
	t, err := time.Parse(time.RFC3339Nano, f[3])
	if err != nil {
		return head{}, errors.New("bad time")
	}
	return head{Seq: seq, Hash: f[2], Time: t}, nil
}

// HeadFile is the chain head recorded in a file (data_dir/audit-head),
// written as a temporary file that is fsynced and renamed over it, the
// directory fsynced after.
type HeadFile string

func (f HeadFile) String() string { return "file " + string(f) }

// ReadHead reads the file.
func (f HeadFile) ReadHead(context.Context) ([]byte, error) {
	b, err := os.ReadFile(string(f))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoHead
	}
	return b, err
}

// WriteHead replaces the file atomically and durably.
func (f HeadFile) WriteHead(_ context.Context, b []byte) error {
	path := string(f)
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".audit-head-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// BlobObjects is what HeadBlob needs of a blob store; blob.Store
// satisfies it.
type BlobObjects interface {
	PutKey(ctx context.Context, key string, r io.Reader, size int64) (blob.Info, error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
}

// HeadBlobKey is the blob key of the chain head shared by every node.
const HeadBlobKey = "audit/head"

// HeadBlob is the chain head recorded as an object of the blob store, which
// every node sharing the database shares too. PutKey replaces it
// atomically and durably.
func HeadBlob(st BlobObjects) HeadStore { return headBlob{st} }

type headBlob struct{ st BlobObjects }

func (h headBlob) String() string { return "blob " + HeadBlobKey }

func (h headBlob) ReadHead(ctx context.Context) ([]byte, error) {
	r, err := h.st.Open(ctx, HeadBlobKey)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, ErrNoHead
	}
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, 4096))
}

func (h headBlob) WriteHead(ctx context.Context, b []byte) error {
	_, err := h.st.PutKey(ctx, HeadBlobKey, bytes.NewReader(b), int64(len(b)))
	return err
}
