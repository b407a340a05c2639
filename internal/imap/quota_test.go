package imap_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// RFC 9208 §4.2, §4.3, §5.1: GETQUOTAROOT and GETQUOTA report the storage
// quota the store enforces, in KiB, as it grows with a delivery; an APPEND
// over it is still NO [OVERQUOTA] (§4.3 code, unchanged); SETQUOTA is
// refused; a user without a quota has no quota root. STATUS
// DELETED-STORAGE (§4.4) counts the \Deleted messages.
func TestQuotaReportsTheEnforcedStorageQuota(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{backend: b})
			ctx := context.Background()
			r := e.rawTLS(t)
			r.login(user1)

			lines, st := r.cmd("GETQUOTAROOT INBOX")
			if mustOK(t, "GETQUOTAROOT", st); len(lines) != 1 || lines[0] != "* QUOTAROOT INBOX" {
				t.Errorf("without a quota: %q", lines)
			}
			if _, st := r.cmd(`GETQUOTA ""`); !strings.HasPrefix(st, "NO [NONEXISTENT]") {
				t.Errorf("GETQUOTA without a quota: %s", st)
			}

			if err := e.dir.SetQuota(ctx, "test", user1, 40*1024); err != nil {
				t.Fatal(err)
			}
			lines, st = r.cmd("GETQUOTAROOT INBOX")
			mustOK(t, "GETQUOTAROOT", st)
			if want := []string{`* QUOTAROOT INBOX ""`, `* QUOTA "" (STORAGE 0 40)`}; fmt.Sprint(lines) != fmt.Sprint(want) {
				t.Errorf("GETQUOTAROOT: %q, want %q", lines, want)
			}

			msg := simpleMsg("big", user2, user1, strings.Repeat("x", 20*1024))
			if err := e.store.Deliver(ctx, []int64{e.users[user1].ID}, strings.NewReader(msg)); err != nil {
				t.Fatal(err)
			}
			used := (len(msg) + 1023) / 1024
			lines, st = r.cmd(`GETQUOTA ""`)
			mustOK(t, "GETQUOTA", st)
			if want := fmt.Sprintf(`* QUOTA "" (STORAGE %d 40)`, used); len(lines) != 1 || lines[0] != want {
				t.Errorf("after a delivery: %q, want %q", lines, want)
			}

			c := e.login(t, user1)
			cmd := c.Append("INBOX", int64(len(msg)), nil)
			if _, err := cmd.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := cmd.Wait(); imapCode(err) != imap.ResponseCodeOverQuota {
				t.Errorf("APPEND over quota: %v, want NO [OVERQUOTA]", err)
			}

			if _, st := r.cmd(`SETQUOTA "" (STORAGE 1000000)`); !strings.HasPrefix(st, "NO") {
				t.Errorf("SETQUOTA: %s, want NO", st)
			}
			if _, st := r.cmd("GETQUOTAROOT Nowhere"); !strings.HasPrefix(st, "NO [NONEXISTENT]") {
				t.Errorf("GETQUOTAROOT of a missing mailbox: %s", st)
			}

			r.cmd("SELECT INBOX")
			r.cmd(`STORE 1 +FLAGS.SILENT (\Deleted)`)
			lines, st = r.cmd("STATUS INBOX (DELETED DELETED-STORAGE)")
			mustOK(t, "STATUS DELETED-STORAGE", st)
			if want := fmt.Sprintf("* STATUS INBOX (DELETED 1 DELETED-STORAGE %d)", len(msg)/1024); len(lines) != 1 || lines[0] != want {
				t.Errorf("STATUS: %q, want %q", lines, want)
			}
		})
	}
}
