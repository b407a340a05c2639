package httpd

import (
	"time"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/workflow"
)

// API views: the JSON the API answers with, separate from the core's types
// and filled by the explicit converters below, so that nothing reaches a
// client by accident. Names follow DESIGN.md §6a: ministries, registries
// and departments by their codes, users by their addresses, dates
// YYYY-MM-DD, times RFC 3339 (UTC).

type ministryDTO struct {
	Code      string    `json:"code"`
	NameAR    string    `json:"name_ar"`
	NameEN    string    `json:"name_en"`
	CreatedAt time.Time `json:"created_at"`
}

func toMinistryDTO(m directory.Ministry) ministryDTO {
	return ministryDTO{Code: m.Code, NameAR: m.NameAR, NameEN: m.NameEN, CreatedAt: m.CreatedAt.UTC()}
}

type userDTO struct {
	Address            string   `json:"address"` // the login; "admin" for the bootstrap administrator
	Name               string   `json:"name"`
	Ministry           string   `json:"ministry"`
	Roles              []string `json:"roles"`
	Disabled           bool     `json:"disabled"`
	MustChangePassword bool     `json:"must_change_password"`
	// LockedUntil is when a locked account opens again; shown to
	// administrators only, absent when not locked.
	LockedUntil *time.Time `json:"locked_until,omitempty"`
}

func toUserDTO(u directory.User) userDTO {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	return userDTO{Address: u.Login, Name: u.Name, Ministry: u.Ministry, Roles: roles,
		Disabled: u.Disabled, MustChangePassword: u.MustChangePassword}
}

// directoryUserDTO is a user as the directory shows them to the caller
// (directory.Listing): the address, name and ministry to anyone who may
// see them; the roles also to colleagues of the same ministry; disabled
// and must_change_password also to administrators and the user themselves.
type directoryUserDTO struct {
	Address            string    `json:"address"`
	Name               string    `json:"name"`
	Ministry           string    `json:"ministry"`
	Roles              *[]string `json:"roles,omitempty"`
	Disabled           *bool     `json:"disabled,omitempty"`
	MustChangePassword *bool     `json:"must_change_password,omitempty"`
}

func toDirectoryUserDTO(l directory.Listing) directoryUserDTO {
	u := l.User
	d := directoryUserDTO{Address: u.Login, Name: u.Name, Ministry: u.Ministry}
	if l.Detail >= directory.DetailColleague {
		roles := nonNil(u.Roles)
		d.Roles = &roles
	}
	if l.Detail >= directory.DetailFull {
		d.Disabled, d.MustChangePassword = &u.Disabled, &u.MustChangePassword
	}
	return d
}

type membershipDTO struct {
	User       string   `json:"user"`
	Ministry   string   `json:"ministry"`
	Registries []string `json:"registries"`
	Department string   `json:"department"`
	Heads      []string `json:"heads"`
	Clearance  string   `json:"clearance" enum:"normal,confidential,secret"`
}

func toMembershipDTO(m workflow.Membership) membershipDTO {
	return membershipDTO{User: m.User, Ministry: m.Ministry, Registries: nonNil(m.Registries),
		Department: m.Department, Heads: nonNil(m.Heads), Clearance: string(m.Clearance)}
}

type registryDTO struct {
	Code             string    `json:"code"`
	Ministry         string    `json:"ministry"`
	NameAR           string    `json:"name_ar"`
	NameEN           string    `json:"name_en"`
	Address          string    `json:"address"`
	Template         string    `json:"template"`
	ApprovalRequired bool      `json:"approval_required"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
}

func toRegistryDTO(r workflow.Registry) registryDTO {
	tpl := r.Template
	if tpl == "" {
		tpl = workflow.DefaultTemplate
	}
	return registryDTO{Code: r.Code, Ministry: r.Ministry, NameAR: r.NameAR, NameEN: r.NameEN,
		Address: r.Address, Template: tpl, ApprovalRequired: r.ApprovalRequired,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

type departmentDTO struct {
	Code      string    `json:"code"`
	Ministry  string    `json:"ministry"`
	NameAR    string    `json:"name_ar"`
	NameEN    string    `json:"name_en"`
	Parent    *string   `json:"parent"` // null at the top of the tree
	Head      *string   `json:"head"`   // the head's address; null when none
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func toDepartmentDTO(d workflow.Department) departmentDTO {
	return departmentDTO{Code: d.Code, Ministry: d.Ministry, NameAR: d.NameAR, NameEN: d.NameEN,
		Parent: optString(d.Parent), Head: optString(d.Head), CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC()}
}

type entryDTO struct {
	ID               int64      `json:"id"`
	CorrespondenceID int64      `json:"correspondence_id"`
	Registry         string     `json:"registry"`
	Direction        string     `json:"direction" enum:"incoming,outgoing"`
	Number           *string    `json:"number"` // null until registered
	State            string     `json:"state"`
	Version          int64      `json:"version"`
	DueDate          *string    `json:"due_date" format:"date"`
	Reason           string     `json:"reason,omitempty"`
	RegisteredAt     *time.Time `json:"registered_at"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
	AnsweredBy       *int64     `json:"answered_by,omitempty"`
	// An incoming entry's record of the sender: their outgoing number and
	// its registration time, and the date they asked a reply by (due_date
	// is the entry's own deadline, counted from receipt).
	SenderNumber       *string    `json:"sender_number,omitempty"`
	SenderRegisteredAt *time.Time `json:"sender_registered_at,omitempty"`
	ReplyRequestedBy   *string    `json:"reply_requested_by,omitempty" format:"date"`
	Kind               string     `json:"kind" enum:"letter,memo,circular"`
	Subject            string     `json:"subject"`
	Classification     string     `json:"classification" enum:"normal,confidential,secret"`
	Priority           string     `json:"priority" enum:"normal,urgent,immediate"`
	Actions            []string   `json:"actions"` // the transitions the caller may make now
}

func toEntryDTO(e workflow.Entry) entryDTO {
	d := entryDTO{ID: e.ID, CorrespondenceID: e.CorrespondenceID, Registry: e.Registry,
		Direction: string(e.Direction), Number: optString(e.Number), State: string(e.State),
		Version: e.Version, DueDate: optString(e.DueDate), Reason: e.Reason,
		RegisteredAt: optTime(e.RegisteredAt), CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC(),
		Kind: string(e.Kind), Subject: e.Subject, Classification: string(e.Classification),
		Priority: string(e.Priority), Actions: actionNames(e.Actions)}
	if e.AnsweredBy != 0 {
		d.AnsweredBy = &e.AnsweredBy
	}
	d.SenderNumber, d.SenderRegisteredAt = optString(e.SenderNumber), optTime(e.SenderRegisteredAt)
	d.ReplyRequestedBy = optString(e.ReplyRequestedBy)
	return d
}

type recipientDTO struct {
	Registry string     `json:"registry,omitempty"`
	Party    string     `json:"party,omitempty"`
	Role     string     `json:"role" enum:"to,cc"`
	State    string     `json:"state,omitempty"`  // delivery state, for those who see the sender's entry
	Number   string     `json:"number,omitempty"` // their incoming number once acknowledged
	Reason   string     `json:"reason,omitempty"` // why they returned it
	At       *time.Time `json:"at,omitempty"`
}

func toRecipientDTO(r workflow.Recipient) recipientDTO {
	return recipientDTO{Registry: r.Registry, Party: r.Party, Role: string(r.Role), State: string(r.State),
		Number: r.Number, Reason: r.Reason, At: optTime(r.At)}
}

type referenceDTO struct {
	ID       int64  `json:"id"`
	Relation string `json:"relation" enum:"reply_to,related"`
}

type attachmentDTO struct {
	ID               int64     `json:"id"`
	CorrespondenceID int64     `json:"correspondence_id"`
	Name             string    `json:"name"`
	ContentType      string    `json:"content_type"`
	Size             int64     `json:"size"`
	SHA256           string    `json:"sha256"`
	CreatedBy        string    `json:"created_by"`
	CreatedAt        time.Time `json:"created_at"`
}

func toAttachmentDTO(a workflow.Attachment) attachmentDTO {
	return attachmentDTO{ID: a.ID, CorrespondenceID: a.CorrespondenceID, Name: a.Name,
		ContentType: a.ContentType, Size: a.Size, SHA256: a.SHA256, CreatedBy: a.CreatedBy,
		CreatedAt: a.CreatedAt.UTC()}
}

type timelineDTO struct {
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"`
	EntryID    int64     `json:"entry_id,omitempty"`
	ReferralID int64     `json:"referral_id,omitempty"`
	Registry   string    `json:"registry,omitempty"`
	From       string    `json:"from,omitempty"`
	To         string    `json:"to,omitempty"`
	Comment    string    `json:"comment,omitempty"`
}

func toTimelineDTO(t workflow.TimelineEvent) timelineDTO {
	return timelineDTO{At: t.At.UTC(), Actor: t.Actor, Action: t.Action, EntryID: t.EntryID,
		ReferralID: t.ReferralID, Registry: t.Registry, From: string(t.From), To: string(t.To), Comment: t.Comment}
}

// correspondenceDTO is GET /correspondence/{id}: the document, the
// caller's entry, every entry of it the caller may see, and the timeline.
type correspondenceDTO struct {
	ID             int64           `json:"id"`
	Kind           string          `json:"kind" enum:"letter,memo,circular"`
	Subject        string          `json:"subject"`
	Body           string          `json:"body"`
	Classification string          `json:"classification" enum:"normal,confidential,secret"`
	Priority       string          `json:"priority" enum:"normal,urgent,immediate"`
	SenderRegistry *string         `json:"sender_registry"` // null for an outside party
	SenderParty    *string         `json:"sender_party"`    // null for a registry
	Department     *string         `json:"department"`
	DueDate        *string         `json:"due_date" format:"date"`
	Recipients     []recipientDTO  `json:"recipients"`
	References     []referenceDTO  `json:"references"`
	Attachments    []attachmentDTO `json:"attachments"`
	CreatedBy      string          `json:"created_by"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
	FrozenAt       *time.Time      `json:"frozen_at"`       // null until registered
	DocumentSHA256 *string         `json:"document_sha256"` // null until registered
	Entry          entryDTO        `json:"entry"`
	Entries        []entryDTO      `json:"entries"`
	Timeline       []timelineDTO   `json:"timeline"`
}

func toCorrespondenceDTO(v workflow.View) correspondenceDTO {
	c := v.Correspondence
	d := correspondenceDTO{ID: c.ID, Kind: string(c.Kind), Subject: c.Subject, Body: c.Body,
		Classification: string(c.Classification), Priority: string(c.Priority),
		SenderRegistry: optString(c.SenderRegistry), SenderParty: optString(c.SenderParty),
		Department: optString(c.Department), DueDate: optString(c.DueDate),
		Recipients: make([]recipientDTO, len(c.Recipients)), References: make([]referenceDTO, len(c.References)),
		Attachments: make([]attachmentDTO, len(c.Attachments)), CreatedBy: c.CreatedBy,
		CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(), FrozenAt: optTime(c.FrozenAt),
		DocumentSHA256: optString(c.DocumentSHA256), Entries: make([]entryDTO, len(v.Entries)),
		Timeline: make([]timelineDTO, len(v.Timeline))}
	for i, r := range c.Recipients {
		d.Recipients[i] = toRecipientDTO(r)
	}
	for i, r := range c.References {
		d.References[i] = referenceDTO{ID: r.ID, Relation: string(r.Relation)}
	}
	for i, a := range c.Attachments {
		d.Attachments[i] = toAttachmentDTO(a)
	}
	for i, e := range v.Entries {
		d.Entries[i] = toEntryDTO(e)
	}
	if len(d.Entries) > 0 {
		d.Entry = d.Entries[0]
	}
	for i, t := range v.Timeline {
		d.Timeline[i] = toTimelineDTO(t)
	}
	return d
}

// draftDTO answers the creation or edit of a draft: the correspondence,
// the sender's entry and that entry's version (for the next change).
type draftDTO struct {
	ID      int64 `json:"id"`
	EntryID int64 `json:"entry_id"`
	Version int64 `json:"version"`
}

func toDraftDTO(e workflow.Entry) draftDTO {
	return draftDTO{ID: e.CorrespondenceID, EntryID: e.ID, Version: e.Version}
}

type verificationDTO struct {
	Registry       string     `json:"registry"`
	Direction      string     `json:"direction" enum:"incoming,outgoing"`
	Number         string     `json:"number"`
	RegisteredAt   *time.Time `json:"registered_at"`
	DocumentSHA256 string     `json:"document_sha256"`
	Subject        *string    `json:"subject"` // only for normal classification
	Signed         bool       `json:"signed"`
	State          string     `json:"state"` // the registration's entry's: cancelled and recalled letters keep their number
	Valid          bool       `json:"valid"` // in force: registered, neither cancelled nor recalled
}

func toVerificationDTO(v workflow.Verification) verificationDTO {
	return verificationDTO{Registry: v.Registry, Direction: string(v.Direction), Number: v.Number,
		RegisteredAt: optTime(v.RegisteredAt), DocumentSHA256: v.DocumentSHA256,
		Subject: optString(v.Subject), Signed: v.Signed, State: string(v.State), Valid: v.Valid}
}

type referralDTO struct {
	ID               int64     `json:"id"`
	EntryID          int64     `json:"entry_id"`
	CorrespondenceID int64     `json:"correspondence_id"`
	ParentID         *int64    `json:"parent_id"` // the referral it was passed on from
	From             string    `json:"from"`
	ToUser           *string   `json:"to_user"`
	ToDepartment     *string   `json:"to_department"`
	Instruction      string    `json:"instruction"`
	DueDate          *string   `json:"due_date" format:"date"`
	State            string    `json:"state"`
	Version          int64     `json:"version"`
	Answer           string    `json:"answer,omitempty"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
	Subject          string    `json:"subject"`
	Classification   string    `json:"classification"`
	Priority         string    `json:"priority"`
	Registry         string    `json:"registry"`
	Number           *string   `json:"number"`
	Actions          []string  `json:"actions"`
}

func toReferralDTO(r workflow.Referral) referralDTO {
	d := referralDTO{ID: r.ID, EntryID: r.EntryID, CorrespondenceID: r.CorrespondenceID, From: r.From,
		ToUser: optString(r.ToUser), ToDepartment: optString(r.ToDepartment), Instruction: r.Instruction,
		DueDate: optString(r.DueDate), State: string(r.State), Version: r.Version, Answer: r.Answer,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), Subject: r.Subject,
		Classification: string(r.Classification), Priority: string(r.Priority), Registry: r.Registry,
		Number: optString(r.Number), Actions: actionNames(r.Actions)}
	if r.ParentID != 0 {
		d.ParentID = &r.ParentID
	}
	return d
}

func actionNames(as []workflow.Action) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = string(a)
	}
	return out
}

// optString is nil for "" (JSON null: no value).
func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// optTime is nil for the zero time (JSON null), else the time in UTC.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func mapSlice[T, U any](in []T, f func(T) U) []U {
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}
