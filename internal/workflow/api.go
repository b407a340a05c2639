package workflow

import (
	"errors"
	"fmt"
	"time"

	"diwan.gov.sy/diwan/internal/input"
)

// ---------------------------------------------------------------------------
// Errors

// Sentinel errors, wrapped with the object they concern; test with
// errors.Is. Their texts are safe to show a client.
var (
	// ErrNotFound: no such object, or one the actor may not see (another
	// ministry's entry, a classified document without clearance, any content
	// for an administrator). The two are never told apart. HTTP 404.
	ErrNotFound = errors.New("not found")
	// ErrForbidden: the actor may not make this change although they may see
	// the object, or a non-administrator tried to change the organisation,
	// or the account is disabled. HTTP 403.
	ErrForbidden = errors.New("not allowed")
	// ErrCredentialStale: the directory's facts of the actor (Actor.Facts)
	// were read at another version of org_state than the engine's: the
	// organisation, the user or their credential changed since. Nothing was
	// read out or changed; check the credential again (for an API token,
	// directory.RecheckToken) and call again with the fresh facts.
	ErrCredentialStale = errors.New("the caller's credential must be checked again")
	// ErrExists: a registry or department code in use. HTTP 409.
	ErrExists = errors.New("already exists")
	// ErrInvalidTransition: the action is not allowed from the entry's or
	// referral's current state. Returned as a *TransitionError that names
	// the state. HTTP 409.
	ErrInvalidTransition = errors.New("invalid transition")
	// ErrConflict: the state allows the action but the letter's situation
	// does not (recall after a recipient registered it); returned as a
	// *TransitionError. Also an upload during which the organisation
	// changed (the caller's rights must be read again, and the upload
	// cannot be). HTTP 409.
	ErrConflict = errors.New("conflict")
	// ErrStaleVersion: the version given is not the object's current one
	// (someone changed it meanwhile); reload and retry. Returned as a
	// *StaleError. HTTP 409.
	ErrStaleVersion = errors.New("stale version")
	// ErrTooLarge: an attachment over workflow.max_attachment_bytes, or a
	// letter over workflow.max_letter_bytes. Nothing was stored. HTTP 413.
	ErrTooLarge = errors.New("too large")
)

type InputError = input.Error // bad input: the field's JSON name and a sentence for the person who typed it

// TransitionError is a refused transition: the action, the object's kind
// ("entry", "referral") and its current state. It matches
// ErrInvalidTransition, or ErrConflict when Conflict is set.
type TransitionError struct {
	Object   string // "entry" or "referral"
	ID       int64
	Action   Action
	State    State
	Reason   string // why ("a recipient has registered it"); always set for ErrConflict
	Conflict bool
}

func (e *TransitionError) Error() string {
	if e.Conflict {
		return fmt.Sprintf("%s %d: cannot %s: %s", e.Object, e.ID, e.Action, e.Reason)
	}
	msg := fmt.Sprintf("%s %d is %s: %s is not allowed in that state", e.Object, e.ID, e.State, e.Action)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// Is makes errors.Is(err, ErrInvalidTransition) (or ErrConflict) work.
func (e *TransitionError) Is(target error) bool {
	if e.Conflict {
		return target == ErrConflict
	}
	return target == ErrInvalidTransition
}

// StaleError is a stale version: the one given and the current one.
// It matches ErrStaleVersion.
type StaleError struct {
	Object  string // "entry" or "referral"
	ID      int64
	Given   int64
	Current int64
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("%s %d has changed: version %d given, the current version is %d", e.Object, e.ID, e.Given, e.Current)
}

// Is makes errors.Is(err, ErrStaleVersion) work.
func (e *StaleError) Is(target error) bool { return target == ErrStaleVersion }

// ---------------------------------------------------------------------------
// Vocabulary

// Kind of correspondence.
type Kind string

const (
	KindLetter   Kind = "letter"
	KindMemo     Kind = "memo"
	KindCircular Kind = "circular"
)

// Classification of a document; a reader needs at least that clearance.
type Classification string

const (
	Normal       Classification = "normal"
	Confidential Classification = "confidential"
	Secret       Classification = "secret"
)

// Clearance is what a user may read: Normal, Confidential or Secret
// (the same words as Classification). Everyone has at least Normal.
type Clearance = Classification

// Priority sets the default deadline (workflow.deadlines).
type Priority string

const (
	PriorityNormal    Priority = "normal"
	PriorityUrgent    Priority = "urgent"
	PriorityImmediate Priority = "immediate"
)

// Direction of an entry in its registry's book.
type Direction string

const (
	Outgoing Direction = "outgoing" // صادر, "ص" in numbers
	Incoming Direction = "incoming" // وارد, "و" in numbers
)

// State of an entry, a recipient or a referral.
type State string

// Outgoing entry states: draft → (in_approval → approved →) registered →
// dispatched → closed; recalled (dispatched, no recipient registered it
// yet); cancelled (from any state before dispatch; a registered entry keeps
// its number).
const (
	StateDraft      State = "draft"
	StateInApproval State = "in_approval"
	StateApproved   State = "approved"
	StateRegistered State = "registered" // outgoing and incoming
	StateDispatched State = "dispatched"
	StateClosed     State = "closed" // outgoing, incoming, referral
	StateRecalled   State = "recalled"
	StateCancelled  State = "cancelled"
)

// Incoming entry states: received → registered → referred → in_progress →
// answered | closed, or returned (from received or registered, with a
// reason). An incoming entry whose letter the sender recalled before it was
// registered is recalled.
const (
	StateReceived   State = "received"
	StateReferred   State = "referred" // also a referral passed on
	StateInProgress State = "in_progress"
	StateAnswered   State = "answered" // also a referral answered
	StateReturned   State = "returned" // also a recipient that returned it
)

// Recipient states: pending → delivered → acknowledged (their incoming
// number) | returned (their reason); recalled when the sender recalls.
// An outside party is delivered at dispatch (sent on paper) and stays so.
const (
	StatePending      State = "pending"
	StateDelivered    State = "delivered"
	StateAcknowledged State = "acknowledged"
)

// Referral states: open → accepted → answered | closed; referred when
// passed on (the new referral is open); closed from any state but closed.
const (
	StateOpen     State = "open"
	StateAccepted State = "accepted"
)

// Action is a transition's name, as in POST /api/v1/entries/{id}/{action}
// and POST /api/v1/referrals/{id}/{action}.
type Action string

// Entry actions.
const (
	ActionSubmit   Action = "submit"   // draft → in_approval (registry needs approval)
	ActionApprove  Action = "approve"  // in_approval → approved (a head)
	ActionReject   Action = "reject"   // in_approval → draft, with a reason (a head)
	ActionRegister Action = "register" // draft|approved → registered; received → registered
	ActionDispatch Action = "dispatch" // registered → dispatched
	ActionRecall   Action = "recall"   // dispatched → recalled (one registry of a circular: stays dispatched)
	ActionForward  Action = "forward"  // registered|dispatched → dispatched: one more registry, delivered
	ActionRefer    Action = "refer"    // registered|referred|in_progress → referred (creates a referral)
	ActionStart    Action = "start"    // registered|referred → in_progress
	ActionAnswer   Action = "answer"   // registered|referred|in_progress → answered
	ActionClose    Action = "close"    // dispatched → closed; registered…answered → closed
	ActionReturn   Action = "return"   // received|registered → returned, with a reason
	ActionCancel   Action = "cancel"   // draft…registered → cancelled (number kept)
)

// Referral actions (besides ActionRefer, ActionAnswer and ActionClose).
const (
	ActionAccept  Action = "accept"  // open → accepted
	ActionComment Action = "comment" // no change of state
)

// RecipientRole says how a recipient is addressed.
type RecipientRole string

const (
	RoleTo RecipientRole = "to"
	RoleCC RecipientRole = "cc"
)

// Relation of a reference to earlier correspondence.
type Relation string

const (
	RelationReplyTo Relation = "reply_to" // registering the reply answers that letter's incoming entry
	RelationRelated Relation = "related"
)

// Referral instructions. Any other non-empty text is a free instruction.
const (
	InstructionInformation = "information" // للاطلاع
	InstructionStudy       = "study"       // للدراسة وإبداء الرأي
	InstructionAction      = "action"      // لإجراء اللازم
)

// DefaultTemplate formats register numbers when a registry names none:
// "MOCT/ص/2026/000123". Placeholders: {registry} (the code), {dir} (ص or و),
// {year}, {seq} or {seq:0N} (zero-padded to N digits). {dir}, {year} and
// {seq} are required.
const DefaultTemplate = "{registry}/{dir}/{year}/{seq:06}"

// ---------------------------------------------------------------------------
// Who is calling

// Actor is who calls the engine. The engine resolves the rest — ministry,
// roles, whether they are disabled (the directory's facts), the registries
// they clerk for, their department, the departments they head, their
// clearance (its own) — at the start of each call, keeping it between calls
// only while org_state's version has not moved (principal.go), so a change
// of membership takes effect at once.
type Actor struct {
	// UserID is the directory user (directory.User.ID); 0 for an operator.
	UserID int64
	// Login is the user's login, for messages; the engine trusts UserID.
	Login string
	// Operator names an operator of the command line ("cli:root"), who may
	// manage the organisation and sees no content. Empty for users.
	Operator string
	// Facts, when set, are the directory's facts of the user as the
	// caller's credential gave them (the HTTP layer fills them from the
	// directory.Principal of the session or token). The engine trusts them
	// only at the version of org_state it reads in the call's first round
	// trip; at another, the call fails with ErrCredentialStale before
	// anything is decided, read out or changed. Nil makes the engine ask
	// Options.Directory.
	Facts *PrincipalFacts
}

// UserActor is the actor for a logged-in directory user.
func UserActor(id int64, login string) Actor { return Actor{UserID: id, Login: login} }

// OperatorActor is the actor for the command line; name is the audit actor
// ("cli:root").
func OperatorActor(name string) Actor { return Actor{Operator: name} }

// ---------------------------------------------------------------------------
// Organisation

// Registry is a registry (ديوان) of a ministry: it keeps the books of
// incoming and outgoing correspondence and has a mailbox address.
type Registry struct {
	Code     string // "MOCT", "MOCT-HQ": upper-case ASCII letters, digits, "_", "-"; 2 to 32; unique
	Ministry string // ministry code
	NameAR   string
	NameEN   string
	// Address is the registry's mailbox, on a domain hosted for its ministry.
	Address string
	// Template formats its register numbers; "" means DefaultTemplate.
	Template string
	// ApprovalRequired makes an outgoing draft need a head's approval
	// before registration.
	ApprovalRequired bool
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// RegistryUpdate changes a registry; nil fields stay as they are. The code
// and the ministry never change.
type RegistryUpdate struct {
	NameAR           *string
	NameEN           *string
	Address          *string
	Template         *string
	ApprovalRequired *bool
}

// Department is a department of a ministry, in a tree.
type Department struct {
	Code      string // unique within its ministry; same rule as registry codes
	Ministry  string
	NameAR    string
	NameEN    string
	Parent    string // parent department's code; "" at the top
	Head      string // the head's login; "" when none
	CreatedAt time.Time
	UpdatedAt time.Time
}

// DepartmentUpdate changes a department; nil fields stay. An empty Parent
// or Head removes it.
type DepartmentUpdate struct {
	NameAR *string
	NameEN *string
	Parent *string
	Head   *string
}

// Membership is where a user works and what they may read.
type Membership struct {
	User       string    // login
	Ministry   string    // the user's ministry
	Registries []string  // codes of the registries they clerk for, sorted
	Department string    // code of their department; "" for none
	Heads      []string  // codes of the departments they head, sorted
	Clearance  Clearance // Normal when never set
}

// MembershipChange changes a membership; zero fields stay.
type MembershipChange struct {
	// AddRegistry makes the user a clerk of that registry (of their
	// ministry; the user must hold the clerk role).
	AddRegistry string
	// RemoveRegistry ends their clerkship there.
	RemoveRegistry string
	// Department moves them to that department of their ministry; nil
	// leaves it, "" removes it.
	Department *string
	// Clearance sets their clearance; "" leaves it.
	Clearance Clearance
}

// ---------------------------------------------------------------------------
// Correspondence

// Correspondence is one document. It may change while its outgoing entry is
// a draft (UpdateDraft, attachments) and is frozen once registered.
type Correspondence struct {
	ID             int64
	Kind           Kind
	Subject        string
	Body           string
	Classification Classification
	Priority       Priority
	// SenderRegistry is the code of the registry that sends it; "" for a
	// letter from an outside party (SenderParty).
	SenderRegistry string
	SenderParty    string
	// Department is the drafting department (its head approves), "" none.
	Department  string
	DueDate     string // YYYY-MM-DD in time_zone; "" none
	Recipients  []Recipient
	References  []Reference
	Attachments []Attachment
	CreatedBy   string // login of the author; "" for an operator
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// FrozenAt is when it was registered (and could no longer change);
	// zero before. DocumentSHA256 is then the hex SHA-256 of the frozen
	// document (its fields and its attachments' SHA-256 sums).
	FrozenAt       time.Time
	DocumentSHA256 string
}

// Recipient is one addressee of a correspondence: a registry here, or an
// outside party (citizen, company, body without Diwan) by name. Delivery
// fields (State and after) are shown only to those who see the sender's
// entry; others see zero values there.
type Recipient struct {
	Registry string        // registry code; "" for an outside party
	Party    string        // outside party's name; "" for a registry
	Role     RecipientRole // to or cc
	State    State         // pending, delivered, acknowledged, returned, recalled
	Number   string        // their incoming number once acknowledged
	Reason   string        // why they returned it
	At       time.Time     // of the last change of State; zero while pending
}

// Reference points at earlier correspondence.
type Reference struct {
	ID       int64
	Relation Relation
}

// Attachment is a file of a correspondence. The content is in the blob
// store; only Open reads it.
type Attachment struct {
	ID               int64
	CorrespondenceID int64
	Name             string // display text only: base name, no control characters, ≤ 255 bytes
	ContentType      string // sniffed from the content, never the client's claim
	Size             int64
	SHA256           string // lowercase hex
	CreatedBy        string // login
	CreatedAt        time.Time
}

// Entry is a registry's record of a correspondence, with its own direction,
// number and state. Version grows with every change; every transition must
// name the current one.
type Entry struct {
	ID               int64
	CorrespondenceID int64
	Registry         string // code
	Direction        Direction
	Number           string // formatted register number; "" until registered
	Year             int    // of the number, in time_zone; 0 until registered
	Seq              int64  // of the number; 0 until registered
	State            State
	Version          int64
	DueDate          string    // YYYY-MM-DD; "" none
	Reason           string    // of the last return, rejection or cancellation
	RegisteredAt     time.Time // zero until registered
	CreatedAt        time.Time
	UpdatedAt        time.Time
	// AnsweredBy is the correspondence that answered this incoming entry
	// (0 when none or not answered by a reply).
	AnsweredBy int64
	// What an incoming entry's register recorded of the sender when the
	// letter was dispatched to it: the sender's outgoing number and its
	// registration time, and the due date the sender asked a reply by
	// (DueDate is the entry's own, counted from receipt). Empty and zero
	// otherwise.
	SenderNumber       string
	SenderRegisteredAt time.Time
	ReplyRequestedBy   string
	// Summary of the document, for lists.
	Kind           Kind
	Subject        string
	Classification Classification
	Priority       Priority
	// Actions are the transitions the actor may make now.
	Actions []Action
}

// TimelineEvent is one change in a correspondence's life, as far as the
// actor may see it.
type TimelineEvent struct {
	At         time.Time
	Actor      string // login, or the operator's name
	Action     string // "create", "edit", an Action, "deliver", "acknowledge", "attach", ...
	EntryID    int64  // 0 when not about an entry
	ReferralID int64  // 0 when not about a referral
	Registry   string // the entry's registry code, "" for none
	From       State
	To         State
	Comment    string
}

// View is a correspondence as the actor sees it.
type View struct {
	Correspondence Correspondence
	// Entries are the entries of it the actor may see, their own
	// registry's first (outgoing before incoming); never empty.
	Entries  []Entry
	Timeline []TimelineEvent
}

// NewCorrespondence is a new outgoing draft.
type NewCorrespondence struct {
	Kind           Kind           // "" means KindLetter
	Subject        string         // required, ≤ 500 characters
	Body           string         // ≤ workflow.max_letter_bytes
	Classification Classification // "" means Normal
	Priority       Priority       // "" means PriorityNormal
	SenderRegistry string         // required: a registry of the actor's ministry they clerk for, or (for a head or staff) of their ministry
	Department     string         // optional drafting department; "" means the actor's
	Recipients     []RecipientInput
	DueDate        string // YYYY-MM-DD; "" means the default for the priority
	References     []Reference
}

// RecipientInput names one addressee: Registry or Party, not both.
type RecipientInput struct {
	Registry string
	Party    string
	Role     RecipientRole // "" means RoleTo
}

// DraftUpdate edits a draft; nil fields stay. Recipients and References,
// when non-nil, replace the lists.
type DraftUpdate struct {
	Kind           *Kind
	Subject        *string
	Body           *string
	Classification *Classification
	Priority       *Priority
	Department     *string
	DueDate        *string
	Recipients     *[]RecipientInput
	References     *[]Reference
}

// NewIncoming is a letter from an outside party, registered by hand.
type NewIncoming struct {
	Registry       string // the receiving registry (the actor clerks for it)
	SenderParty    string // required
	Kind           Kind
	Subject        string
	Body           string
	Classification Classification
	Priority       Priority
	DueDate        string
	References     []Reference
}

// Transition is an action on an entry.
type Transition struct {
	Action  Action
	Version int64 // required: the entry's current version
	// Reason is required for return, reject and the cancellation of a
	// registered entry.
	Reason  string
	Comment string // optional note kept in the timeline
	// For refer: one of ToUser (a login) or ToDepartment (a code), inside
	// the entry's ministry; Instruction; DueDate ("" means the entry's).
	ToUser       string
	ToDepartment string
	Instruction  string
	DueDate      string
	// For answer: the correspondence that answers it (optional).
	Reply int64
	// For forward: the registry (code) the letter goes to besides its
	// recipients. For recall (optional): the one recipient registry to
	// recall it from; "" recalls it from all.
	Registry string
}

// Referral is a referral of an incoming entry to a department or a person.
type Referral struct {
	ID               int64
	EntryID          int64
	CorrespondenceID int64
	ParentID         int64  // the referral it was passed on from; 0 for the first
	From             string // login of who referred
	ToUser           string // login; "" when to a department
	ToDepartment     string // code; "" when to a person
	Instruction      string
	DueDate          string // YYYY-MM-DD
	State            State
	Version          int64
	Answer           string
	CreatedAt        time.Time
	UpdatedAt        time.Time
	// Summary of the document.
	Subject        string
	Classification Classification
	Priority       Priority
	Registry       string // of the entry
	Number         string // of the entry
	// Actions are the transitions the actor may make now.
	Actions []Action
}

// ReferralTransition is an action on a referral.
type ReferralTransition struct {
	Action  Action // accept, comment, refer, answer, close
	Version int64  // required: the referral's current version
	Comment string // comment: required; others: optional note
	// Answer is the text of an answer (required for answer).
	Answer string
	// For refer: as Transition.
	ToUser       string
	ToDepartment string
	Instruction  string
	DueDate      string
}

// ListFilter selects entries. Only entries the actor may see are listed.
type ListFilter struct {
	Registry  string    // code; "" for every registry the actor sees
	Direction Direction // "" for both
	State     State     // "" for all
	Query     string    // substring of the subject or the number
	Limit     int       // 0 means 50; at most 500
	Offset    int
}

// ReferralFilter selects referrals. Only referrals the actor may see are
// listed.
type ReferralFilter struct {
	// Mine limits to referrals to the actor or their department (and, for
	// a head, the departments they head).
	Mine    bool
	State   State
	EntryID int64
	Limit   int // 0 means 50; at most 500
	Offset  int
}

// Page is one page of a list and the total number of items matching.
type Page[T any] struct {
	Items []T
	Total int64
}

// Verification is what the public verification page shows of a registered
// letter.
type Verification struct {
	Registry       string
	Direction      Direction
	Number         string
	RegisteredAt   time.Time
	DocumentSHA256 string
	// Subject is shown only for Normal classification; "" otherwise.
	Subject string
	// Signed reports whether a registry signature exists and checks; false
	// until registry keys arrive.
	Signed bool
	// State is the entry's state (a cancelled registration keeps its
	// number and shows as cancelled).
	State State
	// Valid reports whether the letter is in force: registered and
	// neither cancelled nor recalled.
	Valid bool
}
