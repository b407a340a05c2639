package workflow_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/blob"
	"diwan.gov.sy/diwan/internal/config"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/secrets"
	"diwan.gov.sy/diwan/internal/testenv"
	"diwan.gov.sy/diwan/internal/workflow"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

var cheapParams = &argon2id.Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

const (
	operator = "cli:root"
	password = "correct horse battery"
)

// The blob stores must satisfy the engine's interface.
var (
	_ workflow.BlobStore = (*blob.FS)(nil)
	_ workflow.BlobStore = (*blob.S3)(nil)
)

// fakeClock is an injectable clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

var damascus = mustZone("Asia/Damascus")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// fixture is an organisation of two ministries:
//
//	MOCT (moct.gov.sy): registries MOCT (no approval) and MOCT2 (approval
//	  required); departments LEGAL (head head@) > LEGAL-SUB, and IT (head
//	  ithead@).
//	MOF (mof.gov.sy): registry MOF; department FIN.
type fixture struct {
	t     testing.TB
	ctx   context.Context
	d     *db.DB
	dir   *directory.Service
	wf    *workflow.Service
	blobs workflow.BlobStore
	clock *fakeClock
	cfg   config.Workflow
	users map[string]workflow.Actor
	key   *secrets.MasterKey // seals the audit events of dir and wf

	observer workflow.Observer // given to every service of the fixture
}

type fixtureOptions struct {
	blobs    workflow.BlobStore
	cfg      *config.Workflow
	observer workflow.Observer
}

func defaultWorkflowConfig() config.Workflow {
	return config.Default().Workflow
}

func newFixture(t testing.TB, d *db.DB, o fixtureOptions) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), d: d, users: map[string]workflow.Actor{},
		clock: &fakeClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, damascus)}, // a Monday
		key:   secrets.Random()}
	f.cfg = defaultWorkflowConfig()
	if o.cfg != nil {
		f.cfg = *o.cfg
	}
	f.blobs, f.observer = o.blobs, o.observer
	if f.blobs == nil {
		st, err := blob.NewFS(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		f.blobs = st
	}
	f.dir = directory.New(d, directory.Options{HashParams: cheapParams, Now: f.clock.Now, Audit: audit.NewSealer(f.key)})
	f.wf = f.service(d)
	f.seed()
	return f
}

// service builds another engine on d (a second "server process" when d is
// another handle) with the fixture's clock, config and blob store.
func (f *fixture) service(d *db.DB) *workflow.Service {
	return workflow.New(d, f.blobs, workflow.Options{Workflow: f.cfg, Location: damascus, Now: f.clock.Now, Audit: audit.NewSealer(f.key), Observer: f.observer,
		Directory: directory.New(d, directory.Options{HashParams: cheapParams, Now: f.clock.Now, Audit: audit.NewSealer(f.key)})})
}

func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) seed() {
	t, ctx := f.t, f.ctx
	t.Helper()
	if _, _, err := f.dir.EnsureBootstrapAdmin(ctx, password); err != nil {
		t.Fatal(err)
	}
	admin, err := f.dir.UserByLogin(ctx, directory.BootstrapLogin)
	f.must(err)
	f.users["admin"] = workflow.UserActor(admin.ID, admin.Login)
	for _, m := range []struct{ code, domain string }{{"MOCT", "moct.gov.sy"}, {"MOF", "mof.gov.sy"}} {
		_, err := f.dir.AddMinistry(ctx, operator, directory.Ministry{Code: m.code, NameAR: "وزارة " + m.code, NameEN: "Ministry " + m.code})
		f.must(err)
		_, err = f.dir.AddDomain(ctx, operator, m.domain, m.code)
		f.must(err)
	}
	for _, u := range []struct{ login, role string }{
		{"clerk@moct.gov.sy", "clerk"}, {"clerk2@moct.gov.sy", "clerk"}, {"head@moct.gov.sy", "head"},
		{"ithead@moct.gov.sy", "head"}, {"staff@moct.gov.sy", "staff"}, {"staffsub@moct.gov.sy", "staff"},
		{"it@moct.gov.sy", "staff"}, {"secretstaff@moct.gov.sy", "staff"}, {"admin@moct.gov.sy", "admin"},
		{"clerk@mof.gov.sy", "clerk"}, {"fin@mof.gov.sy", "staff"},
	} {
		nu, err := f.dir.AddUser(ctx, operator, directory.NewUser{Address: u.login, Name: u.login, Roles: []string{u.role}, Password: password})
		f.must(err)
		f.users[u.login] = workflow.UserActor(nu.ID, nu.Login)
	}
	op := workflow.OperatorActor(operator)
	for _, r := range []workflow.Registry{
		{Code: "MOCT", Ministry: "MOCT", NameAR: "ديوان الوزارة", NameEN: "MOCT registry", Address: "diwan@moct.gov.sy"},
		{Code: "MOCT2", Ministry: "MOCT", NameAR: "ديوان ٢", NameEN: "MOCT registry 2", Address: "diwan2@moct.gov.sy", ApprovalRequired: true},
		{Code: "MOF", Ministry: "MOF", NameAR: "ديوان المالية", NameEN: "MOF registry", Address: "diwan@mof.gov.sy"},
	} {
		_, err := f.wf.AddRegistry(ctx, op, r)
		f.must(err)
	}
	for _, d := range []workflow.Department{
		{Code: "LEGAL", Ministry: "MOCT", NameAR: "القانونية", NameEN: "Legal", Head: "head@moct.gov.sy"},
		{Code: "LEGAL-SUB", Ministry: "MOCT", NameAR: "العقود", NameEN: "Contracts", Parent: "LEGAL"},
		{Code: "IT", Ministry: "MOCT", NameAR: "المعلوماتية", NameEN: "IT", Head: "ithead@moct.gov.sy"},
		{Code: "FIN", Ministry: "MOF", NameAR: "المالية", NameEN: "Finance"},
	} {
		_, err := f.wf.AddDepartment(ctx, op, d)
		f.must(err)
	}
	dep := func(s string) *string { return &s }
	for _, m := range []struct {
		login string
		c     workflow.MembershipChange
	}{
		{"clerk@moct.gov.sy", workflow.MembershipChange{AddRegistry: "MOCT", Clearance: workflow.Secret}},
		{"clerk2@moct.gov.sy", workflow.MembershipChange{AddRegistry: "MOCT2", Clearance: workflow.Secret}},
		{"head@moct.gov.sy", workflow.MembershipChange{Department: dep("LEGAL"), Clearance: workflow.Secret}},
		{"ithead@moct.gov.sy", workflow.MembershipChange{Department: dep("IT"), Clearance: workflow.Secret}},
		{"staff@moct.gov.sy", workflow.MembershipChange{Department: dep("LEGAL")}},
		{"staffsub@moct.gov.sy", workflow.MembershipChange{Department: dep("LEGAL-SUB")}},
		{"it@moct.gov.sy", workflow.MembershipChange{Department: dep("IT")}},
		{"secretstaff@moct.gov.sy", workflow.MembershipChange{Department: dep("LEGAL"), Clearance: workflow.Secret}},
		{"clerk@mof.gov.sy", workflow.MembershipChange{AddRegistry: "MOF", Clearance: workflow.Secret}},
		{"fin@mof.gov.sy", workflow.MembershipChange{Department: dep("FIN")}},
	} {
		_, err := f.wf.SetMembership(ctx, op, m.login, m.c)
		f.must(err)
	}
}

func (f *fixture) actor(login string) workflow.Actor {
	a, ok := f.users[login]
	if !ok {
		f.t.Fatalf("no user %s in the fixture", login)
	}
	return a
}

// draft creates an outgoing draft at MOCT by its clerk.
func (f *fixture) draft(n workflow.NewCorrespondence) workflow.Entry {
	f.t.Helper()
	if n.SenderRegistry == "" {
		n.SenderRegistry = "MOCT"
	}
	if n.Subject == "" {
		n.Subject = "طلب معلومات"
	}
	by := "clerk@moct.gov.sy"
	if n.SenderRegistry == "MOCT2" {
		by = "clerk2@moct.gov.sy"
	}
	if n.SenderRegistry == "MOF" {
		by = "clerk@mof.gov.sy"
	}
	e, err := f.wf.CreateDraft(f.ctx, f.actor(by), n)
	if err != nil {
		f.t.Fatalf("create draft: %v", err)
	}
	return e
}

func toRegistries(codes ...string) []workflow.RecipientInput {
	var out []workflow.RecipientInput
	for _, c := range codes {
		out = append(out, workflow.RecipientInput{Registry: c})
	}
	return out
}

// act makes a transition that must succeed.
func (f *fixture) act(login string, e workflow.Entry, t workflow.Transition) workflow.Entry {
	f.t.Helper()
	t.Version = e.Version
	out, err := f.wf.Act(f.ctx, f.actor(login), e.ID, t)
	if err != nil {
		f.t.Fatalf("%s: %s entry %d (%s): %v", login, t.Action, e.ID, e.State, err)
	}
	return out
}

// incomingAt finds the incoming entry of a correspondence at a registry,
// as its clerk sees it.
func (f *fixture) incomingAt(login string, corrID int64) workflow.Entry {
	f.t.Helper()
	v, err := f.wf.Get(f.ctx, f.actor(login), corrID)
	if err != nil {
		f.t.Fatalf("%s: get %d: %v", login, corrID, err)
	}
	for _, e := range v.Entries {
		if e.Direction == workflow.Incoming {
			return e
		}
	}
	f.t.Fatalf("%s sees no incoming entry of %d", login, corrID)
	return workflow.Entry{}
}

// sentToMOF drafts, registers and dispatches a letter from MOCT to MOF and
// returns MOCT's entry and MOF's incoming entry.
func (f *fixture) sentToMOF(n workflow.NewCorrespondence) (out, in workflow.Entry) {
	f.t.Helper()
	n.Recipients = toRegistries("MOF")
	e := f.draft(n)
	e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionRegister})
	e = f.act("clerk@moct.gov.sy", e, workflow.Transition{Action: workflow.ActionDispatch})
	return e, f.incomingAt("clerk@mof.gov.sy", e.CorrespondenceID)
}

// receivedAtMOCT is a letter from MOF to MOCT, registered at MOCT.
func (f *fixture) receivedAtMOCT(n workflow.NewCorrespondence) workflow.Entry {
	f.t.Helper()
	n.SenderRegistry = "MOF"
	n.Recipients = toRegistries("MOCT")
	e := f.draft(n)
	e = f.act("clerk@mof.gov.sy", e, workflow.Transition{Action: workflow.ActionRegister})
	e = f.act("clerk@mof.gov.sy", e, workflow.Transition{Action: workflow.ActionDispatch})
	in := f.incomingAt("clerk@moct.gov.sy", e.CorrespondenceID)
	return f.act("clerk@moct.gov.sy", in, workflow.Transition{Action: workflow.ActionRegister})
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func wantInput(t testing.TB, err error, field string) *workflow.InputError {
	t.Helper()
	var ie *workflow.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("error = %v, want an *InputError for %s", err, field)
	}
	if ie.Field != field {
		t.Fatalf("InputError field = %q (%s), want %q", ie.Field, ie.Message, field)
	}
	return ie
}

func fmtInt(n int64) string { return strconv.FormatInt(n, 10) }
