package httpd

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/directory"
)

// Web sessions and personal API tokens: the tables of
// migrations/*/00006_sessions.sql. A session cookie and an API token are 32
// random octets; only their SHA-256 is stored, so reading the tables logs
// no one in. A session ends at its expiry or at logout; a token lasts until
// it is revoked. Neither outlives its user's account: every request checks
// the user (Sessions.Lookup), so a disabled user is refused at once.

// tokenPrefix marks personal API tokens, so that one pasted in the wrong
// place is recognisable (and secret scanners can find them).
const tokenPrefix = "diwan_"

// errNoSession is Lookup's answer for an unknown, expired or revoked
// credential, and for one whose user is disabled or gone.
var errNoSession = errors.New("no valid session or token")

type sessionRow struct {
	ID        int64 `gorm:"primaryKey"`
	TokenHash string
	UserID    int64
	Client    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

func (sessionRow) TableName() string { return "web_sessions" }

type tokenRow struct {
	ID        int64 `gorm:"primaryKey"`
	TokenHash string
	UserID    int64
	CreatedBy string
	CreatedAt time.Time
}

func (tokenRow) TableName() string { return "api_tokens" }

// Sessions keeps web sessions and API tokens. It is safe for concurrent
// use.
type Sessions struct {
	db  *db.DB
	dir *directory.Service
	ttl time.Duration
	now func() time.Time
	// tokens are API tokens found valid, by hash, for the routes whose
	// engine call checks the token again in its own first read
	// (authenticate, inBandRoutes).
	tokensMu sync.Mutex
	tokens   map[string]credentialUser
}

// maxKeptTokens bounds Sessions.tokens; past it, it starts again empty.
const maxKeptTokens = 4096

// tokenCheck is the engine's check of a kept token (workflow.Credential):
// the token still exists and its user is not disabled. The engine keeps a
// check that passed while org_state's version stays, which revoking a
// token or disabling its user moves (migrations 00008 and 00010).
const tokenCheck = `SELECT api_tokens.user_id FROM api_tokens JOIN users ON users.id = api_tokens.user_id
	WHERE api_tokens.token_hash = ? AND NOT users.disabled`

// keptToken returns the user of a token found valid before.
func (s *Sessions) keptToken(hash string) (credentialUser, bool) {
	s.tokensMu.Lock()
	defer s.tokensMu.Unlock()
	u, ok := s.tokens[hash]
	return u, ok
}

func (s *Sessions) keepToken(hash string, u credentialUser) {
	s.tokensMu.Lock()
	defer s.tokensMu.Unlock()
	if s.tokens == nil || len(s.tokens) >= maxKeptTokens {
		s.tokens = make(map[string]credentialUser)
	}
	s.tokens[hash] = u
}

func (s *Sessions) forgetToken(hash string) {
	s.tokensMu.Lock()
	defer s.tokensMu.Unlock()
	delete(s.tokens, hash)
}

// NewSessions returns the session and token store on d; sessions last ttl
// (auth.session_ttl; 0 means 12 hours).
func NewSessions(d *db.DB, dir *directory.Service, ttl time.Duration) *Sessions {
	if ttl <= 0 {
		ttl = 12 * time.Hour
	}
	return &Sessions{db: d, dir: dir, ttl: ttl, now: time.Now}
}

func (s *Sessions) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// newSecret returns 32 random octets, base64url without padding.
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashSecret is what is stored of a cookie or a token: SHA-256, in hex.
func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// csrfFor derives the CSRF token of a session from its cookie value:
// HMAC-SHA256 keyed by the cookie. It is tied to the session (a new login
// gives a new one), needs no storage, and cannot be computed by a page
// that cannot read the HttpOnly cookie.
func csrfFor(cookie string) string {
	m := hmac.New(sha256.New, []byte(cookie))
	m.Write([]byte("diwan csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validCSRF compares a presented CSRF token with the session's in constant
// time.
func validCSRF(cookie, presented string) bool {
	if presented == "" {
		return false
	}
	return hmac.Equal([]byte(csrfFor(cookie)), []byte(presented))
}

// session is a logged-in session as a request sees it.
type session struct {
	Cookie    string // the cookie value: secret, never logged
	ExpiresAt time.Time
}

// Create starts a session for an authenticated user and returns its cookie
// value and expiry. Expired sessions of every user are swept on the way.
func (s *Sessions) Create(ctx context.Context, u directory.User, client string) (session, error) {
	now := s.clock()
	cookie := newSecret()
	row := sessionRow{TokenHash: hashSecret(cookie), UserID: u.ID, Client: client, CreatedAt: now, ExpiresAt: now.Add(s.ttl)}
	err := s.db.Transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("expires_at < ?", now).Delete(&sessionRow{}).Error; err != nil {
			return err
		}
		return tx.Create(&row).Error
	})
	if err != nil {
		return session{}, fmt.Errorf("create session for %s: %w", u.Login, err)
	}
	return session{Cookie: cookie, ExpiresAt: row.ExpiresAt}, nil
}

// Delete ends the session of the cookie (logout). An unknown cookie is not
// an error.
func (s *Sessions) Delete(ctx context.Context, cookie string) error {
	err := s.db.Gorm.WithContext(ctx).Where("token_hash = ?", hashSecret(cookie)).Delete(&sessionRow{}).Error
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// credentialUser is the user a session or token belongs to, as read with
// it in one query.
type credentialUser struct {
	UserID    int64
	Login     string
	Disabled  bool
	ExpiresAt *time.Time // sessions only
}

// LookupSession returns the user of a session cookie. An unknown or
// expired session, or one whose user is disabled, is errNoSession.
func (s *Sessions) LookupSession(ctx context.Context, cookie string) (credentialUser, error) {
	u, found, err := s.lookupCredential(ctx, sessionQuery, hashSecret(cookie))
	if err != nil {
		return credentialUser{}, fmt.Errorf("look up session: %w", err)
	}
	if !found || u.Disabled || u.ExpiresAt == nil || !u.ExpiresAt.After(s.now()) {
		return credentialUser{}, errNoSession
	}
	return u, nil
}

// The queries of a credential's user by the hash of its secret, with
// the columns of credentialUser.
const (
	sessionQuery = `SELECT web_sessions.user_id, users.login, users.disabled, web_sessions.expires_at
	FROM web_sessions JOIN users ON users.id = web_sessions.user_id WHERE web_sessions.token_hash = ? LIMIT 1`
	tokenQuery = `SELECT api_tokens.user_id, users.login, users.disabled, NULL
	FROM api_tokens JOIN users ON users.id = api_tokens.user_id WHERE api_tokens.token_hash = ? LIMIT 1`
)

// lookupCredential runs sessionQuery or tokenQuery for hash. Every
// request makes one, so on PostgreSQL it goes straight to the pool,
// without gorm and database/sql between.
func (s *Sessions) lookupCredential(ctx context.Context, query, hash string) (u credentialUser, found bool, err error) {
	if s.db.Pool != nil {
		err = s.db.Pool.QueryRow(ctx, strings.Replace(query, "?", "$1", 1), hash).
			Scan(&u.UserID, &u.Login, &u.Disabled, &u.ExpiresAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return credentialUser{}, false, nil
		}
		return u, err == nil, err
	}
	rows, err := s.db.Gorm.WithContext(ctx).Raw(query, hash).Rows()
	if err != nil {
		return credentialUser{}, false, err
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(&u.UserID, &u.Login, &u.Disabled, &u.ExpiresAt); err != nil {
			return credentialUser{}, false, err
		}
		found = true
	}
	return u, found, rows.Err()
}

// LookupToken returns the user of a personal API token; an unknown token,
// or one whose user is disabled, is errNoSession.
func (s *Sessions) LookupToken(ctx context.Context, token string) (credentialUser, error) {
	if !strings.HasPrefix(token, tokenPrefix) {
		return credentialUser{}, errNoSession
	}
	hash := hashSecret(token)
	u, found, err := s.lookupCredential(ctx, tokenQuery, hash)
	if err != nil {
		return credentialUser{}, fmt.Errorf("look up API token: %w", err)
	}
	if !found || u.Disabled {
		s.forgetToken(hash)
		return credentialUser{}, errNoSession
	}
	s.keepToken(hash, u)
	return u, nil
}

// CreateToken creates a personal API token for the user with that login
// and returns it; it is shown this once and only its hash is kept. The
// creation is an audit event ("user.token") by actor. An unknown user is
// directory.ErrNotFound; a disabled one an *directory.InputError.
func (s *Sessions) CreateToken(ctx context.Context, actor, login string) (string, error) {
	u, err := s.dir.UserByLogin(ctx, login)
	if err != nil {
		return "", err
	}
	if u.Disabled {
		return "", &directory.InputError{Field: "login", Message: fmt.Sprintf("%s is disabled; enable the account before giving it a token", u.Login)}
	}
	token := tokenPrefix + newSecret()
	row := tokenRow{TokenHash: hashSecret(token), UserID: u.ID, CreatedBy: actor, CreatedAt: s.clock()}
	err = s.db.Transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		return s.dir.Audit().Append(ctx, tx, audit.Event{Actor: actor, Action: "user.token", Target: "user:" + u.Login,
			Details: map[string]any{"token_id": row.ID}})
	})
	if err != nil {
		return "", fmt.Errorf("create API token for %s: %w", u.Login, err)
	}
	return token, nil
}
