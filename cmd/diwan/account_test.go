package main

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// browserOf is a client of s with a cookie jar that follows no redirect.
func browserOf(s *server) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Timeout: 10 * time.Second, Jar: jar,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // self-signed dev pair
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func send(t *testing.T, c *http.Client, method, url, ctype, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// DESIGN.md §3a: the bootstrap administrator of a fresh `diwan serve`,
// with the generated password printed once, must change it first: the UI
// sends them to /account, the API answers 403 password_change_required
// until POST /api/v1/session/password has changed it.
func TestBootstrapAdministratorMustChangeTheGeneratedPassword(t *testing.T) {
	in := newInstance(t, "")
	s := in.serve()
	m := bootstrapLine.FindStringSubmatch(s.stderr.String())
	if m == nil {
		t.Fatalf("no bootstrap line:\n%s", s.stderr.String())
	}
	generated := m[1]

	ui := browserOf(s)
	_, page := send(t, ui, "GET", s.url+"/login", "", "")
	token := csrfField.FindStringSubmatch(page)
	if token == nil {
		t.Fatalf("no CSRF field on the login page:\n%s", page)
	}
	form := url.Values{"login": {"admin"}, "password": {generated}, "csrf_token": {token[1]}, "next": {"/"}}
	resp, _ := send(t, ui, "POST", s.url+"/login", "application/x-www-form-urlencoded", form.Encode(), "Origin", s.url)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
		t.Fatalf("UI login: %d to %q, want /account", resp.StatusCode, resp.Header.Get("Location"))
	}

	api := browserOf(s)
	resp, body := send(t, api, "POST", s.url+"/api/v1/session", "application/json",
		`{"login":"admin","password":"`+generated+`"}`)
	var sess struct {
		User struct {
			MustChangePassword bool `json:"must_change_password"`
		} `json:"user"`
		CSRFToken string `json:"csrf_token"`
	}
	if err := json.Unmarshal([]byte(body), &sess); err != nil || resp.StatusCode != 200 || !sess.User.MustChangePassword {
		t.Fatalf("API login: %d %s", resp.StatusCode, body)
	}
	resp, body = send(t, api, "GET", s.url+"/api/v1/ministries", "", "")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `"password_change_required"`) {
		t.Fatalf("GET /ministries before the change: %d %s", resp.StatusCode, body)
	}
	resp, body = send(t, api, "POST", s.url+"/api/v1/session/password", "application/json",
		`{"current":"`+generated+`","new":"a brand new secret"}`, "X-CSRF-Token", sess.CSRFToken, "Origin", s.url)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("change: %d %s", resp.StatusCode, body)
	}
	resp, body = send(t, api, "GET", s.url+"/api/v1/ministries", "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /ministries after the change: %d %s", resp.StatusCode, body)
	}
	s.stop(t)
}
