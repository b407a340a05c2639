package workflow

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// A registry's book, as its clerks page through it: one registry's
// incoming and outgoing entries, filtered and sorted, one page at a time.
// Pages follow each other by keyset (the sort key and the id of the last
// entry shown, in an opaque cursor), never by offset, so that a page deep
// in a book of a million entries costs what the first one does; and no
// page counts the whole book. The statements are in store_registers.go.

// RegisterSort is an order of a register.
type RegisterSort string

const (
	// SortNewest: by date (of registration, else of creation), newest
	// first. The default.
	SortNewest RegisterSort = "newest"
	// SortOldest: by date, oldest first.
	SortOldest RegisterSort = "oldest"
	// SortDue: by due date, soonest first; entries without one last.
	SortDue RegisterSort = "due"
)

// RegisterFilter selects a page of one registry's book.
type RegisterFilter struct {
	// Registry is the code of a registry the actor clerks for; "" means
	// the first of them by code. Any other registry is ErrNotFound.
	Registry       string
	Direction      Direction      // "" both
	State          State          // "" all
	Priority       Priority       // "" all
	Classification Classification // "" all the actor may read
	// From and To (YYYY-MM-DD in time_zone, both included) bound the
	// date: of registration, or of creation for an entry not registered.
	From, To string
	Query    string       // substring of the subject or the number
	Sort     RegisterSort // "" means SortNewest
	// After is RegisterPage.Next of the page before (for the same sort);
	// "" is the first page. A cursor that is not one is an *InputError
	// for "after".
	After string
	Limit int // 0 means 50; at most 200
}

// RegisterPage is one page of a register.
type RegisterPage struct {
	// Registries are the registries the actor clerks for, by code.
	Registries []RegistryName
	// Registry is the code of the registry listed.
	Registry string
	Items    []RegisterEntry
	// Next is the cursor of the page after this one (RegisterFilter.After);
	// "" when this is the last.
	Next string
}

// RegistryName is a registry's code and names.
type RegistryName struct {
	Code, NameAR, NameEN string
}

// Party is the other side of an entry: a registry, or an outside party by
// name (Registry "").
type Party struct {
	Registry, NameAR, NameEN string
	Name                     string // an outside party's name
}

// RegisterEntry is one line of a register.
type RegisterEntry struct {
	ID               int64
	CorrespondenceID int64
	Direction        Direction
	Number           string // "" until registered
	// Date is the date of registration (of creation before it),
	// YYYY-MM-DD in time_zone.
	Date           string
	RegisteredAt   time.Time // zero until registered
	CreatedAt      time.Time
	State          State
	DueDate        string // YYYY-MM-DD; "" none
	Overdue        bool   // the due date has passed and the entry still waits (overdue)
	Kind           Kind
	Subject        string // "" for an incoming letter its sender recalled
	Classification Classification
	Priority       Priority
	// Parties: the sender of an incoming entry; the first recipients of
	// an outgoing one, MoreParties the number of the others.
	Parties     []Party
	MoreParties int
}

const (
	registerPageSize    = 50
	maxRegisterPageSize = 200
	// registerParties is how many recipients an outgoing line names.
	registerParties = 3
)

// overdue reports whether an entry whose due date is due, in state st,
// is overdue on the date today (both YYYY-MM-DD): the due date has
// passed and the entry still waits for its registry: an incoming letter
// not yet answered, closed or returned; an outgoing one not closed,
// cancelled or recalled (a dispatched letter waits for its answer).
func overdue(d Direction, st State, due, today string) bool {
	if due == "" || due >= today {
		return false
	}
	if d == Incoming {
		return slices.Contains([]State{StateReceived, StateRegistered, StateReferred, StateInProgress}, st)
	}
	return !slices.Contains([]State{StateClosed, StateCancelled, StateRecalled}, st)
}

// registerQuery is a RegisterFilter checked: its bounds as instants, its
// cursor decoded.
type registerQuery struct {
	f        RegisterFilter
	from, to *time.Time // [from, to)
	after    *registerCursor
	limit    int
}

func (s *Service) checkRegisterFilter(f RegisterFilter) (registerQuery, error) {
	q := registerQuery{f: f, limit: f.Limit}
	q.f.Registry = strings.ToUpper(strings.TrimSpace(f.Registry))
	q.f.Query = strings.TrimSpace(f.Query)
	if q.f.Sort == "" {
		q.f.Sort = SortNewest
	}
	if q.limit <= 0 {
		q.limit = registerPageSize
	}
	q.limit = min(q.limit, maxRegisterPageSize)
	checks := []struct {
		field, value string
		allowed      []string
	}{
		{"direction", string(f.Direction), []string{string(Incoming), string(Outgoing)}},
		{"state", string(f.State), entryStates()},
		{"priority", string(f.Priority), []string{string(PriorityNormal), string(PriorityUrgent), string(PriorityImmediate)}},
		{"classification", string(f.Classification), []string{string(Normal), string(Confidential), string(Secret)}},
		{"sort", string(q.f.Sort), []string{string(SortNewest), string(SortOldest), string(SortDue)}},
	}
	for _, c := range checks {
		if c.value != "" && !slices.Contains(c.allowed, c.value) {
			return q, inputErr(c.field, fmt.Sprintf("%s is not one of %s", show(c.value), strings.Join(c.allowed, ", ")))
		}
	}
	var err error
	if q.from, err = s.dayStart("from", f.From, 0); err != nil {
		return q, err
	}
	if q.to, err = s.dayStart("to", f.To, 1); err != nil {
		return q, err
	}
	if f.After != "" {
		c, err := decodeCursor(f.After, q.f.Sort)
		if err != nil {
			return q, err
		}
		q.after = &c
	}
	return q, nil
}

// dayStart is the start, in time_zone, of the day plus days after the
// date d (YYYY-MM-DD) of a field; nil for "".
func (s *Service) dayStart(field, d string, days int) (*time.Time, error) {
	if d == "" {
		return nil, nil
	}
	t, err := time.ParseInLocation(time.DateOnly, d, s.loc)
	if err != nil {
		return nil, inputErr(field, fmt.Sprintf("%s is not a date in the form YYYY-MM-DD", show(d)))
	}
	t = t.AddDate(0, 0, days).UTC()
	return &t, nil
}

// entryStates are the states an entry may be in.
func entryStates() []string {
	var out []string
	for _, st := range []State{StateDraft, StateInApproval, StateApproved, StateRegistered, StateDispatched, StateClosed,
		StateRecalled, StateCancelled, StateReceived, StateReferred, StateInProgress, StateAnswered, StateReturned} {
		out = append(out, string(st))
	}
	return out
}

// registerCursor is where a page of a register starts: after the entry
// with this sort key and id, in the order Sort.
type registerCursor struct {
	Sort RegisterSort `json:"s"`
	Key  string       `json:"k"` // a date sort's time (RFC 3339, UTC); the due sort's due key
	ID   int64        `json:"i"`
	at   time.Time    // Key as a time, for the date sorts
}

// badCursor is the error of a cursor that is not one of ours.
func badCursor() error {
	return inputErr("after", "the link to this page is damaged or belongs to another order; start again from the first page")
}

func (c registerCursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads a cursor made by encode for the order sort.
func decodeCursor(s string, sort RegisterSort) (registerCursor, error) {
	var c registerCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(s) > 200 || json.Unmarshal(b, &c) != nil || c.Sort != sort || c.ID <= 0 {
		return c, badCursor()
	}
	if sort == SortDue {
		if c.Key != noDueKey {
			if _, err := time.Parse(time.DateOnly, c.Key); err != nil {
				return c, badCursor()
			}
		}
		return c, nil
	}
	if c.at, err = time.Parse(time.RFC3339Nano, c.Key); err != nil {
		return c, badCursor()
	}
	return c, nil
}

// register lists a page of a registry's book for its clerk.
func (s *Service) register(ctx context.Context, a Actor, f RegisterFilter) (RegisterPage, error) {
	out := RegisterPage{Registries: []RegistryName{}, Items: []RegisterEntry{}}
	q, err := s.checkRegisterFilter(f)
	if err != nil {
		return out, err
	}
	err = s.readPool(ctx, func(x *txn) error {
		getP := x.principal(a)
		regs := x.clerkRegistries(a.UserID)
		if err := x.run(); err != nil {
			return err
		}
		p, err := getP()
		if err != nil {
			return err
		}
		id, err := out.choose(p, regs(), q.f.Registry)
		if err != nil {
			return err
		}
		rows, err := x.registerRows(p, id, q)
		if err != nil {
			return err
		}
		out.Items, out.Next = s.registerLines(rows, q)
		return nil
	})
	return out, err
}

// choose keeps of regs those p clerks for and picks the one named by code
// ("" the first); it is ErrNotFound when p clerks for none, or not for it.
func (out *RegisterPage) choose(p *principal, regs []registryNameRow, code string) (int64, error) {
	var id int64
	for _, r := range regs {
		if !p.seesContent() || !p.isClerkOf(r.ID) {
			continue
		}
		out.Registries = append(out.Registries, RegistryName{Code: r.Code, NameAR: r.NameAR, NameEN: r.NameEN})
		if id == 0 && (code == "" || code == r.Code) {
			id, out.Registry = r.ID, r.Code
		}
	}
	if id == 0 {
		if code == "" {
			return 0, fmt.Errorf("a register for a user who clerks for no registry: %w", ErrNotFound)
		}
		return 0, fmt.Errorf("register %s: %w", show(code), ErrNotFound)
	}
	return id, nil
}

// registerLines turns the rows read (one more than a page, when there are
// more) into the page's lines and the cursor of the next page.
func (s *Service) registerLines(rows []registerRow, q registerQuery) ([]RegisterEntry, string) {
	var next string
	if len(rows) > q.limit {
		rows = rows[:q.limit]
		last := rows[len(rows)-1]
		c := registerCursor{Sort: q.f.Sort, ID: last.ID}
		if q.f.Sort == SortDue {
			c.Key = dueKey(last.DueDate)
		} else {
			c.Key = last.date().UTC().Format(time.RFC3339Nano)
		}
		next = c.encode()
	}
	today := s.today(s.now()).Format(time.DateOnly)
	out := make([]RegisterEntry, 0, len(rows))
	for i := range rows {
		out = append(out, rows[i].line(s.loc, today))
	}
	return out, next
}

// noDueKey is the due key of an entry without a due date: after every date.
const noDueKey = "9999-12-31"

func dueKey(due string) string {
	if due == "" {
		return noDueKey
	}
	return due
}

func (r *registerRow) date() time.Time {
	if r.RegisteredAt != nil {
		return *r.RegisteredAt
	}
	return r.CreatedAt
}

func (r *registerRow) line(loc *time.Location, today string) RegisterEntry {
	e := RegisterEntry{ID: r.ID, CorrespondenceID: r.CorrespondenceID, Direction: Direction(r.Direction),
		Number: deref(r.Number), Date: r.date().In(loc).Format(time.DateOnly), RegisteredAt: deref(r.RegisteredAt),
		CreatedAt: r.CreatedAt, State: State(r.State), DueDate: r.DueDate, Kind: Kind(r.Kind), Subject: r.Subject,
		Classification: Classification(r.Classification), Priority: Priority(r.Priority), Parties: r.parties}
	e.Overdue = overdue(e.Direction, e.State, e.DueDate, today)
	if e.Direction == Incoming && e.State == StateRecalled {
		e.Subject = "" // the envelope alone (onlyRecalled)
	}
	if e.Direction == Incoming {
		e.Parties = []Party{{Registry: r.SenderCode, NameAR: r.SenderNameAR, NameEN: r.SenderNameEN, Name: r.SenderParty}}
	} else {
		e.MoreParties = max(0, int(r.Recipients)-len(e.Parties))
	}
	if e.Parties == nil {
		e.Parties = []Party{}
	}
	return e
}
