package workflow_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"diwan.gov.sy/diwan/internal/blob"
	"diwan.gov.sy/diwan/internal/blob/blobtest"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/testenv"
	"diwan.gov.sy/diwan/internal/workflow"
)

func TestAttachmentNamesAreDisplayTextOnly(t *testing.T) {
	long := strings.Repeat("a", 300) + ".pdf"
	arabic := strings.Repeat("ملف", 100) + ".docx" // 2 bytes a letter
	for _, c := range []struct{ in, want string }{
		{"../../etc/passwd", "passwd"},
		{`C:\Windows\System32\evil.exe`, "evil.exe"},
		{"CON", "CON"},
		{"nul.txt", "nul.txt"},
		{"a\x00b.txt", "ab.txt"},
		{"line\r\nbreak.txt", "linebreak.txt"},
		{"\u202egpj.exe", "gpj.exe"},
		{"تقرير العام.pdf", "تقرير العام.pdf"},
		{"  spaced  ", "spaced"},
		{"", "attachment"},
		{"../..", "attachment"},
		{"/", "attachment"},
		{"\xff\xfe.txt", "\uFFFD.txt"}, // a run of invalid bytes is one replacement
	} {
		if got := workflow.DisplayNameForTest(c.in); got != c.want {
			t.Errorf("displayName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, in := range []string{long, arabic} {
		got := workflow.DisplayNameForTest(in)
		if len(got) > 255 || !utf8.ValidString(got) || !strings.HasSuffix(got, in[strings.LastIndexByte(in, '.'):]) {
			t.Errorf("displayName of %d bytes = %d bytes %q", len(in), len(got), got)
		}
	}
}

// stores are the blob stores attachments are tested on.
func stores(t *testing.T) map[string]func(t *testing.T) blob.Store {
	return map[string]func(t *testing.T) blob.Store{
		"fs": func(t *testing.T) blob.Store {
			s, err := blob.NewFS(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"s3": func(t *testing.T) blob.Store {
			srv := testenv.S3(t)
			s, err := blob.NewS3(t.Context(), blob.S3Options{Endpoint: srv.Endpoint, Bucket: testenv.Bucket(t),
				AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Region: srv.Region, PartSize: 5 << 20, Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

func blobKeys(t *testing.T, s blob.Store) []string {
	t.Helper()
	var keys []string
	if err := s.List(context.Background(), "attachments/", func(i blob.Info) error {
		keys = append(keys, i.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

func count(t *testing.T, d *db.DB, table string) int64 {
	t.Helper()
	var n int64
	if err := d.Writer().Raw(`SELECT COUNT(*) FROM ` + table).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

var pngHeader = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00")

func TestAttachments(t *testing.T) {
	for name, newStore := range stores(t) {
		t.Run(name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, d *db.DB) {
				st := newStore(t)
				cfg := defaultWorkflowConfig()
				cfg.MaxAttachmentBytes = 64 << 10
				cfg.MaxLetterBytes = 100 << 10
				f := newFixture(t, d, fixtureOptions{blobs: st, cfg: &cfg})
				ctx, clerk := f.ctx, f.actor(moctClerk)
				e := f.draft(workflow.NewCorrespondence{Recipients: toRegistries("MOF"), Body: "مرفق"})

				// A PNG named like a path and claiming to be text: the name is
				// display text, the type is sniffed, the digest recorded.
				content := append(append([]byte{}, pngHeader...), blobtest.Bytes(1, 20<<10)...)
				a, err := f.wf.AddAttachment(ctx, clerk, e.CorrespondenceID, "../../etc/passwd", bytes.NewReader(content))
				f.must(err)
				sum := sha256.Sum256(content)
				if a.Name != "passwd" || a.ContentType != "image/png" || a.Size != int64(len(content)) || a.SHA256 != hex.EncodeToString(sum[:]) {
					t.Fatalf("attachment = %+v", a)
				}
				for _, hostile := range []string{"CON", strings.Repeat("س", 300), "a\x00b"} {
					h, err := f.wf.AddAttachment(ctx, clerk, e.CorrespondenceID, hostile, strings.NewReader("<html><body>hi</body></html>"))
					f.must(err)
					if len(h.Name) > 255 || strings.ContainsRune(h.Name, 0) || h.ContentType != "text/html; charset=utf-8" {
						t.Errorf("hostile %q stored as %+v", hostile, h)
					}
				}
				got, rc, err := f.wf.OpenAttachment(ctx, clerk, e.CorrespondenceID, a.ID)
				f.must(err)
				b, err := io.ReadAll(rc)
				rc.Close()
				f.must(err)
				if !bytes.Equal(b, content) || got.SHA256 != a.SHA256 {
					t.Fatal("attachment read back differs")
				}
				keys, rows := len(blobKeys(t, st)), count(t, d, "correspondence_attachments")

				// Over the per-file limit: ErrTooLarge, nothing stored.
				_, err = f.wf.AddAttachment(ctx, clerk, e.CorrespondenceID, "big.bin", blobtest.Stream(2, 64<<10+1))
				wantErr(t, err, workflow.ErrTooLarge)
				// Over the per-letter limit (body and attachments): the same.
				_, err = f.wf.AddAttachment(ctx, clerk, e.CorrespondenceID, "one.bin", blobtest.Stream(3, 50<<10))
				f.must(err)
				keys, rows = keys+1, rows+1
				_, err = f.wf.AddAttachment(ctx, clerk, e.CorrespondenceID, "two.bin", blobtest.Stream(4, 30<<10))
				wantErr(t, err, workflow.ErrTooLarge)
				// A client that drops mid-upload: no row, no blob.
				_, err = f.wf.AddAttachment(ctx, clerk, e.CorrespondenceID, "drop.bin", blobtest.FailingReader(5, 10<<10))
				if err == nil || errors.Is(err, workflow.ErrTooLarge) || !errors.Is(err, blobtest.Err) {
					t.Fatalf("dropped upload: %v", err)
				}
				if n := len(blobKeys(t, st)); n != keys {
					t.Errorf("%d blobs after refused uploads, want %d", n, keys)
				}
				if n := count(t, d, "correspondence_attachments"); n != rows {
					t.Errorf("%d attachment rows after refused uploads, want %d", n, rows)
				}
				if n := count(t, d, "correspondence_blobs_pending"); n != 0 {
					t.Errorf("%d pending blobs left", n)
				}

				// Deleting an attachment of a draft deletes its blob.
				f.must(f.wf.DeleteAttachment(ctx, clerk, e.CorrespondenceID, a.ID))
				if n := len(blobKeys(t, st)); n != keys-1 {
					t.Errorf("%d blobs after a delete, want %d", n, keys-1)
				}

				// Registered: the document is frozen.
				e = f.act(moctClerk, e, tr(workflow.ActionRegister))
				_, err = f.wf.AddAttachment(ctx, clerk, e.CorrespondenceID, "late.txt", strings.NewReader("late"))
				wantErr(t, err, workflow.ErrInvalidTransition)
				e = f.act(moctClerk, e, tr(workflow.ActionDispatch))

				// Download is authorised per call: the recipient may, others may not.
				v, err := f.wf.Get(ctx, f.actor(mofClerk), e.CorrespondenceID)
				f.must(err)
				if len(v.Correspondence.Attachments) != 4 {
					t.Fatalf("recipient sees %d attachments", len(v.Correspondence.Attachments))
				}
				att := v.Correspondence.Attachments[0]
				_, rc, err = f.wf.OpenAttachment(ctx, f.actor(mofClerk), e.CorrespondenceID, att.ID)
				f.must(err)
				rc.Close()
				for _, who := range []string{"admin", moct2Clerk, "staff@moct.gov.sy", "fin@mof.gov.sy"} {
					_, _, err = f.wf.OpenAttachment(ctx, f.actor(who), e.CorrespondenceID, att.ID)
					wantErr(t, err, workflow.ErrNotFound)
				}
				_, _, err = f.wf.OpenAttachment(ctx, f.actor(mofClerk), e.CorrespondenceID+1000, att.ID)
				wantErr(t, err, workflow.ErrNotFound)

				// A node that died between storing and committing leaves a
				// pending key; the sweeper deletes its blob.
				orphan := "attachments/ff/0123456789abcdef0123456789abcdef"
				_, err = st.PutKey(ctx, orphan, strings.NewReader("orphan"), -1)
				f.must(err)
				f.must(d.Writer().Exec(`INSERT INTO correspondence_blobs_pending (blob_key, since) VALUES (?, ?)`, orphan, time.Now().Add(-48*time.Hour).UTC()).Error)
				n, err := f.wf.SweepUploads(ctx, time.Now().Add(-24*time.Hour))
				f.must(err)
				if n != 1 {
					t.Errorf("swept %d blobs, want 1", n)
				}
				if _, err := st.Stat(ctx, orphan); !errors.Is(err, blob.ErrNotFound) {
					t.Errorf("orphan blob still there: %v", err)
				}
			})
		})
	}
}

// An attachment streams: memory does not grow with its size.
func TestAttachmentStreamsWithoutHoldingTheFile(t *testing.T) {
	d := dbtest.Open(t, db.SQLite)
	cfg := defaultWorkflowConfig()
	cfg.MaxAttachmentBytes, cfg.MaxLetterBytes = 1<<30, 1<<30
	f := newFixture(t, d, fixtureOptions{cfg: &cfg})
	e := f.draft(workflow.NewCorrespondence{})
	const size = 96 << 20
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	}()
	a, err := f.wf.AddAttachment(f.ctx, f.actor(moctClerk), e.CorrespondenceID, "big.bin", blobtest.Stream(9, size))
	close(stop)
	<-done
	f.must(err)
	if a.Size != size || a.SHA256 != blobtest.Digest(9, size) {
		t.Fatalf("attachment = %+v", a)
	}
	if growth := int64(peak.Load()) - int64(before.HeapInuse); growth > 24<<20 {
		t.Errorf("heap grew by %d MiB while streaming %d MiB", growth>>20, size>>20)
	}
}
