package httpd

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// uiClient is a browser without a script engine: a cookie jar, redirects
// not followed (each test looks at them), the CSRF token taken from the
// last page it read, and a same-origin Origin on every POST, as browsers
// send.
type uiClient struct {
	t    testing.TB
	e    *apiEnv
	hc   *http.Client
	csrf string // the csrf_token field of the last page read
	lang string // sent as ?lang= when not ""
}

// browser returns a client with an empty cookie jar.
func (e *apiEnv) browser() *uiClient {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Timeout: waitTimeout, Transport: e.ts.client.Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &uiClient{t: e.t, e: e, hc: hc}
}

// uiLogin logs in through the login form and returns the client.
func (e *apiEnv) uiLogin(login string) *uiClient {
	e.t.Helper()
	b := e.browser()
	b.get("/login")
	resp, body := b.post("/login", url.Values{"login": {login}, "password": {testPassword}})
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("log in as %s: status %d, want 303; body %s", login, resp.StatusCode, body)
	}
	return b
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

// get reads a page (a path, with its query) and keeps its CSRF token.
func (b *uiClient) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.e.ts.url+b.withLang(path), nil)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	return b.send(req)
}

// post sends a form with the last page's CSRF token (unless the form
// names its own csrf_token) and a same-origin Origin.
func (b *uiClient) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	if _, own := form["csrf_token"]; !own && b.csrf != "" {
		form = cloneValues(form)
		form.Set("csrf_token", b.csrf)
	}
	req, err := http.NewRequest("POST", b.e.ts.url+b.withLang(path), strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.e.ts.url)
	req.Header.Set("Accept", "text/html")
	return b.send(req)
}

func (b *uiClient) send(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	if m := csrfInput.FindSubmatch(body); m != nil {
		b.csrf = html.UnescapeString(string(m[1]))
	}
	return resp, string(body)
}

func (b *uiClient) withLang(path string) string {
	if b.lang == "" {
		return path
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "lang=" + b.lang
}

func cloneValues(v url.Values) url.Values {
	c := url.Values{}
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// wantPage insists on the status and that the body holds every snippet.
func wantPage(t testing.TB, resp *http.Response, body string, status int, snippets ...string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body:\n%s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, body)
	}
	for _, s := range snippets {
		if !strings.Contains(body, s) {
			t.Errorf("%s %s: the page lacks %q; body:\n%s", resp.Request.Method, resp.Request.URL.Path, s, body)
		}
	}
}
