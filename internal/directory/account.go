package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"gorm.io/gorm"
)

// What users change of their own account: their password (which clears
// MustChangePassword) and the language of their web UI.

// Languages are the web UI languages a user may choose, the default first.
var Languages = []string{"ar", "en"}

// ChangePassword is a user's change of their own password. The current
// password is checked as a login is (Authenticate, with the client of
// ctx: failures count towards the lockout, and a locked or disabled
// account is refused alike); the new one must pass the password rules and
// differ from the current one. Success clears MustChangePassword and is
// the audit event "user.passwd" by the user.
//
// A wrong current password is an *InputError for "current_password" (the
// caller is logged in: it tells them nothing about the account they do
// not know); a bad new one an *InputError for "new_password".
func (s *Service) ChangePassword(ctx context.Context, login, current, next string) error {
	if current == "" {
		return inputErr("current_password", "enter your current password")
	}
	if err := s.checkPassword(next); err != nil {
		var ie *InputError
		if errors.As(err, &ie) {
			return inputErr("new_password", ie.Message)
		}
		return err
	}
	if preparePassword(next) == preparePassword(current) {
		return inputErr("new_password", "the new password must differ from the current one")
	}
	u, err := s.Authenticate(ctx, login, current)
	if errors.Is(err, ErrInvalidCredentials) {
		return inputErr("current_password", "the current password is not right")
	}
	if err != nil {
		return err
	}
	return s.SetPassword(ctx, "user:"+u.Login, u.Login, next, false)
}

// SetLanguage records the web UI language a user chose (one of
// Languages), as the audit event "user.language" by actor. Choosing the
// language already recorded changes nothing and writes no event. Another
// value is an *InputError for "language".
func (s *Service) SetLanguage(ctx context.Context, actor, login, language string) error {
	if !slices.Contains(Languages, language) {
		return inputErr("language", fmt.Sprintf("%s is not a language of the web interface; choose one of %v", show(language), Languages))
	}
	return s.updateUser(ctx, "set language of", login, func(tx *gorm.DB, r userRow) (map[string]any, func() error, error) {
		if r.Language == language {
			return nil, nil, nil
		}
		return map[string]any{"language": language, "updated_at": s.clock()}, func() error {
			return s.appendEvent(ctx, tx, actor, "user.language", "user:"+r.Login,
				map[string]any{"language": language, "previous": r.Language})
		}, nil
	})
}

// MinPasswordLength is the least number of characters of a new password.
func (s *Service) MinPasswordLength() int { return s.minPassword }
