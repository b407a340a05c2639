package workflow

import "gorm.io/gorm"

// SetBeforeCommitForTest makes every changing transaction of s call fn
// after its writes and audit events, just before commit; an error from fn
// rolls the transaction back.
func SetBeforeCommitForTest(s *Service, fn func(tx *gorm.DB) error) { s.beforeCommit = fn }

// SetAfterSendForTest makes every round trip of s's batched calls tell fn
// how many statements it sent (PostgreSQL).
func SetAfterSendForTest(s *Service, fn func(statements int)) { s.afterSend = fn }

// DisplayNameForTest is displayName.
func DisplayNameForTest(name string) string { return displayName(name) }

// FormatNumberForTest parses tmpl and formats a number with it.
func FormatNumberForTest(tmpl, registry string, d Direction, year int, seq int64) (string, error) {
	t, err := parseTemplate(tmpl)
	if err != nil {
		return "", err
	}
	return t.format(registry, d, year, seq), nil
}

// RulesForTest lists the entry rules as (direction, action, from, to).
func RulesForTest() [][4]string {
	var out [][4]string
	for _, r := range entryRules {
		for _, f := range r.from {
			out = append(out, [4]string{string(r.dir), string(r.action), string(f), string(r.to)})
		}
	}
	return out
}

// FoldSearch is foldSearch.
func FoldSearch(s string) string { return foldSearch(s) }
