package directory

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
)

// Principal is what the directory knows of a caller: the user, their
// ministry and roles, and the version of org_state all of it was read at
// (OrgVersion). Every change to what a Principal holds moves that version
// (the triggers of migrations/*/00008_org_state.sql), so a reader that sees
// the version it was read at sees what a new read would give.
type Principal struct {
	UserID     int64
	Login      string
	Name       string // display name
	Disabled   bool
	MinistryID int64  // 0 for the bootstrap administrator
	Ministry   string // ministry code; "" for the bootstrap administrator
	Roles      []string
	// MustChangePassword: the user must set a new password before doing
	// anything else (DESIGN.md §3a); Language is the web UI language they
	// chose, "" none. Both, and Name, come with the user's row, at no
	// extra cost: the web UI needs no other read of the user per page.
	MustChangePassword bool
	Language           string
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
// with the user's row, ministry and org_state's version, and for a session
// its end.
const principalColumns = `u.id, u.login, u.name, u.disabled, u.must_change_password, u.language, COALESCE(m.id, 0), COALESCE(m.code, ''), COALESCE(r.role, ''), o.version`

// principalOf is the read of the principal of a session
// ("web_sessions s"), a token ("api_tokens t") or a user ("users u").
func (s *Service) principalOf(ctx context.Context, from string) *gorm.DB {
	q := s.db.Reader().WithContext(ctx).Table(from)
	switch from {
	case "web_sessions s":
		q = q.Select(principalColumns + ", s.expires_at").Joins("JOIN users u ON u.id = s.user_id")
	case "api_tokens t":
		q = q.Select(principalColumns + ", NULL").Joins("JOIN users u ON u.id = t.user_id")
	default:
		q = q.Select(principalColumns + ", NULL")
	}
	return q.Joins("LEFT JOIN ministries m ON m.id = u.ministry_id").
		Joins("LEFT JOIN user_roles r ON r.user_id = u.id").
		Joins("JOIN org_state o ON o.id = 1")
}

// readPrincipal runs one of the principal reads.
func readPrincipal(q *gorm.DB) (p Principal, found bool, err error) {
	rows, err := q.Rows()
	if err != nil {
		return Principal{}, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var role string
		var expires *time.Time
		if err := rows.Scan(&p.UserID, &p.Login, &p.Name, &p.Disabled, &p.MustChangePassword, &p.Language, &p.MinistryID, &p.Ministry, &role, &p.OrgVersion, &expires); err != nil {
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
	if err := rows.Err(); err != nil {
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
	p, found, err := readPrincipal(s.principalOf(ctx, "users u").Where("u.id = ?", userID))
	if err != nil {
		return Principal{}, fmt.Errorf("read user %d: %w", userID, err)
	}
	if !found {
		return Principal{}, fmt.Errorf("user %d: %w", userID, ErrNotFound)
	}
	return p, nil
}

// HasRole reports whether the principal holds the role.
func (p Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

// MayReadAudit reports whether the principal may read and verify the
// audit log (audit.Reader): administrators of the whole instance.
func (p Principal) MayReadAudit() bool { return !p.Disabled && p.HasRole(RoleAdmin) }
