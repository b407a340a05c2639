package mailstore_test

import (
	"fmt"
	"slices"
	"testing"

	"diwan.gov.sy/diwan/internal/mailstore"
)

// A FETCH of UID, FLAGS and MODSEQ alone reads packed rows (FlagsOnly):
// it must give what the full read gives, for dense and sparse UID sets,
// UIDs that are gone, keywords, and CHANGEDSINCE (RFC 7162 §3.1.4).
func TestFetchFlagsOnlyGivesWhatTheFullReadGives(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		u := e.users[0]
		var box int64
		for i := range 12 {
			box = e.appendMsg(t, u, "INBOX", msg(fmt.Sprintf("m%d", i), "body")).MailboxID
		}
		steps := []struct {
			uids  []uint32
			op    mailstore.FlagOp
			flags []string
		}{
			{[]uint32{1, 2, 3, 4}, mailstore.FlagsAdd, []string{`\Seen`}},
			{[]uint32{2, 5}, mailstore.FlagsAdd, []string{`\Flagged`, "$Label1", "Work"}},
			{[]uint32{3}, mailstore.FlagsReplace, []string{`\Answered`, `\Draft`, `\Deleted`}},
			{[]uint32{6, 7}, mailstore.FlagsAdd, []string{`\Deleted`}},
		}
		for _, st := range steps {
			if _, err := e.s.StoreFlags(e.ctx, u, box, st.uids, st.op, st.flags); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.s.Expunge(e.ctx, u, box, []uint32{6, 7}); err != nil {
			t.Fatal(err)
		}
		mid := e.selectBox(t, u, "INBOX").HighestModSeq
		if _, err := e.s.StoreFlags(e.ctx, u, box, []uint32{9}, mailstore.FlagsAdd, []string{"$Late"}); err != nil {
			t.Fatal(err)
		}
		sets := [][]uint32{
			{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
			{2, 5, 9, 12},
			{1, 2, 4, 5, 8, 9, 10, 11, 12}, // read as a range, 3 left out
			{1, 12},
			{6, 7},
			{3},
		}
		for _, set := range sets {
			for _, since := range []uint64{0, mid} {
				want := fetchAll(t, e, u, box, set, mailstore.FetchOptions{MailboxOnly: true, ChangedSince: since})
				got := fetchAll(t, e, u, box, set, mailstore.FetchOptions{FlagsOnly: true, ChangedSince: since})
				if !slices.Equal(got, want) {
					t.Errorf("uids %v since %d: FlagsOnly %v, full read %v", set, since, got, want)
				}
			}
		}
		if got := fetchAll(t, e, u, box, []uint32{2}, mailstore.FetchOptions{FlagsOnly: true}); len(got) != 1 ||
			got[0] != fmt.Sprintf("2 %d [\\Flagged \\Seen $Label1 Work]", fetchModSeq(t, e, u, box, 2)) {
			t.Errorf("uid 2: %v", got)
		}
	})
}

func fetchAll(t *testing.T, e *env, u, box int64, uids []uint32, o mailstore.FetchOptions) []string {
	t.Helper()
	var out []string
	err := e.s.Fetch(e.ctx, u, box, uids, o, func(mi *mailstore.MessageInfo) error {
		out = append(out, fmt.Sprintf("%d %d %v", mi.UID, mi.ModSeq, mi.Flags))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func fetchModSeq(t *testing.T, e *env, u, box int64, uid uint32) uint64 {
	t.Helper()
	var m uint64
	err := e.s.Fetch(e.ctx, u, box, []uint32{uid}, mailstore.FetchOptions{MailboxOnly: true}, func(mi *mailstore.MessageInfo) error {
		m = mi.ModSeq
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
