package mailstore_test

import (
	"slices"
	"testing"

	"diwan.gov.sy/diwan/internal/mailstore"
)

// SELECT of a large mailbox reuses the UID list it read last while the
// mailbox's messages are the same (flag changes included), adds the new
// ones when messages only arrived, and reads it again after each move and
// expunge.
func TestSelectOfALargeMailboxFollowsEveryChange(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		u := e.users[0]
		box := e.appendMsg(t, u, "INBOX", msg("first", "body")).MailboxID
		for n := 1; n < 5000; n *= 2 {
			uids, err := e.s.UIDs(e.ctx, u, box)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.s.Copy(e.ctx, u, box, uids, "INBOX"); err != nil {
				t.Fatal(err)
			}
		}
		check := func(step string) {
			t.Helper()
			sel := e.selectBox(t, u, "INBOX")
			want, err := e.s.UIDs(e.ctx, u, box)
			if err != nil || !slices.Equal(sel.UIDs, want) || int(sel.Messages) != len(want) {
				t.Fatalf("%s: SELECT has %d UIDs (%d messages), the mailbox %d (%v)", step, len(sel.UIDs), sel.Messages, len(want), err)
			}
			sel.UIDs[0] = 0 // a caller's copy: changing it changes no later SELECT
		}
		check("first SELECT")
		if e.s.UIDListsKept() != 1 {
			t.Fatalf("%d lists kept, want 1", e.s.UIDListsKept())
		}
		check("unchanged")
		if _, err := e.s.StoreFlags(e.ctx, u, box, []uint32{2, 3, 4}, mailstore.FlagsAdd, []string{`\Deleted`, "$Done"}); err != nil {
			t.Fatal(err)
		}
		check("after flag changes")
		if _, err := e.s.Expunge(e.ctx, u, box, []uint32{3}); err != nil {
			t.Fatal(err)
		}
		check("after UID EXPUNGE")
		e.appendMsg(t, u, "INBOX", msg("late", "body"))
		check("after APPEND")
		if _, err := e.s.Move(e.ctx, u, box, []uint32{5, 6}, "INBOX"); err != nil {
			t.Fatal(err)
		}
		check("after MOVE within the mailbox")
		if _, err := e.s.Copy(e.ctx, u, box, []uint32{7}, "INBOX"); err != nil {
			t.Fatal(err)
		}
		check("after COPY")
		// More messages than the kept list, yet one of its messages gone.
		if _, err := e.s.StoreFlags(e.ctx, u, box, []uint32{8}, mailstore.FlagsAdd, []string{`\Deleted`}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.Expunge(e.ctx, u, box, []uint32{8}); err != nil {
			t.Fatal(err)
		}
		e.appendMsg(t, u, "INBOX", msg("later", "body"))
		e.appendMsg(t, u, "INBOX", msg("last", "body"))
		check("after UID EXPUNGE and two APPENDs")
		if _, err := e.s.Expunge(e.ctx, u, box, nil); err != nil {
			t.Fatal(err)
		}
		check("after EXPUNGE")
	})
}
