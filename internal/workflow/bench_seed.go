package workflow

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"gorm.io/gorm"
)

// SeedRegisterForBenchmark writes n registered letters straight into the
// book of a registry, half incoming (from an outside party) and half
// outgoing (to no one), thirty seconds apart from 2025-01-01 00:00 UTC on,
// a third with a due date, every tenth confidential. On PostgreSQL it
// then refreshes the planner's statistics, as autovacuum would; SQLite
// has none unless ANALYZE is run, and Diwan does not run it. It is for benchmarks of large registers only: it
// bypasses the engine's rules, the audit log and the timeline, and
// assumes nothing else writes meanwhile.
func (s *Service) SeedRegisterForBenchmark(ctx context.Context, registry string, n int) error {
	r, err := s.registry(ctx, registry)
	if err != nil {
		return err
	}
	return s.db.Transaction(ctx, func(tx *gorm.DB) error {
		var id int64
		if err := tx.Raw(`SELECT id FROM registries WHERE code = ?`, r.Code).Scan(&id).Error; err != nil {
			return err
		}
		var base int64
		if err := tx.Raw(`SELECT COALESCE(MAX(id), 0) FROM correspondence`).Scan(&base).Error; err != nil {
			return err
		}
		var entryBase int64
		if err := tx.Raw(`SELECT COALESCE(MAX(id), 0) FROM registry_entries`).Scan(&entryBase).Error; err != nil {
			return err
		}
		// Numbers only are written into the statements; the code is an
		// argument.
		values := strings.NewReplacer("@n", strconv.Itoa(n), "@base", strconv.FormatInt(base, 10),
			"@ebase", strconv.FormatInt(entryBase, 10), "@reg", strconv.FormatInt(id, 10))
		for _, sql := range s.seedStatements() {
			var args []any
			if strings.Contains(sql, "@code") {
				sql, args = strings.Replace(sql, "@code", "?", 1), []any{r.Code}
			}
			if err := tx.Exec(values.Replace(sql), args...).Error; err != nil {
				return fmt.Errorf("seed register %s: %w", r.Code, err)
			}
		}
		return nil
	})
}

// seedStatements are the statements of SeedRegisterForBenchmark, with
// @n (letters), @base (the last correspondence id), @ebase (the last
// entry id), @reg (the registry's id) and @code in their place.
func (s *Service) seedStatements() []string {
	if s.isPostgres() {
		return []string{
			`INSERT INTO correspondence (id, kind, subject, body, classification, priority, sender_registry_id, sender_party,
	due_date, created_at, updated_at, frozen_at)
SELECT @base + g, 'letter', 'رسالة رقم ' || g, '', CASE WHEN g % 10 = 0 THEN 'confidential' ELSE 'normal' END,
	CASE g % 7 WHEN 0 THEN 'urgent' WHEN 1 THEN 'immediate' ELSE 'normal' END,
	CASE WHEN g % 2 = 0 THEN @reg::bigint END, CASE WHEN g % 2 = 1 THEN 'جهة خارجية ' || g ELSE '' END,
	'', t, t, t
FROM generate_series(1, @n::int) g, LATERAL (SELECT TIMESTAMPTZ '2025-01-01 00:00:00+00' + g * INTERVAL '30 seconds' AS t) ts`,
			`INSERT INTO registry_entries (id, correspondence_id, registry_id, direction, state, version, year, seq, number,
	registered_at, due_date, created_at, updated_at)
SELECT @ebase + g, @base + g, @reg, d, CASE WHEN g % 5 = 0 THEN 'closed' ELSE 'registered' END, 2, 2025, (g + 1) / 2,
	@code || CASE WHEN d = 'outgoing' THEN '/ص/2025/' ELSE '/و/2025/' END || lpad(((g + 1) / 2)::text, 7, '0'),
	t, CASE WHEN g % 3 = 0 THEN to_char(t + INTERVAL '7 days', 'YYYY-MM-DD') ELSE '' END, t, t
FROM generate_series(1, @n::int) g,
	LATERAL (SELECT TIMESTAMPTZ '2025-01-01 00:00:00+00' + g * INTERVAL '30 seconds' AS t,
		CASE WHEN g % 2 = 0 THEN 'outgoing' ELSE 'incoming' END AS d) ts`,
			`SELECT setval('correspondence_id_seq', (SELECT MAX(id) FROM correspondence))`,
			`SELECT setval('registry_entries_id_seq', (SELECT MAX(id) FROM registry_entries))`,
			`ANALYZE correspondence`,
			`ANALYZE registry_entries`,
		}
	}
	// SQLite keeps times as the driver writes them, as time.Time's
	// String: "2006-01-02 15:04:05 +0000 UTC" for a whole second in UTC.
	const t = `strftime('%Y-%m-%d %H:%M:%S', '2025-01-01', '+' || (g * 30) || ' seconds') || ' +0000 UTC'`
	return []string{
		`WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < @n)
INSERT INTO correspondence (id, kind, subject, body, classification, priority, sender_registry_id, sender_party,
	due_date, created_at, updated_at, frozen_at)
SELECT @base + g, 'letter', 'رسالة رقم ' || g, '', CASE WHEN g % 10 = 0 THEN 'confidential' ELSE 'normal' END,
	CASE g % 7 WHEN 0 THEN 'urgent' WHEN 1 THEN 'immediate' ELSE 'normal' END,
	CASE WHEN g % 2 = 0 THEN @reg END, CASE WHEN g % 2 = 1 THEN 'جهة خارجية ' || g ELSE '' END,
	'', ` + t + `, ` + t + `, ` + t + ` FROM s`,
		`WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < @n)
INSERT INTO registry_entries (id, correspondence_id, registry_id, direction, state, version, year, seq, number,
	registered_at, due_date, created_at, updated_at)
SELECT @ebase + g, @base + g, @reg, CASE WHEN g % 2 = 0 THEN 'outgoing' ELSE 'incoming' END,
	CASE WHEN g % 5 = 0 THEN 'closed' ELSE 'registered' END, 2, 2025, (g + 1) / 2,
	@code || CASE WHEN g % 2 = 0 THEN '/ص/2025/' ELSE '/و/2025/' END || printf('%07d', (g + 1) / 2),
	` + t + `, CASE WHEN g % 3 = 0 THEN date('2025-01-01', '+' || (g * 30) || ' seconds', '+7 days') ELSE '' END,
	` + t + `, ` + t + ` FROM s`,
	}
}
