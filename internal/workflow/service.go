package workflow

import (
	"context"
	"io"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/blob"
	"diwan.gov.sy/diwan/internal/config"
	"diwan.gov.sy/diwan/internal/db"
)

// BlobStore is the part of the blob store (internal/blob.Store) the engine
// uses. PutKey streams r under key, never holding it whole in memory, and
// returns its size and lowercase hex SHA-256; on error nothing is stored.
// Open returns the whole object; Delete removes it (a missing key is an
// error the engine ignores).
type BlobStore interface {
	PutKey(ctx context.Context, key string, r io.Reader, size int64) (blob.Info, error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	Delete(ctx context.Context, key string) error
}

// Options configure a Service.
type Options struct {
	// Workflow is the workflow section of the configuration: deadlines,
	// weekend, holidays and upload limits.
	Workflow config.Workflow
	// Location is time_zone: register years, dates and working days are
	// counted there. nil means UTC.
	Location *time.Location
	// Audit seals the audit events the engine writes (internal/app builds
	// it from the master key). Nil writes unsealed events, which the audit
	// linker refuses: only for tests that never link.
	Audit *audit.Sealer
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Observer is told of committed changes (metrics); nil tells no one.
	Observer Observer
	// NationalUsers (directory.national_users) shows the heads of other
	// ministries' departments to every user; false only to administrators.
	NationalUsers bool
	// Directory answers what the engine asks of ministries, domains and
	// users (directory.go); internal/app gives it the directory service.
	// The organisation calls and the naming of attachments' authors need
	// it; a Service without it serves only letters without attachments.
	Directory Directory
}

// Observer is told of the engine's changes after they are committed, never
// of one that rolled back, for counting them (internal/app fills it with
// Prometheus counters). Its methods are called on the goroutine of the call
// that made the change, before that call returns: they must be quick, safe
// for concurrent use, and must not call the Service.
type Observer interface {
	// Transition is one transition a user made on an entry or a referral,
	// named by its action (register, refer, accept, ...). Consequences the
	// engine draws itself (a recipient acknowledged, an entry answered by
	// a registered reply) are not transitions of their own.
	Transition(action Action)
	// Registered is one letter given a register number, outgoing at the
	// sender's registry or incoming at a recipient's.
	Registered(d Direction)
}

// noObserver is the Observer of a Service given none.
type noObserver struct{}

func (noObserver) Transition(Action)    {}
func (noObserver) Registered(Direction) {}

// Service is the workflow engine. It is safe for concurrent use.
type Service struct {
	// beforeCommit, when set (by tests), runs at the end of every changing
	// transaction; an error rolls it back.
	beforeCommit func(tx *gorm.DB) error
	// afterSend, when set (by tests), is told how many statements each
	// round trip of a txn sent (PostgreSQL).
	afterSend func(statements int)

	db    *db.DB
	audit *audit.Sealer
	blobs BlobStore
	cfg   config.Workflow
	loc   *time.Location
	now   func() time.Time
	log   *slog.Logger
	obs   Observer
	// facts keeps the directory's facts of users, principals the engine's
	// own facts of them, between calls (principal.go).
	facts      keptAt[int64, PrincipalFacts]
	principals keptAt[int64, ownFacts]

	nationalUsers bool      // other ministries' people are shown (Options.NationalUsers)
	dir           Directory // callers, ministries, domains and users (Options.Directory)
}

// New returns the engine on d, keeping attachments in blobs.
func New(d *db.DB, blobs BlobStore, o Options) *Service {
	s := &Service{db: d, audit: o.Audit, blobs: blobs, cfg: o.Workflow, loc: o.Location, now: o.Now, log: o.Logger, obs: o.Observer,
		nationalUsers: o.NationalUsers, dir: o.Directory}
	if s.loc == nil {
		s.loc = time.UTC
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.obs == nil {
		s.obs = noObserver{}
	}
	return s
}

// clock is the current time in UTC at the database's precision.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// read runs fn's queries on one connection of the pool, so that a read of
// several queries waits for a connection once (not once per query). fn
// must not start a transaction: on SQLite, with its one connection, that
// would wait for itself.
func (s *Service) read(ctx context.Context, fn func(q *gorm.DB) error) error {
	return s.db.Gorm.WithContext(ctx).Connection(fn)
}
