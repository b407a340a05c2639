package audit_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
)

// reader is an audit.Reader that may or may not read the log.
type reader bool

func (r reader) MayReadAudit() bool { return bool(r) }

// TestSearchPagesByCursorAndRefusesWhoMayNotRead: Search gives a page and
// the cursor of the next; followed, the cursors give every matching event
// once, newest first, even when events share their time; an exact target
// filters; a reader who may not read gets ErrForbidden.
func TestSearchPagesByCursorAndRefusesWhoMayNotRead(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := newLog(d)
		appendCommitted(t, d, numbered(7)...)
		// Three events of one time: the cursor must not skip or repeat them.
		if err := d.Writer().Exec("UPDATE audit_events SET created_at = (SELECT created_at FROM audit_events WHERE id = 3) WHERE id IN (2, 4)").Error; err != nil {
			t.Fatal(err)
		}
		want, err := l.List(ctx, audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		f := audit.Filter{Limit: 2}
		for range 10 {
			p, err := l.Search(ctx, reader(true), f)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range p.Records {
				got = append(got, r.ID)
			}
			if p.Next == nil {
				break
			}
			f.After = p.Next
		}
		var wantIDs []int64
		for _, r := range want {
			wantIDs = append(wantIDs, r.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(wantIDs) || len(got) != 7 {
			t.Errorf("paged ids %v, want %v", got, wantIDs)
		}
		p, err := l.Search(ctx, reader(true), audit.Filter{Target: "user:u5@mof.gov.sy", Limit: 10})
		if err != nil || len(p.Records) != 1 || p.Next != nil {
			t.Errorf("exact target: %+v, %v", p, err)
		}
		if _, err := l.Search(ctx, reader(false), audit.Filter{}); !errors.Is(err, audit.ErrForbidden) {
			t.Errorf("Search by a reader who may not: %v", err)
		}
		if _, err := l.VerifyAs(ctx, reader(false)); !errors.Is(err, audit.ErrForbidden) {
			t.Errorf("VerifyAs by a reader who may not: %v", err)
		}
	})
}
