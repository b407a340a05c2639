package app_test

import (
	"context"
	"crypto/tls"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
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
// store, the queue, and the version.
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
		})
	}
}

// readStatusPage logs in as root@mof.gov.sy through the login form and reads
// /admin/status in English.
func readStatusPage(t *testing.T, base string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the self-signed pair of data_dir
	read := func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d:\n%s", resp.Request.URL, resp.StatusCode, b)
		}
		return string(b)
	}
	m := statusCSRFField.FindStringSubmatch(read(c.Get(base + "/login")))
	if m == nil {
		t.Fatal("the login page has no csrf_token")
	}
	form := url.Values{"login": {"root@mof.gov.sy"}, "password": {statusAdminPassword}, "csrf_token": {m[1]}}
	req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	read(c.Do(req)) // follows the redirect home
	return read(c.Get(base + "/admin/status?lang=en"))
}
