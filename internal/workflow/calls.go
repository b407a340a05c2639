package workflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// The service's public methods, the engine's one door (bodies in the files
// named beside each). Each call of an actor runs through asCaller
// (principal.go), which resolves who is calling first and runs the call
// again when the organisation changed under it.

// Organisation (organisation.go). Changes need an administrator or an
// operator (else ErrForbidden); reads need nothing but a caller.

// AddRegistry adds a registry. Bad input is an *InputError ("code",
// "ministry", "name_ar", "name_en", "address" — must be on a domain hosted
// for the ministry —, "template"); a code in use is ErrExists.
func (s *Service) AddRegistry(ctx context.Context, a Actor, r Registry) (Registry, error) {
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) (Registry, error) {
		return s.addRegistry(ctx, a, r)
	})
}

// UpdateRegistry changes a registry; an unknown code is ErrNotFound.
func (s *Service) UpdateRegistry(ctx context.Context, a Actor, code string, u RegistryUpdate) (Registry, error) {
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) (Registry, error) {
		return s.updateRegistry(ctx, a, code, u)
	})
}

// Registries lists registries by code; ministry "" lists all.
func (s *Service) Registries(ctx context.Context, ministry string) ([]Registry, error) {
	return s.registries(ctx, ministry)
}

// Registry returns the registry with that code, or ErrNotFound.
func (s *Service) Registry(ctx context.Context, code string) (Registry, error) {
	return s.registry(ctx, code)
}

// SearchRegistries finds registries (of every ministry) by code and by
// Arabic or English name, for the recipient picker: each word of q must
// be in the code or a name, where the Arabic spelling variants (أ إ آ ا,
// ة ه, ى ي, with or without harakat and tatweel) and upper and lower case
// are alike (registry_search.go). At most limit (≤ 50; 0 means 50) are
// returned, codes starting with q first; an empty q finds none.
func (s *Service) SearchRegistries(ctx context.Context, q string, limit int) ([]Registry, error) {
	return s.searchRegistries(ctx, q, limit)
}

// RegistriesByCode returns the registries with these codes that exist,
// by code (upper case), as SearchRegistries shows them.
func (s *Service) RegistriesByCode(ctx context.Context, codes []string) (map[string]Registry, error) {
	return s.registriesByCode(ctx, codes)
}

// AddDepartment adds a department. Bad input is an *InputError ("code",
// "ministry", "name_ar", "name_en", "parent", "head" — a user of the
// ministry); a code in use in the ministry is ErrExists.
func (s *Service) AddDepartment(ctx context.Context, a Actor, d Department) (Department, error) {
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) (Department, error) {
		return s.addDepartment(ctx, a, d)
	})
}

// UpdateDepartment changes a department; a parent that would make a cycle
// is an *InputError for "parent".
func (s *Service) UpdateDepartment(ctx context.Context, a Actor, ministry, code string, u DepartmentUpdate) (Department, error) {
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) (Department, error) {
		return s.updateDepartment(ctx, a, ministry, code, u)
	})
}

// Departments lists departments by ministry and code; ministry "" lists all.
// The head of another ministry's department is a person's address: the
// actor sees it only with the national address book (Options.NationalUsers)
// or as an administrator; otherwise Head is "".
func (s *Service) Departments(ctx context.Context, a Actor, ministry string) ([]Department, error) {
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) ([]Department, error) {
		return s.departments(ctx, a, ministry)
	})
}

// Department returns one department, or ErrNotFound; its Head as
// Departments shows it.
func (s *Service) Department(ctx context.Context, a Actor, ministry, code string) (Department, error) {
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) (Department, error) {
		return s.department(ctx, a, ministry, code)
	})
}

// SetMembership changes where a user works and their clearance (admins and
// operators). An unknown user is an *InputError for "user"; a registry or
// department of another ministry one for "registry" or "department".
func (s *Service) SetMembership(ctx context.Context, a Actor, login string, c MembershipChange) (Membership, error) {
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) (Membership, error) {
		return s.setMembership(ctx, a, login, c)
	})
}

// Membership returns a user's membership (the user themself, admins and
// operators; others get ErrNotFound).
func (s *Service) Membership(ctx context.Context, a Actor, login string) (Membership, error) {
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) (Membership, error) {
		return s.membership(ctx, a, login)
	})
}

// Correspondence (correspondence.go).

// CreateDraft creates an outgoing draft and its entry at the sender
// registry; it returns the entry (ID, CorrespondenceID, Version).
func (s *Service) CreateDraft(ctx context.Context, a Actor, n NewCorrespondence) (Entry, error) {
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) (Entry, error) {
		return s.createDraft(ctx, a, n)
	})
}

// UpdateDraft edits the draft whose outgoing entry is at version; only in
// state draft. It returns the entry at its new version.
func (s *Service) UpdateDraft(ctx context.Context, a Actor, correspondenceID, version int64, u DraftUpdate) (Entry, error) {
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) (Entry, error) {
		return s.updateDraft(ctx, a, correspondenceID, version, u)
	})
}

// CreateIncoming records a paper letter from an outside party: an incoming
// entry in state received at the registry (the actor clerks for it).
func (s *Service) CreateIncoming(ctx context.Context, a Actor, n NewIncoming) (Entry, error) {
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) (Entry, error) {
		return s.createIncoming(ctx, a, n)
	})
}

// Get returns a correspondence as the actor sees it, or ErrNotFound. A
// read of a confidential or secret document is an audit event.
func (s *Service) Get(ctx context.Context, a Actor, correspondenceID int64) (View, error) {
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) (View, error) {
		return s.get(ctx, a, correspondenceID)
	})
}

// Verify returns what the public verification page shows of a registered
// correspondence. Until that page exists with unguessable links, it follows
// the rule of Get: ErrNotFound when the actor may not read the
// correspondence, as when it was never registered.
func (s *Service) Verify(ctx context.Context, a Actor, correspondenceID int64) (Verification, error) {
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) (Verification, error) {
		return s.verify(ctx, a, correspondenceID)
	})
}

// Entries (entries.go).

// Entries lists the entries the actor may see, newest first.
func (s *Service) Entries(ctx context.Context, a Actor, f ListFilter) (Page[Entry], error) {
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) (Page[Entry], error) {
		return s.entries(ctx, a, f)
	})
}

// Entry returns one entry, or ErrNotFound.
func (s *Service) Entry(ctx context.Context, a Actor, id int64) (Entry, error) {
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) (Entry, error) {
		return s.entry(ctx, a, id)
	})
}

// Register lists a page of a registry's book (registers.go): one registry
// the actor clerks for (another, or none, is ErrNotFound), its entries as
// the actor may see them, filtered and sorted, paged by an opaque cursor.
// Bad filter values and a cursor that is not one are *InputError.
func (s *Service) Register(ctx context.Context, a Actor, f RegisterFilter) (RegisterPage, error) {
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) (RegisterPage, error) {
		return s.register(ctx, a, f)
	})
}

// Act makes a transition of an entry and returns the entry as it now
// stands. Errors: ErrNotFound (cannot see it), *StaleError, *TransitionError
// (wrong state, or a conflict), ErrForbidden (may see it but not do this),
// *InputError (missing reason, bad referral target, no recipients, ...).
func (s *Service) Act(ctx context.Context, a Actor, entryID int64, t Transition) (Entry, error) {
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) (Entry, error) {
		return s.act(ctx, a, entryID, t)
	})
}

// Referrals (referrals.go).

// Referrals lists the referrals the actor may see, newest first.
func (s *Service) Referrals(ctx context.Context, a Actor, f ReferralFilter) (Page[Referral], error) {
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) (Page[Referral], error) {
		return s.referrals(ctx, a, f)
	})
}

// Referral returns one referral, or ErrNotFound.
func (s *Service) Referral(ctx context.Context, a Actor, id int64) (Referral, error) {
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) (Referral, error) {
		return s.referral(ctx, a, id)
	})
}

// ActOnReferral makes a transition of a referral and returns it as it now
// stands (for refer: the referral passed on, now in state referred).
// Errors as Act.
func (s *Service) ActOnReferral(ctx context.Context, a Actor, id int64, t ReferralTransition) (Referral, error) {
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) (Referral, error) {
		return s.actOnReferral(ctx, a, id, t)
	})
}

// Attachments (attachments.go).

// AddAttachment streams r to the blob store as an attachment of the draft
// (or of a received paper letter not yet registered). name is reduced to
// display text; the type is sniffed. Over a limit: ErrTooLarge and nothing
// stored. A read error from r (client gone) stores nothing.
func (s *Service) AddAttachment(ctx context.Context, a Actor, correspondenceID int64, name string, r io.Reader) (Attachment, error) {
	body := &watchedReader{r: r}
	return asCaller(ctx, s, a, func(ctx context.Context, a Actor) (Attachment, error) {
		att, err := s.addAttachment(ctx, a, correspondenceID, name, body)
		if body.read && errors.Is(err, ErrCredentialStale) {
			// The upload is spent: it cannot be sent again.
			err = fmt.Errorf("the organisation changed during the upload; send it again: %w", ErrConflict)
		}
		return att, err
	})
}

// OpenAttachment authorises the read and opens the content; the caller
// closes it. Classified documents' downloads are audit events.
func (s *Service) OpenAttachment(ctx context.Context, a Actor, correspondenceID, attachmentID int64) (Attachment, io.ReadCloser, error) {
	var rc io.ReadCloser
	att, err := asCaller(ctx, s, a, func(ctx context.Context, a Actor) (att Attachment, err error) {
		att, rc, err = s.openAttachment(ctx, a, correspondenceID, attachmentID)
		return att, err
	})
	return att, rc, err
}

// DeleteAttachment removes an attachment of a draft.
func (s *Service) DeleteAttachment(ctx context.Context, a Actor, correspondenceID, attachmentID int64) error {
	_, err := asCaller(ctx, s, a, func(ctx context.Context, a Actor) (struct{}, error) {
		return struct{}{}, s.deleteAttachment(ctx, a, correspondenceID, attachmentID)
	})
	return err
}

// SweepUploads deletes the blobs of uploads that started before olderThan
// and never became attachments (a crash between store and commit). It
// returns how many it removed.
func (s *Service) SweepUploads(ctx context.Context, olderThan time.Time) (int, error) {
	return s.sweepUploads(ctx, olderThan)
}

// Limits are the per-file and per-letter byte limits (for an early 413 on
// a declared Content-Length).
func (s *Service) Limits() (perFile, perLetter int64) {
	return s.cfg.MaxAttachmentBytes, s.cfg.MaxLetterBytes
}

// Deadlines (calendar.go).

// DefaultDueDate is the due date of a letter of priority p received at t:
// the configured number of working days later, in time_zone, YYYY-MM-DD.
func (s *Service) DefaultDueDate(p Priority, t time.Time) string {
	return s.defaultDueDate(p, t)
}

// Location is time_zone: where register years, deadlines and working
// days are counted, and where times are shown.
func (s *Service) Location() *time.Location { return s.loc }

// Today is the calendar date now in time_zone, YYYY-MM-DD: a due date
// before it is overdue.
func (s *Service) Today() string {
	return s.today(s.clock()).Format(time.DateOnly)
}
