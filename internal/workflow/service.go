// Package workflow holds Diwan's correspondence engine: registries
// (دواوين) and departments, who works where and what they may read, the
// correspondence itself (a document frozen at registration), the entry each
// registry keeps of it with its own register number and state, referrals
// inside a ministry, attachments, and working-day deadlines.
//
// The engine decides everything about correspondence in one place: the
// state machines (transitions.go, one table, each transition naming who may
// make it), register numbering (gapless, in the entry's transaction),
// and access control (access.go): callers pass the acting user and get
// ErrNotFound for anything that user may not see, whatever the handler.
// Every change is written together with its audit event; reads of
// confidential and secret documents are audit events too.
//
// It knows no protocol: it never imports gin, go-smtp or go-imap, and its
// rows never leave the package. It owns the workflow's tables and never
// reads the directory's (users, roles, ministries, domains): what it needs
// of them it asks the directory through the small Directory interface
// (directory.go), outside any transaction of its own.
//
// How it is laid out: a service that decides and a store that reads and
// writes, one letter's call running one way through them.
//
//   - api.go: the public types; calls.go: the public methods (Service.Act,
//     Get, ...), each resolving who is calling first (principal.go
//     asCaller: the directory's facts of the caller, kept at the version
//     of org_state, and the engine's own — memberships, clerkships,
//     headships).
//   - The service (service.go, principal.go, entries.go, correspondence.go,
//     freeze.go, referrals.go, view.go, access.go, transitions.go,
//     numbering.go, events.go, text.go, organisation*.go, attachments.go,
//     calendar.go): the rules, the transition table, access decisions,
//     number formatting and input checks, in Go. It holds no SQL and
//     speaks to the store through named operations (loadEntryForAct,
//     registerEntry, insertEvents, updateEntry, loadView, InsertRegistry,
//     ...).
//   - The store (store.go, store_*.go, rows.go): every statement of the
//     workflow and its row types. store.go is the txn, the work of one call
//     on the database: on PostgreSQL its statements are queued and sent in
//     as few round trips as the call allows (pipelined, the writes joined,
//     a stale version checked by row count), on SQLite run one by one in
//     the call's transaction; store_<area>.go hold the statements of an
//     area (principal, entries, correspondence, referrals, events, view,
//     organisation, attachments).
//
// A letter's transition (Act) runs: calls.go Service.Act → principal.go
// asCaller → entries.go act → readTransition (one round trip:
// txn.principal, loadEntryForAct, the action's reads) → checkEntryRule
// (transitions.go, access.go) → transition.write (the action's handler;
// numbering.go's template, store_entries.go registerEntry for a number;
// insertEvents and updateEntry queued) → store.go commit, the writes sent
// with COMMIT.
package workflow

import (
	"context"
	"io"
	"log/slog"
	"time"

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
	beforeCommit txHook
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
	// regSearch keeps the registries as the recipient picker searches
	// them (registry_search.go).
	regSearch registrySearchCache

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
