package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/db"
)

// The organisation: registries (organisation_registries.go), departments
// (organisation_departments.go) and where users work
// (organisation_members.go). The service files decide; their statements
// are the store's (store_organisation.go); ministries, domains and users
// are asked of the directory (Directory), before a change's transaction.

// maxListAll bounds the organisation lists returned whole.
const maxListAll = 10000

// change runs fn in one transaction: a change, its timeline and its audit
// events commit together or not at all.
func (s *Service) change(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.db.Transaction(ctx, func(tx *gorm.DB) error {
		if err := fn(tx); err != nil {
			return err
		}
		if s.beforeCommit != nil {
			return s.beforeCommit(tx)
		}
		return nil
	})
}

func (s *Service) appendAudit(ctx context.Context, tx *gorm.DB, p *principal, action, target string, details map[string]any) error {
	return s.audit.Append(ctx, tx, audit.Event{Actor: p.auditName(), Action: action, Target: target, Details: details})
}

// orgError translates an error of a change to an organisation object
// ("registry MOCT", "department MOCT/LEGAL", "user ali@mof.gov.sy").
func orgError(what, object string, err error) error {
	switch {
	case isPublic(err):
		return err
	case db.IsUniqueViolation(err):
		return fmt.Errorf("%s: %w", object, ErrExists)
	}
	return fmt.Errorf("%s %s: %w", what, object, err)
}

// asNotFound turns an *InputError (a name that names nothing) into
// ErrNotFound of object, for reads that name what they read.
func asNotFound(object string, err error) error {
	var ie *InputError
	if errors.As(err, &ie) {
		return fmt.Errorf("%s: %w", object, ErrNotFound)
	}
	return err
}

func checkTemplate(t string) (string, error) {
	t = strings.TrimSpace(t)
	if t == "" {
		t = DefaultTemplate
	}
	if _, err := parseTemplate(t); err != nil {
		return "", err
	}
	return t, nil
}

// applyNames sets the Arabic and English names an update gives (nil: not
// given), checked, and notes each in the audit details.
func applyNames(nameAR, nameEN *string, ar, en *string, details map[string]any) error {
	var err error
	if ar != nil {
		if *nameAR, err = cleanLine("name_ar", "the Arabic name", *ar, maxNameChars, true); err != nil {
			return err
		}
		details["name_ar"] = *nameAR
	}
	if en != nil {
		if *nameEN, err = cleanLine("name_en", "the English name", *en, maxNameChars, true); err != nil {
			return err
		}
		details["name_en"] = *nameEN
	}
	return nil
}

// cleanNames checks a new object's Arabic and English names (both
// required).
func cleanNames(ar, en string) (string, string, error) {
	nameAR, err := cleanLine("name_ar", "the Arabic name", ar, maxNameChars, true)
	if err != nil {
		return "", "", err
	}
	nameEN, err := cleanLine("name_en", "the English name", en, maxNameChars, true)
	if err != nil {
		return "", "", err
	}
	return nameAR, nameEN, nil
}
