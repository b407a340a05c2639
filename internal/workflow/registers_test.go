package workflow_test

import (
	"slices"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/workflow"
)

// registerBook fills MOCT's book: outgoing drafts and registered
// incoming letters from MOF, some made at the same instant (ties of the
// date order), of several priorities, classifications and due dates. It
// returns the ids of MOCT's entries.
func registerBook(f *fixture) []int64 {
	f.t.Helper()
	var ids []int64
	start := f.clock.Now()
	kinds := []struct {
		subject string
		class   workflow.Classification
		prio    workflow.Priority
		due     string
	}{
		{"طلب موازنة", workflow.Normal, workflow.PriorityNormal, ""},
		{"تعميم الدوام", workflow.Confidential, workflow.PriorityUrgent, "2026-03-10"},
		{"Budget request", workflow.Normal, workflow.PriorityImmediate, ""},
		{"عقد الصيانة", workflow.Secret, workflow.PriorityNormal, "2026-03-05"},
	}
	for i := range 11 {
		if i%3 == 0 { // every third step moves the clock; the others tie
			f.clock.Set(start.Add(time.Duration(i) * time.Hour))
		}
		k := kinds[i%len(kinds)]
		n := workflow.NewCorrespondence{Subject: k.subject, Classification: k.class, Priority: k.prio, DueDate: k.due}
		if i%2 == 0 {
			n.Recipients = toRegistries("MOF")
			ids = append(ids, f.draft(n).ID)
		} else {
			ids = append(ids, f.receivedAtMOCT(n).ID)
		}
	}
	// MOF's own letters are in MOF's book, never in MOCT's.
	f.draft(workflow.NewCorrespondence{SenderRegistry: "MOF", Subject: "ميزانية"})
	return ids
}

// list pages through MOCT's book with f, limit entries a page, and
// returns the ids in order.
func list(t *testing.T, wf *workflow.Service, f *fixture, a workflow.Actor, rf workflow.RegisterFilter, limit int) []int64 {
	t.Helper()
	var ids []int64
	rf.Limit = limit
	for range 100 {
		p, err := wf.Register(f.ctx, a, rf)
		if err != nil {
			t.Fatalf("register %+v: %v", rf, err)
		}
		if len(p.Items) > limit {
			t.Fatalf("%d lines on a page of %d", len(p.Items), limit)
		}
		for _, e := range p.Items {
			ids = append(ids, e.ID)
		}
		if p.Next == "" {
			return ids
		}
		rf.After = p.Next
	}
	t.Fatal("the pages do not end")
	return nil
}

// Paging forward through a book, a page of one or two at a time, lists
// every entry once, in the order of the sort, ties included.
func TestRegisterPagesEveryEntryOnceInEachOrder(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		want := registerBook(f)
		clerk := f.actor("clerk@moct.gov.sy")
		for _, sort := range []workflow.RegisterSort{"", workflow.SortOldest, workflow.SortDue} {
			all, err := f.wf.Register(f.ctx, clerk, workflow.RegisterFilter{Sort: sort, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if all.Next != "" || all.Registry != "MOCT" {
				t.Fatalf("%s: one page: next %q, registry %q", sort, all.Next, all.Registry)
			}
			var ref []int64
			for i, e := range all.Items {
				ref = append(ref, e.ID)
				if i == 0 {
					continue
				}
				prev := all.Items[i-1]
				if !inOrder(sort, prev, e) {
					t.Errorf("%s: %d (%s, due %q) before %d (%s, due %q)", sort, prev.ID, prev.Date, prev.DueDate, e.ID, e.Date, e.DueDate)
				}
			}
			if !sameSet(ref, want) {
				t.Fatalf("%s: the book lists %v, want %v", sort, ref, want)
			}
			for _, limit := range []int{1, 2, 5} {
				if got := list(t, f.wf, f, clerk, workflow.RegisterFilter{Sort: sort}, limit); !slices.Equal(got, ref) {
					t.Errorf("%s by %d: %v, want %v", sort, limit, got, ref)
				}
			}
		}
	})
}

func inOrder(sort workflow.RegisterSort, a, b workflow.RegisterEntry) bool {
	at := func(e workflow.RegisterEntry) time.Time {
		if !e.RegisteredAt.IsZero() {
			return e.RegisteredAt
		}
		return e.CreatedAt
	}
	due := func(e workflow.RegisterEntry) string {
		if e.DueDate == "" {
			return "9999-12-31"
		}
		return e.DueDate
	}
	switch sort {
	case workflow.SortOldest:
		return at(a).Before(at(b)) || (at(a).Equal(at(b)) && a.ID < b.ID)
	case workflow.SortDue:
		return due(a) < due(b) || (due(a) == due(b) && a.ID < b.ID)
	}
	return at(a).After(at(b)) || (at(a).Equal(at(b)) && a.ID > b.ID)
}

func sameSet(a, b []int64) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// The filters select by direction, state, priority, classification,
// date and text; the lines name the other side and mark what is overdue.
func TestRegisterFiltersAndLines(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		registerBook(f)
		clerk := f.actor("clerk@moct.gov.sy")
		page := func(rf workflow.RegisterFilter) []workflow.RegisterEntry {
			t.Helper()
			rf.Limit = 100
			p, err := f.wf.Register(f.ctx, clerk, rf)
			if err != nil {
				t.Fatalf("%+v: %v", rf, err)
			}
			return p.Items
		}
		check := func(name string, rf workflow.RegisterFilter, want int, ok func(workflow.RegisterEntry) bool) {
			t.Helper()
			got := page(rf)
			if len(got) != want {
				t.Errorf("%s: %d lines, want %d", name, len(got), want)
			}
			for _, e := range got {
				if !ok(e) {
					t.Errorf("%s: line %+v", name, e)
				}
			}
		}
		check("incoming", workflow.RegisterFilter{Direction: workflow.Incoming}, 5, func(e workflow.RegisterEntry) bool {
			return e.Direction == workflow.Incoming && e.Number != "" && len(e.Parties) == 1 && e.Parties[0].Registry == "MOF"
		})
		check("drafts", workflow.RegisterFilter{State: workflow.StateDraft}, 6, func(e workflow.RegisterEntry) bool {
			return e.Direction == workflow.Outgoing && e.Parties[0].Registry == "MOF" && e.Parties[0].NameAR == "ديوان المالية"
		})
		check("urgent", workflow.RegisterFilter{Priority: workflow.PriorityUrgent}, 3, func(e workflow.RegisterEntry) bool {
			return e.Priority == workflow.PriorityUrgent
		})
		check("secret", workflow.RegisterFilter{Classification: workflow.Secret}, 2, func(e workflow.RegisterEntry) bool {
			return e.Classification == workflow.Secret
		})
		check("text", workflow.RegisterFilter{Query: "budget"}, 3, func(e workflow.RegisterEntry) bool {
			return e.Subject == "Budget request"
		})
		check("number", workflow.RegisterFilter{Query: "/و/"}, 5, func(e workflow.RegisterEntry) bool {
			return e.Direction == workflow.Incoming
		})
		// The book began on 2026-03-02 at 09:00 in Damascus, an entry
		// every hour or so until 19:00: all on one day.
		check("from the day", workflow.RegisterFilter{From: "2026-03-02", To: "2026-03-02"}, 11, func(e workflow.RegisterEntry) bool {
			return e.Date == "2026-03-02"
		})
		check("after the day", workflow.RegisterFilter{From: "2026-03-03"}, 0, nil)
		check("before the day", workflow.RegisterFilter{To: "2026-03-01"}, 0, nil)

		// Due dates passed: an open entry is overdue, a closed one not, nor
		// one due later.
		for _, e := range page(workflow.RegisterFilter{Direction: workflow.Incoming, State: workflow.StateRegistered}) {
			if e.DueDate == "2026-03-05" {
				full, err := f.wf.Entry(f.ctx, clerk, e.ID)
				f.must(err)
				f.act("clerk@moct.gov.sy", full, workflow.Transition{Action: workflow.ActionClose})
				break
			}
		}
		f.clock.Set(time.Date(2026, 3, 6, 9, 0, 0, 0, damascus))
		var late, closed int
		for _, e := range page(workflow.RegisterFilter{}) {
			want := e.DueDate != "" && e.DueDate < "2026-03-06" && e.State != workflow.StateClosed
			if e.Overdue != want {
				t.Errorf("entry %d due %q in state %s: overdue %v on 2026-03-06", e.ID, e.DueDate, e.State, e.Overdue)
			}
			if e.Overdue {
				late++
			}
			if e.State == workflow.StateClosed && e.DueDate == "2026-03-05" {
				closed++
			}
		}
		if late == 0 || closed != 1 {
			t.Errorf("%d overdue, %d closed after its due date; want some and 1", late, closed)
		}
	})
}

// A register is its clerks': another ministry's registry, a registry of
// the ministry the user does not clerk for, a user who clerks for none and
// an administrator find none; a clerk sees nothing above their clearance.
func TestRegisterIsForItsClerksWithinTheirClearance(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d, fixtureOptions{})
		registerBook(f)
		for _, c := range []struct{ login, registry string }{
			{"clerk@mof.gov.sy", "MOCT"}, {"clerk2@moct.gov.sy", "MOCT"}, {"head@moct.gov.sy", ""},
			{"staff@moct.gov.sy", ""}, {"staff@moct.gov.sy", "MOCT"}, {"admin@moct.gov.sy", "MOCT"},
		} {
			_, err := f.wf.Register(f.ctx, f.actor(c.login), workflow.RegisterFilter{Registry: c.registry})
			wantErr(t, err, workflow.ErrNotFound)
		}
		p, err := f.wf.Register(f.ctx, f.actor("clerk2@moct.gov.sy"), workflow.RegisterFilter{})
		f.must(err)
		if p.Registry != "MOCT2" || len(p.Registries) != 1 || p.Registries[0].NameEN != "MOCT registry 2" {
			t.Errorf("clerk2's register: %+v", p)
		}
		op := workflow.OperatorActor(operator)
		_, err = f.wf.SetMembership(f.ctx, op, "clerk@moct.gov.sy", workflow.MembershipChange{Clearance: workflow.Normal})
		f.must(err)
		p, err = f.wf.Register(f.ctx, f.actor("clerk@moct.gov.sy"), workflow.RegisterFilter{Registry: "moct", Limit: 100})
		f.must(err)
		for _, e := range p.Items {
			if e.Classification != workflow.Normal {
				t.Errorf("a clerk cleared for normal sees %s entry %d", e.Classification, e.ID)
			}
		}
		if len(p.Items) != 6 {
			t.Errorf("%d normal entries, want 6", len(p.Items))
		}
	})
}

// Bad filters and a cursor that is not one (damaged, or of another order)
// are input errors naming their field.
func TestRegisterRefusesBadFiltersAndCursors(t *testing.T) {
	f := newFixture(t, dbtest.Open(t, db.SQLite), fixtureOptions{})
	registerBook(f)
	clerk := f.actor("clerk@moct.gov.sy")
	p, err := f.wf.Register(f.ctx, clerk, workflow.RegisterFilter{Limit: 2})
	f.must(err)
	for field, rf := range map[string]workflow.RegisterFilter{
		"after":          {After: p.Next + "x"},
		"sort":           {Sort: "sideways"},
		"direction":      {Direction: "up"},
		"state":          {State: "lost"},
		"priority":       {Priority: "whenever"},
		"classification": {Classification: "top"},
		"from":           {From: "2026-13-01"},
		"to":             {To: "yesterday"},
	} {
		_, err := f.wf.Register(f.ctx, clerk, rf)
		wantInput(t, err, field)
	}
	for _, bad := range []string{"!!!", "e30", p.Next[:len(p.Next)-3], workflow.RegisterCursorForTest(workflow.SortNewest, "noon", 5),
		workflow.RegisterCursorForTest(workflow.SortNewest, time.Now().Format(time.RFC3339), 0),
		workflow.RegisterCursorForTest(workflow.SortDue, "soon", 5)} {
		_, err := f.wf.Register(f.ctx, clerk, workflow.RegisterFilter{Sort: workflow.SortNewest, After: bad})
		wantInput(t, err, "after")
	}
	_, err = f.wf.Register(f.ctx, clerk, workflow.RegisterFilter{Sort: workflow.SortDue, After: p.Next})
	wantInput(t, err, "after")
}
