package workflow

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// ExplainRegisterForTest returns the plan the database makes of the
// statement of Register for a and f, one line per row of EXPLAIN (QUERY
// PLAN on SQLite).
func ExplainRegisterForTest(ctx context.Context, s *Service, a Actor, f RegisterFilter) ([]string, error) {
	a.Facts = nil
	var plan []string
	_, err := asCaller(ctx, s, a, func(ctx context.Context, a Actor) (struct{}, error) {
		q, err := s.checkRegisterFilter(f)
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, s.readPool(ctx, func(x *txn) error {
			getP := x.principal(a)
			regs := x.clerkRegistries(a.UserID)
			if err := x.run(); err != nil {
				return err
			}
			p, err := getP()
			if err != nil {
				return err
			}
			var out RegisterPage
			id, err := out.choose(p, regs(), q.f.Registry)
			if err != nil {
				return err
			}
			explain := "EXPLAIN QUERY PLAN "
			if s.isPostgres() {
				explain = "EXPLAIN "
			}
			db, err := x.db()
			if err != nil {
				return err
			}
			for _, part := range registerParts(q, s.isPostgres()) {
				sql, args, _ := registerStatement(p, id, q, part)
				plan = append(plan, fmt.Sprintf("-- part %d", part))
				if err := explainInto(ctx, s, db, explain+sql, args, &plan); err != nil {
					return err
				}
			}
			return nil
		})
	})
	return plan, err
}

func explainInto(ctx context.Context, s *Service, db *gorm.DB, sql string, args []any, plan *[]string) error {
	return scanRows(ctx, db, sql, args, func(r rowScanner) error {
		if s.isPostgres() {
			var line string
			if err := r.Scan(&line); err != nil {
				return err
			}
			*plan = append(*plan, line)
			return nil
		}
		var id, parent, unused int
		var detail string
		if err := r.Scan(&id, &parent, &unused, &detail); err != nil {
			return err
		}
		*plan = append(*plan, detail)
		return nil
	})
}

// RegisterCursorForTest is the cursor of the page after the entry id with
// key (a time in RFC 3339, or a due date) in the order sort.
func RegisterCursorForTest(sort RegisterSort, key string, id int64) string {
	return registerCursor{Sort: sort, Key: key, ID: id}.encode()
}
