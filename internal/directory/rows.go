package directory

import (
	"slices"
	"time"
)

// Gorm rows: the tables of migrations/*/00002_directory.sql. They never
// leave this package; the exported types below are what callers see (a
// User carries no password hash).

type ministryRow struct {
	ID        int64 `gorm:"primaryKey"`
	Code      string
	NameAR    string `gorm:"column:name_ar"`
	NameEN    string `gorm:"column:name_en"`
	CreatedAt time.Time
}

func (ministryRow) TableName() string { return "ministries" }

type domainRow struct {
	ID         int64 `gorm:"primaryKey"`
	Name       string
	ASCIIName  string `gorm:"column:ascii_name"`
	MinistryID int64
	CreatedAt  time.Time
}

func (domainRow) TableName() string { return "domains" }

type userRow struct {
	ID                 int64 `gorm:"primaryKey"`
	Login              string
	Name               string
	MinistryID         *int64
	DomainID           *int64
	Disabled           bool
	MustChangePassword bool
	PasswordHash       string
	FailedLogins       int
	LockedUntil        *time.Time
	QuotaBytes         int64
	Language           string
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

func (userRow) TableName() string { return "users" }

type userRoleRow struct {
	UserID int64  `gorm:"primaryKey;autoIncrement:false"`
	Role   string `gorm:"primaryKey"`
}

func (userRoleRow) TableName() string { return "user_roles" }

// Ministry is a ministry (وزارة): the owner of domains, users, registries.
type Ministry struct {
	Code      string // "MOF": upper-case ASCII letters, digits, "_", "-"; 2 to 16 characters
	NameAR    string
	NameEN    string
	CreatedAt time.Time
}

// Domain is a mail domain hosted here.
type Domain struct {
	Name      string // canonical Unicode form (CanonicalDomain)
	ASCII     string // A-label form ("xn--…"); equal to Name for ASCII names
	Ministry  string // code of the owning ministry
	CreatedAt time.Time
}

// Roles a user may hold; a user holds one or more.
const (
	RoleAdmin = "admin" // manages ministries, domains, users and the policy
	RoleClerk = "clerk" // works a registry (ديوان): registers, dispatches
	RoleHead  = "head"  // heads a department: approves, refers
	RoleStaff = "staff" // department staff: receives referrals, answers
	// RoleMinistryAdmin manages the users, departments, registries and
	// aliases of its own ministry (ministry_admin.go).
	RoleMinistryAdmin = "ministry_admin"
)

// Roles lists every role, in the order above.
func Roles() []string {
	return []string{RoleAdmin, RoleClerk, RoleHead, RoleStaff, RoleMinistryAdmin}
}

// User is an account. It never carries the password hash.
type User struct {
	ID                 int64
	Login              string // canonical address, or BootstrapLogin
	Name               string // display name
	Ministry           string // ministry code; "" only for the bootstrap administrator
	Roles              []string
	Disabled           bool
	MustChangePassword bool      // the next interactive login must set a new password
	FailedLogins       int       // consecutive failed logins since the last success or lock
	LockedUntil        time.Time // zero when not locked
	QuotaBytes         int64     // mail storage quota; 0 is unlimited
	Language           string    // the web UI language the user chose (Languages); "" none
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// HasRole reports whether the user holds role.
func (u User) HasRole(role string) bool { return slices.Contains(u.Roles, role) }

// Locked reports whether the account is locked out at now.
func (u User) Locked(now time.Time) bool { return !u.LockedUntil.IsZero() && u.LockedUntil.After(now) }

func (r ministryRow) ministry() Ministry {
	return Ministry{Code: r.Code, NameAR: r.NameAR, NameEN: r.NameEN, CreatedAt: r.CreatedAt}
}

func (r userRow) user(ministryCode string, roles []string) User {
	u := User{
		ID:                 r.ID,
		Login:              r.Login,
		Name:               r.Name,
		Ministry:           ministryCode,
		Roles:              roles,
		Disabled:           r.Disabled,
		MustChangePassword: r.MustChangePassword,
		FailedLogins:       r.FailedLogins,
		QuotaBytes:         r.QuotaBytes,
		Language:           r.Language,
		CreatedAt:          r.CreatedAt,
		UpdatedAt:          r.UpdatedAt,
	}
	if r.LockedUntil != nil {
		u.LockedUntil = *r.LockedUntil
	}
	return u
}

// loginFailureRow counts failed logins for one account from one client
// address (migrations/*/00012_login_failures.sql).
type loginFailureRow struct {
	UserID      int64  `gorm:"primaryKey;autoIncrement:false"`
	Address     string `gorm:"primaryKey"`
	Failures    int
	FirstAt     time.Time
	LockedUntil *time.Time
}

func (loginFailureRow) TableName() string { return "login_failures" }
