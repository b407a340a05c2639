package workflow

import "context"

// Directory is what the engine asks of the directory (internal/directory,
// through an adapter that internal/app builds): the engine never reads the
// directory's tables (users, ministries, domains, user_roles) itself. The
// engine calls it only outside its own transactions, never while a call
// holds a database connection.
type Directory interface {
	// Principal returns the directory's facts of the user with that id,
	// read in one snapshot with the version of org_state (Version). A
	// disabled user is returned with Disabled set; no such user is
	// ErrNotFound.
	Principal(ctx context.Context, userID int64) (PrincipalFacts, error)
}

// PrincipalFacts are the directory's facts of a caller and the version of
// org_state they were read at.
type PrincipalFacts struct {
	Login      string
	Disabled   bool
	MinistryID int64  // 0 for the bootstrap administrator
	Ministry   string // ministry code
	Roles      []string
	Version    int64
}
