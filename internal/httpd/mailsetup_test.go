package httpd

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// testMailSetup is what the test servers tell mail clients.
var testMailSetup = MailSetup{Host: "mail.example.gov", IMAPPort: 143, IMAPSPort: 993, SubmissionPort: 587, SubmissionsPort: 465}

// rawGet sends a GET with the Host header given (a client that reached
// this server under that name) and returns the status, type and body.
func (e *apiEnv) rawGet(path, host string) (int, string, []byte) {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.ts.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	return e.send(req)
}

func (e *apiEnv) rawPost(path, body string) (int, string, []byte) {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.ts.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml")
	return e.send(req)
}

func (e *apiEnv) send(req *http.Request) (int, string, []byte) {
	e.t.Helper()
	resp, err := e.ts.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// Thunderbird's autoconfig (clientConfig 1.1): IMAP over TLS and with
// STARTTLS, submission over TLS and with STARTTLS, the address as login.
func TestAutoconfigDescribesTheMailServersOfAHostedDomain(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		want := clientConfig{XMLName: xml.Name{Local: "clientConfig"}, Version: "1.1", Provider: emailProvider{
			ID: "mof.gov.sy", Domain: "mof.gov.sy", DisplayName: "mof.gov.sy", DisplayShortName: "mof.gov.sy",
			Incoming: []clientServer{
				{"imap", "mail.example.gov", 993, "SSL", "%EMAILADDRESS%", "password-cleartext"},
				{"imap", "mail.example.gov", 143, "STARTTLS", "%EMAILADDRESS%", "password-cleartext"},
			},
			Outgoing: []clientServer{
				{"smtp", "mail.example.gov", 465, "SSL", "%EMAILADDRESS%", "password-cleartext"},
				{"smtp", "mail.example.gov", 587, "STARTTLS", "%EMAILADDRESS%", "password-cleartext"},
			},
		}}
		for _, req := range []struct{ path, host string }{
			{"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=" + url.QueryEscape(mofStaff), ""},
			{"/mail/config-v1.1.xml?emailaddress=" + url.QueryEscape("Staff@MOF.gov.sy"), ""},
			{"/mail/config-v1.1.xml", "autoconfig.mof.gov.sy"},
			{"/.well-known/autoconfig/mail/config-v1.1.xml", "mof.gov.sy:8443"},
		} {
			status, typ, body := e.rawGet(req.path, req.host)
			if status != http.StatusOK || !strings.HasPrefix(typ, "application/xml") {
				t.Fatalf("GET %s (Host %q): %d %s\n%s", req.path, req.host, status, typ, body)
			}
			var got clientConfig
			if err := xml.Unmarshal(body, &got); err != nil {
				t.Fatalf("GET %s: %v\n%s", req.path, err, body)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("GET %s (Host %q):\n%+v\nwant\n%+v", req.path, req.host, got, want)
			}
		}
	})
}

// Only a domain hosted here gets an answer; what is not an address is a
// 400 naming the field.
func TestAutoconfigAnswersOnlyForHostedDomains(t *testing.T) {
	e := newAPIEnv(t, "sqlite", true)
	for _, c := range []struct {
		path, host string
		status     int
		code       string
	}{
		{"/mail/config-v1.1.xml?emailaddress=someone%40gmail.com", "", 404, "not_found"},
		{"/mail/config-v1.1.xml?emailaddress=someone%40moh.gov.sy", "", 404, "not_found"},
		{"/mail/config-v1.1.xml?emailaddress=%3Cx%3E", "", 400, "invalid_address"},
		{"/mail/config-v1.1.xml?emailaddress=", "", 400, "invalid_address"},
		{"/mail/config-v1.1.xml", "autoconfig.example.com", 404, "not_found"},
		{"/.well-known/autoconfig/mail/config-v1.1.xml", "127.0.0.1", 404, "not_found"},
	} {
		status, _, body := e.rawGet(c.path, c.host)
		if status != c.status || !strings.Contains(string(body), `"code":"`+c.code+`"`) {
			t.Errorf("GET %s (Host %q): %d %s, want %d %s", c.path, c.host, status, body, c.status, c.code)
		}
	}
	off := startTLS(t, Options{Directory: e.dir, Workflow: e.wf}, nil)
	if resp, body := off.get(t, "/mail/config-v1.1.xml?emailaddress="+url.QueryEscape(mofStaff)); resp.StatusCode != 404 {
		t.Errorf("without a mail host configured: %d %s, want 404", resp.StatusCode, body)
	}
}

func autodiscoverBody(address string) string {
	return `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>` + address + `</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`
}

// Outlook's POX autodiscover: the response schema's namespaces, the
// address written back (escaped), IMAP and SMTP over TLS.
func TestAutodiscoverAnswersOutlookWithTheAddressItSent(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		address := "o'brien&co@mof.gov.sy"
		for _, path := range []string{"/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"} {
			status, typ, body := e.rawPost(path, autodiscoverBody("o'brien&amp;co@mof.gov.sy"))
			if status != http.StatusOK || !strings.HasPrefix(typ, "application/xml") {
				t.Fatalf("POST %s: %d %s\n%s", path, status, typ, body)
			}
			if !strings.Contains(string(body), "o&#39;brien&amp;co@mof.gov.sy") {
				t.Errorf("the address is not escaped:\n%s", body)
			}
			var got autodiscoverResponse
			if err := xml.Unmarshal(body, &got); err != nil {
				t.Fatalf("POST %s: %v\n%s", path, err, body)
			}
			if got.XMLName.Space != "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006" ||
				got.Response.XMLName.Space != "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a" {
				t.Errorf("namespaces %q, %q", got.XMLName.Space, got.Response.XMLName.Space)
			}
			if got.Response.User.AutoDiscoverSMTPAddress != address {
				t.Errorf("AutoDiscoverSMTPAddress %q, want %q", got.Response.User.AutoDiscoverSMTPAddress, address)
			}
			want := []autodiscoverProtocol{
				{"IMAP", "mail.example.gov", 993, "off", address, "off", "on", "SSL", "on"},
				{"SMTP", "mail.example.gov", 465, "off", address, "off", "on", "SSL", "on"},
			}
			if a := got.Response.Account; a.AccountType != "email" || a.Action != "settings" || !reflect.DeepEqual(a.Protocol, want) {
				t.Errorf("account %+v\nwant protocols %+v", a, want)
			}
		}
	})
}

// Bad input: not XML, an undefined entity, more than the limit, no or a
// foreign address.
func TestAutodiscoverRefusesBadOrOversizedXML(t *testing.T) {
	e := newAPIEnv(t, "sqlite", true)
	padding := "<!--" + strings.Repeat("x", maxAutodiscoverBytes) + "-->"
	for _, c := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"not XML", `{"EMailAddress": "staff@mof.gov.sy"}`, 400, "invalid_xml"},
		{"unclosed", "<Autodiscover><Request><EMailAddress>staff@mof.gov.sy", 400, "invalid_xml"},
		{"entity", `<!DOCTYPE a [<!ENTITY x "staff@mof.gov.sy">]><Autodiscover><Request><EMailAddress>&x;</EMailAddress></Request></Autodiscover>`, 400, "invalid_xml"},
		{"other root", "<Other><Request><EMailAddress>staff@mof.gov.sy</EMailAddress></Request></Other>", 400, "invalid_xml"},
		{"oversized", autodiscoverBody(mofStaff) + padding, 400, "too_large"},
		{"no address", autodiscoverBody(""), 400, "invalid_address"},
		{"foreign", autodiscoverBody("someone@example.com"), 404, "not_found"},
	} {
		status, _, body := e.rawPost("/autodiscover/autodiscover.xml", c.body)
		if status != c.status || !strings.Contains(string(body), `"code":"`+c.code+`"`) {
			t.Errorf("%s: %d %s, want %d %s", c.name, status, body, c.status, c.code)
		}
	}
}

// readPlist reads an XML property list into maps, slices, strings, ints
// and bools.
func readPlist(t *testing.T, b []byte) map[string]any {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(string(b)))
	var root any
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("plist: %v\n%s", err, b)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "dict" {
			root = plistValue(t, d, se)
		}
	}
	m, ok := root.(map[string]any)
	if !ok {
		t.Fatalf("plist has no dict:\n%s", b)
	}
	return m
}

func plistValue(t *testing.T, d *xml.Decoder, se xml.StartElement) any {
	t.Helper()
	switch se.Name.Local {
	case "dict", "array":
		m, list, key := map[string]any{}, []any{}, ""
		for {
			tok, err := d.Token()
			if err != nil {
				t.Fatalf("plist %s: %v", se.Name.Local, err)
			}
			switch tk := tok.(type) {
			case xml.EndElement:
				if se.Name.Local == "dict" {
					return m
				}
				return list
			case xml.StartElement:
				if tk.Name.Local == "key" {
					key = plistValue(t, d, tk).(string)
					continue
				}
				v := plistValue(t, d, tk)
				if se.Name.Local == "dict" {
					m[key] = v
				} else {
					list = append(list, v)
				}
			}
		}
	case "true", "false":
		d.Skip()
		return se.Name.Local == "true"
	}
	var s string
	if err := d.DecodeElement(&s, &se); err != nil {
		t.Fatalf("plist %s: %v", se.Name.Local, err)
	}
	if se.Name.Local == "integer" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("plist integer %q", s)
		}
		return n
	}
	return s
}

// The Apple profile is the logged-in user's own, and only theirs: without
// a session the browser goes to the login page; the bootstrap
// administrator has no mailbox.
func TestMobileconfigIsOnlyForALoggedInUserWithAMailbox(t *testing.T) {
	eachDriver(t, func(t *testing.T, driver string) {
		e := newAPIEnv(t, driver, true)
		resp, body := e.browser().get("/account/mail.mobileconfig")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") ||
			strings.Contains(body, "com.apple.mail.managed") {
			t.Fatalf("without a session: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		b := e.uiLogin(mofStaff)
		resp, body = b.get("/account")
		wantPage(t, resp, body, http.StatusOK, `href="/account/mail.mobileconfig"`)
		resp, body = b.get("/account/mail.mobileconfig")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-apple-aspen-config" ||
			!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("logged in: %d %s %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"), body)
		}
		p := readPlist(t, []byte(body))
		content, _ := p["PayloadContent"].([]any)
		if p["PayloadType"] != "Configuration" || len(content) != 1 {
			t.Fatalf("profile %v", p)
		}
		mail, _ := content[0].(map[string]any)
		for k, v := range map[string]any{"PayloadType": "com.apple.mail.managed", "EmailAddress": mofStaff,
			"IncomingMailServerUsername": mofStaff, "OutgoingMailServerUsername": mofStaff,
			"IncomingMailServerHostName": "mail.example.gov", "IncomingMailServerPortNumber": 993,
			"OutgoingMailServerPortNumber": 465, "IncomingMailServerUseSSL": true, "EmailAccountType": "EmailTypeIMAP"} {
			if mail[k] != v {
				t.Errorf("%s = %v, want %v", k, mail[k], v)
			}
		}
		admin := e.uiLogin(adminLogin)
		resp, body = admin.get("/account")
		if strings.Contains(body, "mail.mobileconfig") {
			t.Errorf("the administrator's account page offers a mail profile")
		}
		resp, _ = admin.get("/account/mail.mobileconfig")
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("administrator: %d, want 404", resp.StatusCode)
		}
	})
}
