package blob_test

import (
	"crypto/rand"
	"io"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"diwan.gov.sy/diwan/internal/blob"
	"diwan.gov.sy/diwan/internal/testenv"
)

const benchSize = 256 << 20

// patternReader yields n bytes by repeating one random block: as cheap a
// source as can be, so the figures are the store's. It offers only Read, as
// callers' streams do.
type patternReader struct {
	block []byte
	off   int
	n     int64
}

var benchBlock = func() []byte {
	b := make([]byte, 1<<20)
	_, _ = rand.Read(b)
	return b
}()

func newPatternReader(n int64) *patternReader { return &patternReader{block: benchBlock, n: n} }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n {
		b = b[:p.n]
	}
	n := copy(b, p.block[p.off:])
	p.off = (p.off + n) % len(p.block)
	p.n -= int64(n)
	return n, nil
}

func BenchmarkPut256MiB(b *testing.B) {
	run := func(b *testing.B, s blob.Store, size int64) {
		b.SetBytes(benchSize)
		var peak int64
		for b.Loop() {
			peak = max(peak, benchPeakRSS(b, func() {
				if _, err := s.PutKey(b.Context(), "bench/put", newPatternReader(benchSize), size); err != nil {
					b.Fatal(err)
				}
			}))
		}
		b.ReportMetric(float64(peak)/(1<<20), "MiB-peak-RSS-growth")
	}
	b.Run("fs", func(b *testing.B) { run(b, newFS(b), benchSize) })
	b.Run("s3", func(b *testing.B) { run(b, newS3(b), benchSize) })
	b.Run("s3-unknown-size", func(b *testing.B) { run(b, newS3(b), -1) })
}

func BenchmarkGet256MiB(b *testing.B) {
	run := func(b *testing.B, s blob.Store) {
		if _, err := s.PutKey(b.Context(), "bench/get", newPatternReader(benchSize), benchSize); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(benchSize)
		for b.Loop() {
			rc, err := s.Open(b.Context(), "bench/get")
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, rc)
			rc.Close()
			if err != nil || n != benchSize {
				b.Fatalf("read %d bytes: %v", n, err)
			}
		}
	}
	b.Run("fs", func(b *testing.B) { run(b, newFS(b)) })
	b.Run("s3", func(b *testing.B) { run(b, newS3(b)) })
}

// BenchmarkMinioPutObject256MiB is plain minio-go PutObject on the same
// server with the store's settings (16 MiB parts, NumThreads 4, unsigned
// payload as the store sends), for comparison with BenchmarkPut256MiB/s3.
// The last case is minio-go's default over plain HTTP: every 64 KiB chunk
// signed.
func BenchmarkMinioPutObject256MiB(b *testing.B) {
	srv := testenv.S3(b)
	s := newS3(b) // creates the bucket
	c, err := minio.New(srv.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""),
		Region: srv.Region,
	})
	if err != nil {
		b.Fatal(err)
	}
	opts := minio.PutObjectOptions{
		ContentType:          "application/octet-stream",
		PartSize:             blob.DefaultPartSize,
		NumThreads:           blob.DefaultThreads,
		DisableContentSha256: true,
	}
	run := func(b *testing.B, size int64, opts minio.PutObjectOptions) {
		b.SetBytes(benchSize)
		var peak int64
		for b.Loop() {
			peak = max(peak, benchPeakRSS(b, func() {
				if _, err := c.PutObject(b.Context(), s.Bucket(), "bench/minio", newPatternReader(benchSize), size, opts); err != nil {
					b.Fatal(err)
				}
			}))
		}
		b.ReportMetric(float64(peak)/(1<<20), "MiB-peak-RSS-growth")
	}
	b.Run("known-size", func(b *testing.B) { run(b, benchSize, opts) })
	b.Run("unknown-size", func(b *testing.B) { run(b, -1, opts) })
	signed := opts
	signed.DisableContentSha256 = false
	b.Run("known-size-signed-chunks", func(b *testing.B) { run(b, benchSize, signed) })
}

// BenchmarkS3PutVsMinio256MiB alternates the store's Put and plain minio-go
// with the same settings in one loop, so that load from elsewhere on the
// machine falls on both alike, and reports their throughputs and the ratio
// of their times (store/minio; 1.10 would be 10% slower).
func BenchmarkS3PutVsMinio256MiB(b *testing.B) {
	srv := testenv.S3(b)
	s := newS3(b)
	c, err := minio.New(srv.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""),
		Region: srv.Region,
	})
	if err != nil {
		b.Fatal(err)
	}
	opts := minio.PutObjectOptions{
		ContentType:          "application/octet-stream",
		PartSize:             blob.DefaultPartSize,
		NumThreads:           blob.DefaultThreads,
		DisableContentSha256: true,
	}
	for _, size := range []int64{benchSize, -1} {
		name := "known-size"
		if size < 0 {
			name = "unknown-size"
		}
		b.Run(name, func(b *testing.B) {
			var store, plain time.Duration
			putStore := func() {
				start := time.Now()
				if _, err := s.PutKey(b.Context(), "bench/store", newPatternReader(benchSize), size); err != nil {
					b.Fatal(err)
				}
				store += time.Since(start)
			}
			putMinio := func() {
				start := time.Now()
				if _, err := c.PutObject(b.Context(), s.Bucket(), "bench/minio", newPatternReader(benchSize), size, opts); err != nil {
					b.Fatal(err)
				}
				plain += time.Since(start)
			}
			i := 0
			for b.Loop() {
				// Alternate which goes first, so neither always follows
				// the other's writes.
				if i%2 == 0 {
					putStore()
					putMinio()
				} else {
					putMinio()
					putStore()
				}
				i++
			}
			n := float64(b.N)
			b.ReportMetric(benchSize/(store.Seconds()/n)/1e6, "store-MB/s")
			b.ReportMetric(benchSize/(plain.Seconds()/n)/1e6, "minio-MB/s")
			b.ReportMetric(store.Seconds()/plain.Seconds(), "store/minio")
		})
	}
}

// A 256 MiB upload to S3, of declared or unknown size, grows the process's
// peak resident memory by less than 64 MiB: the store buffers parts, never
// the object. (Skipped under the race detector, whose shadow memory would be
// counted, and in -short mode.)
func TestS3PutPeakRSSUnder64MiB(t *testing.T) {
	if raceEnabled {
		t.Skip("resident memory is not meaningful under the race detector")
	}
	if testing.Short() {
		t.Skip("uploads 512 MiB")
	}
	s := newS3(t)
	for _, size := range []int64{benchSize, -1} {
		growth := testenv.PeakRSSGrowth(t, func() {
			if _, err := s.PutKey(t.Context(), "rss", newPatternReader(benchSize), size); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("size %d: peak RSS grew by %.1f MiB", size, float64(growth)/(1<<20))
		if growth >= 64<<20 {
			t.Errorf("size %d: peak RSS grew by %.1f MiB during a 256 MiB put, want < 64 MiB", size, float64(growth)/(1<<20))
		}
	}
}

// benchPeakRSS is testenv.PeakRSSGrowth with the benchmark timer stopped for the
// measuring.
func benchPeakRSS(b *testing.B, fn func()) int64 {
	b.StopTimer()
	defer b.StartTimer()
	return testenv.PeakRSSGrowth(b, func() {
		b.StartTimer()
		fn()
		b.StopTimer()
	})
}
