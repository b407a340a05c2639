package app_test

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"diwan.gov.sy/diwan/internal/app"
	"diwan.gov.sy/diwan/internal/config"
)

// Messages on either side of the 1 MiB the store keeps in memory, and a
// large one, go through SMTP submission and IMAP APPEND on a node whose data
// directory did not exist before it started, and FETCH returns each byte for
// byte. Larger messages are spooled to data_dir/spool, which the server
// must make itself.
func TestLargeMessagesStoredOnFreshDataDir(t *testing.T) {
	sizes := []int64{1<<20 - 1, 1<<20 + 1, 20 << 20}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b, nil)
			spool := filepath.Join(n.cfg.DataDir, "spool")
			if fi, err := os.Stat(spool); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
				t.Errorf("data_dir/spool after start: %v, %v; want a directory with mode 0700", fi, err)
			}
			if printed := strings.Join(n.lines, "\n"); !strings.Contains(printed, "diwan: writable: ") || !strings.Contains(printed, spool) {
				t.Errorf("serve did not say it found %s writable:\n%s", spool, printed)
			}
			for _, size := range sizes {
				m := newTestMessage(size, "smtp")
				if err := n.submit(t, m); err != nil {
					t.Fatalf("submit %d bytes: %v\n%s", size, err, n.log.String())
				}
			}
			// Mail for another national server is spooled for the relay
			// queue, in the same directory.
			if err := n.send(t, "registry@moh.gov.sy", newTestMessage(1<<20+1, "relay"), 0, nil); err != nil {
				t.Fatalf("submit 1 MiB + 1 for relay: %v\n%s", err, n.log.String())
			}
			c := n.imapLogin(t, "sara@mof.gov.sy", saraPassword)
			for _, size := range sizes {
				m := newTestMessage(size, "append")
				m.off = 0
				data, err := readAll(m)
				if err != nil {
					t.Fatal(err)
				}
				cmd := c.Append("INBOX", size, &imap.AppendOptions{Time: time.Now()})
				if _, err := cmd.Write(data); err != nil {
					t.Fatal(err)
				}
				if err := cmd.Close(); err != nil {
					t.Fatal(err)
				}
				if _, err := cmd.Wait(); err != nil {
					t.Fatalf("APPEND %d bytes: %v\n%s", size, err, n.log.String())
				}
			}
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			for i, size := range append(append([]int64{}, sizes...), sizes...) {
				seed := "smtp"
				if i >= len(sizes) {
					seed = "append"
				}
				m := newTestMessage(size, seed)
				got := fetchRaw(t, c, imap.UID(i+1), size)
				if got.sum != m.sum(t) {
					t.Errorf("UID %d (%s, %d bytes): FETCH BODY[] differs from what was sent", i+1, seed, size)
				}
				// Submitted mail gets its DKIM signature and a Received
				// field on top, nothing else.
				if sig, rest, found := strings.Cut(got.prefix, "Received: "); seed == "smtp" &&
					(!found || !strings.HasPrefix(sig, "DKIM-Signature: ") || strings.Contains(rest, "DKIM-Signature: ")) {
					t.Errorf("UID %d: %d octets before the message sent, not a DKIM-Signature and a Received field: %.80q", i+1, len(got.prefix), got.prefix)
				}
				if seed == "append" && got.prefix != "" {
					t.Errorf("UID %d: APPENDed message stored with %d octets more", i+1, len(got.prefix))
				}
			}
		})
	}
}

func readAll(m *testMessage) ([]byte, error) {
	b := make([]byte, 0, m.size)
	buf := make([]byte, 64<<10)
	for {
		k, err := m.Read(buf)
		b = append(b, buf[:k]...)
		if err != nil {
			if int64(len(b)) != m.size {
				return nil, fmt.Errorf("generated %d of %d bytes", len(b), m.size)
			}
			return b, nil
		}
	}
}

// A data directory the server cannot write into stops serve with a reason
// that names the directory and the fix, before anything is served.
func TestServeNamesUnusableSpoolDir(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.HTTP.Addr, cfg.SMTP.InboundAddr, cfg.SMTP.SubmissionAddr, cfg.SMTP.SubmissionsAddr = "", "", "", ""
	cfg.IMAP.Addr, cfg.IMAP.TLSAddr = "", ""
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// A file where the spool directory should be: unusable even for root.
	spool := filepath.Join(cfg.DataDir, "spool")
	if err := os.WriteFile(spool, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := app.Serve(t.Context(), cfg, slog.New(slog.DiscardHandler), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), spool) || !strings.Contains(err.Error(), "data_dir") {
		t.Fatalf("serve with data_dir/spool a file: %v, want an error naming %s and data_dir", err, spool)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("reason is not one line: %q", err)
	}
}
