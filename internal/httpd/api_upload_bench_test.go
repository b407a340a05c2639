package httpd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"diwan.gov.sy/diwan/internal/blob"
	"diwan.gov.sy/diwan/internal/config"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/testenv"
	"diwan.gov.sy/diwan/internal/workflow"
)

// uploadBenchSize is the attachment of issue 6's figure: 2 GiB.
const uploadBenchSize = 2 << 30

// BenchmarkAttachmentUpload2GiB uploads a 2 GiB attachment through the API
// (multipart POST /api/v1/correspondence/{id}/attachments, the engine, the
// S3 blob store on versitygw) and, in the same loop and alternating which
// goes first, the same bytes with plain minio-go PutObject (unknown size,
// as the API streams it; the store's part size and threads) to the same
// server. It reports both throughputs, their ratio (api/minio, 0.90 =
// 10% slower) and the growth of the peak resident set during each.
//
//	go test -run '^$' -bench AttachmentUpload2GiB -benchtime 2x ./internal/httpd/
//
// "http" is the API without TLS (TLS ended in front of the server, as
// DESIGN.md §8's load balancer may); "https" with it, where the process
// also encrypts and decrypts every byte (client and server both). The RSS
// growth is the whole process's, the client's buffers included; they are
// small (the same upload from a client in a child process leaves the
// server's figure unchanged within the noise).
func BenchmarkAttachmentUpload2GiB(b *testing.B) {
	for _, scheme := range []string{"http", "https"} {
		b.Run(scheme, func(b *testing.B) { benchUpload(b, scheme == "https") })
	}
}

func benchUpload(b *testing.B, useTLS bool) {
	srv := testenv.S3(b)
	ctx := context.Background()
	store, err := blob.NewS3(ctx, blob.S3Options{Endpoint: srv.Endpoint, Bucket: testenv.Bucket(b),
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Region: srv.Region})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	d := dbtest.Open(b, db.SQLite)
	dir := directory.New(d, directory.Options{HashParams: cheapHash})
	if _, _, err := dir.EnsureBootstrapAdmin(ctx, testPassword); err != nil {
		b.Fatal(err)
	}
	wcfg := config.Default().Workflow
	wcfg.MaxAttachmentBytes, wcfg.MaxLetterBytes = 4<<30, 8<<30
	wf := workflow.New(d, store, workflow.Options{Workflow: wcfg, Directory: dir})
	e := &apiEnv{t: b, db: d, dir: dir, wf: wf}
	o := Options{Directory: dir, Workflow: wf, BaseURL: "https://diwan.example.gov", Logger: slog.New(slog.DiscardHandler)}
	if useTLS {
		e.ts = startTLS(b, o, nil)
	} else {
		e.ts = startPlain(b, o, nil)
	}
	e.addOrganisation()
	clerk := e.withToken(moctClerk)
	hc := &http.Client{Transport: e.ts.client.Transport}

	mc, err := minio.New(srv.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""),
		Region: srv.Region,
	})
	if err != nil {
		b.Fatal(err)
	}
	popts := minio.PutObjectOptions{
		ContentType:          "application/octet-stream",
		PartSize:             blob.DefaultPartSize,
		NumThreads:           blob.DefaultThreads,
		DisableContentSha256: true,
	}

	var api, plain time.Duration
	var apiPeak, plainPeak int64
	upload := func() {
		var dr draftDTO
		clerk.call("POST", "/api/v1/correspondence", map[string]any{
			"subject": "مرفق كبير", "body": "نص", "sender_registry": "MOCT",
			"recipients": []map[string]string{{"registry": "MOF"}},
		}, http.StatusCreated, &dr)
		// The form as a browser or curl sends a file: its length known
		// up front (Content-Length), the file's bytes between the part's
		// header and the closing boundary.
		var form bytes.Buffer
		mw := multipart.NewWriter(&form)
		if _, err := mw.CreateFormFile("file", "كبير.bin"); err != nil {
			b.Fatal(err)
		}
		headLen := form.Len()
		if err := mw.Close(); err != nil {
			b.Fatal(err)
		}
		head, tail := form.Bytes()[:headLen], form.Bytes()[headLen:]
		file := io.MultiReader(bytes.NewReader(head), newUploadReader(uploadBenchSize), bytes.NewReader(tail))
		req, err := http.NewRequest("POST", fmt.Sprintf("%s/api/v1/correspondence/%d/attachments", e.ts.url, dr.ID), file)
		if err != nil {
			b.Fatal(err)
		}
		req.ContentLength = int64(len(head)) + uploadBenchSize + int64(len(tail))
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+clerk.token)
		var body []byte
		start := time.Now()
		peak := testenv.PeakRSSGrowth(b, func() {
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Fatalf("upload: status %d: %s", resp.StatusCode, body)
			}
		})
		api += time.Since(start)
		apiPeak = max(apiPeak, peak)
		// Each 2 GiB object is deleted once measured, so that a run needs
		// disk for a few of them, not for all.
		var att attachmentDTO
		if err := json.Unmarshal(body, &att); err != nil {
			b.Fatal(err)
		}
		clerk.call("DELETE", fmt.Sprintf("/api/v1/correspondence/%d/attachments/%d", dr.ID, att.ID), nil, http.StatusNoContent, nil)
	}
	putMinio := func() {
		start := time.Now()
		peak := testenv.PeakRSSGrowth(b, func() {
			if _, err := mc.PutObject(ctx, store.Bucket(), "bench/minio", newUploadReader(uploadBenchSize), -1, popts); err != nil {
				b.Fatal(err)
			}
		})
		plain += time.Since(start)
		plainPeak = max(plainPeak, peak)
		if err := mc.RemoveObject(ctx, store.Bucket(), "bench/minio", minio.RemoveObjectOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			upload()
			putMinio()
		} else {
			putMinio()
			upload()
		}
		i++
	}
	n := float64(b.N)
	b.ReportMetric(uploadBenchSize/(api.Seconds()/n)/1e6, "api-MB/s")
	b.ReportMetric(uploadBenchSize/(plain.Seconds()/n)/1e6, "minio-MB/s")
	b.ReportMetric(plain.Seconds()/api.Seconds(), "api/minio")
	b.ReportMetric(float64(apiPeak)/(1<<20), "api-MiB-RSS-growth")
	b.ReportMetric(float64(plainPeak)/(1<<20), "minio-MiB-RSS-growth")
}

// uploadReader yields n bytes by repeating one random block: a source that
// costs next to nothing, so the figures are the upload's.
type uploadReader struct {
	block []byte
	off   int
	n     int64
}

var uploadBlock = func() []byte {
	b := make([]byte, 1<<20)
	_, _ = rand.Read(b)
	return b
}()

func newUploadReader(n int64) *uploadReader { return &uploadReader{block: uploadBlock, n: n} }

func (u *uploadReader) Read(p []byte) (int, error) {
	if u.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > u.n {
		p = p[:u.n]
	}
	n := copy(p, u.block[u.off:])
	u.off = (u.off + n) % len(u.block)
	u.n -= int64(n)
	return n, nil
}

// TestAttachmentUploadReadsBodyInLargePieces pins what keeps an HTTP/2
// upload cheap: the request body is read in pieces of uploadReadSize, not
// in mime/multipart's 4 KiB, since every read hands flow-control window
// back to the client in WINDOW_UPDATE frames (RFC 9113 §6.9).
func TestAttachmentUploadReadsBodyInLargePieces(t *testing.T) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, err := mw.CreateFormFile("file", "a.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(part, newUploadReader(4<<20)); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	rr := &readRecorder{r: &body}
	req, err := http.NewRequest("POST", "/", io.NopCloser(rr))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	mr, err := attachmentParts(req)
	if err != nil {
		t.Fatal(err)
	}
	p, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, p); err != nil || n != 4<<20 {
		t.Fatalf("read %d bytes of the part, error %v; want %d", n, err, 4<<20)
	}
	if rr.smallest < uploadReadSize {
		t.Errorf("the body was read with a buffer of %d bytes; want at least %d", rr.smallest, uploadReadSize)
	}
}

// readRecorder remembers the smallest buffer it was asked to fill.
type readRecorder struct {
	r        io.Reader
	smallest int
}

func (rr *readRecorder) Read(p []byte) (int, error) {
	if rr.smallest == 0 || len(p) < rr.smallest {
		rr.smallest = len(p)
	}
	return rr.r.Read(p)
}
