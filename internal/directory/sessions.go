package directory

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Web sessions and personal API tokens (tokens.go): the tables of
// migrations/*/00006_sessions.sql. A session cookie and an API token are 32
// random octets; only their SHA-256 is stored, so reading the tables logs
// no one in. A session ends at its expiry or at logout; a token lasts until
// it is revoked. Neither outlives its user's account: CheckSession reads
// the user with the session every time, so a disabled user is refused at
// once.

// defaultSessionTTL is how long a session lasts when Options.SessionTTL is
// not set.
const defaultSessionTTL = 12 * time.Hour

type sessionRow struct {
	ID        int64 `gorm:"primaryKey"`
	TokenHash string
	UserID    int64
	Client    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

func (sessionRow) TableName() string { return "web_sessions" }

// Session is a new web session: the cookie value (secret, never logged)
// and when it ends.
type Session struct {
	Cookie    string
	ExpiresAt time.Time
}

// newSecret returns 32 random octets, base64url without padding.
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashSecret is what is stored of a session cookie or an API token:
// SHA-256, in hex.
func HashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// CreateSession starts a session for an authenticated user (from
// Authenticate) and returns its cookie value and expiry (Options.SessionTTL
// from now). client is the address that logged in. Expired sessions of
// every user are swept on the way.
func (s *Service) CreateSession(ctx context.Context, u User, client string) (Session, error) {
	now := s.clock()
	cookie := newSecret()
	row := sessionRow{TokenHash: HashSecret(cookie), UserID: u.ID, Client: client, CreatedAt: now, ExpiresAt: now.Add(s.sessionTTL)}
	err := s.db.Transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("expires_at < ?", now).Delete(&sessionRow{}).Error; err != nil {
			return err
		}
		return tx.Create(&row).Error
	})
	if err != nil {
		return Session{}, fmt.Errorf("create session for %s: %w", u.Login, err)
	}
	return Session{Cookie: cookie, ExpiresAt: row.ExpiresAt}, nil
}

// DeleteSession ends the session of the cookie (logout). An unknown
// cookie is not an error.
func (s *Service) DeleteSession(ctx context.Context, cookie string) error {
	err := s.db.Writer().WithContext(ctx).Where("token_hash = ?", HashSecret(cookie)).Delete(&sessionRow{}).Error
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// CheckSession returns the principal of a session cookie, read from the
// database with the session (one round trip), so that logout, expiry and
// a disabled account take effect at once. An unknown or expired session,
// or one whose user is disabled, is ErrInvalidCredentials.
func (s *Service) CheckSession(ctx context.Context, cookie string) (Principal, error) {
	p, found, err := readPrincipal(s.principalOf(ctx, "web_sessions s").Where("s.token_hash = ?", HashSecret(cookie)))
	if err != nil {
		return Principal{}, fmt.Errorf("look up session: %w", err)
	}
	if !found || p.Disabled || !p.ExpiresAt.After(s.now()) {
		return Principal{}, ErrInvalidCredentials
	}
	return p, nil
}
