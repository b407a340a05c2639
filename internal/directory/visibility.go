package directory

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// What a user may see of other users (DESIGN.md §6: nothing of another
// ministry except what addressing needs). Administrators see every account
// whole, a ministry administrator those of their ministry, and a user
// their own. A user sees the colleagues of their own
// ministry with their roles, and of other ministries only names and
// addresses, and only when the national address book is on
// (directory.national_users); otherwise other ministries' users are not
// listed at all, as if they did not exist. Whether an account is disabled,
// locked or must change its password is an administrator's business.

// Detail is how much of an account a viewer sees.
type Detail uint8

const (
	// DetailAddress: address, name and ministry, what addressing needs.
	DetailAddress Detail = iota + 1
	// DetailColleague: and the roles, for a colleague of the same ministry.
	DetailColleague
	// DetailFull: the whole account, for administrators and the user
	// themselves.
	DetailFull
)

// Listing is a user as a viewer sees them: the fields Detail does not
// cover are zero.
type Listing struct {
	User
	Detail Detail
}

// detailFor is how much of u the viewer sees; 0 is nothing.
func (s *Service) detailFor(viewer, u User) Detail {
	switch {
	case viewer.HasRole(RoleAdmin), viewer.ID == u.ID,
		viewer.HasRole(RoleMinistryAdmin) && viewer.Ministry != "" && viewer.Ministry == u.Ministry:
		return DetailFull
	case viewer.Ministry != "" && viewer.Ministry == u.Ministry:
		return DetailColleague
	case s.nationalUsers && u.Ministry != "":
		return DetailAddress
	}
	return 0
}

// listing cuts u down to what d shows.
func listing(u User, d Detail) Listing {
	if d < DetailFull {
		u = User{ID: u.ID, Login: u.Login, Name: u.Name, Ministry: u.Ministry, Roles: u.Roles}
	}
	if d < DetailColleague {
		u.Roles = nil
	}
	return Listing{User: u, Detail: d}
}

// visibleTo restricts a users query to the accounts viewer may see.
func (s *Service) visibleTo(q *gorm.DB, viewer User) *gorm.DB {
	switch {
	case viewer.HasRole(RoleAdmin):
		return q
	case s.nationalUsers:
		return q.Where("(users.ministry_id IS NOT NULL OR users.id = ?)", viewer.ID)
	case viewer.Ministry != "":
		return q.Where("(users.ministry_id = (SELECT id FROM ministries WHERE code = ?) OR users.id = ?)", viewer.Ministry, viewer.ID)
	}
	return q.Where("users.id = ?", viewer.ID)
}

// UsersAs lists, a page at a time by login, the users viewer may see (the
// viewer as UserByLogin or Authenticate returned them), each cut down to
// what viewer may see of them, and counts them all.
func (s *Service) UsersAs(ctx context.Context, viewer User, o ListOptions) ([]Listing, int64, error) {
	us, n, err := s.usersPage(ctx, o, func(q *gorm.DB) *gorm.DB { return s.visibleTo(q, viewer) })
	if err != nil {
		return nil, 0, err
	}
	out := make([]Listing, 0, len(us))
	for _, u := range us {
		if d := s.detailFor(viewer, u); d != 0 {
			out = append(out, listing(u, d))
		}
	}
	return out, n, nil
}

// UserAs returns the user with that login as viewer sees them, or
// ErrNotFound when viewer may not see them.
func (s *Service) UserAs(ctx context.Context, viewer User, login string) (Listing, error) {
	u, err := s.UserByLogin(ctx, login)
	if err != nil {
		return Listing{}, err
	}
	d := s.detailFor(viewer, u)
	if d == 0 {
		return Listing{}, fmt.Errorf("user %s: %w", u.Login, ErrNotFound)
	}
	return listing(u, d), nil
}
