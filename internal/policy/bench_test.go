package policy_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/policy"
)

// BenchmarkDecide decides among 10,000 rules (half suffix, half exact,
// a tenth of them deny) for a mix of national, foreign and look-alike
// domains. The issue asks for at most 2 µs a decision.
func BenchmarkDecide(b *testing.B) {
	d := dbtest.Open(b, db.SQLite)
	ctx := context.Background()
	now := time.Now().UTC()
	err := d.Transaction(ctx, func(tx *gorm.DB) error {
		for i := range 10000 {
			pattern := fmt.Sprintf("m%d.gov%d.sy", i, i%97)
			if i%2 == 0 {
				pattern = "." + pattern
			}
			action := policy.Allow
			if i%10 == 0 {
				action = policy.Deny
			}
			if err := tx.Exec("INSERT INTO policy_rules (pattern, action, note, created_by, created_at) VALUES (?, ?, '', 'bench', ?)",
				pattern, action, now).Error; err != nil {
				return err
			}
		}
		return tx.Exec("UPDATE policy_state SET version = version + 1").Error
	})
	if err != nil {
		b.Fatal(err)
	}
	p, err := policy.New(d, policy.Options{NationalSuffixes: []string{"gov.sy"}})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Refresh(ctx); err != nil {
		b.Fatal(err)
	}
	inputs := []string{"ali@moct.gov.sy", "x@a.m12.gov12.sy", "victim@gmail.com", "gov.sy.evil.test",
		"evilgov.sy", "m\u043ef.gov.sy", "m5.gov5.sy", "deep.sub.m40.gov40.sy"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := p.Decide(ctx, policy.Outbound, inputs[i%len(inputs)]); err != nil {
			b.Fatal(err)
		}
	}
}
