package httpd

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"diwan.gov.sy/diwan/internal/directory"
)

func TestSessionLoginWhoAmILogout(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, false)
		c := e.anonymous()
		c.wantError("GET", "/api/v1/session", nil, http.StatusUnauthorized, "unauthenticated", "")

		resp, body := c.do("POST", "/api/v1/session", map[string]string{"login": "admin", "password": testPassword})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login: %d %s", resp.StatusCode, body)
		}
		var cookie *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == sessionCookie {
				cookie = ck
			}
		}
		if cookie == nil {
			t.Fatalf("no %s cookie; headers %v", sessionCookie, resp.Header)
		}
		if !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/" {
			t.Errorf("cookie %+v: want HttpOnly, Secure, SameSite=Lax, Path=/", cookie)
		}
		if len(cookie.Value) < 43 {
			t.Errorf("cookie value %q is shorter than 32 random octets", cookie.Value)
		}
		// Only the hash is stored.
		var stored []string
		if err := e.db.Writer().Table("web_sessions").Pluck("token_hash", &stored).Error; err != nil {
			t.Fatal(err)
		}
		if len(stored) != 1 || stored[0] != hashSecret(cookie.Value) || strings.Contains(stored[0], cookie.Value) {
			t.Errorf("stored %q; want only the SHA-256 of the cookie", stored)
		}

		var who sessionResponse
		c.call("GET", "/api/v1/session", nil, http.StatusOK, &who)
		if who.User.Address != "admin" || who.Auth != "session" || who.CSRFToken == "" || who.ExpiresAt == nil {
			t.Errorf("who am I: %+v", who)
		}
		if d := time.Until(*who.ExpiresAt); d < 11*time.Hour || d > 12*time.Hour {
			t.Errorf("session expires in %s, want the default 12h", d)
		}

		// Logging out changes state: it needs the CSRF token.
		c.wantError("DELETE", "/api/v1/session", nil, http.StatusForbidden, "csrf", "")
		c.csrf = who.CSRFToken
		c.call("DELETE", "/api/v1/session", nil, http.StatusNoContent, nil)
		c.wantError("GET", "/api/v1/session", nil, http.StatusUnauthorized, "unauthenticated", "")

		// The old cookie, replayed, is dead on the server too.
		replay := e.anonymous()
		replay.hc.Jar = nil
		resp, _ = replay.do("GET", "/api/v1/session", nil, "Cookie", sessionCookie+"="+cookie.Value)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("replayed cookie after logout: status %d, want 401", resp.StatusCode)
		}
	})
}

func TestLoginRefusalIs401AndCountsTowardsLockout(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		c := e.anonymous()
		for _, body := range []map[string]string{
			{"login": moctClerk, "password": "wrong password!"},
			{"login": "nobody@moct.gov.sy", "password": testPassword},
			{"login": "not an address", "password": testPassword},
		} {
			c.wantError("POST", "/api/v1/session", body, http.StatusUnauthorized, "invalid_credentials", "")
		}
		u, err := e.dir.UserByLogin(context.Background(), moctClerk)
		if err != nil {
			t.Fatal(err)
		}
		if u.FailedLogins != 1 {
			t.Errorf("failed logins %d after one wrong password, want 1", u.FailedLogins)
		}
		c.wantError("POST", "/api/v1/session", map[string]string{"login": moctClerk}, http.StatusBadRequest, "missing_field", "password")

		// A login from another site's page is refused (login CSRF).
		c.origin = "https://evil.example"
		resp, _ := c.do("POST", "/api/v1/session", map[string]string{"login": moctClerk, "password": testPassword}, "Origin", "https://evil.example")
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site login: status %d, want 403", resp.StatusCode)
		}

		// Every login is a log line, as on SMTP and IMAP.
		e.login(moctClerk)
		for _, want := range []string{
			`level=INFO msg=login protocol=http user=` + moctClerk + ` client=127.0.0.1 result=failed`,
			`level=INFO msg=login protocol=http user=nobody@moct.gov.sy client=127.0.0.1 result=failed`,
			`level=INFO msg=login protocol=http user=` + moctClerk + ` client=127.0.0.1 result=ok`,
		} {
			if !strings.Contains(e.ts.logs.String(), want) {
				t.Errorf("no log line %q in:\n%s", want, e.ts.logs.String())
			}
		}
	})
}

func TestCookieChangeNeedsCSRFTokenAndSameOrigin(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, false)
		c := e.login(adminLogin)
		good := c.csrf
		ministry := func(code string) map[string]string {
			return map[string]string{"code": code, "name_ar": "وزارة", "name_en": "Ministry"}
		}

		c.csrf = ""
		c.wantError("POST", "/api/v1/ministries", ministry("MOA"), http.StatusForbidden, "csrf", "")
		// The token with its first character changed.
		wrong := "x"
		if good[0] == 'x' {
			wrong = "y"
		}
		c.csrf = wrong + good[1:]
		c.wantError("POST", "/api/v1/ministries", ministry("MOA"), http.StatusForbidden, "csrf", "")
		c.csrf = good
		for _, origin := range []string{"https://evil.example", "null", ""} {
			c.origin = origin
			c.wantError("POST", "/api/v1/ministries", ministry("MOA"), http.StatusForbidden, "csrf", "")
		}
		// Another session's token does not fit this session.
		other := e.login(adminLogin)
		c.origin, c.csrf = e.ts.url, other.csrf
		c.wantError("POST", "/api/v1/ministries", ministry("MOA"), http.StatusForbidden, "csrf", "")
		if ms, _ := e.dir.Ministries(context.Background()); len(ms) != 0 {
			t.Fatalf("refused requests created %v", ms)
		}

		c.csrf = good
		c.call("POST", "/api/v1/ministries", ministry("MOA"), http.StatusCreated, nil)
		// The configured base URL is this site too (behind a proxy); a
		// Referer stands in for a missing Origin.
		c.origin = "https://DIWAN.example.gov:443"
		c.call("POST", "/api/v1/ministries", ministry("MOB"), http.StatusCreated, nil)
		c.origin = ""
		resp, body := c.do("POST", "/api/v1/ministries", ministry("MOC"), "Referer", e.ts.url+"/ui/ministries")
		if resp.StatusCode != http.StatusCreated {
			t.Errorf("same-origin Referer: %d %s", resp.StatusCode, body)
		}
		// Reads need no token.
		c.csrf = ""
		var l list[ministryDTO]
		c.call("GET", "/api/v1/ministries?per_page=2", nil, http.StatusOK, &l)
		if l.Total != 3 || len(l.Items) != 2 || l.Items[0].Code != "MOA" {
			t.Errorf("ministries page: %+v", l)
		}
	})
}

func TestBearerTokenWorksWithoutCSRF(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, false)
		c := e.withToken(adminLogin)
		if !strings.HasPrefix(c.token, directory.TokenPrefix) {
			t.Errorf("token %q lacks the prefix %q", c.token, directory.TokenPrefix)
		}
		c.origin = ""
		var who sessionResponse
		c.call("GET", "/api/v1/session", nil, http.StatusOK, &who)
		if who.User.Address != "admin" || who.Auth != "token" || who.CSRFToken != "" {
			t.Errorf("who am I with a token: %+v", who)
		}
		c.call("POST", "/api/v1/ministries", map[string]string{"code": "MOA", "name_ar": "وزارة", "name_en": "Ministry"}, http.StatusCreated, nil)
		c.wantError("DELETE", "/api/v1/session", nil, http.StatusBadRequest, "not_a_session", "")

		for _, h := range []string{"Bearer " + c.token + "x", "Bearer diwan_nothing", "Basic YWRtaW46eA==", "Bearer "} {
			bad := e.anonymous()
			resp, _ := bad.do("GET", "/api/v1/session", nil, "Authorization", h)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("Authorization %q: status %d, want 401", h, resp.StatusCode)
			}
		}
		var created int64
		if err := e.db.Writer().Table("audit_events").Where("action = ?", "user.token").Count(&created).Error; err != nil {
			t.Fatal(err)
		}
		if created != 1 {
			t.Errorf("%d user.token audit events, want 1", created)
		}
	})
}

func TestDisabledUserSessionAndTokenStopAtOnce(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		session := e.login(moctClerk)
		token := e.withToken(moctClerk)
		session.call("GET", "/api/v1/session", nil, http.StatusOK, nil)
		token.call("GET", "/api/v1/session", nil, http.StatusOK, nil)

		// An administrator disables the user through the API.
		admin := e.withToken(adminLogin)
		var u userDTO
		admin.call("PATCH", "/api/v1/users/"+moctClerk, map[string]any{"disabled": true}, http.StatusOK, &u)
		if !u.Disabled {
			t.Fatalf("PATCH answered %+v", u)
		}
		session.wantError("GET", "/api/v1/session", nil, http.StatusUnauthorized, "unauthenticated", "")
		token.wantError("GET", "/api/v1/entries", nil, http.StatusUnauthorized, "unauthenticated", "")
		session.wantError("POST", "/api/v1/correspondence", map[string]any{"subject": "x"}, http.StatusUnauthorized, "unauthenticated", "")
		e.anonymous().wantError("POST", "/api/v1/session", map[string]string{"login": moctClerk, "password": testPassword},
			http.StatusUnauthorized, "invalid_credentials", "")

		// Enabled again, the token works again; the session cookie was
		// cleared from the browser on the refusal.
		admin.call("PATCH", "/api/v1/users/"+moctClerk, map[string]any{"disabled": false}, http.StatusOK, nil)
		token.call("GET", "/api/v1/session", nil, http.StatusOK, nil)
	})
}

func TestSessionExpires(t *testing.T) {
	e := newAPIEnv(t, "sqlite", false)
	c := e.login(adminLogin)
	c.call("GET", "/api/v1/session", nil, http.StatusOK, nil)
	if err := e.db.Writer().Exec("UPDATE web_sessions SET expires_at = ?", time.Now().Add(-time.Second).UTC()).Error; err != nil {
		t.Fatal(err)
	}
	c.wantError("GET", "/api/v1/session", nil, http.StatusUnauthorized, "unauthenticated", "")
	// The next login sweeps the expired row.
	e.login(adminLogin)
	var n int64
	e.db.Writer().Table("web_sessions").Count(&n)
	if n != 1 {
		t.Errorf("%d session rows after an expiry and a login, want 1", n)
	}
}

func TestOrganisationChangesNeedAnAdministrator(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		clerk := e.withToken(moctClerk)
		clerk.wantError("POST", "/api/v1/ministries", map[string]string{"code": "MOA", "name_ar": "أ", "name_en": "A"}, http.StatusForbidden, "forbidden", "")
		clerk.wantError("POST", "/api/v1/users", map[string]any{"address": "x@moct.gov.sy", "name": "X", "roles": []string{"staff"}}, http.StatusForbidden, "forbidden", "")
		clerk.wantError("PATCH", "/api/v1/users/"+mofClerk, map[string]any{"disabled": true}, http.StatusForbidden, "forbidden", "")
		clerk.wantError("POST", "/api/v1/registries", map[string]any{"code": "MOCT2", "ministry": "MOCT", "name_ar": "د", "name_en": "R", "address": "r2@moct.gov.sy"}, http.StatusForbidden, "forbidden", "")

		var regs list[registryDTO]
		clerk.call("GET", "/api/v1/registries?ministry=MOF", nil, http.StatusOK, &regs)
		if regs.Total != 1 || regs.Items[0].Code != "MOF" || regs.Items[0].Template != "{registry}/{dir}/{year}/{seq:06}" {
			t.Errorf("registries of MOF: %+v", regs)
		}
		var deps list[departmentDTO]
		clerk.call("GET", "/api/v1/departments?ministry=MOF", nil, http.StatusOK, &deps)
		if deps.Total != 2 {
			t.Errorf("departments of MOF: %+v", deps)
		}
		var users list[userDTO]
		e.withToken(mofClerk).call("GET", "/api/v1/users?q=mof.gov.sy&per_page=2", nil, http.StatusOK, &users)
		if users.Total != 4 || len(users.Items) != 2 {
			t.Errorf("users q=mof.gov.sy: %+v", users)
		}

		admin := e.withToken(adminLogin)
		var nu newUserResponse
		admin.call("POST", "/api/v1/users", map[string]any{"address": "new@moct.gov.sy", "name": "New", "roles": []string{"staff"}}, http.StatusCreated, &nu)
		if nu.Password == "" || !nu.User.MustChangePassword || nu.User.Ministry != "MOCT" {
			t.Errorf("new user: %+v", nu)
		}
		admin.wantError("POST", "/api/v1/users", map[string]any{"address": "new@moct.gov.sy", "name": "New", "roles": []string{"staff"}}, http.StatusConflict, "exists", "")
		admin.wantError("POST", "/api/v1/users", map[string]any{"address": "n2@moct.gov.sy", "name": "New", "roles": []string{"king"}}, http.StatusBadRequest, "invalid_input", "role")
		var reg registryDTO
		admin.call("PATCH", "/api/v1/registries/MOCT", map[string]any{"approval_required": true}, http.StatusOK, &reg)
		if !reg.ApprovalRequired {
			t.Errorf("PATCH registry: %+v", reg)
		}
		var m membershipDTO
		admin.call("PATCH", "/api/v1/users/new@moct.gov.sy/membership", map[string]any{"clearance": "confidential"}, http.StatusOK, &m)
		if m.Clearance != "confidential" {
			t.Errorf("membership: %+v", m)
		}
		admin.wantError("PATCH", "/api/v1/users/new@moct.gov.sy/membership", map[string]any{"clearance": "top"}, http.StatusBadRequest, "invalid_value", "clearance")
		admin.wantError("GET", "/api/v1/users/nobody@moct.gov.sy", nil, http.StatusNotFound, "not_found", "")
		u, err := e.dir.UserByLogin(context.Background(), "new@moct.gov.sy")
		if err != nil {
			t.Fatal(err)
		}
		if !u.HasRole(directory.RoleStaff) {
			t.Errorf("user %+v", u)
		}
	})
}

func TestCookiesAreSecureOverTLSOrBehindAnHTTPSProxy(t *testing.T) {
	for _, tc := range []struct {
		tls     bool
		baseURL string
		want    bool
	}{{true, "", true}, {false, "https://diwan.example.gov", true}, {false, "http://localhost:8080", false}, {false, "", false}} {
		s := &Server{opts: Options{BaseURL: tc.baseURL}}
		if tc.tls {
			s.opts.TLS = &tls.Config{}
		}
		if got := s.secureCookies(); got != tc.want {
			t.Errorf("TLS %v base URL %q: Secure %v, want %v", tc.tls, tc.baseURL, got, tc.want)
		}
	}
}

func TestOriginOf(t *testing.T) {
	for in, want := range map[string]string{
		"https://Diwan.Example.GOV:443/x?y": "https://diwan.example.gov",
		"http://127.0.0.1:80":               "http://127.0.0.1",
		"https://127.0.0.1:8443/ui":         "https://127.0.0.1:8443",
		"https://[::1]:8443":                "https://[::1]:8443",
		"null":                              "",
		"javascript:alert(1)":               "",
		"https://":                          "",
	} {
		got, ok := originOf(in)
		if got != want || ok != (want != "") {
			t.Errorf("originOf(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// The routes whose engine call checks a kept API token (inBandRoutes) skip
// authenticate's query; a revoked token, or a disabled user's, is still
// refused from the next call on, with nothing created, changed or shown.
// (That the directory keeps the tokens it found valid and forgets those
// refused is directory's TestTokenRevocationIsSeenAtOnce.)
func TestKeptTokenIsCheckedByTheEngine(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		admin := e.withToken(adminLogin)
		// Three tokens of the clerk, one for each route that trusts a
		// kept token.
		clerks := []*apiClient{e.withToken(moctClerk), e.withToken(moctClerk), e.withToken(moctClerk)}
		newDraft := map[string]any{"subject": "طلب", "body": "نص", "sender_registry": "MOCT",
			"recipients": []map[string]string{{"registry": "MOF"}}}
		var d draftDTO
		clerks[0].call("POST", "/api/v1/correspondence", newDraft, http.StatusCreated, &d)
		doc := fmt.Sprintf("/api/v1/correspondence/%d", d.ID)
		register := fmt.Sprintf("/api/v1/entries/%d/register", d.EntryID)
		keep := func() {
			t.Helper()
			for _, c := range clerks {
				c.call("GET", doc, nil, http.StatusOK, nil)
			}
		}
		keep()
		count := func() int64 {
			t.Helper()
			var n int64
			if err := e.db.Writer().Table("correspondence").Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}
		rows := count()
		refused := func(why string) {
			t.Helper()
			clerks[0].wantError("POST", "/api/v1/correspondence", newDraft, http.StatusUnauthorized, "unauthenticated", "")
			clerks[1].wantError("GET", doc, nil, http.StatusUnauthorized, "unauthenticated", "")
			clerks[2].wantError("POST", register, map[string]any{"version": d.Version}, http.StatusUnauthorized, "unauthenticated", "")
			clerks[0].wantError("GET", "/api/v1/entries", nil, http.StatusUnauthorized, "unauthenticated", "")
			if n := count(); n != rows {
				t.Errorf("%s: %d correspondence rows, want %d", why, n, rows)
			}
		}

		admin.call("PATCH", "/api/v1/users/"+moctClerk, map[string]any{"disabled": true}, http.StatusOK, nil)
		refused("disabled")
		admin.call("PATCH", "/api/v1/users/"+moctClerk, map[string]any{"disabled": false}, http.StatusOK, nil)
		clerks[0].call("POST", "/api/v1/correspondence", newDraft, http.StatusCreated, nil)
		rows++
		// Kept again at the version that is current; revoking the tokens
		// must move it.
		keep()
		for _, c := range clerks {
			if err := e.db.Writer().Exec("DELETE FROM api_tokens WHERE token_hash = ?", hashSecret(c.token)).Error; err != nil {
				t.Fatal(err)
			}
		}
		refused("revoked")
		var state string
		if err := e.db.Writer().Raw("SELECT state FROM registry_entries WHERE id = ?", d.EntryID).Scan(&state).Error; err != nil {
			t.Fatal(err)
		}
		if state != "draft" {
			t.Errorf("the refused register left the entry %s", state)
		}

		// A token kept from another route, whose user the engine has not
		// read yet: the check goes with the first read of their rights.
		mof := e.withToken(mofClerk)
		mof.call("GET", "/api/v1/session", nil, http.StatusOK, nil)
		if err := e.db.Writer().Exec("DELETE FROM api_tokens WHERE token_hash = ?", hashSecret(mof.token)).Error; err != nil {
			t.Fatal(err)
		}
		mof.wantError("GET", "/api/v1/correspondence/1", nil, http.StatusUnauthorized, "unauthenticated", "")
		mof = e.withToken(mofClerk)
		mof.call("GET", "/api/v1/session", nil, http.StatusOK, nil)
		mof.wantError("GET", "/api/v1/correspondence/999999", nil, http.StatusNotFound, "not_found", "")
	})
}

// hashSecret is what the directory stores of a cookie or a token.
func hashSecret(secret string) string { return directory.HashSecret(secret) }

// userID is the directory id of login.
func (e *apiEnv) userID(login string) int64 {
	e.t.Helper()
	u, err := e.dir.UserByLogin(context.Background(), login)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.ID
}
