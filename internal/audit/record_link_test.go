package audit_test

import (
	"context"
	"testing"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
)

// TestSearchShowsEachEventsLinkOnceLinked: an event waiting to be linked
// has no seq and no hash; once linked, each carries its seq, its hash and
// the hash of the event before it in the chain.
func TestSearchShowsEachEventsLinkOnceLinked(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := newLog(d)
		appendCommitted(t, d, numbered(3)...)
		p, err := l.Search(ctx, reader(true), audit.Filter{Limit: 10})
		if err != nil || len(p.Records) != 3 {
			t.Fatalf("search: %+v, %v", p, err)
		}
		for _, r := range p.Records {
			if r.Seq != 0 || r.Hash != "" || r.PrevHash != "" {
				t.Errorf("waiting event %d: seq %d hash %q prev %q", r.ID, r.Seq, r.Hash, r.PrevHash)
			}
		}
		if _, err := l.LinkPending(ctx); err != nil {
			t.Fatal(err)
		}
		if p, err = l.Search(ctx, reader(true), audit.Filter{Limit: 10}); err != nil {
			t.Fatal(err)
		}
		for i, r := range p.Records { // newest first: the next one is the link before
			if r.Seq == 0 || len(r.Hash) != 64 || len(r.PrevHash) != 64 {
				t.Fatalf("linked event %d: seq %d hash %q prev %q", r.ID, r.Seq, r.Hash, r.PrevHash)
			}
			if i+1 < len(p.Records) && r.PrevHash != p.Records[i+1].Hash {
				t.Errorf("event %d links to %s, the event before it is %s", r.ID, r.PrevHash, p.Records[i+1].Hash)
			}
		}
	})
}
