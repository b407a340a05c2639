package workflow

import (
	"fmt"
	"strings"
)

// The statement of Counters (counters.go): every count of a user's
// navigation in one round trip, each a sub-select on an index range of
// migrations/*/00014 (referrals by addressee, state and due date; entries
// by registry, state and due date) that stops at CounterLimit rows, so
// that its cost is bounded whatever the size of the registers.

// counted is a bounded count of the rows of a FROM … WHERE.
func counted(fromWhere string) string {
	return fmt.Sprintf("(SELECT COUNT(*) FROM (SELECT 1%s LIMIT %d) n)", fromWhere, CounterLimit)
}

// referralsOpenFrom are a user's open referrals, by referralScope(true).
const referralsOpenFrom = ` FROM referrals f
JOIN registry_entries e ON e.id = f.entry_id
JOIN correspondence c ON c.id = e.correspondence_id
JOIN registries r ON r.id = e.registry_id
WHERE f.state IN ('open', 'accepted') AND `

// entriesOfRegistries are the entries of a user's registries that they
// may read. (No condition names the direction: received, referred and
// in_progress are states of incoming entries only, and with one on it
// SQLite's planner takes the index of the register numbers instead of the
// one of registry, state and due date.)
const entriesOfRegistries = ` FROM registry_entries e
JOIN correspondence c ON c.id = e.correspondence_id
WHERE e.registry_id IN ? AND c.classification IN ? AND `

// A date past is "> '' AND < today", not "<> '' AND < today": the same
// dates, but the first bounds the index range from below, where the many
// lines without a due date ('') sort first; SQLite read them all before
// the first dated one.

// countersQuery builds the statement for p, today being YYYY-MM-DD in
// time_zone: waiting, referrals, overdue referrals, overdue entries and
// the codes of p's registries (comma-separated).
func countersQuery(p *principal, today string) (string, []any) {
	scope, scopeArgs := p.referralScope(true)
	var args []any
	cols := []string{}
	add := func(sql string, a ...any) {
		cols = append(cols, sql)
		args = append(args, a...)
	}
	clerk := len(p.clerkOf) > 0
	allowed := p.allowedClassifications()
	if clerk {
		add(counted(entriesOfRegistries+"e.state = 'received'"), p.clerkOf, allowed)
	} else {
		add("0")
	}
	add(counted(referralsOpenFrom+scope), scopeArgs...)
	add(counted(referralsOpenFrom+"f.due_date > '' AND f.due_date < ? AND "+scope), append([]any{today}, scopeArgs...)...)
	if clerk {
		add(counted(entriesOfRegistries+
			"e.state IN ('received', 'registered', 'referred', 'in_progress') AND e.due_date > '' AND e.due_date < ?"),
			p.clerkOf, allowed, today)
		add("COALESCE((SELECT string_agg(code, ',') FROM registries WHERE id IN ?), '')", p.clerkOf)
	} else {
		add("0")
		add("''")
	}
	return "SELECT " + strings.Join(cols, ", "), args
}

// counters runs countersQuery now.
func (x *txn) counters(p *principal, today string) (Counters, error) {
	var out Counters
	var overdueEntries int64
	var codes string
	sql, args := countersQuery(p, today)
	x.query(sql, args, func(r rowScanner) error {
		return r.Scan(&out.Waiting, &out.Referrals, &out.Overdue, &overdueEntries, &codes)
	})
	if err := x.run(); err != nil {
		return Counters{}, fmt.Errorf("count what waits for user %d: %w", p.id, err)
	}
	out.Overdue = min(out.Overdue+overdueEntries, CounterLimit)
	if codes != "" {
		out.Registries = strings.Split(codes, ",")
	}
	return out, nil
}
