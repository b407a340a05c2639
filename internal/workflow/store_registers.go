package workflow

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// The statements of a registry's book (registers.go). Each order of the
// book has an index of migrations/*/00015 behind it — the registry, the
// sort key, the id — so that a page is a range of that index read from
// the cursor on, however deep; the access predicate is entryScope's, the
// one the entry lists use.

// registerRow is an entry as a register's line needs it: a row of
// registerSelect.
type registerRow struct {
	ID               int64
	CorrespondenceID int64
	Direction        string
	State            string
	Number           *string
	RegisteredAt     *time.Time
	CreatedAt        time.Time
	DueDate          string
	Kind             string
	Subject          string
	Classification   string
	Priority         string
	SenderCode       string
	SenderNameAR     string
	SenderNameEN     string
	SenderParty      string
	Recipients       int64 // of an outgoing entry; 0 otherwise
	parties          []Party
}

const registerSelect = `SELECT e.id, e.correspondence_id, e.direction, e.state, e.number, e.registered_at, e.created_at,
	e.due_date, c.kind, c.subject, c.classification, c.priority, COALESCE(sr.code, ''), COALESCE(sr.name_ar, ''),
	COALESCE(sr.name_en, ''), c.sender_party,
	CASE WHEN e.direction = 'outgoing' THEN
		(SELECT COUNT(*) FROM correspondence_recipients x WHERE x.correspondence_id = e.correspondence_id) ELSE 0 END
FROM registry_entries e
CROSS JOIN correspondence c
JOIN registries r ON r.id = e.registry_id
LEFT JOIN registries sr ON sr.id = c.sender_registry_id`

// registerJoin joins c to e in registerSelect. The CROSS JOIN above makes
// SQLite read the entries first, along the book's index: left to choose,
// for a clerk cleared for normal documents only it scanned those and
// sorted them (240 ms a page at 20,000 entries, against 1 ms);
// PostgreSQL takes CROSS JOIN as a plain join.
const registerJoin = "c.id = e.correspondence_id"

func (r *registerRow) scan(s rowScanner) error {
	return s.Scan(&r.ID, &r.CorrespondenceID, &r.Direction, &r.State, &r.Number, &r.RegisteredAt, &r.CreatedAt,
		&r.DueDate, &r.Kind, &r.Subject, &r.Classification, &r.Priority, &r.SenderCode, &r.SenderNameAR,
		&r.SenderNameEN, &r.SenderParty, &r.Recipients)
}

// The sort keys, written as the indexes of 00015 write them (SQLite uses
// an index on an expression only for the same expression).
const (
	registerDateKey = "COALESCE(e.registered_at, e.created_at)"
	registerDueKey  = "CASE WHEN e.due_date = '' THEN '" + noDueKey + "' ELSE e.due_date END"
)

// registerPart is one statement of a page, as registerKeyset writes it.
type registerPart int

const (
	partFirst    registerPart = iota // the first page: no cursor
	partAfterRow                     // (key, id) after the cursor's: one range on PostgreSQL
	partTies                         // the cursor's key, the ids after its (ordered by id alone)
	partAfterKey                     // the keys after the cursor's
)

// registerParts are the statements of a page: on SQLite, after a cursor,
// the rows tied with it and then those of the keys after it. A single
// condition (key, id) > (k, i) is one range of the sort's index (registry,
// key, id) for PostgreSQL, but SQLite bounds that range by the key alone
// and would read every row tied with the cursor's (and the due order has
// many ties); the two parts are a range each.
func registerParts(q registerQuery, pg bool) []registerPart {
	switch {
	case q.after == nil:
		return []registerPart{partFirst}
	case pg:
		return []registerPart{partAfterRow}
	}
	return []registerPart{partTies, partAfterKey}
}

// registerKeyset is the order of a sort and the keyset condition of a
// part of a page.
func registerKeyset(q registerQuery, part registerPart) (order, cond string, args []any) {
	key, dir, cmp := registerDateKey, " DESC", "<"
	switch q.f.Sort {
	case SortOldest:
		dir, cmp = "", ">"
	case SortDue:
		key, dir, cmp = registerDueKey, "", ">"
	}
	order = key + dir + ", e.id" + dir
	if part == partFirst {
		return order, "", nil
	}
	var k any = q.after.at
	if q.f.Sort == SortDue {
		k = q.after.Key
	}
	switch part {
	case partTies:
		return "e.id" + dir, key + " = ? AND e.id " + cmp + " ?", []any{k, q.after.ID}
	case partAfterKey:
		return order, key + " " + cmp + " ?", []any{k}
	}
	return order, "(" + key + ", e.id) " + cmp + " (?, ?)", []any{k, q.after.ID}
}

// registerStatement is the statement of a part of a page of registry id's
// book as p may see it, with one row more than the page when there are
// more; ok is false when p sees nothing.
func registerStatement(p *principal, id int64, q registerQuery, part registerPart) (sql string, args []any, ok bool) {
	scope, args, ok := p.entryScope()
	if !ok {
		return "", nil, false
	}
	where := registerJoin + " AND e.registry_id = ? AND " + scope
	args = append([]any{id}, args...)
	cond, more := entryFilter("", q.f.Direction, q.f.State, q.f.Query)
	where += cond
	args = append(args, more...)
	if q.f.Priority != "" {
		where += " AND c.priority = ?"
		args = append(args, string(q.f.Priority))
	}
	if q.f.Classification != "" {
		where += " AND c.classification = ?"
		args = append(args, string(q.f.Classification))
	}
	if q.from != nil {
		where += " AND " + registerDateKey + " >= ?"
		args = append(args, *q.from)
	}
	if q.to != nil {
		where += " AND " + registerDateKey + " < ?"
		args = append(args, *q.to)
	}
	order, after, afterArgs := registerKeyset(q, part)
	if after != "" {
		where += " AND " + after
		args = append(args, afterArgs...)
	}
	return registerSelect + " WHERE " + where + " ORDER BY " + order + fmt.Sprintf(" LIMIT %d", q.limit+1), args, true
}

// registerRows reads a page of registry id's book as p may see it
// (registerStatement, registerParts: on SQLite the rows tied with the
// cursor, then as many as the page still needs of those after), with the
// first recipients of its outgoing entries. The page's statement is
// queued on x as a planned read (queryPlanned): PostgreSQL planned it
// afresh for every page, 0.8 ms against 0.2 ms of running it; planned
// once, a page costs PostgreSQL 3.5 ms of CPU rather than 4.4
// (BenchmarkRegistersPagePostgres/first, 1,000,000 entries, 16 clients).
func (x *txn) registerRows(p *principal, id int64, q registerQuery) ([]registerRow, error) {
	var rows []registerRow
	for _, part := range registerParts(q, x.s.isPostgres()) {
		sql, args, ok := registerStatement(p, id, q, part)
		if !ok || len(rows) > q.limit {
			break
		}
		x.queryPlanned(sql, args, func(s rowScanner) error {
			var r registerRow
			if err := r.scan(s); err != nil {
				return err
			}
			rows = append(rows, r)
			return nil
		})
		if err := x.run(); err != nil {
			return nil, fmt.Errorf("list register of registry %d: %w", id, err)
		}
	}
	if len(rows) > q.limit+1 {
		rows = rows[:q.limit+1]
	}
	return rows, x.registerParties(rows)
}

// registerParties reads the first recipients of the outgoing rows.
func (x *txn) registerParties(rows []registerRow) error {
	at := map[int64][]int{} // correspondence → its rows
	var ids []int64
	for i := range rows {
		if rows[i].Direction == string(Outgoing) && rows[i].Recipients > 0 {
			if _, seen := at[rows[i].CorrespondenceID]; !seen {
				ids = append(ids, rows[i].CorrespondenceID)
			}
			at[rows[i].CorrespondenceID] = append(at[rows[i].CorrespondenceID], i)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	x.query(`SELECT x.correspondence_id, COALESCE(r.code, ''), COALESCE(r.name_ar, ''),
	COALESCE(r.name_en, ''), x.party
FROM correspondence_recipients x LEFT JOIN registries r ON r.id = x.registry_id
WHERE x.correspondence_id IN ? AND x.position <= ? ORDER BY x.correspondence_id, x.position`,
		[]any{ids, registerParties}, func(s rowScanner) error {
			var corr int64
			var p Party
			if err := s.Scan(&corr, &p.Registry, &p.NameAR, &p.NameEN, &p.Name); err != nil {
				return err
			}
			for _, i := range at[corr] {
				rows[i].parties = append(rows[i].parties, p)
			}
			return nil
		})
	if err := x.run(); err != nil {
		return fmt.Errorf("recipients of a register page: %w", err)
	}
	return nil
}

// registryNameRow is a registry a user clerks for.
type registryNameRow struct {
	ID     int64
	Code   string
	NameAR string
	NameEN string
}

// clerkRegistries queues the reading of the registries user clerks for,
// by code; get returns them once x has run.
func (x *txn) clerkRegistries(user int64) (get func() []registryNameRow) {
	var out []registryNameRow
	x.query(`SELECT r.id, r.code, r.name_ar, r.name_en FROM registry_clerks k JOIN registries r ON r.id = k.registry_id
WHERE k.user_id = ? ORDER BY r.code`, []any{user}, func(s rowScanner) error {
		var r registryNameRow
		if err := s.Scan(&r.ID, &r.Code, &r.NameAR, &r.NameEN); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	return func() []registryNameRow { return out }
}

// readPool runs fn's reads as readBatched does, but on SQLite on the read
// pool (db.Reader) rather than the one writer connection, so that clerks
// paging through their books read side by side, and beside the writer.
func (s *Service) readPool(ctx context.Context, fn func(x *txn) error) error {
	if s.isPostgres() {
		return s.readBatched(ctx, fn)
	}
	return s.db.Reader().WithContext(ctx).Connection(func(q *gorm.DB) error {
		x := &txn{s: s, ctx: ctx, tx: q}
		if err := fn(x); err != nil {
			return err
		}
		return x.err
	})
}
