package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Only old cluster directories with no server running on them go.
func TestRemoveStaleClustersKeepsLiveAndRecentOnes(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	old := time.Now().Add(-2 * time.Hour)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	mk := func(name, pid string, mtime time.Time) string {
		d := filepath.Join(tmp, name)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if pid != "" {
			if err := os.WriteFile(filepath.Join(d, "postmaster.pid"), []byte(pid+"\n/data\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chtimes(d, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return d
	}
	stale := mk("diwan-pg-stale", "", old)
	deadServer := mk("diwan-pg-dead", strconv.Itoa(dead.Process.Pid), old)
	live := mk("diwan-pg-live", strconv.Itoa(os.Getpid()), old)
	recent := mk("diwan-pg-recent", "", time.Now())
	other := mk("other-old", "", old)

	removeStaleClusters()

	for d, want := range map[string]bool{stale: false, deadServer: false, live: true, recent: true, other: true} {
		_, err := os.Stat(d)
		if got := err == nil; got != want {
			t.Errorf("%s exists = %v, want %v", filepath.Base(d), got, want)
		}
	}
}
