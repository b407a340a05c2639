package workflow

import "time"

// Gorm rows: the tables of migrations/*/00005_workflow.sql. They never
// leave this package.

type registryRow struct {
	ID               int64 `gorm:"primaryKey"`
	Code             string
	MinistryID       int64
	NameAR           string `gorm:"column:name_ar"`
	NameEN           string `gorm:"column:name_en"`
	Address          string
	Template         string
	ApprovalRequired bool
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

func (registryRow) TableName() string { return "registries" }

type departmentRow struct {
	ID         int64 `gorm:"primaryKey"`
	MinistryID int64
	Code       string
	NameAR     string `gorm:"column:name_ar"`
	NameEN     string `gorm:"column:name_en"`
	ParentID   *int64
	HeadUserID *int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

func (departmentRow) TableName() string { return "departments" }

type clerkRow struct {
	UserID     int64 `gorm:"primaryKey;autoIncrement:false"`
	RegistryID int64 `gorm:"primaryKey;autoIncrement:false"`
}

func (clerkRow) TableName() string { return "registry_clerks" }

type membershipRow struct {
	UserID       int64 `gorm:"primaryKey;autoIncrement:false"`
	DepartmentID *int64
	Clearance    string
}

func (membershipRow) TableName() string { return "memberships" }

type correspondenceRow struct {
	ID               int64 `gorm:"primaryKey"`
	Kind             string
	Subject          string
	Body             string
	Classification   string
	Priority         string
	SenderRegistryID *int64
	SenderParty      string
	DepartmentID     *int64
	DueDate          string
	DueDateGiven     bool // the sender gave DueDate; else the priority's default
	CreatedBy        *int64
	CreatedAt        time.Time
	UpdatedAt        time.Time
	FrozenAt         *time.Time
	DocumentSHA256   string `gorm:"column:document_sha256"`
}

func (correspondenceRow) TableName() string { return "correspondence" }

type recipientRow struct {
	ID               int64 `gorm:"primaryKey"`
	CorrespondenceID int64
	Position         int
	RegistryID       *int64
	Party            string
	Role             string
	State            string
	EntryID          *int64
	Number           string
	Reason           string
	ChangedAt        *time.Time
}

func (recipientRow) TableName() string { return "correspondence_recipients" }

type referenceRow struct {
	CorrespondenceID int64 `gorm:"primaryKey;autoIncrement:false"`
	ReferencedID     int64 `gorm:"primaryKey;autoIncrement:false"`
	Relation         string
}

func (referenceRow) TableName() string { return "correspondence_references" }

type entryRow struct {
	ID               int64 `gorm:"primaryKey"`
	CorrespondenceID int64
	RegistryID       int64
	Direction        string
	State            string
	Version          int64
	Year             *int
	Seq              *int64
	Number           *string
	RegisteredAt     *time.Time
	DueDate          string
	Reason           string
	AnsweredBy       *int64
	CreatedAt        time.Time
	UpdatedAt        time.Time
	// What an incoming entry's register records of the sender at dispatch.
	SenderNumber       string
	SenderRegisteredAt *time.Time
	ReplyRequestedBy   string
}

func (entryRow) TableName() string { return "registry_entries" }

type referralRow struct {
	ID             int64 `gorm:"primaryKey"`
	EntryID        int64
	ParentID       *int64
	FromUserID     *int64
	ToUserID       *int64
	ToDepartmentID *int64
	Instruction    string
	DueDate        string
	State          string
	Version        int64
	Answer         string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

func (referralRow) TableName() string { return "referrals" }

type eventRow struct {
	ID               int64 `gorm:"primaryKey"`
	CorrespondenceID int64
	EntryID          *int64
	ReferralID       *int64
	Actor            string
	Action           string
	FromState        string
	ToState          string
	Comment          string
	CreatedAt        time.Time
}

func (eventRow) TableName() string { return "workflow_events" }

type attachmentRow struct {
	ID               int64 `gorm:"primaryKey"`
	CorrespondenceID int64
	Name             string
	ContentType      string
	Size             int64
	SHA256           string `gorm:"column:sha256"`
	BlobKey          string
	CreatedBy        *int64
	CreatedAt        time.Time
}

func (attachmentRow) TableName() string { return "correspondence_attachments" }

type pendingBlobRow struct {
	BlobKey string `gorm:"primaryKey"`
	Since   time.Time
}

func (pendingBlobRow) TableName() string { return "correspondence_blobs_pending" }

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
