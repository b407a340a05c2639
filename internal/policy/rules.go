package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/input"
)

// Actions of a rule.
const (
	Allow = "allow"
	Deny  = "deny"
)

// maxNoteChars bounds a rule's note.
const maxNoteChars = 500

// maxRules bounds the rules loaded and listed.
const maxRules = 100000

// Rule is an administrator's allow or deny rule.
type Rule struct {
	// Pattern is canonical: "gov.sy" names that exact domain, ".gov.sy"
	// the domain and every subdomain.
	Pattern   string
	Action    string // Allow or Deny
	Note      string
	CreatedBy string // audit actor of whoever set it: "cli:root", "user:…"
	CreatedAt time.Time
}

// Suffix reports whether the rule names a domain and its subdomains.
func (r Rule) Suffix() bool { return strings.HasPrefix(r.Pattern, ".") }

type ruleRow struct {
	ID        int64 `gorm:"primaryKey"`
	Pattern   string
	Action    string
	Note      string
	CreatedBy string
	CreatedAt time.Time
}

func (ruleRow) TableName() string { return "policy_rules" }

func (r ruleRow) rule() Rule {
	return Rule{Pattern: r.Pattern, Action: r.Action, Note: r.Note, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC()}
}

// CanonicalPattern returns the stored form of a rule pattern: a domain in
// canonical form ("MOF.Gov.SY." → "mof.gov.sy"), with its leading dot kept
// for a suffix rule (".gov.sy"). Anything else is an *InputError for the
// field "pattern".
func CanonicalPattern(p string) (string, error) {
	p = strings.TrimSpace(p)
	dot := strings.HasPrefix(p, ".")
	canon, err := directory.CanonicalDomain(strings.TrimPrefix(p, "."))
	if err != nil {
		var ie *input.Error
		if errors.As(err, &ie) {
			return "", &input.Error{Field: "pattern", Message: ie.Message +
				` (a pattern is a domain, "gov.sy", or a dot and a domain, ".gov.sy", for it and its subdomains)`}
		}
		return "", err
	}
	if dot {
		return "." + canon, nil
	}
	return canon, nil
}

// Rules lists the rules by pattern.
func (s *Service) Rules(ctx context.Context) ([]Rule, error) {
	rules, err := s.rules(ctx)
	if err != nil {
		return nil, fmt.Errorf("list policy rules: %w", err)
	}
	return rules, nil
}

func (s *Service) rules(ctx context.Context) ([]Rule, error) {
	var rows []ruleRow
	if err := s.db.Writer().WithContext(ctx).Order("pattern").Limit(maxRules).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]Rule, len(rows))
	for i, r := range rows {
		out[i] = r.rule()
	}
	return out, nil
}

// NationalSuffixes returns the configured suffix rules (".gov.sy"), sorted.
func (s *Service) NationalSuffixes() []string {
	out := make([]string, 0, len(s.suffixes))
	for d := range s.suffixes {
		out = append(out, "."+d)
	}
	slices.Sort(out)
	return out
}

// Allow sets an allow rule for the pattern, replacing a rule of the same
// pattern (a deny becomes an allow). The change is the audit event
// "policy.allow" and applies in every process within seconds.
func (s *Service) Allow(ctx context.Context, actor, pattern, note string) (Rule, error) {
	return s.set(ctx, actor, Allow, pattern, note, true)
}

// Deny sets a deny rule for the pattern, replacing a rule of the same
// pattern ("policy.deny").
func (s *Service) Deny(ctx context.Context, actor, pattern, note string) (Rule, error) {
	return s.set(ctx, actor, Deny, pattern, note, true)
}

// set writes the rule of the pattern; a rule of that pattern is replaced
// when replace is set, else ErrExists.
func (s *Service) set(ctx context.Context, actor, action, pattern, note string, replace bool) (Rule, error) {
	p, err := CanonicalPattern(pattern)
	if err != nil {
		return Rule{}, err
	}
	note, err = cleanNote(note)
	if err != nil {
		return Rule{}, err
	}
	row := ruleRow{Pattern: p, Action: action, Note: note, CreatedBy: actor,
		CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
	err = s.db.Transaction(ctx, func(tx *gorm.DB) error {
		var old []ruleRow
		if err := tx.Where("pattern = ?", p).Limit(1).Find(&old).Error; err != nil {
			return err
		}
		details := map[string]any{"note": note}
		if len(old) > 0 && !replace {
			return fmt.Errorf("policy rule %s (%s): %w", p, old[0].Action, ErrExists)
		}
		if len(old) > 0 {
			details["previous"] = old[0].Action
			row.ID = old[0].ID
			if err := tx.Save(&row).Error; err != nil {
				return err
			}
		} else if err := tx.Create(&row).Error; err != nil {
			return err
		}
		if err := bumpVersion(tx); err != nil {
			return err
		}
		return s.audit.Append(ctx, tx, audit.Event{Actor: actor, Action: "policy." + action, Target: "policy:" + p, Details: details})
	})
	if errors.Is(err, ErrExists) {
		return Rule{}, err
	}
	if err != nil {
		return Rule{}, fmt.Errorf("policy %s %s: %w", action, p, err)
	}
	s.invalidate()
	return row.rule(), nil
}

// Remove deletes the rule of the pattern ("policy.remove"), or returns
// ErrNotFound. Configured suffixes and hosted domains are not rules.
func (s *Service) Remove(ctx context.Context, actor, pattern string) error {
	p, err := CanonicalPattern(pattern)
	if err != nil {
		return err
	}
	err = s.db.Transaction(ctx, func(tx *gorm.DB) error {
		var old []ruleRow
		if err := tx.Where("pattern = ?", p).Limit(1).Find(&old).Error; err != nil {
			return err
		}
		if len(old) == 0 {
			return fmt.Errorf("policy rule %s: %w", p, ErrNotFound)
		}
		if err := tx.Delete(&ruleRow{}, old[0].ID).Error; err != nil {
			return err
		}
		if err := bumpVersion(tx); err != nil {
			return err
		}
		return s.audit.Append(ctx, tx, audit.Event{Actor: actor, Action: "policy.remove", Target: "policy:" + p,
			Details: map[string]any{"action": old[0].Action, "note": old[0].Note}})
	})
	if errors.Is(err, ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("policy remove %s: %w", p, err)
	}
	s.invalidate()
	return nil
}

func bumpVersion(tx *gorm.DB) error {
	return tx.Table("policy_state").Where("id = ?", 1).Update("version", gorm.Expr("version + 1")).Error
}

func cleanNote(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", input.Invalid("note", "the note is not valid UTF-8 text")
	}
	s = norm.NFC.String(strings.TrimSpace(s))
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", input.Invalid("note", "the note contains a control character")
		}
	}
	if n := utf8.RuneCountInString(s); n > maxNoteChars {
		return "", input.Invalid("note", fmt.Sprintf("the note has %d characters; the limit is %d", n, maxNoteChars))
	}
	return s, nil
}
