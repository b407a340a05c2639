// Package mailstore keeps users' mail: mailboxes with their IMAP state
// (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ), the messages in them with UID,
// MODSEQ, flags, internal date and the parsed envelope and body structure,
// the raw messages as content-addressed blobs stored once however many
// mailboxes hold them, per-user quotas, search, and the change feed that
// tells sessions what changed.
//
// It is protocol neutral: it never imports go-imap or go-smtp; adapters
// translate. Every call is scoped by the user ID it is given: no call reaches
// another user's mailboxes, whatever names or IDs it is passed. Its tables
// are mail_users, mailboxes, messages and mailbox_messages; what it needs to
// know of users (that they exist, their quotas) it asks its Directory, never
// the directory's tables.
//
// Durability: Append and Deliver return only after the blob is stored
// (fsynced, or acknowledged by S3) and the metadata transaction committed;
// every other change returns after its commit. UIDs and MODSEQs are
// allocated in that transaction (the mailbox row is updated with RETURNING
// and stays locked until commit), so they are unique and gapless with any
// number of writers on SQLite and PostgreSQL. Change-feed events are
// published after commit and before the call returns, never for a
// transaction that rolled back, and for one mailbox in MODSEQ order.
//
// Raw messages are stored once, under "msg/<aa>/<sha256>", with one
// messages row that counts its references; Sweep removes blob and row some
// time after the last reference went (sweep.go explains why that is safe
// beside a new delivery of the same content). The one leak: a process that
// dies between storing a blob and recording it leaves a blob no row names.
package mailstore

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"time"

	"diwan.gov.sy/diwan/internal/blob"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/message"
)

// Errors. Callers test with errors.Is; returned errors wrap them with detail
// for the log.
var (
	ErrNotFound    = errors.New("mailstore: no such mailbox or message")
	ErrExists      = errors.New("mailstore: mailbox exists")
	ErrInvalidName = errors.New("mailstore: invalid mailbox name")
	// ErrOverQuota: storing the message would take the user over their
	// quota. Nothing was stored.
	ErrOverQuota = errors.New("mailstore: over quota")
	// ErrTooBig: the message is larger than Options.MaxMessageBytes.
	// Nothing was stored.
	ErrTooBig = errors.New("mailstore: message too big")
	// ErrInvalidFlag: a flag that is neither a system flag nor a keyword
	// atom (RFC 9051 §9), or more than 256 keywords in one mailbox.
	// \Recent is ignored where flags are set: clients cannot set it.
	ErrInvalidFlag = errors.New("mailstore: invalid flag")
	// ErrHasChildren: DELETE of a mailbox that has child mailboxes
	// (RFC 9051 §6.3.4 lets the server refuse).
	ErrHasChildren = errors.New("mailstore: mailbox has children")
	// ErrProtected: INBOX cannot be deleted; a mailbox cannot be renamed
	// to itself or under itself.
	ErrProtected = errors.New("mailstore: operation not allowed on this mailbox")
	// ErrTooMany: the user has MaxMailboxes mailboxes already.
	ErrTooMany = errors.New("mailstore: too many mailboxes")
)

// Limits.
const (
	// MaxNameLen is the longest mailbox name in bytes (UTF-8), and
	// MaxNameDepth the most '/'-separated levels.
	MaxNameLen   = 512
	MaxNameDepth = 32
	// MaxMailboxes is the most mailboxes one user may have.
	MaxMailboxes = 1000
	// DefaultMaxMessageBytes is Options.MaxMessageBytes when zero
	// (smtp.max_message_bytes' default).
	DefaultMaxMessageBytes = 50 << 20
)

// Separator is the hierarchy delimiter of mailbox names.
const Separator = '/'

// Inbox is the canonical name of the inbox; any case of "inbox" means it.
const Inbox = "INBOX"

// SPECIAL-USE attributes (RFC 6154).
const (
	UseSent    = `\Sent`
	UseDrafts  = `\Drafts`
	UseTrash   = `\Trash`
	UseJunk    = `\Junk`
	UseArchive = `\Archive`
)

// DefaultMailboxes are created by EnsureUser: name → SPECIAL-USE ("" for
// INBOX).
var DefaultMailboxes = []struct{ Name, SpecialUse string }{
	{Inbox, ""},
	{"Sent", UseSent},
	{"Drafts", UseDrafts},
	{"Trash", UseTrash},
	{"Junk", UseJunk},
	{"Archive", UseArchive},
}

// System flags (RFC 9051 §2.3.2). Flags are passed and returned in this
// spelling; keywords (any other atom, such as $Forwarded or $Junk) are kept
// as given and compared without regard to case.
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
)

// Blobs is the part of blob.Store the mail store uses; *blob.FS and *blob.S3
// satisfy it. PutKey must be durable when it returns nil and must replace
// an existing object atomically (the content is the same: keys are SHA-256).
type Blobs interface {
	PutKey(ctx context.Context, key string, r io.Reader, size int64) (blob.Info, error)
	OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	Delete(ctx context.Context, key string) error
}

// Directory is what the store needs to know of the users whose mail it
// keeps; internal/directory implements it (users are its table, never read
// here).
type Directory interface {
	// Quota returns the mail storage quota in bytes (0: unlimited) of each
	// of userIDs that names a user; an ID that names no user is absent
	// from the map. It reads the current value every call: the store
	// checks the usage against it in its own conditional update, so that
	// concurrent writes never take a user over the quota together.
	Quota(ctx context.Context, userIDs []int64) (map[int64]int64, error)
}

// Options configures a Store.
type Options struct {
	DB    *db.DB
	Blobs Blobs
	// Directory knows the users and their quotas; required.
	Directory Directory
	// Feed receives the change events; nil makes a NewLocalFeed.
	Feed Feed
	// MaxMessageBytes bounds a message; 0 means DefaultMaxMessageBytes.
	MaxMessageBytes int64
	// SpoolDir holds temporary files of messages too big to spool in
	// memory; it must exist (serve makes data_dir/spool at start). "" is
	// os.TempDir().
	SpoolDir string
	// MemorySpool is the largest message spooled in memory; 0 means 1 MiB.
	MemorySpool int64
	// SweepGrace is how long an unreferenced message stays before Sweep
	// may delete it; 0 means one hour. It must be longer than any Append
	// or Deliver takes (they are bounded by PutTimeout).
	SweepGrace time.Duration
	// PutTimeout bounds storing one blob; 0 means 10 minutes. It must be
	// at most half of SweepGrace (New refuses otherwise).
	PutTimeout time.Duration
	// ExpungedRetention is how long the UIDs of expunged messages are kept
	// with their MODSEQ for QRESYNC (Vanished); Sweep prunes older ones.
	// 0 means DefaultExpungedRetention.
	ExpungedRetention time.Duration
	// Location is where SEARCH SINCE/BEFORE/ON dates are counted
	// (time_zone); nil means UTC.
	Location *time.Location
	// Clock returns the time; nil means time.Now.
	Clock  func() time.Time
	Logger *slog.Logger
}

// Mailbox describes one mailbox.
type Mailbox struct {
	ID         int64
	Name       string // UTF-8, '/'-separated; "INBOX" for the inbox
	SpecialUse string // one of the Use* constants, or ""
	Subscribed bool
	// HasChildren reports whether another mailbox of the user is named
	// under this one (filled by Mailboxes; CHILDREN, RFC 3348).
	HasChildren   bool
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	// FirstRecentUID is the lowest UID no session has taken as \Recent
	// yet (ClaimRecent): the messages from it on are recent.
	FirstRecentUID uint32
}

// Status is what STATUS reports (RFC 9051 §6.3.11), read without walking
// the mailbox: counters kept per mailbox and indexed counts.
type Status struct {
	Mailbox
	Messages uint32
	Unseen   uint32
	Deleted  uint32
	Size     int64 // sum of the messages' sizes (STATUS=SIZE)
	// DeletedSize is the sum of the sizes of the messages marked \Deleted
	// (STATUS DELETED-STORAGE, RFC 9208 §4.4).
	DeletedSize int64
}

// Selected is what SELECT needs (RFC 9051 §6.3.2): the status, the UIDs of
// the messages in ascending order (message sequence number n is UIDs[n-1];
// the only per-message state a session keeps), and the flags in use.
type Selected struct {
	Status
	UIDs []uint32
	// Flags are the system flags and every keyword ever set in the mailbox
	// (FLAGS and PERMANENTFLAGS besides \*).
	Flags []string
	// FirstUnseen is the UID of the first message without \Seen, or 0.
	FirstUnseen uint32
}

// AppendOptions are the optional APPEND arguments (RFC 9051 §6.3.12).
type AppendOptions struct {
	Flags []string
	// InternalDate defaults to the time of the append.
	InternalDate time.Time
}

// Appended is the result of Append (APPENDUID, RFC 4315).
type Appended struct {
	MailboxID   int64
	UIDValidity uint32
	UID         uint32
	ModSeq      uint64
	Size        int64
}

// FetchOptions says what Fetch loads beyond the cheap per-message columns.
type FetchOptions struct {
	Envelope  bool // MessageInfo.Envelope
	Structure bool // MessageInfo.Body (BODYSTRUCTURE, and byte ranges of parts)
	// MailboxOnly reads only what the mailbox keeps of each message (UID,
	// MODSEQ, flags, internal date, size): HeaderSize, SentDate and
	// BlobKey stay zero. For FETCH of those items alone.
	MailboxOnly bool
	// FlagsOnly reads UID, MODSEQ and flags alone, all else zero; the
	// Flags lists may be shared between messages (read them, never
	// change them). For FETCH of UID, FLAGS and MODSEQ.
	FlagsOnly bool
	// ChangedSince skips the messages whose MODSEQ is not above it
	// (CHANGEDSINCE, RFC 7162 §3.1.4); 0: none skipped.
	ChangedSince uint64
}

// MessageInfo is one message as Fetch returns it.
type MessageInfo struct {
	UID          uint32
	ModSeq       uint64
	Flags        []string // system flags first, then keywords; sorted
	InternalDate time.Time
	Size         int64
	// HeaderSize is the size of the message header with its blank line:
	// BODY[HEADER] is the range [0, HeaderSize), BODY[TEXT] the rest.
	HeaderSize int64
	// SentDate is the Date header field's date and time as written, in
	// UTC whatever its zone (see sentClock; zero when missing).
	SentDate time.Time
	// BlobKey names the raw message for OpenRaw.
	BlobKey  string
	Envelope *message.Envelope // with FetchOptions.Envelope
	Body     *message.Part     // with FetchOptions.Structure
}

// FlagOp says how StoreFlags changes flags (RFC 9051 §6.4.6).
type FlagOp int

const (
	FlagsReplace FlagOp = iota // FLAGS
	FlagsAdd                   // +FLAGS
	FlagsRemove                // -FLAGS
)

// FlagUpdate is the new state of one message after StoreFlags.
type FlagUpdate struct {
	UID    uint32
	Flags  []string
	ModSeq uint64
	// Changed: this call changed the flags (ModSeq is the call's new one).
	Changed bool
}

// Copied is the result of Copy and Move (COPYUID, RFC 4315 §3): SrcUIDs[i]
// was copied to DstUIDs[i]; both ascending.
type Copied struct {
	DstMailboxID   int64
	DstUIDValidity uint32
	SrcUIDs        []uint32
	DstUIDs        []uint32
}

// UIDRange is an inclusive range of UIDs.
type UIDRange struct{ Start, Stop uint32 }

// HeaderMatch is SEARCH HEADER field-name string.
type HeaderMatch struct{ Key, Value string }

// Criteria mirrors imap.SearchCriteria without sequence numbers (the session
// turns sequence sets into UID ranges with its UID list before searching;
// "*" must be resolved likewise). All fields must match (AND); zero fields
// match everything. Strings match as case-insensitive substrings in UTF-8
// (message.Fold), including Arabic.
type Criteria struct {
	// UID: for each element, the UID must lie in one of its ranges; an
	// element without ranges matches nothing.
	UID [][]UIDRange

	// Since, Before: internal date; SentSince, SentBefore: the Date
	// header field (the internal date when there is none). Only the
	// calendar date of the given time counts, read as it is (its Year,
	// Month and Day, not converted), and days begin at midnight in
	// Options.Location. Zero = unset. ON d is Since d and Before d+1 day.
	Since      time.Time
	Before     time.Time
	SentSince  time.Time
	SentBefore time.Time

	// Header: HEADER field-name string (RFC 9051 §6.4.4). The keys
	// Subject, From, To, Cc and Bcc (any case; SUBJECT, FROM, … arrive
	// so from go-imap) match the decoded field text, display names and
	// addresses alike; other keys match within that field's lines. An
	// empty Value matches any message having the field.
	Header []HeaderMatch
	Body   []string // BODY: the text parts
	Text   []string // TEXT: the header or the text parts

	Flag    []string // every one set
	NotFlag []string // none set

	Larger  int64 // size > Larger (0: unset)
	Smaller int64 // size < Smaller (0: unset)

	ModSeq uint64 // MODSEQ >= ModSeq (RFC 7162 §3.1.5; 0: unset)

	Not []Criteria    // none of them matches
	Or  [][2]Criteria // at least one of each pair matches
}

// EventKind says what changed.
type EventKind int

const (
	// EventAppend: messages were added (Append, Deliver, Copy, Move into
	// the mailbox). UIDs are the new UIDs, ascending.
	EventAppend EventKind = iota + 1
	// EventFlags: flags changed. UIDs[i] has now Flags[i].
	EventFlags
	// EventExpunge: messages were removed (Expunge, Move out of the
	// mailbox). UIDs ascending.
	EventExpunge
	// EventMailboxDeleted: the mailbox is gone; no events follow for it.
	EventMailboxDeleted
)

// Event is one committed change of one mailbox.
type Event struct {
	Kind      EventKind
	UserID    int64
	MailboxID int64
	// ModSeq is the mailbox's HIGHESTMODSEQ after the change; events of one
	// mailbox are published in increasing ModSeq.
	ModSeq uint64
	UIDs   []uint32
	Flags  [][]string // EventFlags only, parallel to UIDs
	// Messages is the number of messages in the mailbox after the change
	// (EXISTS).
	Messages uint32
	// Origin is the value given to WithOrigin on the context of the call
	// that made the change, or nil: a session that tagged its calls knows
	// its own changes (it reports them itself, as imapserver's trackers
	// expect).
	Origin any
}

// Feed fans committed changes out to subscribers. The in-process feed is
// NewLocalFeed; a PostgreSQL LISTEN/NOTIFY bridge can wrap it (publishing
// to the database and delivering notifications to the local feed) without
// sessions noticing.
type Feed interface {
	// Publish delivers events to the subscribers of their mailboxes,
	// synchronously and in order. The Store calls it after commit and
	// before the changing call returns, for one mailbox never
	// concurrently, so subscribers see a mailbox's events in ModSeq order.
	Publish(events ...Event)
	// Subscribe calls fn for every event of the mailbox until cancel is
	// called. fn runs on the publisher's goroutine: it must be quick and
	// must not block or call the Store (queue the event and return). After
	// cancel returns fn is not called again.
	Subscribe(mailboxID int64, fn func(Event)) (cancel func())
}

// originKey is the context key of WithOrigin.
type originKey struct{}

// WithOrigin tags ctx so that events caused by calls made with it carry
// origin in Event.Origin.
func WithOrigin(ctx context.Context, origin any) context.Context {
	return context.WithValue(ctx, originKey{}, origin)
}

// Usage is a user's storage use and quota.
type Usage struct {
	Bytes int64 // sum of the sizes of the user's messages, per mailbox copy
	Quota int64 // 0: unlimited
}

// RecipientError is one recipient's failure in Deliver.
type RecipientError struct {
	UserID int64
	Err    error
}

func (e *RecipientError) Error() string {
	return "recipient " + strconv.FormatInt(e.UserID, 10) + ": " + e.Err.Error()
}
func (e *RecipientError) Unwrap() error { return e.Err }

// DeliveryError is returned by Deliver when some recipients did not get the
// message (over quota, unknown user); the others did, durably. errors.Is
// sees through it (ErrOverQuota, ErrNotFound).
type DeliveryError struct {
	Delivered []int64 // user IDs that got the message
	Failed    []*RecipientError
}

func (e *DeliveryError) Error() string {
	s := "delivery failed for " + strconv.Itoa(len(e.Failed)) + " recipient(s)"
	if len(e.Failed) > 0 {
		s += ": " + e.Failed[0].Error()
	}
	return s
}

// Unwrap returns the recipients' errors.
func (e *DeliveryError) Unwrap() []error {
	out := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		out[i] = f
	}
	return out
}

// The Store's methods. Every method is safe for concurrent use. Mailbox
// names are given as the client wrote them (UTF-8; any case of "INBOX" is
// the inbox) and validated (ErrInvalidName). Methods that take a mailboxID
// (the selected state) refuse a mailbox of another user, or one since
// deleted, with ErrNotFound.
type api interface {
	// EnsureUser sets up the user's mail on first use: the usage counter
	// and the DefaultMailboxes (subscribed, with their SPECIAL-USE). Later
	// calls only make sure INBOX exists (a default mailbox the user
	// deleted stays deleted). Idempotent, safe to race, remembered per
	// process; call at login (Append, Deliver, CreateMailbox and Select of
	// INBOX call it themselves). An unknown user is ErrNotFound.
	EnsureUser(ctx context.Context, userID int64) error

	// Mailboxes lists all the user's mailboxes, sorted by name, with
	// HasChildren filled. At most MaxMailboxes.
	Mailboxes(ctx context.Context, userID int64) ([]Mailbox, error)
	// Mailbox returns one mailbox by name.
	Mailbox(ctx context.Context, userID int64, name string) (Mailbox, error)
	// CreateMailbox creates name and any missing parents (RFC 9051 §6.3.4);
	// specialUse is "" or a Use* constant (CREATE-SPECIAL-USE, RFC 6154).
	// An existing name is ErrExists.
	CreateMailbox(ctx context.Context, userID int64, name, specialUse string) (Mailbox, error)
	// DeleteMailbox removes the mailbox and its messages (references go;
	// the blobs follow with Sweep). INBOX is ErrProtected; a mailbox with
	// children is ErrHasChildren. Publishes EventMailboxDeleted.
	DeleteMailbox(ctx context.Context, userID int64, name string) error
	// RenameMailbox renames the mailbox and every mailbox under it
	// (children follow, keeping IDs, UIDVALIDITY and UIDs), creating
	// missing parents of the new name. Renaming INBOX moves its messages
	// to a new mailbox of the new name and leaves INBOX empty
	// (RFC 9051 §6.3.6). An existing new name is ErrExists; a name under
	// itself is ErrProtected.
	RenameMailbox(ctx context.Context, userID int64, oldName, newName string) error
	// ClaimRecent takes the \Recent flag of the messages with UIDs in
	// [FirstRecentUID, upto) for the caller and returns the old
	// FirstRecentUID; a message's flag is taken once, by one caller, on
	// every node.
	ClaimRecent(ctx context.Context, userID, mailboxID int64, upto uint32) (from uint32, err error)
	// CountRecent counts the messages from FirstRecentUID on.
	CountRecent(ctx context.Context, userID, mailboxID int64) (uint32, error)
	// SetSubscribed subscribes or unsubscribes a name, a mailbox or not;
	// DeleteMailbox keeps a mailbox's subscription (RFC 3501 §6.3.6).
	SetSubscribed(ctx context.Context, userID int64, name string, subscribed bool) error
	// Subscriptions returns the subscribed names that are not mailboxes.
	Subscriptions(ctx context.Context, userID int64) ([]string, error)

	// Status reads a mailbox's counters by name.
	Status(ctx context.Context, userID int64, name string) (Status, error)
	// Select returns what SELECT/EXAMINE needs; memory is the UID list,
	// 4 bytes a message. Everything comes from one snapshot (REPEATABLE
	// READ on PostgreSQL): a session that subscribes to the feed before
	// Select and drops the events with ModSeq <= Selected.HighestModSeq
	// sees every later change exactly once.
	Select(ctx context.Context, userID int64, name string) (Selected, error)
	// UIDs returns the UIDs of the mailbox, ascending (to resynchronise a
	// session).
	UIDs(ctx context.Context, userID, mailboxID int64) ([]uint32, error)

	// Append stores raw in the named mailbox (APPEND). It spools and
	// parses the message, stores the blob, and inserts the message with
	// the next UID, all before it returns. It reads raw to io.EOF; any
	// other read error (io.ErrUnexpectedEOF for a dropped client) stores
	// nothing and is returned. Over the size limit is ErrTooBig (having
	// read at most MaxMessageBytes+1 bytes), over quota ErrOverQuota,
	// both storing nothing. Broken MIME is stored as it came. Publishes
	// EventAppend before it returns.
	Append(ctx context.Context, userID int64, mailbox string, raw io.Reader, o AppendOptions) (Appended, error)
	// Deliver stores raw once and puts it in the INBOX of every recipient
	// (user IDs, duplicates ignored), creating the default mailboxes when
	// missing. It returns nil when every recipient got it; a
	// *DeliveryError when some did not (those that did have it durably);
	// ErrTooBig (nobody got it) or another error when none did.
	Deliver(ctx context.Context, recipients []int64, raw io.Reader) error

	// Fetch calls fn for each message of uids (as the session resolved
	// them; empty: nothing) that is still in the mailbox, in UID order,
	// loading them in batches of 256: memory does not grow with the
	// number of UIDs. UIDs no longer present are skipped. An error from
	// fn stops Fetch and is returned. No database connection or lock is
	// held while fn runs, so fn may call the Store (OpenRaw to stream a
	// body section, for one).
	Fetch(ctx context.Context, userID, mailboxID int64, uids []uint32, o FetchOptions, fn func(*MessageInfo) error) error
	// OpenRaw returns length bytes of a raw message from offset (length
	// -1: to the end), as blob.Store.OpenRange. The key comes from a
	// MessageInfo of the same user.
	OpenRaw(ctx context.Context, blobKey string, offset, length int64) (io.ReadCloser, error)

	// Search returns the UIDs (ascending) of the mailbox's messages that
	// match c. Flags, dates, sizes, UIDs and the search text are evaluated
	// in SQL.
	Search(ctx context.Context, userID, mailboxID int64, c *Criteria) ([]uint32, error)

	// StoreFlags changes the flags of uids (STORE, RFC 9051 §6.4.6) and
	// returns the new state of each message present, changed or not
	// (ascending; empty uids: nothing).
	// Messages whose flags change get a new MODSEQ (one per call); if any
	// changed, publishes EventFlags for them. New keywords join the
	// mailbox's flags in use.
	StoreFlags(ctx context.Context, userID, mailboxID int64, uids []uint32, op FlagOp, flags []string) ([]FlagUpdate, error)

	// StoreFlagsUnchangedSince is StoreFlags for STORE (UNCHANGEDSINCE n)
	// (RFC 7162 §3.1.3): messages whose MODSEQ is above unchangedSince
	// keep their flags, are absent from the updates and are returned in
	// modified, ascending.
	StoreFlagsUnchangedSince(ctx context.Context, userID, mailboxID int64, uids []uint32, op FlagOp, flags []string, unchangedSince uint64) (updates []FlagUpdate, modified []uint32, err error)
	// Changed returns UID, flags and MODSEQ of the messages whose MODSEQ
	// is above since, ascending by UID (QRESYNC, CHANGEDSINCE), from an
	// index on MODSEQ: its cost follows the number of changes, not the
	// size of the mailbox.
	Changed(ctx context.Context, userID, mailboxID int64, since uint64) ([]FlagUpdate, error)
	// Vanished returns the UIDs expunged from the mailbox (EXPUNGE, MOVE,
	// RENAME of INBOX) at a MODSEQ above since, ascending, and whether the
	// list is complete: records are kept Options.ExpungedRetention, and
	// when since is older than the oldest kept, UIDs may be missing.
	Vanished(ctx context.Context, userID, mailboxID int64, since uint64) (uids []uint32, complete bool, err error)

	// Copy copies uids into the mailbox named dest (COPY, RFC 9051 §6.4.7)
	// with their flags and internal dates, new UIDs in the same order.
	// Checks the quota. Publishes EventAppend on dest. A missing dest is
	// ErrNotFound (TRYCREATE) even when no UID is present; no UID present
	// is an empty Copied and no change.
	Copy(ctx context.Context, userID, mailboxID int64, uids []uint32, dest string) (Copied, error)
	// Move is Copy and the removal of the source messages in one
	// transaction (MOVE, RFC 6851). Publishes EventAppend on dest and
	// EventExpunge on the source.
	Move(ctx context.Context, userID, mailboxID int64, uids []uint32, dest string) (Copied, error)

	// Expunge removes the messages with \Deleted (EXPUNGE), or only those
	// of uids with \Deleted when uids is not nil (UID EXPUNGE, RFC 4315
	// §2.1), and returns their UIDs ascending. Publishes EventExpunge.
	Expunge(ctx context.Context, userID, mailboxID int64, uids []uint32) ([]uint32, error)

	// Usage returns the user's storage use and quota.
	Usage(ctx context.Context, userID int64) (Usage, error)

	// Sweep deletes the blobs (and rows) of messages that no mailbox has
	// referenced for Options.SweepGrace, and returns how many. It also
	// prunes the records of expunged UIDs older than
	// Options.ExpungedRetention. Safe to run
	// beside deliveries of the same content and on several nodes at once.
	Sweep(ctx context.Context) (int, error)
	// RunSweeper calls Sweep every interval until ctx is done, logging
	// errors.
	RunSweeper(ctx context.Context, interval time.Duration)

	// Feed is the store's change feed, for subscribing.
	Feed() Feed
}

var _ api = (*Store)(nil)
