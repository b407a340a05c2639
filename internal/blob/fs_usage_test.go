package blob_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"diwan.gov.sy/diwan/internal/blob"
)

// TestDiskUsageIsTheFilesystemOfTheFSStore: the disk use of an FS store,
// bare or instrumented, is that of the filesystem its directory is on, as
// statfs(2) tells it; an S3 store has no disk use of ours.
func TestDiskUsageIsTheFilesystemOfTheFSStore(t *testing.T) {
	dir := t.TempDir()
	s, err := blob.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	inst, err := blob.Instrument(s, "fs", prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	bs := int64(st.Bsize)
	for name, store := range map[string]blob.Store{"bare": s, "instrumented": inst} {
		u, ok, err := blob.DiskUsage(store)
		if err != nil || !ok {
			t.Fatalf("%s: DiskUsage: ok %v, %v", name, ok, err)
		}
		if u.Total != int64(st.Blocks)*bs || u.Total <= 0 {
			t.Errorf("%s: total %d, statfs says %d", name, u.Total, int64(st.Blocks)*bs)
		}
		// Other programs write to the same filesystem meanwhile: within 1 GiB.
		if d := u.Free - int64(st.Bavail)*bs; d > 1<<30 || d < -1<<30 || u.Free <= 0 {
			t.Errorf("%s: free %d, statfs says %d", name, u.Free, int64(st.Bavail)*bs)
		}
		if u.Used <= 0 || u.Used > u.Total || u.Free > u.Total {
			t.Errorf("%s: used %d free %d of %d", name, u.Used, u.Free, u.Total)
		}
	}
	if _, ok, err := blob.DiskUsage(newS3(t)); ok || err != nil {
		t.Errorf("S3 store: DiskUsage ok %v, %v; want none", ok, err)
	}
}
