package directory

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
)

// Personal API tokens: "Authorization: Bearer diwan_…" instead of a
// session cookie. CheckToken keeps the tokens it found valid, so that the
// routes whose engine call reads org_state's version anyway spend no round
// trip on the token: revoking a token (or disabling its user) moves that
// version (migrations/*/00010_token_state.sql), the engine sees the
// version moved and its caller checks again with RecheckToken.

// TokenPrefix marks personal API tokens, so that one pasted in the wrong
// place is recognisable (and secret scanners can find them).
const TokenPrefix = "diwan_"

type tokenRow struct {
	ID        int64 `gorm:"primaryKey"`
	TokenHash string
	UserID    int64
	CreatedBy string
	CreatedAt time.Time
}

func (tokenRow) TableName() string { return "api_tokens" }

// maxKeptTokens bounds the keep of tokens found valid; past it, it starts
// again empty.
const maxKeptTokens = 4096

// keptTokens are the API tokens found valid, by hash, with the principal
// and the org_state version they were found valid at.
type keptTokens struct {
	mu sync.Mutex
	m  map[string]Principal
}

func (k *keptTokens) get(hash string) (Principal, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	p, ok := k.m[hash]
	return p, ok
}

func (k *keptTokens) put(hash string, p Principal) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil || len(k.m) >= maxKeptTokens {
		k.m = make(map[string]Principal)
	}
	k.m[hash] = p
}

func (k *keptTokens) forget(hash string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, hash)
}

// CheckToken returns the principal of a personal API token. A token found
// valid before in this process is answered from memory, with the
// OrgVersion it was found valid at: a caller that acts on the answer must
// compare that version with org_state's (the workflow engine does, in its
// first read) and, when it moved, call RecheckToken. An unknown token, or
// one whose user is disabled, is ErrInvalidCredentials.
func (s *Service) CheckToken(ctx context.Context, token string) (Principal, error) {
	if !strings.HasPrefix(token, TokenPrefix) {
		return Principal{}, ErrInvalidCredentials
	}
	if p, ok := s.tokens.get(HashSecret(token)); ok {
		return p, nil
	}
	return s.RecheckToken(ctx, token)
}

// RecheckToken is CheckToken reading the database always (one round
// trip); the answer replaces the one kept.
func (s *Service) RecheckToken(ctx context.Context, token string) (Principal, error) {
	if !strings.HasPrefix(token, TokenPrefix) {
		return Principal{}, ErrInvalidCredentials
	}
	hash := HashSecret(token)
	p, found, err := readPrincipal(s.principalOf(ctx, "api_tokens t").Where("t.token_hash = ?", hash))
	if err != nil {
		return Principal{}, fmt.Errorf("look up API token: %w", err)
	}
	if !found || p.Disabled {
		s.tokens.forget(hash)
		return Principal{}, ErrInvalidCredentials
	}
	s.tokens.put(hash, p)
	return p, nil
}

// CreateToken creates a personal API token for the user with that login
// and returns it; it is shown this once and only its hash is kept. The
// creation is an audit event ("user.token") by actor. An unknown user is
// ErrNotFound; a disabled one an *InputError.
func (s *Service) CreateToken(ctx context.Context, actor, login string) (string, error) {
	u, err := s.UserByLogin(ctx, login)
	if err != nil {
		return "", err
	}
	if u.Disabled {
		return "", inputErr("login", fmt.Sprintf("%s is disabled; enable the account before giving it a token", u.Login))
	}
	token := TokenPrefix + newSecret()
	row := tokenRow{TokenHash: HashSecret(token), UserID: u.ID, CreatedBy: actor, CreatedAt: s.clock()}
	err = s.change(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		return s.appendEvent(ctx, tx, actor, "user.token", "user:"+u.Login, map[string]any{"token_id": row.ID})
	})
	if err != nil {
		return "", fmt.Errorf("create API token for %s: %w", u.Login, err)
	}
	return token, nil
}

// RevokeToken deletes a personal API token, as an audit event
// ("user.token_revoked") by actor. It is refused at once by every process:
// here it is forgotten, elsewhere the version of org_state moves. An
// unknown token is ErrNotFound.
func (s *Service) RevokeToken(ctx context.Context, actor, token string) error {
	hash := HashSecret(token)
	err := s.change(ctx, func(tx *gorm.DB) error {
		var row tokenRow
		res := tx.Where("token_hash = ?", hash).Limit(1).Find(&row)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("API token: %w", ErrNotFound)
		}
		if err := tx.Delete(&tokenRow{}, row.ID).Error; err != nil {
			return err
		}
		var login string
		if err := tx.Model(&userRow{}).Where("id = ?", row.UserID).Select("login").Scan(&login).Error; err != nil {
			return err
		}
		return s.appendEvent(ctx, tx, actor, "user.token_revoked", "user:"+login, map[string]any{"token_id": row.ID})
	})
	s.tokens.forget(hash)
	if err != nil {
		return fmt.Errorf("revoke API token: %w", err)
	}
	return nil
}
