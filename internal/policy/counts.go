package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/audit"
)

// The refusals counted per UTC hour, who, domain and reason
// (policy_refusal_counts, migration 00022), so that the violations
// dashboard reads counters instead of every policy.refused event
// (Summary, counts_read.go). The rows are added in the transaction that
// writes the refusal's event (writeRefusal), from the event exactly as
// stored, so the counts and the events never disagree.
//
// The grain is the hour, not the day, so that a summary since a time that
// is not a day boundary (the API's since=24h) stays exact at little cost:
// the whole hours come from the counters, the part of an hour at either
// end from the events (a few hundred at most).
//
// Refused SMTP logins are not counted here: the directory records them
// (user.login_failed by an smtp: actor) in its own transactions, and the
// policy does not write in another package's transaction nor read its
// tables. Summary reads those events as Summarize does; they are few,
// since the directory sums the refusals of a throttled or locked client
// into one event a minute and locks an address out after a few wrong
// passwords.

// hourOf is t's hour since 1970-01-01 UTC, as the counters store it.
func hourOf(t time.Time) int64 { return t.Unix() / 3600 }

// hourTime is the start of hour h.
func hourTime(h int64) time.Time { return time.Unix(h*3600, 0).UTC() }

// counted is what one refusal event counts: who was refused, why, for how
// many refusals, and for which domains.
type counted struct {
	who, reason string
	n           int
	domain      string         // the domain of them all, when domains is nil
	domains     map[string]int // the count per domain, when the event has it
}

// countedRow is one counter of an event: n refusals of who for domain
// ("" when none) and reason.
type countedRow struct {
	who, domain, reason string
	n                   int
}

// refusalCounted reads a policy.refused event: who is its "user", else its
// actor (the client, "smtp:IP").
func refusalCounted(actor string, details map[string]any) counted {
	c := counted{who: actor}
	if u, _ := details["user"].(string); u != "" {
		c.who = u
	}
	c.reason, _ = details["reason"].(string)
	c.domain, _ = details["domain"].(string)
	c.n, c.domains = audit.Count(details)
	return c
}

// loginCounted reads a user.login_failed event by an "smtp:" actor: a
// refused SMTP login, whose domain is the login's.
func loginCounted(actor, target string, details map[string]any) counted {
	c := counted{who: actor, reason: ReasonAuth}
	if _, d, ok := strings.Cut(strings.TrimPrefix(target, "user:"), "@"); ok {
		c.domain = d
	}
	c.n, c.domains = audit.Count(details)
	return c
}

// rows splits c into its counters: one per domain, and the refusals no
// domain was counted for under "" (all of them when the event names one
// domain or none).
func (c counted) rows() []countedRow {
	if c.domains == nil {
		return []countedRow{{c.who, c.domain, c.reason, c.n}}
	}
	rest := c.n
	out := make([]countedRow, 0, len(c.domains)+1)
	for d, k := range c.domains {
		if d == "" {
			continue
		}
		out = append(out, countedRow{c.who, d, c.reason, k})
		rest -= k
	}
	slices.SortFunc(out, func(a, b countedRow) int { return strings.Compare(a.domain, b.domain) })
	if rest > 0 {
		out = append(out, countedRow{c.who, "", c.reason, rest})
	}
	return out
}

// writeRefusal writes one (summed) refusal event and adds it to the
// counters, in one transaction.
func (s *Service) writeRefusal(ctx context.Context, e audit.Event) error {
	row, err := s.audit.Prepare(e)
	if err != nil {
		return err
	}
	// The counters are read from the details as stored, as Summarize
	// reads them back.
	var details map[string]any
	if err := json.Unmarshal([]byte(row.Details), &details); err != nil {
		return fmt.Errorf("read back refusal details: %w", err)
	}
	c := refusalCounted(row.Actor, details)
	return s.db.Transaction(ctx, func(tx *gorm.DB) error {
		if err := audit.Insert(ctx, tx, row); err != nil {
			return err
		}
		return addCounts(tx, hourOf(row.CreatedAt), c)
	})
}

// addCounts adds c's counters of the hour, in one statement (its rows in
// domain order, so that concurrent writers lock them in one order).
func addCounts(tx *gorm.DB, hour int64, c counted) error {
	rows := c.rows()
	if len(rows) == 0 {
		return nil
	}
	var q strings.Builder
	q.WriteString("INSERT INTO policy_refusal_counts (hour, who, domain, reason, count) VALUES ")
	args := make([]any, 0, 5*len(rows))
	for i, r := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?)")
		args = append(args, hour, r.who, r.domain, r.reason, r.n)
	}
	q.WriteString(" ON CONFLICT (hour, who, domain, reason) DO UPDATE SET count = policy_refusal_counts.count + excluded.count")
	if err := tx.Exec(q.String(), args...).Error; err != nil {
		return fmt.Errorf("count refusal: %w", err)
	}
	return nil
}
