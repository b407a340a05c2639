package app_test

import (
	"context"
	"crypto/tls"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"diwan.gov.sy/diwan/internal/app"
	"diwan.gov.sy/diwan/internal/config"
	"diwan.gov.sy/diwan/internal/directory"
)

var (
	statusServingLine = regexp.MustCompile(`^diwan: serving https://(\S+) `)
	statusIMAPSLine   = regexp.MustCompile(`^diwan: imap \(TLS\) on (\S+)$`)
	statusCSRFField   = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)
)

const statusAdminPassword = "status admin password"

// TestStatusPageShowsTheAddressesServeBound: `diwan serve` with every
// listener on port 0 tells its status page the ports it actually took
// (SMTP inbound and submission, IMAP with STARTTLS and with TLS, HTTPS),
// a listener turned off as off, the database's driver and schema, the blob
// store's kind after a write-read-delete round trip, the disk use of an fs
// store, the queue, and the version. A ministry administrator finds no
// such page.
func TestStatusPageShowsTheAddressesServeBound(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			n := startSeededNode(t, b, func(cfg *config.Config) {
				cfg.HTTP.Addr = "127.0.0.1:0"
				cfg.IMAP.TLSAddr = "127.0.0.1:0"
			}, func(ctx context.Context, e *app.Env) {
				if _, err := e.Directory.AddUser(ctx, "cli:test", directory.NewUser{Address: "root@mof.gov.sy", Name: "Root",
					Ministry: "MOF", Roles: []string{"admin"}, Password: statusAdminPassword}); err != nil {
					t.Fatal(err)
				}
				if _, err := e.Directory.AddUser(ctx, "cli:test", directory.NewUser{Address: "madmin@mof.gov.sy", Name: "Hala",
					Ministry: "MOF", Roles: []string{"ministry_admin"}, Password: statusAdminPassword}); err != nil {
					t.Fatal(err)
				}
			})
			var web, imaps string
			for _, l := range n.lines {
				if m := statusServingLine.FindStringSubmatch(l); m != nil {
					web = m[1]
				}
				if m := statusIMAPSLine.FindStringSubmatch(l); m != nil {
					imaps = m[1]
				}
			}
			if web == "" || imaps == "" || n.submission == "" || n.inbound == "" || n.imap == "" {
				t.Fatalf("serve announced no address for a listener:\n%s", strings.Join(n.lines, "\n"))
			}
			page := readStatusPage(t, "https://"+web)
			for role, addr := range map[string]string{"https": web, "imaps": imaps, "imap": n.imap,
				"smtp_submission": n.submission, "smtp_inbound": n.inbound} {
				row := regexp.MustCompile(`(?s)<tr id="listener-` + role + `">.*?</tr>`).FindString(page)
				if !strings.Contains(row, `class="bound">`+addr+`</td>`) || !strings.Contains(row, "127.0.0.1:0") {
					t.Errorf("listener %s: row %q, want configured 127.0.0.1:0 and bound %s", role, row, addr)
				}
			}
			if row := regexp.MustCompile(`(?s)<tr id="listener-smtp_submissions">.*?</tr>`).FindString(page); !strings.Contains(row, "Off") {
				t.Errorf("the turned-off listener: %q", row)
			}
			want := []string{`<dd dir="ltr" id="version">` + app.Version + `</dd>`, n.cfg.Database.Driver, "(current)",
				"write, read and delete in", `id="queue-pending">0<`}
			if b.name == "sqlite+fs" {
				want = append(want, `<dd id="disk">`, n.cfg.BlobDir())
			} else {
				want = append(want, n.cfg.Blob.S3.Endpoint+"/"+n.cfg.Blob.S3.Bucket)
			}
			text := html.UnescapeString(page)
			for _, w := range want {
				if !strings.Contains(text, w) {
					t.Errorf("the status page lacks %q:\n%s", w, page)
				}
			}
			if strings.Contains(page, `class="badge bad"`) {
				t.Errorf("a check failed on the status page:\n%s", page)
			}
			if code, page := statusPageAs(t, "https://"+web, "madmin@mof.gov.sy", statusAdminPassword); code != http.StatusNotFound ||
				strings.Contains(page, `id="version"`) {
				t.Errorf("a ministry administrator's status page: %d:\n%s", code, page)
			}
		})
	}
}

// readStatusPage logs in as root@mof.gov.sy through the login form and reads
// /admin/status in English.
func readStatusPage(t *testing.T, base string) string {
	t.Helper()
	code, page := statusPageAs(t, base, "root@mof.gov.sy", statusAdminPassword)
	if code != http.StatusOK {
		t.Fatalf("/admin/status: status %d:\n%s", code, page)
	}
	return page
}

// statusPageAs logs in as login through the login form and reads
// /admin/status in English: its status and body.
func statusPageAs(t *testing.T, base, login, password string) (int, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the self-signed pair of data_dir
	read := func(resp *http.Response, err error) (int, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	_, login0 := read(c.Get(base + "/login"))
	m := statusCSRFField.FindStringSubmatch(login0)
	if m == nil {
		t.Fatal("the login page has no csrf_token")
	}
	form := url.Values{"login": {login}, "password": {password}, "csrf_token": {m[1]}}
	req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	if code, body := read(c.Do(req)); code != http.StatusOK { // follows the redirect home
		t.Fatalf("log in as %s: status %d:\n%s", login, code, body)
	}
	return read(c.Get(base + "/admin/status?lang=en"))
}

// TestStatusReportRefusesAnyoneButAnEnabledAdministrator: the process's
// status report answers an administrator of the instance, and refuses
// (directory.ErrForbidden) a ministry administrator, a clerk and a
// disabled administrator before checking anything.
func TestStatusReportRefusesAnyoneButAnEnabledAdministrator(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.DataDir = filepath.Join(t.TempDir(), "data")
			cfg.SMTP.Hostname = "mail.mof.gov.sy"
			b.apply(t, cfg)
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			e, err := app.Open(ctx, cfg, slog.New(slog.DiscardHandler), true, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(e.Close)
			if _, err := e.Directory.AddMinistry(ctx, "cli:test", directory.Ministry{Code: "MOF", NameAR: "وزارة المالية", NameEN: "Finance"}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Directory.AddDomain(ctx, "cli:test", "mof.gov.sy", "MOF"); err != nil {
				t.Fatal(err)
			}
			who := func(login string, roles ...string) directory.Principal {
				t.Helper()
				u, err := e.Directory.AddUser(ctx, "cli:test", directory.NewUser{Address: login, Name: login, Roles: roles, Password: statusAdminPassword})
				if err != nil {
					t.Fatal(err)
				}
				p, err := e.Directory.Principal(ctx, u.ID)
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			root := who("root@mof.gov.sy", directory.RoleAdmin)
			if r, err := app.StatusReportAs(ctx, e, root); err != nil || r.Version != app.Version || r.Database.Err != nil || r.Blob.Err != nil {
				t.Fatalf("the administrator's report: %+v, %v", r, err)
			}
			old := who("old@mof.gov.sy", directory.RoleAdmin)
			if err := e.Directory.Disable(ctx, "cli:test", "old@mof.gov.sy"); err != nil {
				t.Fatal(err)
			}
			if old, err = e.Directory.Principal(ctx, old.UserID); err != nil {
				t.Fatal(err)
			}
			for name, p := range map[string]directory.Principal{"disabled admin": old,
				"ministry admin": who("madmin@mof.gov.sy", directory.RoleMinistryAdmin), "clerk": who("ali@mof.gov.sy", directory.RoleClerk)} {
				if r, err := app.StatusReportAs(ctx, e, p); !errors.Is(err, directory.ErrForbidden) || r.Version != "" {
					t.Errorf("%s: %+v, %v; want ErrForbidden and no report", name, r, err)
				}
			}
		})
	}
}
