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

	"diwan.gov.sy/diwan/internal/audit"
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
	start := time.Now()
	ok, params, err := argon2id.CheckHash(preparePassword(pw), hash)
	s.noteCheck(time.Since(start))
	return ok, params, err
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
	_, _, _ = s.compare(ctx, pw, s.dummy())
}

// dummy returns the dummy hash, made (and timed, as a first measure of a
// check) at first use.
func (s *Service) dummy() string {
	s.dummyOnce.Do(func() {
		start := time.Now()
		h, err := argon2id.CreateHash(GeneratePassword(), &s.params)
		if err != nil {
			panic(err) // only a broken crypto/rand; CreateHash has no other failure
		}
		s.checkCost.CompareAndSwap(0, int64(time.Since(start)))
		s.dummyHash = h
	})
	return s.dummyHash
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
// password, disabled account, refused address, locked account — and none
// tells which it is by its time: an unknown login or a disabled account
// checks the password against a dummy hash; a refusal that needs no check
// at all waits as long as a recent check took, holding no CPU.
//
// Failures are counted per client address (WithClient) and per account
// and address (throttle.go). Before anything else, an address that has
// failed AddressMaxFailures times within LockoutDuration is refused, and
// from half of that on its answers are delayed. An address that has
// failed LockoutThreshold times for one account is refused for that
// account for LockoutDuration ("user.address_locked"), its password not
// checked; the account locks for everyone ("user.locked") only when
// LockoutAddresses addresses are refused for it at once. A locked
// account's password is not checked either (guessing during a lockout
// learns nothing). The real reason is logged (info) and recorded as a
// "user.login_failed" audit event; refusals that need no check are summed
// per client, account and reason, one event a minute. Success clears the
// address's count for the account and the account's lock and, if the
// hash was made with other parameters than HashParams, rehashes the
// password.
//
// A successful login with MustChangePassword set is still a success; the
// interactive front ends make the user change the password. Any other
// error (database, cancelled context) is not a credentials answer.
func (s *Service) Authenticate(ctx context.Context, login, password string) (_ User, err error) {
	client := clientFrom(ctx)
	addr := clientAddress(client)
	refuseAddress := func() (User, error) {
		// Before anything that costs: no database read, no hash.
		s.refuseUnchecked(ctx, client, "address:"+addr, "address throttled", nil)
		if err := pause(ctx, s.addresses.delay); err != nil {
			return User{}, err
		}
		return User{}, ErrInvalidCredentials
	}
	att, refused := s.addresses.admit(addr, s.clock())
	if refused {
		return refuseAddress()
	}
	// The address's attempts take turns once it has failed, a slowed
	// address's each delayed in its turn (throttle.go).
	release, suspect, err := att.turn(ctx)
	if errors.Is(err, errAddressRefused) {
		att.done(false)
		return refuseAddress()
	}
	defer func() { att.done(errors.Is(err, ErrInvalidCredentials)) }()
	if err != nil {
		return User{}, err
	}
	defer func() { release() }()
	canon, err := CanonicalLogin(login)
	if err != nil {
		s.spendAs(ctx, suspect, password)
		s.log.Info("login refused", slog.String("reason", "malformed login"), slog.String("login", show(login)), slog.String("client", client))
		return User{}, ErrInvalidCredentials
	}
	var rows []loginView
	err = s.db.Reader().WithContext(ctx).Table("users").
		Select("users.*, login_failures.failures AS pair_failures, login_failures.locked_until AS pair_locked_until").
		Joins("LEFT JOIN login_failures ON login_failures.user_id = users.id AND login_failures.address = ?", addr).
		Where("users.login = ?", canon).Limit(1).Scan(&rows).Error
	if err != nil {
		return User{}, fmt.Errorf("authenticate %s: %w", canon, err)
	}
	if len(rows) == 0 {
		s.spendAs(ctx, suspect, password)
		s.refuse(ctx, client, canon, "unknown login", nil)
		return User{}, ErrInvalidCredentials
	}
	row, pair := rows[0].Row, rows[0]
	now := s.clock()
	switch {
	case row.Disabled:
		s.spendAs(ctx, suspect, password)
		s.refuse(ctx, client, canon, "disabled", nil)
		return User{}, ErrInvalidCredentials
	case row.LockedUntil != nil && row.LockedUntil.After(now):
		s.refuseUnchecked(ctx, client, "user:"+canon, "locked", map[string]any{"locked_until": row.LockedUntil.Format(time.RFC3339)})
		release()
		release = func() {}
		return User{}, s.waitLikeACheck(ctx)
	case pair.PairLockedUntil != nil && pair.PairLockedUntil.After(now):
		s.refuseUnchecked(ctx, client, "user:"+canon, "address locked",
			map[string]any{"address": addr, "locked_until": pair.PairLockedUntil.Format(time.RFC3339)})
		release()
		release = func() {}
		return User{}, s.waitLikeACheck(ctx)
	}
	prepared := preparePassword(password)
	if s.verified.hit(row.ID, row.PasswordHash, prepared, now) {
		// Verified against this very hash a moment ago (authcache.go).
		params, _, _, err := argon2id.DecodeHash(row.PasswordHash)
		if err != nil {
			params = nil
		}
		return s.succeed(ctx, pair, addr, params, password)
	}
	turn, err := s.order.take(ctx, suspect)
	if err != nil {
		return User{}, err
	}
	ok, params, err := s.verifiedCompare(ctx, row.ID, password, prepared, row.PasswordHash)
	turn()
	if ctx.Err() != nil {
		return User{}, ctx.Err()
	}
	if err != nil {
		// A hash that cannot be read is a bug or tampering: loud, and refused.
		s.log.Error("stored password hash unreadable", slog.String("login", canon), slog.Any("err", err))
		return User{}, ErrInvalidCredentials
	}
	if !ok {
		s.wrongPassword(ctx, client, addr, row.ID, canon)
		return User{}, ErrInvalidCredentials
	}
	s.verified.add(row.ID, row.PasswordHash, prepared, now)
	return s.succeed(ctx, pair, addr, params, password)
}

// loginView is a user's row with the failures counted for it from the
// client's address.
type loginView struct {
	Row             userRow `gorm:"embedded"`
	PairFailures    *int
	PairLockedUntil *time.Time
}

// spendAs is spend in its turn among the checks (checkOrder).
func (s *Service) spendAs(ctx context.Context, suspect bool, pw string) {
	turn, err := s.order.take(ctx, suspect)
	if err != nil {
		return
	}
	defer turn()
	s.spend(ctx, pw)
}

// waitLikeACheck waits as long as a recent password check took, without
// doing one, and returns ErrInvalidCredentials (or the context's error).
func (s *Service) waitLikeACheck(ctx context.Context) error {
	if s.checkCost.Load() == 0 {
		s.dummy() // measures one
	}
	if err := pause(ctx, time.Duration(s.checkCost.Load())); err != nil {
		return err
	}
	return ErrInvalidCredentials
}

// noteCheck keeps a moving average of the time of a password check.
func (s *Service) noteCheck(d time.Duration) {
	for {
		old := s.checkCost.Load()
		next := int64(d)
		if old != 0 {
			next = old + (int64(d)-old)/8
		}
		if s.checkCost.CompareAndSwap(old, next) {
			return
		}
	}
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

// refuseUnchecked records a refusal that needed no check (an address
// throttled, an address or an account locked). These come as fast as a
// flood sends them, so they are summed by an audit.Tally: one
// "user.login_failed" event per client, target and reason a minute, with
// its "count" (the protocols log each login themselves).
func (s *Service) refuseUnchecked(ctx context.Context, client, target, reason string, details map[string]any) {
	d := map[string]any{"reason": reason}
	for k, v := range details {
		d[k] = v
	}
	e := audit.Event{Actor: client, Action: "user.login_failed", Target: target, Details: d}
	if err := s.refusals.Add(context.WithoutCancel(ctx), client+"\x00"+target+"\x00"+reason, e, ""); err != nil {
		s.log.Error("record refused logins", slog.String("target", target), slog.Any("err", err))
	}
	s.log.Debug("login refused", slog.String("reason", reason), slog.String("target", target), slog.String("client", client))
}

// writeRefusal writes one summed event of refused logins.
func (s *Service) writeRefusal(ctx context.Context, e audit.Event) error {
	return s.change(ctx, func(tx *gorm.DB) error {
		return s.audit.Append(ctx, tx, e)
	})
}

// RunRefusals writes the refused logins of every minute as it ends, until
// ctx ends; then it writes what is still counted and returns. The server
// runs it for as long as logins may be refused.
func (s *Service) RunRefusals(ctx context.Context) {
	s.refusals.Run(ctx, func(err error) {
		s.log.Error("directory: refused logins not recorded", slog.Any("err", err))
	})
}

// FlushRefusals writes the refused logins of every open minute now.
func (s *Service) FlushRefusals(ctx context.Context) error {
	return s.refusals.Flush(ctx)
}

// wrongPassword counts a failed password check for the account and for
// the client's address on it: the failure that reaches LockoutThreshold
// refuses the address for the account for LockoutDuration, and the
// address that makes LockoutAddresses refused addresses locks the account.
func (s *Service) wrongPassword(ctx context.Context, client, addr string, id int64, login string) {
	var failed, addressFailures, lockedAddresses int
	var addressLockedUntil, lockedUntil time.Time
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

		var p loginFailureRow
		err = tx.Where("user_id = ? AND address = ?", id, addr).Take(&p).Error
		found := err == nil
		if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			return err
		}
		pairLocked := p.LockedUntil != nil && p.LockedUntil.After(now)
		switch {
		case pairLocked:
			// Refused meanwhile by a concurrent failure: do not extend.
		case !found || !now.Before(p.FirstAt.Add(s.lockDuration)):
			p = loginFailureRow{UserID: id, Address: addr, Failures: 1, FirstAt: now}
		default:
			p.Failures++
		}
		addressFailures = p.Failures
		if !pairLocked && s.lockThreshold > 0 && p.Failures >= s.lockThreshold {
			addressLockedUntil = now.Add(s.lockDuration)
			p.LockedUntil = &addressLockedUntil
		}
		if found {
			err = tx.Model(&loginFailureRow{}).Where("user_id = ? AND address = ?", id, addr).
				Updates(map[string]any{"failures": p.Failures, "first_at": p.FirstAt, "locked_until": p.LockedUntil}).Error
		} else {
			err = tx.Create(&p).Error
		}
		if err != nil {
			return err
		}
		// Other addresses' counts whose window has passed are dropped, so
		// that the table holds only what still counts.
		if err := tx.Where("user_id = ? AND address <> ? AND first_at <= ? AND (locked_until IS NULL OR locked_until <= ?)",
			id, addr, now.Add(-s.lockDuration), now).Delete(&loginFailureRow{}).Error; err != nil {
			return err
		}
		if !addressLockedUntil.IsZero() && s.lockAddresses > 0 {
			var n int64
			if err := tx.Model(&loginFailureRow{}).Where("user_id = ? AND locked_until > ?", id, now).Count(&n).Error; err != nil {
				return err
			}
			lockedAddresses = int(n)
			if lockedAddresses >= s.lockAddresses {
				lockedUntil = now.Add(s.lockDuration)
				changes = map[string]any{"failed_logins": 0, "locked_until": lockedUntil}
			}
		}
		if err := tx.Model(&userRow{}).Where("id = ?", r.ID).Updates(changes).Error; err != nil {
			return err
		}
		if err := s.appendEvent(ctx, tx, client, "user.login_failed", "user:"+login,
			map[string]any{"reason": "wrong password", "failed_logins": failed, "address_failures": addressFailures}); err != nil {
			return err
		}
		if !addressLockedUntil.IsZero() {
			if err := s.appendEvent(ctx, tx, client, "user.address_locked", "user:"+login,
				map[string]any{"address": addr, "failures": addressFailures, "locked_until": addressLockedUntil.Format(time.RFC3339)}); err != nil {
				return err
			}
		}
		if lockedUntil.IsZero() {
			return nil
		}
		return s.appendEvent(ctx, tx, client, "user.locked", "user:"+login,
			map[string]any{"addresses": lockedAddresses, "locked_until": lockedUntil.Format(time.RFC3339)})
	})
	if err != nil {
		s.log.Error("record failed login", slog.String("login", login), slog.Any("err", err))
		return
	}
	s.log.Info("login refused", slog.String("reason", "wrong password"), slog.String("login", login),
		slog.String("client", client), slog.Int("failed_logins", failed), slog.Int("address_failures", addressFailures))
	if !addressLockedUntil.IsZero() {
		s.log.Warn("address refused for account", slog.String("login", login), slog.String("client", client),
			slog.String("address", addr), slog.Time("until", addressLockedUntil))
	}
	if !lockedUntil.IsZero() {
		s.log.Warn("account locked", slog.String("login", login), slog.String("client", client),
			slog.Int("addresses", lockedAddresses), slog.Time("until", lockedUntil))
	}
}

// succeed finishes a good login: resets the account's failure count and
// lock and the address's count for it, and rehashes an old-parameter
// hash. The common case (nothing to reset, hash current) writes nothing.
func (s *Service) succeed(ctx context.Context, v loginView, addr string, params *argon2id.Params, password string) (User, error) {
	row := v.Row
	rehash := params == nil || *params != s.params
	if row.FailedLogins != 0 || row.LockedUntil != nil || v.PairFailures != nil || rehash {
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
			if v.PairFailures != nil {
				if err := tx.Where("user_id = ? AND address = ?", r.ID, addr).Delete(&loginFailureRow{}).Error; err != nil {
					return err
				}
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
	u, err := s.userByCanonical(ctx, s.db.Writer(), row.Login)
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
