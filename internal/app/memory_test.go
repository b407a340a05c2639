package app_test

import (
	"io"
	"testing"

	"diwan.gov.sy/diwan/internal/testenv"
)

// A 49 MiB message submitted over SMTP (for a local recipient or for the
// relay queue) or APPENDed over IMAP streams through the spool: the process's peak resident memory grows by less than
// 24 MiB, half the message (the 1 MiB the store keeps in memory, copy
// buffers and the collector's slack: about 6 MiB measured for APPEND; a
// submitted message is DKIM-signed, and go-msgauth's body canonicalizer
// allocates a fresh buffer for every 4 KiB it hashes, so the collector's
// slack there reaches the size of the live heap: 17–21 MiB measured,
// 5–10 MiB with signing cut off), on SQLite with the filesystem
// store and on PostgreSQL with S3, whose parts are sent from the spool file
// (two 16 MiB part buffers before: 38 MiB). Skipped under the race
// detector, whose shadow memory would be counted, and in -short mode.
func TestLargeSubmissionMemoryBounded(t *testing.T) {
	if raceEnabled {
		t.Skip("resident memory is not meaningful under the race detector")
	}
	if testing.Short() {
		t.Skip("sends 49 MiB")
	}
	const size = 49 << 20
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b, nil)
			// One message first: what every delivery needs once (pools,
			// connections, prepared statements) is not counted.
			if err := n.submit(t, newTestMessage(2<<20, "warm")); err != nil {
				t.Fatal(err)
			}
			c := n.imapLogin(t, "sara@mof.gov.sy", saraPassword)
			for _, path := range []struct {
				name string
				send func() error
			}{
				{"SMTP submission", func() error { return n.submit(t, newTestMessage(size, "rss")) }},
				{"SMTP submission for relay", func() error {
					return n.send(t, "registry@moh.gov.sy", newTestMessage(size, "rss-relay"), 0, nil)
				}},
				{"IMAP APPEND", func() error {
					cmd := c.Append("INBOX", size, nil)
					if _, err := io.Copy(cmd, newTestMessage(size, "rss-append")); err != nil {
						return err
					}
					if err := cmd.Close(); err != nil {
						return err
					}
					_, err := cmd.Wait()
					return err
				}},
			} {
				var err error
				growth := testenv.PeakRSSGrowth(t, func() { err = path.send() })
				if err != nil {
					t.Fatalf("%s: %v", path.name, err)
				}
				t.Logf("%s: peak RSS grew by %.1f MiB for a %d MiB message", path.name, float64(growth)/(1<<20), size>>20)
				if growth >= 24<<20 {
					t.Errorf("%s: peak RSS grew by %.1f MiB for a %d MiB message, want < 24 MiB", path.name, float64(growth)/(1<<20), size>>20)
				}
			}
		})
	}
}
