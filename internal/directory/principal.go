package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Principal is what the directory knows of a caller: the user, their
// ministry and roles, and the version of org_state all of it was read at
// (OrgVersion). Every change to what a Principal holds moves that version
// (the triggers of migrations/*/00008_org_state.sql), so a reader that sees
// the version it was read at sees what a new read would give.
type Principal struct {
	UserID     int64
	Login      string
	Disabled   bool
	MinistryID int64  // 0 for the bootstrap administrator
	Ministry   string // ministry code; "" for the bootstrap administrator
	Roles      []string
	// OrgVersion is org_state's version, read in one snapshot with the
	// rest. An answer taken from the keep of CheckToken carries the
	// version it was found valid at, which may have moved since.
	OrgVersion int64
	// ExpiresAt is when a session ends; zero for an API token and for
	// Service.Principal.
	ExpiresAt time.Time
}

// Actor is the principal as an audit actor ("user:ali@mof.gov.sy").
func (p Principal) Actor() string { return "user:" + p.Login }

// The reads of a principal, in one statement each (one snapshot, one round
// trip): a row per role (one with role "" when the user has none), each
// with the user's row, ministry and org_state's version.
const (
	principalColumns = `u.id, u.login, u.disabled, COALESCE(m.id, 0), COALESCE(m.code, ''), COALESCE(r.role, ''), o.version`
	principalJoins   = `LEFT JOIN ministries m ON m.id = u.ministry_id
	LEFT JOIN user_roles r ON r.user_id = u.id
	JOIN org_state o ON o.id = 1`

	sessionPrincipalQuery = `SELECT ` + principalColumns + `, s.expires_at
	FROM web_sessions s JOIN users u ON u.id = s.user_id ` + principalJoins + `
	WHERE s.token_hash = ?`
	tokenPrincipalQuery = `SELECT ` + principalColumns + `, NULL
	FROM api_tokens t JOIN users u ON u.id = t.user_id ` + principalJoins + `
	WHERE t.token_hash = ?`
	userPrincipalQuery = `SELECT ` + principalColumns + `, NULL
	FROM users u ` + principalJoins + `
	WHERE u.id = ?`
)

// principalRows is the scanner of the principal queries.
type principalRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// readPrincipal runs one of the principal queries with its one argument.
// Every request of the API makes one, so on PostgreSQL it goes straight to
// the pool, without gorm and database/sql between.
func (s *Service) readPrincipal(ctx context.Context, query string, arg any) (p Principal, found bool, err error) {
	var rows principalRows
	if s.db.Pool != nil {
		r, err := s.db.Pool.Query(ctx, strings.Replace(query, "?", "$1", 1), arg)
		if err != nil {
			return Principal{}, false, err
		}
		defer r.Close()
		rows = r
	} else {
		r, err := s.db.Gorm.WithContext(ctx).Raw(query, arg).Rows()
		if err != nil {
			return Principal{}, false, err
		}
		defer r.Close()
		rows = r
	}
	for rows.Next() {
		var role string
		var expires *time.Time
		if err := rows.Scan(&p.UserID, &p.Login, &p.Disabled, &p.MinistryID, &p.Ministry, &role, &p.OrgVersion, &expires); err != nil {
			return Principal{}, false, err
		}
		found = true
		if role != "" {
			p.Roles = append(p.Roles, role)
		}
		if expires != nil {
			p.ExpiresAt = expires.UTC()
		}
	}
	if err := rows.Err(); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Principal{}, false, err
	}
	slices.Sort(p.Roles)
	return p, found, nil
}

// Principal returns what the directory knows of the user with that id,
// read in one snapshot with org_state's version, for the services that
// keep a user's facts at that version (the workflow engine). A user that
// does not exist is ErrNotFound; a disabled one is returned with Disabled
// set.
func (s *Service) Principal(ctx context.Context, userID int64) (Principal, error) {
	p, found, err := s.readPrincipal(ctx, userPrincipalQuery, userID)
	if err != nil {
		return Principal{}, fmt.Errorf("read user %d: %w", userID, err)
	}
	if !found {
		return Principal{}, fmt.Errorf("user %d: %w", userID, ErrNotFound)
	}
	return p, nil
}
