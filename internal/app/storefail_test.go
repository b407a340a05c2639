package app_test

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"diwan.gov.sy/diwan/internal/config"
	"diwan.gov.sy/diwan/internal/testenv"
)

// storeFailure is a way to make a node's storage fail while a message
// arrives, and to mend it again (nil: it stays broken).
type storeFailure struct {
	name  string
	start func(t *testing.T) (backend, func(n *node) (brk, mend func()))
}

// storeFailures: the filesystem blob store unusable (its message directory
// replaced by a file: even root cannot write there), the S3 server gone
// (the relay in front of it closed: connections refused) and PostgreSQL
// stopped.
var storeFailures = []storeFailure{
	{"fs blob store unusable", func(t *testing.T) (backend, func(*node) (func(), func())) {
		return backends[0], func(n *node) (func(), func()) {
			msgDir := filepath.Join(n.cfg.BlobDir(), "msg")
			return func() {
					if err := os.WriteFile(msgDir, nil, 0o600); err != nil {
						t.Fatal(err)
					}
				}, func() {
					if err := os.Remove(msgDir); err != nil {
						t.Fatal(err)
					}
				}
		}
	}},
	{"s3 down", func(t *testing.T) (backend, func(*node) (func(), func())) {
		s3 := testenv.S3(t)
		relay := testenv.NewProxy(t, s3.Endpoint)
		b := backend{"postgres+s3 relay", func(t *testing.T, cfg *config.Config) {
			backends[1].apply(t, cfg)
			cfg.Blob.S3.Endpoint = relay.Addr()
		}}
		return b, func(*node) (func(), func()) { return relay.Close, nil }
	}},
	{"postgres down", func(t *testing.T) (backend, func(*node) (func(), func())) {
		cluster := testenv.NewCluster(t, false)
		dsn, err := cluster.CreateDatabase(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		b := backend{"postgres+fs", func(t *testing.T, cfg *config.Config) {
			cfg.Database = config.Database{Driver: "postgres", DSN: dsn, AutoMigrate: true}
		}}
		return b, func(*node) (func(), func()) {
			return func() {
					if err := cluster.Stop(); err != nil {
						t.Fatal(err)
					}
				}, func() {
					if err := cluster.Start(); err != nil {
						t.Fatal(err)
					}
				}
		}
	}},
}

// errorLogged matches the ERROR line a failed store leaves, with its cause.
func errorLogged(msg string) *regexp.Regexp {
	return regexp.MustCompile(`level=ERROR msg="` + regexp.QuoteMeta(msg) + `".* err="?[^"\s]+`)
}

// When the storage fails while a message arrives, submission answers
// 451 4.3.0 (a temporary local problem: the sender tries again), not 421
// "connection lost", logs the cause at ERROR, and stores nothing; once the
// storage is back the same message is accepted and stored once.
func TestSubmissionAnswers451WhenStorageFailsMidData(t *testing.T) {
	for _, f := range storeFailures {
		t.Run(f.name, func(t *testing.T) {
			b, breaker := f.start(t)
			n := startNode(t, b, nil)
			brk, mend := breaker(n)
			const size = 2 << 20
			err := n.submitBreaking(t, newTestMessage(size, "fail"), size/2, brk)
			var te *textproto.Error
			if !errors.As(err, &te) || te.Code != 451 || !regexp.MustCompile(`^4\.3\.0 .*[Tt]emporary local problem`).MatchString(te.Msg) {
				t.Fatalf("end of DATA with the storage down: %v, want 451 4.3.0 naming a temporary local problem\n%s", err, n.log.String())
			}
			if !errorLogged("smtp: message not stored").MatchString(n.log.String()) {
				t.Errorf("no ERROR line with the cause in the log:\n%s", n.log.String())
			}
			if mend == nil {
				c := n.imapLogin(t, "sara@mof.gov.sy", saraPassword)
				if got := inboxCount(t, c); got != 0 {
					t.Fatalf("INBOX holds %d messages after a refused DATA, want 0", got)
				}
				return
			}
			mend()
			waitFor(t, 30*time.Second, func() error { return n.submit(t, newTestMessage(size, "fail")) })
			c := n.imapLogin(t, "sara@mof.gov.sy", saraPassword)
			if got := inboxCount(t, c); got != 1 {
				t.Fatalf("INBOX holds %d messages after one refused and one accepted DATA, want 1", got)
			}
			if got := fetchRaw(t, c, 1, size); got.sum != newTestMessage(size, "fail").sum(t) {
				t.Fatal("the accepted message differs from what was sent")
			}
		})
	}
}

// When the storage fails while an APPEND literal arrives, the server
// answers NO [UNAVAILABLE] (RFC 9051 §7.1: a subsystem is down, try again),
// not BAD, logs the cause at ERROR and stores nothing.
func TestAppendAnswersUnavailableWhenStorageFails(t *testing.T) {
	for _, f := range storeFailures {
		t.Run(f.name, func(t *testing.T) {
			b, breaker := f.start(t)
			n := startNode(t, b, nil)
			brk, mend := breaker(n)
			c := n.imapLogin(t, "sara@mof.gov.sy", saraPassword)
			const size = 2 << 20
			data, err := readAll(newTestMessage(size, "append-fail"))
			if err != nil {
				t.Fatal(err)
			}
			cmd := c.Append("INBOX", size, nil)
			if _, err := cmd.Write(data[:size/2]); err != nil {
				t.Fatal(err)
			}
			brk()
			if _, err := cmd.Write(data[size/2:]); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Close(); err != nil {
				t.Fatal(err)
			}
			_, err = cmd.Wait()
			var ie *imap.Error
			if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo || ie.Code != imap.ResponseCodeUnavailable {
				t.Fatalf("APPEND with the storage down: %v, want NO [UNAVAILABLE]\n%s", err, n.log.String())
			}
			if !errorLogged("imap command failed").MatchString(n.log.String()) {
				t.Errorf("no ERROR line with the cause in the log:\n%s", n.log.String())
			}
			if mend != nil {
				mend()
				waitFor(t, 30*time.Second, func() error { return c.Noop().Wait() })
			}
			if got := inboxCount(t, c); got != 0 {
				t.Fatalf("INBOX holds %d messages after a refused APPEND, want 0", got)
			}
		})
	}
}

// inboxCount selects INBOX and returns how many messages it holds.
func inboxCount(t *testing.T, c *imapclient.Client) uint32 {
	t.Helper()
	var sel *imap.SelectData
	waitFor(t, 30*time.Second, func() error {
		var err error
		sel, err = c.Select("INBOX", nil).Wait()
		return err
	})
	return sel.NumMessages
}

// waitFor calls fn until it succeeds or the time is up (a mended storage
// takes a moment to be reachable again).
func waitFor(t *testing.T, within time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(fmt.Errorf("still failing after %s: %w", within, err))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
