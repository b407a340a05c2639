package imap_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"diwan.gov.sy/diwan/internal/mailstore"
)

// A FETCH of UID, FLAGS and MODSEQ alone (the batched path) gives each
// message its own sequence number, UID, flags and MODSEQ (RFC 9051 §7.5.2,
// RFC 7162 §3.1.4), across several store batches and in a mailbox with
// gaps in its UIDs, for dense and sparse sets.
func TestFetchFlagsOfThousandsOfMessagesAcrossBatches(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		u := e.users[user1].ID
		for i, flags := range [][]string{nil, {mailstore.FlagSeen}, {mailstore.FlagFlagged, "$Work"}} {
			raw := simpleMsg(fmt.Sprintf("m%d", i), "sara@mof.gov.sy", user1, "body\r\n")
			if _, err := e.store.Append(ctx, u, "INBOX", strings.NewReader(raw), mailstore.AppendOptions{Flags: flags}); err != nil {
				t.Fatal(err)
			}
		}
		mb, err := e.store.Mailbox(ctx, u, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		for n := 3; n < 9000; n *= 2 {
			uids, _ := e.store.UIDs(ctx, u, mb.ID)
			if _, err := e.store.Copy(ctx, u, mb.ID, uids, "INBOX"); err != nil {
				t.Fatal(err)
			}
		}
		var gone []uint32
		for uid := uint32(10); uid < 9000; uid += 7 {
			gone = append(gone, uid)
		}
		if _, err := e.store.StoreFlags(ctx, u, mb.ID, gone, mailstore.FlagsAdd, []string{mailstore.FlagDeleted}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Expunge(ctx, u, mb.ID, gone); err != nil {
			t.Fatal(err)
		}
		uids, _ := e.store.UIDs(ctx, u, mb.ID)
		want := map[uint32]string{}
		err = e.store.Fetch(ctx, u, mb.ID, uids, mailstore.FetchOptions{MailboxOnly: true}, func(mi *mailstore.MessageInfo) error {
			want[mi.UID] = fmt.Sprintf("%v %d", mi.Flags, mi.ModSeq)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		c := e.login(t, user1)
		selectBox(t, c, "INBOX")
		// Every fifth message (read with a list of UIDs), all but every
		// tenth (read as a range and filtered), all of them.
		all := make([]int, len(uids))
		var fifth, most []int
		for i := range uids {
			all[i] = i
			if i%5 == 0 {
				fifth = append(fifth, i)
			}
			if i%10 != 0 {
				most = append(most, i)
			}
		}
		uidSet := func(idx []int) imap.UIDSet {
			var set imap.UIDSet
			for _, i := range idx {
				set.AddNum(imap.UID(uids[i]))
			}
			return set
		}
		cases := []struct {
			set imap.NumSet
			idx []int
		}{
			{imap.UIDSet{{Start: 1, Stop: 0}}, all},
			{imap.SeqSet{{Start: 1, Stop: 0}}, all},
			{uidSet(fifth), fifth},
			{uidSet(most), most},
		}
		for _, tc := range cases {
			msgs := fetch(t, c, tc.set, &imap.FetchOptions{UID: true, Flags: true, ModSeq: true})
			if len(msgs) != len(tc.idx) {
				t.Fatalf("%d messages, want %d", len(msgs), len(tc.idx))
			}
			for i, m := range msgs {
				j := tc.idx[i]
				flags := make([]string, len(m.Flags))
				for k, f := range m.Flags {
					flags[k] = string(f)
				}
				got := fmt.Sprintf("%v %d", flags, m.ModSeq)
				if m.SeqNum != uint32(j+1) || uint32(m.UID) != uids[j] || got != want[uids[j]] {
					t.Fatalf("response %d: seq %d UID %d %s, want %d %d %s", i, m.SeqNum, m.UID, got, j+1, uids[j], want[uids[j]])
				}
			}
		}
		if !slices.IsSorted(uids) {
			t.Fatal("UIDs not ascending")
		}
	})
}
