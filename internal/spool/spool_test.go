package spool_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/spool"
)

// A message is held in memory up to Options.Memory and in an unlinked
// file beyond; either way it reads back whole, as often as asked, with its
// SHA-256; a message over the limit is ErrTooBig and leaves no file.
func TestSpoolKeepsMessageInMemoryOrUnlinkedFileAndRefusesOverLimit(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 10, 100, 101, 5000} {
		msg := strings.Repeat("x", n)
		sp, err := spool.Read(strings.NewReader(msg), spool.Options{Limit: 5000, Memory: 100, Dir: dir, Hash: true})
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		for range 2 {
			b, err := io.ReadAll(sp.Reader())
			if err != nil || string(b) != msg {
				t.Fatalf("%d bytes: read back %d bytes, %v", n, len(b), err)
			}
		}
		sum := sha256.Sum256([]byte(msg))
		if sp.Size() != int64(n) || sp.Sum() != hex.EncodeToString(sum[:]) {
			t.Errorf("%d bytes: size %d sum %s", n, sp.Size(), sp.Sum())
		}
		sp.Close()
	}
	for _, o := range []spool.Options{{Limit: 50, Memory: 100}, {Limit: 150, Memory: 100, Dir: dir}} {
		if _, err := spool.Read(strings.NewReader(strings.Repeat("y", 200)), o); !errors.Is(err, spool.ErrTooBig) {
			t.Errorf("over the limit %d: %v", o.Limit, err)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("files left in the spool directory: %d", len(left))
	}
}
