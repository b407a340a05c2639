package mailstore_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/mailstore"
)

// RFC 7162 §3.2.5: the store remembers which UIDs went at which MODSEQ
// (EXPUNGE, MOVE) and which messages changed since a MODSEQ; after the
// retention the records are pruned and Vanished says it no longer knows
// everything before the pruned MODSEQs.
func TestVanishedAndChangedSinceAModSeq(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		u := e.users[0]
		for i := 1; i <= 5; i++ {
			e.appendMsg(t, u, "INBOX", msg(fmt.Sprintf("m%d", i), "body"))
		}
		sel, err := e.s.Select(e.ctx, u, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		box, h0 := sel.ID, sel.HighestModSeq
		if _, err := e.s.StoreFlags(e.ctx, u, box, []uint32{1, 2}, mailstore.FlagsAdd, []string{mailstore.FlagDeleted}); err != nil {
			t.Fatal(err)
		}
		if gone, err := e.s.Expunge(e.ctx, u, box, nil); err != nil || !slices.Equal(gone, []uint32{1, 2}) {
			t.Fatalf("Expunge: %v %v", gone, err)
		}
		mid, _ := e.s.Mailbox(e.ctx, u, "INBOX")
		if _, err := e.s.Move(e.ctx, u, box, []uint32{3}, "Archive"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.StoreFlags(e.ctx, u, box, []uint32{5}, mailstore.FlagsAdd, []string{"$Done"}); err != nil {
			t.Fatal(err)
		}

		check := func(since uint64, want []uint32, wantComplete bool) {
			t.Helper()
			got, complete, err := e.s.Vanished(e.ctx, u, box, since)
			if err != nil || !slices.Equal(got, want) || complete != wantComplete {
				t.Errorf("Vanished(%d) = %v %v %v, want %v %v", since, got, complete, err, want, wantComplete)
			}
		}
		check(h0, []uint32{1, 2, 3}, true)
		check(mid.HighestModSeq, []uint32{3}, true)

		ch, err := e.s.Changed(e.ctx, u, box, h0)
		if err != nil || len(ch) != 1 || ch[0].UID != 5 || !slices.Equal(ch[0].Flags, []string{"$Done"}) || ch[0].ModSeq <= h0 {
			t.Errorf("Changed(%d) = %+v %v, want UID 5 with $Done", h0, ch, err)
		}

		// Another user's mailbox is not found.
		if _, _, err := e.s.Vanished(e.ctx, u+1000, box, h0); err == nil {
			t.Error("Vanished of another user's mailbox answered")
		}

		e.clock.Advance(mailstore.DefaultExpungedRetention + time.Hour)
		if _, err := e.s.Sweep(e.ctx); err != nil {
			t.Fatal(err)
		}
		now, _ := e.s.Mailbox(e.ctx, u, "INBOX")
		check(h0, nil, false)
		check(now.HighestModSeq, nil, true)
		if n := e.count(t, "SELECT count(*) FROM mailbox_expunged WHERE mailbox_id = ?", box); n != 0 {
			t.Errorf("%d records left after the retention", n)
		}
	})
}

// RFC 7162 §3.1.3: a conditional STORE leaves the messages changed after
// UNCHANGEDSINCE alone and names them; §3.1.5: MODSEQ search, in SQL and
// in the reference evaluation.
func TestStoreFlagsUnchangedSinceAndModSeqSearch(t *testing.T) {
	each(t, 1, func(t *testing.T, e *env) {
		u := e.users[0]
		for i := 1; i <= 3; i++ {
			e.appendMsg(t, u, "INBOX", msg(fmt.Sprintf("m%d", i), "body"))
		}
		mb, _ := e.s.Mailbox(e.ctx, u, "INBOX")
		base := mb.HighestModSeq
		if _, err := e.s.StoreFlags(e.ctx, u, mb.ID, []uint32{2}, mailstore.FlagsAdd, []string{mailstore.FlagSeen}); err != nil {
			t.Fatal(err)
		}
		ups, modified, err := e.s.StoreFlagsUnchangedSince(e.ctx, u, mb.ID, []uint32{1, 2, 3}, mailstore.FlagsAdd,
			[]string{mailstore.FlagFlagged}, base)
		if err != nil || !slices.Equal(modified, []uint32{2}) || len(ups) != 2 || ups[0].UID != 1 || ups[1].UID != 3 ||
			!ups[0].Changed || !slices.Equal(ups[1].Flags, []string{mailstore.FlagFlagged}) {
			t.Fatalf("StoreFlagsUnchangedSince: %+v %v %v", ups, modified, err)
		}
		c := &mailstore.Criteria{ModSeq: base + 1}
		for name, search := range map[string]func() ([]uint32, error){
			"sql": func() ([]uint32, error) { return e.s.Search(e.ctx, u, mb.ID, c) },
			"go":  func() ([]uint32, error) { return e.s.SearchInGo(e.ctx, u, mb.ID, c) },
		} {
			if got, err := search(); err != nil || !slices.Equal(got, []uint32{1, 2, 3}) {
				t.Errorf("%s: MODSEQ %d: %v %v", name, base+1, got, err)
			}
		}
		c.ModSeq = base + 2
		if got, err := e.s.Search(e.ctx, u, mb.ID, c); err != nil || !slices.Equal(got, []uint32{1, 3}) {
			t.Errorf("MODSEQ %d: %v %v", base+2, got, err)
		}
	})
}
