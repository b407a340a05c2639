// Package directory holds who and what Diwan serves: ministries, the mail
// domains hosted for them, user accounts with their roles, and credentials
// (argon2id password hashes, failed-login counting and lockout), web
// sessions and personal API tokens.
//
// It is the one place that decides whether a login and password are good
// (Service.Authenticate, called by SMTP, IMAP and HTTP alike), the one place
// that says who is calling with a session cookie or an API token
// (CheckSession, CheckToken: a Principal; sessions.go, tokens.go), and the
// one place that canonicalises domain names and addresses (CanonicalDomain,
// CanonicalAddress), so that every part of Diwan compares them the same way.
// It also decides what one user may see of others (UsersAs, UserAs:
// visibility.go).
//
// Every change it makes is written with an audit event in the same
// transaction. It knows no protocol: it never imports gin, go-smtp or
// go-imap, and its gorm rows never leave the package (User carries no
// password hash).
package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexedwards/argon2id"
	"golang.org/x/sync/singleflight"
	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/db"
)

// Options configure a Service. The zero value is the production setting.
type Options struct {
	// LockoutThreshold is the number of failed logins for one account
	// from one client address, within LockoutDuration, after which that
	// address is refused for that account for LockoutDuration. 0 means
	// the default, 5; a negative value never refuses.
	LockoutThreshold int
	// LockoutDuration defaults to 15 minutes.
	LockoutDuration time.Duration
	// LockoutAddresses is how many distinct client addresses must be
	// refused for one account at once (each having reached
	// LockoutThreshold) before the account locks for everyone for
	// LockoutDuration. 0 means the default, 10; a negative value never
	// locks an account.
	LockoutAddresses int
	// AddressMaxFailures is the failed logins from one client address, on
	// any accounts, within LockoutDuration, after which the address is
	// refused before any password check until that window ends; from half
	// of it on its answers are delayed. 0 means the default, 30; a
	// negative value sets no bound.
	AddressMaxFailures int
	// ThrottleDelay is the longest delay of the answers to a slowed or
	// refused address (throttle.go). 0 means the default, 2 seconds; a
	// negative value delays nothing.
	ThrottleDelay time.Duration
	// MinPasswordLength is the least number of characters of a new
	// password; below 8 (and 0) means 8.
	MinPasswordLength int
	// HashParams are the argon2id parameters for new hashes; nil means
	// DefaultHashParams. Existing hashes keep their own parameters and are
	// rehashed with these at the next successful login.
	HashParams *argon2id.Params
	// AuthCacheTTL is how long a verified password is remembered, so that
	// the logins of mail clients (one per connection) do not each cost an
	// argon2id check; 0 disables the cache (see authcache.go).
	AuthCacheTTL time.Duration
	// MaxConcurrentHashes bounds how many argon2id computations run at once
	// (each holds HashParams.Memory); 0 means max(2, GOMAXPROCS/2).
	MaxConcurrentHashes int
	// Audit seals the audit events the directory writes (internal/app
	// builds it from the master key). Nil writes unsealed events, which the
	// audit linker refuses: only for tests that never link.
	Audit *audit.Sealer
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// NationalUsers (directory.national_users) lets every user find the
	// names and addresses of every ministry's users; false shows them only
	// their own ministry's (visibility.go).
	NationalUsers bool
	// SessionTTL is how long a web session lasts (auth.session_ttl); 0
	// means 12 hours.
	SessionTTL time.Duration
}

// DefaultHashParams are the argon2id parameters of new password hashes:
// 64 MiB of memory, 2 passes, 2 lanes, 16-octet salt, 32-octet key.
//
// Measured on a 2-vCPU Xeon (BenchmarkAuthenticate): one check costs about
// 55 ms when the machine is idle, up to twice that under load; t=1 costs
// about 45 ms and t=3 about 80 to 160 ms. The memory is the main defence
// against GPU guessing (RFC 9106 §4); 64 MiB with t=2 is well above the
// OWASP minimum (19 MiB, t=2), and at about 20 checks a second per two
// cores the burst of IMAP logins after a restart still drains in seconds.
// MaxConcurrentHashes bounds the memory at n × 64 MiB.
var DefaultHashParams = argon2id.Params{
	Memory:      64 * 1024, // KiB
	Iterations:  2,
	Parallelism: 2,
	SaltLength:  16,
	KeyLength:   32,
}

// Service is the directory: ministries, domains, users and credentials.
// It is safe for concurrent use.
type Service struct {
	db      *db.DB
	audit   *audit.Sealer
	log     *slog.Logger
	now     func() time.Time
	params  argon2id.Params
	hashSem chan struct{}

	lockThreshold int // <= 0: never refuse a pair of account and address
	lockDuration  time.Duration
	lockAddresses int // <= 0: never lock an account for everyone
	minPassword   int

	addresses *addressGate // failures per client address (throttle.go)
	order     *checkOrder  // checks of failing addresses give way (throttle.go)
	refusals  *audit.Tally // refusals that needed no check, summed for the audit log
	checkCost atomic.Int64 // nanoseconds of a recent password check, for equal answer times

	dummyOnce sync.Once
	dummyHash string

	hashChecks atomic.Int64 // password checks made, real or dummy (for tests)

	verified *verifiedCache     // nil: no cache
	logins   loginKeep          // logins read by Logins, by user id (lookups.go)
	checking singleflight.Group // password checks under way, by user and HMAC (verifiedCompare)

	// beforeCommit, when set (by tests), runs at the end of every changing
	// transaction; an error rolls the transaction back.
	beforeCommit func() error

	nationalUsers bool // other ministries' users are listed (visibility.go)

	sessionTTL time.Duration // how long a web session lasts (sessions.go)
	tokens     keptTokens    // API tokens found valid (tokens.go)
}

// New returns the directory service on d.
func New(d *db.DB, o Options) *Service {
	s := &Service{db: d, audit: o.Audit, log: o.Logger, now: o.Now, lockThreshold: o.LockoutThreshold,
		lockDuration: o.LockoutDuration, lockAddresses: o.LockoutAddresses,
		minPassword: o.MinPasswordLength, params: DefaultHashParams, nationalUsers: o.NationalUsers, sessionTTL: o.SessionTTL}
	if s.sessionTTL <= 0 {
		s.sessionTTL = defaultSessionTTL
	}
	s.refusals = audit.NewTally(s.writeRefusal, s.clock)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	switch {
	case s.lockThreshold == 0:
		s.lockThreshold = 5
	case s.lockThreshold < 0:
		s.lockThreshold = 0
	}
	if s.lockDuration <= 0 {
		s.lockDuration = 15 * time.Minute
	}
	switch {
	case s.lockAddresses == 0:
		s.lockAddresses = 10
	case s.lockAddresses < 0:
		s.lockAddresses = 0
	}
	addressMax := o.AddressMaxFailures
	switch {
	case addressMax == 0:
		addressMax = 30
	case addressMax < 0:
		addressMax = 0
	}
	delay := o.ThrottleDelay
	switch {
	case delay == 0:
		delay = 2 * time.Second
	case delay < 0:
		delay = 0
	}
	if s.minPassword < minPasswordFloor {
		s.minPassword = minPasswordFloor
	}
	if o.HashParams != nil {
		s.params = *o.HashParams
	}
	n := o.MaxConcurrentHashes
	if n <= 0 {
		n = max(2, runtime.GOMAXPROCS(0)/2)
	}
	s.hashSem = make(chan struct{}, n)
	// One address may hold half the hash slots at most: the others stay
	// free for everyone else.
	s.addresses = newAddressGate(addressMax, s.lockDuration, delay, n/2, s.lockThreshold)
	s.order = newCheckOrder(func() time.Duration { return time.Duration(s.checkCost.Load()) })
	s.verified = newVerifiedCache(o.AuthCacheTTL)
	return s
}

// clock returns the current time in UTC at the database's precision.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// change runs fn in one transaction: the writes of a change and its audit
// events commit together or not at all.
func (s *Service) change(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.db.Transaction(ctx, func(tx *gorm.DB) error {
		if err := fn(tx); err != nil {
			return err
		}
		if s.beforeCommit != nil {
			return s.beforeCommit()
		}
		return nil
	})
}

func (s *Service) appendEvent(ctx context.Context, tx *gorm.DB, actor, action, target string, details map[string]any) error {
	return s.audit.Append(ctx, tx, audit.Event{Actor: actor, Action: action, Target: target, Details: details})
}

// maxListAll bounds the lists returned whole (ministries, domains).
const maxListAll = 10000

// AddMinistry adds a ministry. The code is upper-cased; both names are
// required. A code in use is ErrExists.
func (s *Service) AddMinistry(ctx context.Context, actor string, m Ministry) (Ministry, error) {
	code, err := canonicalMinistryCode("code", m.Code)
	if err != nil {
		return Ministry{}, err
	}
	nameAR, err := cleanText("name_ar", "the Arabic name", m.NameAR, 200)
	if err != nil {
		return Ministry{}, err
	}
	nameEN, err := cleanText("name_en", "the English name", m.NameEN, 200)
	if err != nil {
		return Ministry{}, err
	}
	row := ministryRow{Code: code, NameAR: nameAR, NameEN: nameEN, CreatedAt: s.clock()}
	err = s.change(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		return s.appendEvent(ctx, tx, actor, "ministry.add", "ministry:"+code,
			map[string]any{"name_ar": nameAR, "name_en": nameEN})
	})
	if err != nil {
		if db.IsUniqueViolation(err) {
			return Ministry{}, fmt.Errorf("ministry %s: %w", code, ErrExists)
		}
		return Ministry{}, fmt.Errorf("add ministry %s: %w", code, err)
	}
	return row.ministry(), nil
}

// Ministries lists every ministry by code.
func (s *Service) Ministries(ctx context.Context) ([]Ministry, error) {
	var rows []ministryRow
	if err := s.db.Writer().WithContext(ctx).Order("code").Limit(maxListAll).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list ministries: %w", err)
	}
	out := make([]Ministry, len(rows))
	for i, r := range rows {
		out[i] = r.ministry()
	}
	return out, nil
}

// Ministry returns the ministry with the code, or ErrNotFound.
func (s *Service) Ministry(ctx context.Context, code string) (Ministry, error) {
	c, err := canonicalMinistryCode("ministry", code)
	if err != nil {
		return Ministry{}, err
	}
	r, err := findMinistry(ctx, s.db.Writer(), c)
	if err != nil {
		return Ministry{}, err
	}
	return r.ministry(), nil
}

func findMinistry(ctx context.Context, tx *gorm.DB, code string) (ministryRow, error) {
	var r ministryRow
	err := tx.WithContext(ctx).Where("code = ?", code).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return r, fmt.Errorf("ministry %s: %w", code, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("find ministry %s: %w", code, err)
	}
	return r, nil
}

// ministryForInput finds a ministry named in a request: one that does not
// exist is bad input for the field "ministry", not ErrNotFound.
func ministryForInput(ctx context.Context, tx *gorm.DB, code string) (ministryRow, error) {
	r, err := findMinistry(ctx, tx, code)
	if errors.Is(err, ErrNotFound) {
		return r, inputErr("ministry", fmt.Sprintf("no ministry has the code %s", code))
	}
	return r, err
}

// AddDomain hosts a domain for a ministry. The name is canonicalised
// (CanonicalDomain); the same domain in another spelling is ErrExists, an
// unknown ministry an *InputError for "ministry".
func (s *Service) AddDomain(ctx context.Context, actor, name, ministryCode string) (Domain, error) {
	ascii, canon, err := canonicalDomain(name)
	if err != nil {
		return Domain{}, err
	}
	code, err := canonicalMinistryCode("ministry", ministryCode)
	if err != nil {
		return Domain{}, err
	}
	row := domainRow{Name: canon, ASCIIName: ascii, CreatedAt: s.clock()}
	err = s.change(ctx, func(tx *gorm.DB) error {
		m, err := ministryForInput(ctx, tx, code)
		if err != nil {
			return err
		}
		row.MinistryID = m.ID
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		return s.appendEvent(ctx, tx, actor, "domain.add", "domain:"+canon,
			map[string]any{"ministry": code, "ascii": ascii})
	})
	if err != nil {
		if db.IsUniqueViolation(err) {
			return Domain{}, fmt.Errorf("domain %s: %w", canon, ErrExists)
		}
		var ie *InputError
		if errors.As(err, &ie) {
			return Domain{}, err
		}
		return Domain{}, fmt.Errorf("add domain %s: %w", canon, err)
	}
	return Domain{Name: canon, ASCII: ascii, Ministry: code, CreatedAt: row.CreatedAt}, nil
}

type domainView struct {
	Name         string
	ASCIIName    string
	MinistryCode string
	CreatedAt    time.Time
}

func (v domainView) domain() Domain {
	return Domain{Name: v.Name, ASCII: v.ASCIIName, Ministry: v.MinistryCode, CreatedAt: v.CreatedAt}
}

func domainQuery(ctx context.Context, tx *gorm.DB) *gorm.DB {
	return tx.WithContext(ctx).Table("domains").
		Select("domains.name, domains.ascii_name, ministries.code AS ministry_code, domains.created_at").
		Joins("JOIN ministries ON ministries.id = domains.ministry_id")
}

// Domains lists the hosted domains by name.
func (s *Service) Domains(ctx context.Context) ([]Domain, error) {
	var rows []domainView
	if err := domainQuery(ctx, s.db.Writer()).Order("domains.name").Limit(maxListAll).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	out := make([]Domain, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}

// Domain returns the hosted domain of that name (any spelling), or
// ErrNotFound.
func (s *Service) Domain(ctx context.Context, name string) (Domain, error) {
	canon, err := CanonicalDomain(name)
	if err != nil {
		return Domain{}, err
	}
	var rows []domainView
	if err := domainQuery(ctx, s.db.Writer()).Where("domains.name = ?", canon).Limit(1).Scan(&rows).Error; err != nil {
		return Domain{}, fmt.Errorf("find domain %s: %w", canon, err)
	}
	if len(rows) == 0 {
		return Domain{}, fmt.Errorf("domain %s: %w", canon, ErrNotFound)
	}
	return rows[0].domain(), nil
}

// IsHosted reports whether the domain (any spelling) is hosted here. A name
// that is not a valid domain is not hosted: (false, nil). An error means
// the database could not answer.
func (s *Service) IsHosted(ctx context.Context, domain string) (bool, error) {
	canon, err := CanonicalDomain(domain)
	if err != nil {
		return false, nil
	}
	var n int64
	if err := s.db.Writer().WithContext(ctx).Model(&domainRow{}).Where("name = ?", canon).Count(&n).Error; err != nil {
		return false, fmt.Errorf("look up domain %s: %w", canon, err)
	}
	return n > 0, nil
}
