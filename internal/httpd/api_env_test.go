package httpd

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexedwards/argon2id"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/blob"
	"diwan.gov.sy/diwan/internal/config"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/db/dbtest"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/mailauth"
	"diwan.gov.sy/diwan/internal/policy"
	"diwan.gov.sy/diwan/internal/testenv"
	"diwan.gov.sy/diwan/internal/workflow"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// Test limits: small, so that over-limit uploads are cheap.
const (
	testMaxAttachment = 64 << 10
	testMaxLetter     = 256 << 10
)

// cheapHash keeps password checks fast in tests.
var cheapHash = &argon2id.Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

const (
	operator     = "cli:test"
	testPassword = "correct horse battery"
)

// The people of the test organisation: two ministries, each with a
// registry; MOF has a legal department with a head and a staff member.
const (
	adminLogin   = "admin"
	moctClerk    = "clerk@moct.gov.sy"
	mofClerk     = "clerk@mof.gov.sy"
	mofHead      = "head@mof.gov.sy"
	mofStaff     = "staff@mof.gov.sy"
	mofOtherStaf = "other@mof.gov.sy"
)

// apiEnv is a server with the whole API on a fresh database and a
// filesystem blob store, serving HTTPS on 127.0.0.1.
type apiEnv struct {
	t     testing.TB
	ts    *testServer
	db    *db.DB
	dir   *directory.Service
	wf    *workflow.Service
	pol   *policy.Service
	log   *audit.Log
	blobs *blob.FS
}

// newAPIEnv starts the API on a fresh database of the driver. org adds the
// test organisation (ministries, registries, departments, users).
func newAPIEnv(t testing.TB, driver string, org bool) *apiEnv {
	t.Helper()
	return newAPIEnvOn(t, dbtest.Open(t, driver), org, nil)
}

// newAPIEnvOn is newAPIEnv on a given migrated database; a nil logger
// keeps the server's log for the test's failure report.
func newAPIEnvOn(t testing.TB, d *db.DB, org bool, logger *slog.Logger) *apiEnv {
	t.Helper()
	ctx := context.Background()
	dir := directory.New(d, directory.Options{HashParams: cheapHash, Audit: audit.NewSealer(auditKey)})
	if _, _, err := dir.EnsureBootstrapAdmin(ctx, testPassword); err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	wcfg := config.Default().Workflow
	wcfg.MaxAttachmentBytes, wcfg.MaxLetterBytes = testMaxAttachment, testMaxLetter
	wf := workflow.New(d, blobs, workflow.Options{Workflow: wcfg, Audit: audit.NewSealer(auditKey), Directory: dir})
	pol, err := policy.New(d, policy.Options{NationalSuffixes: []string{"gov.sy"}, Hosted: dir, Audit: audit.NewSealer(auditKey)})
	if err != nil {
		t.Fatal(err)
	}
	log := audit.Open(d, audit.Options{Keys: auditKey, Heads: []audit.HeadStore{audit.HeadFile(filepath.Join(t.TempDir(), "audit-head"))}})
	e := &apiEnv{t: t, db: d, dir: dir, wf: wf, pol: pol, log: log, blobs: blobs}
	e.ts = startTLS(t, Options{Directory: dir, Workflow: wf, Policy: pol, Audit: log,
		DKIM: mailauth.NewKeys(d, auditKey, mailauth.KeysOptions{Hosted: dir.IsHosted}), BaseURL: "https://diwan.example.gov", Logger: logger,
		MailSetup: testMailSetup}, nil)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", e.ts.logs.String())
		}
	})
	if org {
		e.addOrganisation()
	}
	return e
}

// ok fails the test on a set-up call's error.
func (e *apiEnv) ok(_ any, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *apiEnv) addOrganisation() {
	t, ctx := e.t, context.Background()
	t.Helper()
	for _, m := range []struct{ code, domain string }{{"MOCT", "moct.gov.sy"}, {"MOF", "mof.gov.sy"}} {
		e.ok(e.dir.AddMinistry(ctx, operator, directory.Ministry{Code: m.code, NameAR: "وزارة " + m.code, NameEN: "Ministry " + m.code}))
		e.ok(e.dir.AddDomain(ctx, operator, m.domain, m.code))
	}
	for _, u := range []struct {
		login string
		role  string
	}{{moctClerk, "clerk"}, {mofClerk, "clerk"}, {mofHead, "head"}, {mofStaff, "staff"}, {mofOtherStaf, "staff"}} {
		e.ok(e.dir.AddUser(ctx, operator, directory.NewUser{Address: u.login, Name: u.login, Roles: []string{u.role}, Password: testPassword}))
	}
	op := workflow.OperatorActor(operator)
	for _, r := range []struct{ code, ministry, address string }{{"MOCT", "MOCT", "diwan@moct.gov.sy"}, {"MOF", "MOF", "diwan@mof.gov.sy"}} {
		e.ok(e.wf.AddRegistry(ctx, op, workflow.Registry{Code: r.code, Ministry: r.ministry, NameAR: "ديوان " + r.code,
			NameEN: "Registry " + r.code, Address: r.address}))
	}
	e.ok(e.wf.AddDepartment(ctx, op, workflow.Department{Code: "LEGAL", Ministry: "MOF", NameAR: "الشؤون القانونية", NameEN: "Legal", Head: mofHead}))
	e.ok(e.wf.AddDepartment(ctx, op, workflow.Department{Code: "BUDGET", Ministry: "MOF", NameAR: "الموازنة", NameEN: "Budget"}))
	legal, budget := "LEGAL", "BUDGET"
	e.ok(e.wf.SetMembership(ctx, op, moctClerk, workflow.MembershipChange{AddRegistry: "MOCT"}))
	e.ok(e.wf.SetMembership(ctx, op, mofClerk, workflow.MembershipChange{AddRegistry: "MOF"}))
	e.ok(e.wf.SetMembership(ctx, op, mofHead, workflow.MembershipChange{Department: &legal}))
	e.ok(e.wf.SetMembership(ctx, op, mofStaff, workflow.MembershipChange{Department: &legal}))
	e.ok(e.wf.SetMembership(ctx, op, mofOtherStaf, workflow.MembershipChange{Department: &budget}))
}

// apiClient talks to the API as one user: with a session cookie (and its
// CSRF token, sent on changes with a same-origin Origin), or with an API
// token.
type apiClient struct {
	t      testing.TB
	e      *apiEnv
	hc     *http.Client
	token  string
	csrf   string
	origin string // sent on changes; "" sends none
}

// anonymous returns a client with an empty cookie jar.
func (e *apiEnv) anonymous() *apiClient {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Timeout: waitTimeout, Transport: e.ts.client.Transport, Jar: jar}
	return &apiClient{t: e.t, e: e, hc: hc, origin: e.ts.url}
}

// login logs in with a cookie session.
func (e *apiEnv) login(login string) *apiClient {
	e.t.Helper()
	c := e.anonymous()
	var s sessionResponse
	c.call("POST", "/api/v1/session", map[string]string{"login": login, "password": testPassword}, http.StatusOK, &s)
	if s.CSRFToken == "" {
		e.t.Fatal("login answered no csrf_token")
	}
	c.csrf = s.CSRFToken
	return c
}

// withToken returns a client that sends a new API token of the user.
func (e *apiEnv) withToken(login string) *apiClient {
	e.t.Helper()
	tok, err := e.dir.CreateToken(context.Background(), operator, login)
	if err != nil {
		e.t.Fatal(err)
	}
	c := e.anonymous()
	c.hc.Jar = nil
	c.token = tok
	return c
}

// do sends a request; body is nil, a string sent as is, or a value
// encoded as JSON. It returns the status and the body.
func (c *apiClient) do(method, path string, body any, header ...string) (*http.Response, []byte) {
	c.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, c.e.ts.url+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.decorate(req)
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, b
}

func (c *apiClient) decorate(req *http.Request) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if changesState(req.Method) {
		if c.csrf != "" {
			req.Header.Set(csrfHeader, c.csrf)
		}
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
	}
}

// call sends a request, insists on the status and decodes the answer into
// out (when not nil).
func (c *apiClient) call(method, path string, body any, want int, out any) {
	c.t.Helper()
	resp, b := c.do(method, path, body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// apiError is the error shape of DESIGN.md §6a as a client reads it.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// wantError sends a request and insists on an error of that status, code
// and field ("" for no field).
func (c *apiClient) wantError(method, path string, body any, status int, code, field string) apiError {
	c.t.Helper()
	resp, b := c.do(method, path, body)
	var e apiError
	if err := json.Unmarshal(b, &e); err != nil {
		c.t.Fatalf("%s %s: status %d, body %q is not the error shape: %v", method, path, resp.StatusCode, b, err)
	}
	if resp.StatusCode != status || e.Error.Code != code || e.Error.Field != field {
		c.t.Fatalf("%s %s: got %d %s field %q (%s), want %d %s field %q", method, path,
			resp.StatusCode, e.Error.Code, e.Error.Field, e.Error.Message, status, code, field)
	}
	if e.Error.Message == "" {
		c.t.Errorf("%s %s: error without a message", method, path)
	}
	return e
}

// eachDriver runs fn on SQLite and PostgreSQL.
func eachDriver(t *testing.T, fn func(t *testing.T, driver string)) {
	for _, driver := range dbtest.Drivers {
		t.Run(driver, func(t *testing.T) { fn(t, driver) })
	}
}
