package directory

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/alexedwards/argon2id"
	"golang.org/x/text/unicode/norm"
	"gorm.io/gorm"
)

// Password rules.
const (
	minPasswordFloor = 8    // characters; Options.MinPasswordLength may raise it
	maxPasswordBytes = 1024 // octets of UTF-8
)

// checkPassword applies the rules for a new password.
func (s *Service) checkPassword(pw string) error {
	if !utf8.ValidString(pw) {
		return inputErr("password", "the password is not valid UTF-8 text")
	}
	if utf8.RuneCountInString(pw) < s.minPassword {
		return inputErr("password", fmt.Sprintf("password must have at least %d characters", s.minPassword))
	}
	if len(pw) > maxPasswordBytes {
		return inputErr("password", fmt.Sprintf("password must have at most %d bytes", maxPasswordBytes))
	}
	return nil
}

// preparePassword is what is hashed: the password in Unicode NFC, as the
// OpaqueString profile of RFC 8265 §4.2 asks, so that one password typed
// on two systems that compose accents differently still matches.
func preparePassword(pw string) string {
	if !utf8.ValidString(pw) {
		return pw // cannot match: no stored password is invalid UTF-8
	}
	return norm.NFC.String(pw)
}

// hashSlot waits for one of MaxConcurrentHashes slots, so that a burst of
// logins cannot take more than n × HashParams.Memory.
func (s *Service) hashSlot(ctx context.Context) (release func(), err error) {
	select {
	case s.hashSem <- struct{}{}:
		return func() { <-s.hashSem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	release, err := s.hashSlot(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	h, err := argon2id.CreateHash(preparePassword(pw), &s.params)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// compare checks pw against an argon2id hash in constant time and returns
// the hash's parameters.
func (s *Service) compare(ctx context.Context, pw, hash string) (bool, *argon2id.Params, error) {
	release, err := s.hashSlot(ctx)
	if err != nil {
		return false, nil, err
	}
	defer release()
	s.hashChecks.Add(1)
	return argon2id.CheckHash(preparePassword(pw), hash)
}

// checked is the outcome of one password check.
type checked struct {
	ok     bool
	params *argon2id.Params
}

// verifiedCompare is compare, shared by concurrent logins of the same user
// with the same password against the same hash (a mail client opening
// several connections at once): one check runs and all get its outcome,
// each then counting its own failure or success. Without the cache every
// login checks on its own.
func (s *Service) verifiedCompare(ctx context.Context, userID int64, password, prepared, hash string) (bool, *argon2id.Params, error) {
	if s.verified == nil {
		return s.compare(ctx, password, hash)
	}
	mac := s.verified.sum(hash, prepared)
	key := strconv.FormatInt(userID, 10) + ":" + string(mac[:])
	v, err, _ := s.checking.Do(key, func() (any, error) {
		// Not the caller's context: the check is shared, and one caller
		// leaving must not fail the others.
		ok, params, err := s.compare(context.WithoutCancel(ctx), password, hash)
		return checked{ok, params}, err
	})
	if err != nil {
		return false, nil, err
	}
	c := v.(checked)
	return c.ok, c.params, nil
}

// spend does the work of one password check against a dummy hash with the
// current parameters, so that a refusal that needs no check (unknown
// login, disabled or locked account) takes as long as one that does.
func (s *Service) spend(ctx context.Context, pw string) {
	s.dummyOnce.Do(func() {
		h, err := argon2id.CreateHash(GeneratePassword(), &s.params)
		if err != nil {
			panic(err) // only a broken crypto/rand; CreateHash has no other failure
		}
		s.dummyHash = h
	})
	_, _, _ = s.compare(ctx, pw, s.dummyHash)
}

type clientKey struct{}

// WithClient returns ctx carrying who is attempting a login, as an audit
// actor: "smtp:203.0.113.5", "imap:203.0.113.5", "http:203.0.113.5".
// Authenticate records it on the audit events of refused logins; without
// it the actor is "system".
func WithClient(ctx context.Context, client string) context.Context {
	return context.WithValue(ctx, clientKey{}, client)
}

func clientFrom(ctx context.Context) string {
	if c, ok := ctx.Value(clientKey{}).(string); ok && c != "" {
		return c
	}
	return "system"
}

// Authenticate checks a login (an address in any spelling, or
// BootstrapLogin) and password; it is the one check behind SMTP AUTH, IMAP
// LOGIN/AUTHENTICATE and the web and API sessions.
//
// Every refusal is the same ErrInvalidCredentials — unknown login, wrong
// password, disabled account, locked account — and takes the same time:
// where no real check is made, a dummy hash is checked instead. A locked
// account's password is not checked at all (guessing during a lockout
// learns nothing). The real reason is logged (info) and recorded as a
// "user.login_failed" audit event for well-formed logins; a wrong password
// counts towards the lockout, and the failure that reaches
// LockoutThreshold locks the account for LockoutDuration ("user.locked")
// and restarts the count. Success resets the count and, if the hash was
// made with other parameters than HashParams, rehashes the password.
//
// A successful login with MustChangePassword set is still a success; the
// interactive front ends make the user change the password. Any other
// error (database, cancelled context) is not a credentials answer.
func (s *Service) Authenticate(ctx context.Context, login, password string) (User, error) {
	client := clientFrom(ctx)
	canon, err := CanonicalLogin(login)
	if err != nil {
		s.spend(ctx, password)
		s.log.Info("login refused", slog.String("reason", "malformed login"), slog.String("login", show(login)), slog.String("client", client))
		return User{}, ErrInvalidCredentials
	}
	var row userRow
	err = s.db.Read.WithContext(ctx).Where("login = ?", canon).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		s.spend(ctx, password)
		s.refuse(ctx, client, canon, "unknown login", nil)
		return User{}, ErrInvalidCredentials
	}
	if err != nil {
		return User{}, fmt.Errorf("authenticate %s: %w", canon, err)
	}
	now := s.clock()
	switch {
	case row.Disabled:
		s.spend(ctx, password)
		s.refuse(ctx, client, canon, "disabled", nil)
		return User{}, ErrInvalidCredentials
	case row.LockedUntil != nil && row.LockedUntil.After(now):
		s.spend(ctx, password)
		s.refuse(ctx, client, canon, "locked", map[string]any{"locked_until": row.LockedUntil.Format(time.RFC3339)})
		return User{}, ErrInvalidCredentials
	}
	prepared := preparePassword(password)
	if s.verified.hit(row.ID, row.PasswordHash, prepared, now) {
		// Verified against this very hash a moment ago (authcache.go).
		params, _, _, err := argon2id.DecodeHash(row.PasswordHash)
		if err != nil {
			params = nil
		}
		return s.succeed(ctx, row, params, password)
	}
	ok, params, err := s.verifiedCompare(ctx, row.ID, password, prepared, row.PasswordHash)
	if ctx.Err() != nil {
		return User{}, ctx.Err()
	}
	if err != nil {
		// A hash that cannot be read is a bug or tampering: loud, and refused.
		s.log.Error("stored password hash unreadable", slog.String("login", canon), slog.Any("err", err))
		return User{}, ErrInvalidCredentials
	}
	if !ok {
		s.wrongPassword(ctx, client, row.ID, canon)
		return User{}, ErrInvalidCredentials
	}
	s.verified.add(row.ID, row.PasswordHash, prepared, now)
	return s.succeed(ctx, row, params, password)
}

// refuse logs a refused login and records it as an audit event (which the
// caller does not wait on for its answer: a failure here is only logged).
func (s *Service) refuse(ctx context.Context, client, login, reason string, details map[string]any) {
	s.log.Info("login refused", slog.String("reason", reason), slog.String("login", login), slog.String("client", client))
	if details == nil {
		details = map[string]any{}
	}
	details["reason"] = reason
	err := s.change(ctx, func(tx *gorm.DB) error {
		return s.appendEvent(ctx, tx, client, "user.login_failed", "user:"+login, details)
	})
	if err != nil {
		s.log.Error("record refused login", slog.String("login", login), slog.Any("err", err))
	}
}

// wrongPassword counts a failed password check and locks the account when
// the count reaches the threshold.
func (s *Service) wrongPassword(ctx context.Context, client string, id int64, login string) {
	var failed int
	var lockedUntil time.Time
	err := s.change(ctx, func(tx *gorm.DB) error {
		r, err := lockUser(ctx, tx, login)
		if err != nil {
			return err
		}
		now := s.clock()
		if r.ID != id || (r.LockedUntil != nil && r.LockedUntil.After(now)) {
			// Replaced or locked meanwhile by a concurrent failure: this
			// attempt was refused either way; do not extend the lock.
			return s.appendEvent(ctx, tx, client, "user.login_failed", "user:"+login,
				map[string]any{"reason": "wrong password"})
		}
		failed = r.FailedLogins + 1
		changes := map[string]any{"failed_logins": failed}
		if s.lockThreshold > 0 && failed >= s.lockThreshold {
			lockedUntil = now.Add(s.lockDuration)
			changes = map[string]any{"failed_logins": 0, "locked_until": lockedUntil}
		}
		if err := tx.Model(&userRow{}).Where("id = ?", r.ID).Updates(changes).Error; err != nil {
			return err
		}
		if err := s.appendEvent(ctx, tx, client, "user.login_failed", "user:"+login,
			map[string]any{"reason": "wrong password", "failed_logins": failed}); err != nil {
			return err
		}
		if lockedUntil.IsZero() {
			return nil
		}
		return s.appendEvent(ctx, tx, client, "user.locked", "user:"+login,
			map[string]any{"failed_logins": failed, "locked_until": lockedUntil.Format(time.RFC3339)})
	})
	if err != nil {
		s.log.Error("record failed login", slog.String("login", login), slog.Any("err", err))
		return
	}
	s.log.Info("login refused", slog.String("reason", "wrong password"), slog.String("login", login),
		slog.String("client", client), slog.Int("failed_logins", failed))
	if !lockedUntil.IsZero() {
		s.log.Warn("account locked", slog.String("login", login), slog.String("client", client),
			slog.Int("failed_logins", failed), slog.Time("until", lockedUntil))
	}
}

// succeed finishes a good login: resets the failure count and lock, and
// rehashes an old-parameter hash. The common case (nothing to reset, hash
// current) writes nothing.
func (s *Service) succeed(ctx context.Context, row userRow, params *argon2id.Params, password string) (User, error) {
	rehash := params == nil || *params != s.params
	if row.FailedLogins != 0 || row.LockedUntil != nil || rehash {
		var newHash string
		if rehash {
			h, err := s.hash(ctx, password)
			if err != nil {
				return User{}, err
			}
			newHash = h
		}
		err := s.change(ctx, func(tx *gorm.DB) error {
			r, err := lockUser(ctx, tx, row.Login)
			if err != nil {
				return err
			}
			// Disabled or locked (by a concurrent failure) since the check.
			if r.ID != row.ID || r.Disabled || (r.LockedUntil != nil && r.LockedUntil.After(s.clock())) {
				return ErrInvalidCredentials
			}
			changes := map[string]any{"failed_logins": 0, "locked_until": nil}
			// A hash changed meanwhile (new password, or a concurrent
			// login's rehash) is kept.
			if newHash != "" && r.PasswordHash == row.PasswordHash {
				changes["password_hash"] = newHash
			}
			return tx.Model(&userRow{}).Where("id = ?", r.ID).Updates(changes).Error
		})
		if errors.Is(err, ErrInvalidCredentials) {
			s.log.Info("login refused", slog.String("reason", "account changed during the check"), slog.String("login", row.Login))
			return User{}, err
		}
		if err != nil {
			return User{}, fmt.Errorf("authenticate %s: %w", row.Login, err)
		}
	}
	u, err := s.userByCanonical(ctx, s.db.Gorm, row.Login)
	if err != nil {
		return User{}, fmt.Errorf("authenticate %s: %w", row.Login, err)
	}
	return u, nil
}

// passwordAlphabet has no look-alikes (0 O o, 1 l I, 5 S, 2 Z, 8 B): 50
// symbols, log2(50) ≈ 5.6 bits each.
const passwordAlphabet = "abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY34679"

// GeneratePassword returns a new random password of 20 characters from a
// readable alphabet in four groups of five ("k7dqa-Nw3hx-…"), about 112
// bits, read from crypto/rand.
func GeneratePassword() string {
	const groups, size = 4, 5
	var b strings.Builder
	buf := make([]byte, 64)
	n := 0
	for n < groups*size {
		rand.Read(buf) // never fails (Go 1.24+: it crashes the program instead)
		for _, c := range buf {
			// Rejection sampling keeps every symbol equally likely.
			if int(c) >= 256/len(passwordAlphabet)*len(passwordAlphabet) {
				continue
			}
			if n > 0 && n%size == 0 {
				b.WriteByte('-')
			}
			b.WriteByte(passwordAlphabet[int(c)%len(passwordAlphabet)])
			if n++; n == groups*size {
				break
			}
		}
	}
	return b.String()
}
