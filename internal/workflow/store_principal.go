package workflow

import (
	"context"
	"strconv"
	"strings"

	"gorm.io/gorm"
)

// The statements of who is calling (principal.go): the engine's own facts
// of a user, from the workflow's tables only, and the version of
// org_state.

// ownFactsQuery reads, in one statement (one snapshot, one round trip),
// the version of org_state and a user's department, clearance, the
// registries they clerk for and the departments they head with all below
// them (the two lists comma-separated).
const ownFactsQuery = `WITH RECURSIVE sub(id) AS (
	SELECT id FROM departments WHERE head_user_id = ?
	UNION SELECT d.id FROM departments d JOIN sub ON d.parent_id = sub.id
)
SELECT o.version,
	COALESCE((SELECT ms.department_id FROM memberships ms WHERE ms.user_id = ?), 0),
	COALESCE((SELECT ms.clearance FROM memberships ms WHERE ms.user_id = ?), ''),
	COALESCE((SELECT string_agg(CAST(rc.registry_id AS TEXT), ',') FROM registry_clerks rc WHERE rc.user_id = ?), ''),
	COALESCE((SELECT string_agg(CAST(sub.id AS TEXT), ',') FROM sub), '')
FROM org_state o WHERE o.id = 1`

// orgVersionQuery reads the version of org_state.
const orgVersionQuery = `SELECT version FROM org_state WHERE id = 1`

func ownFactsArgs(userID int64) []any { return []any{userID, userID, userID, userID} }

// scanOwnFacts scans the row of ownFactsQuery into f.
func scanOwnFacts(f *versioned[ownFacts]) func(r rowScanner) error {
	return func(r rowScanner) error {
		var clerkOf, heads string
		if err := r.Scan(&f.version, &f.v.department, &f.v.clearance, &clerkOf, &heads); err != nil {
			return err
		}
		var err error
		if f.v.clerkOf, err = parseIDs(clerkOf); err != nil {
			return err
		}
		f.v.heads, err = parseIDs(heads)
		return err
	}
}

// parseIDs reads a comma-separated list of ids.
func parseIDs(s string) ([]int64, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	out := make([]int64, len(parts))
	for i, p := range parts {
		id, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return nil, err
		}
		out[i] = id
	}
	return out, nil
}

// ownFacts queues the read of a user's own facts with the version; they
// are there once x has run (version -1 when org_state had no row).
func (x *txn) ownFacts(userID int64) *versioned[ownFacts] {
	f := &versioned[ownFacts]{version: -1}
	x.query(ownFactsQuery, ownFactsArgs(userID), scanOwnFacts(f))
	return f
}

// orgVersion queues the read of org_state's version; it is there once x
// has run (-1 when org_state had no row).
func (x *txn) orgVersion() *int64 {
	v := new(int64)
	*v = -1
	x.query(orgVersionQuery, nil, func(r rowScanner) error { return r.Scan(v) })
	return v
}

// readOwnFacts reads a user's own facts with the version, with q.
func readOwnFacts(ctx context.Context, q *gorm.DB, userID int64) (versioned[ownFacts], error) {
	f := versioned[ownFacts]{version: -1}
	err := scanRows(ctx, q, ownFactsQuery, ownFactsArgs(userID), scanOwnFacts(&f))
	return f, err
}
