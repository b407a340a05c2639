package httpd

// Mail client set-up: what staff's mail clients ask to find the IMAP and
// SMTP servers of their address by themselves. Thunderbird's autoconfig
// (clientConfig 1.1, at /.well-known/autoconfig/mail/config-v1.1.xml and,
// for the autoconfig.DOMAIN host, /mail/config-v1.1.xml), Outlook's
// autodiscover (the POX schema, POST /autodiscover/autodiscover.xml), and an
// Apple configuration profile (.mobileconfig) for the logged-in user. Only
// a domain hosted here gets an answer; every address a client sent is
// written back XML-escaped, by encoding/xml.

import (
	"context"
	"crypto/sha256"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/directory"
)

// MailSetup is where mail clients are told to connect: the public host
// name of the mail listeners and their ports. A port 0 is a listener that
// is off (or whose port is only known once bound); it is not offered.
type MailSetup struct {
	Host            string // smtp.hostname: the name the certificate carries
	IMAPPort        int    // imap.addr: IMAP with STARTTLS (143)
	IMAPSPort       int    // imap.tls_addr: IMAP over TLS (993)
	SubmissionPort  int    // smtp.submission_addr: submission with STARTTLS (587)
	SubmissionsPort int    // smtp.submissions_addr: submission over TLS (465)
}

// maxAutodiscoverBytes bounds an autodiscover request: the real ones are
// a few hundred bytes.
const maxAutodiscoverBytes = 8 << 10

// mailSetupRoutes registers the unauthenticated set-up documents; the
// .mobileconfig download is a page of the logged-in user (uiRoutes).
func (s *Server) mailSetupRoutes(e *gin.Engine) {
	e.GET("/.well-known/autoconfig/mail/config-v1.1.xml", s.autoconfig)
	e.GET("/mail/config-v1.1.xml", s.autoconfig)
	// Outlook asks with either spelling.
	e.POST("/autodiscover/autodiscover.xml", s.autodiscover)
	e.POST("/Autodiscover/Autodiscover.xml", s.autodiscover)
}

// clientConfig is Thunderbird's autoconfig document, version 1.1.
type clientConfig struct {
	XMLName  xml.Name      `xml:"clientConfig"`
	Version  string        `xml:"version,attr"`
	Provider emailProvider `xml:"emailProvider"`
}

type emailProvider struct {
	ID               string         `xml:"id,attr"`
	Domain           string         `xml:"domain"`
	DisplayName      string         `xml:"displayName"`
	DisplayShortName string         `xml:"displayShortName"`
	Incoming         []clientServer `xml:"incomingServer"`
	Outgoing         []clientServer `xml:"outgoingServer"`
}

type clientServer struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"`
	Username       string `xml:"username"`
	Authentication string `xml:"authentication"`
}

// autoconfig answers Thunderbird: the servers of the domain of
// ?emailaddress=, or without it of the host asked (autoconfig.DOMAIN).
func (s *Server) autoconfig(c *gin.Context) {
	address, given := c.GetQuery("emailaddress")
	var domain string
	var ok bool
	if given {
		_, domain, ok = s.setupAddress(c, address, "emailaddress")
	} else {
		domain, ok = s.setupHost(c)
	}
	if !ok {
		return
	}
	m := s.opts.MailSetup
	server := func(typ string, port int, socket string) clientServer {
		return clientServer{Type: typ, Hostname: m.Host, Port: port, SocketType: socket,
			Username: "%EMAILADDRESS%", Authentication: "password-cleartext"}
	}
	p := emailProvider{ID: domain, Domain: domain, DisplayName: domain, DisplayShortName: domain}
	for _, in := range []struct {
		port   int
		socket string
	}{{m.IMAPSPort, "SSL"}, {m.IMAPPort, "STARTTLS"}} {
		if in.port != 0 {
			p.Incoming = append(p.Incoming, server("imap", in.port, in.socket))
		}
	}
	for _, out := range []struct {
		port   int
		socket string
	}{{m.SubmissionsPort, "SSL"}, {m.SubmissionPort, "STARTTLS"}} {
		if out.port != 0 {
			p.Outgoing = append(p.Outgoing, server("smtp", out.port, out.socket))
		}
	}
	s.writeXML(c, clientConfig{Version: "1.1", Provider: p})
}

// setupAddress checks an address a mail client sent: a bad one is a 400
// naming field, one of a domain not hosted here (or set-up not
// configured) a 404. It returns the address as given, its canonical
// domain, and whether to go on; otherwise it has answered.
func (s *Server) setupAddress(c *gin.Context, address, field string) (string, string, bool) {
	address = strings.TrimSpace(address)
	_, domain, err := directory.CanonicalAddress(address)
	if err != nil {
		WriteError(c, http.StatusBadRequest, "invalid_address", "not a valid mail address", field)
		return "", "", false
	}
	return address, domain, s.setupHosted(c, domain)
}

// setupHost is the domain of the host name asked, without an
// "autoconfig." or "autodiscover." in front, when it is hosted here.
func (s *Server) setupHost(c *gin.Context) (string, bool) {
	host := c.Request.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	for _, prefix := range []string{"autoconfig.", "autodiscover."} {
		host = strings.TrimPrefix(host, prefix)
	}
	domain, err := directory.CanonicalDomain(host)
	if err != nil {
		notFound(c)
		return "", false
	}
	return domain, s.setupHosted(c, domain)
}

// setupHosted answers 404 unless set-up is configured and domain is
// hosted here.
func (s *Server) setupHosted(c *gin.Context, domain string) bool {
	if s.opts.MailSetup.Host == "" {
		notFound(c)
		return false
	}
	hosted, err := s.opts.Directory.IsHosted(c.Request.Context(), domain)
	if err != nil {
		s.log.Error("mail set-up: look up the domain", "domain", domain, "err", err)
		WriteError(c, http.StatusInternalServerError, "internal", "the request could not be completed", "")
		return false
	}
	if !hosted {
		notFound(c)
		return false
	}
	return true
}

// writeXML answers 200 with v as an XML document.
func (s *Server) writeXML(c *gin.Context, v any) {
	b, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		s.log.Error("mail set-up: encode XML", "err", err)
		WriteError(c, http.StatusInternalServerError, "internal", "the request could not be completed", "")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/xml; charset=utf-8", append([]byte(xml.Header), append(b, '\n')...))
}

// autodiscoverRequest is Outlook's POX request; its namespace
// (…/outlook/requestschema/2006) is not checked, as other servers do not.
type autodiscoverRequest struct {
	XMLName xml.Name `xml:"Autodiscover"`
	Request struct {
		EMailAddress             string `xml:"EMailAddress"`
		AcceptableResponseSchema string `xml:"AcceptableResponseSchema"`
	} `xml:"Request"`
}

type autodiscoverResponse struct {
	XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response struct {
		XMLName xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
		User    struct {
			DisplayName             string `xml:"DisplayName"`
			AutoDiscoverSMTPAddress string `xml:"AutoDiscoverSMTPAddress"`
		} `xml:"User"`
		Account struct {
			AccountType string                 `xml:"AccountType"`
			Action      string                 `xml:"Action"`
			Protocol    []autodiscoverProtocol `xml:"Protocol"`
		} `xml:"Account"`
	} `xml:"Response"`
}

type autodiscoverProtocol struct {
	Type           string `xml:"Type"`
	Server         string `xml:"Server"`
	Port           int    `xml:"Port"`
	DomainRequired string `xml:"DomainRequired"`
	LoginName      string `xml:"LoginName"`
	SPA            string `xml:"SPA"`
	SSL            string `xml:"SSL"`
	Encryption     string `xml:"Encryption"` // SSL: TLS from the start; TLS: STARTTLS
	AuthRequired   string `xml:"AuthRequired"`
}

// autodiscover answers Outlook's POX request with the IMAP and SMTP
// servers of the address it names, the address written back.
func (s *Server) autodiscover(c *gin.Context) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxAutodiscoverBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		WriteError(c, http.StatusBadRequest, "too_large", fmt.Sprintf("the request is over %d bytes", maxAutodiscoverBytes), "")
		return
	}
	var req autodiscoverRequest
	if err == nil {
		err = xml.Unmarshal(body, &req)
	}
	if err != nil {
		WriteError(c, http.StatusBadRequest, "invalid_xml", "the request is not an autodiscover XML document", "")
		return
	}
	address, _, ok := s.setupAddress(c, req.Request.EMailAddress, "EMailAddress")
	if !ok {
		return
	}
	m := s.opts.MailSetup
	var resp autodiscoverResponse
	resp.Response.User.DisplayName = address
	resp.Response.User.AutoDiscoverSMTPAddress = address
	a := &resp.Response.Account
	a.AccountType, a.Action = "email", "settings"
	for _, p := range []struct {
		typ              string
		implicit, starts int
	}{{"IMAP", m.IMAPSPort, m.IMAPPort}, {"SMTP", m.SubmissionsPort, m.SubmissionPort}} {
		proto := autodiscoverProtocol{Type: p.typ, Server: m.Host, DomainRequired: "off", LoginName: address,
			SPA: "off", SSL: "on", AuthRequired: "on"}
		switch {
		case p.implicit != 0:
			proto.Port, proto.Encryption = p.implicit, "SSL"
		case p.starts != 0:
			proto.Port, proto.Encryption = p.starts, "TLS"
		default:
			continue
		}
		a.Protocol = append(a.Protocol, proto)
	}
	s.writeXML(c, resp)
}

// mobileconfig sends the logged-in user an Apple configuration profile
// with a com.apple.mail.managed payload for their address. A login that
// is not an address of a domain hosted here has no mailbox: 404.
func (s *Server) mobileconfig(c *gin.Context) {
	p := principalOf(c)
	ok, err := s.hasMailProfile(c.Request.Context(), p.Login)
	if err != nil {
		s.uiInternal(c, "look up the domain", err)
		return
	}
	if !ok {
		s.uiNotFound(c)
		return
	}
	name := p.Login
	if u, ok := s.uiCurrentUser(c); ok && u.Name != "" {
		name = u.Name
	}
	c.Header("Content-Disposition", `attachment; filename="mail.mobileconfig"`)
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/x-apple-aspen-config", mobileconfigProfile(s.opts.MailSetup, p.Login, name))
}

// hasMailProfile reports whether login has a mailbox a profile can set
// up: an address of a domain hosted here, with IMAP and submission
// listeners to name.
func (s *Server) hasMailProfile(ctx context.Context, login string) (bool, error) {
	m := s.opts.MailSetup
	if m.Host == "" || (m.IMAPSPort == 0 && m.IMAPPort == 0) || (m.SubmissionsPort == 0 && m.SubmissionPort == 0) {
		return false, nil
	}
	_, domain, err := directory.CanonicalAddress(login)
	if err != nil {
		return false, nil // the bootstrap administrator: no mailbox
	}
	return s.opts.Directory.IsHosted(ctx, domain)
}

// mobileconfigProfile is the profile (an XML property list) for address.
// Its identifiers derive from the host and the address, so that
// installing it again replaces the one installed before.
func mobileconfigProfile(m MailSetup, address, name string) []byte {
	sum := sha256.Sum256([]byte(m.Host + "\x00" + address))
	uuid := func(salt byte) string {
		h := sha256.Sum256(append(sum[:], salt))
		h[6], h[8] = h[6]&0x0f|0x50, h[8]&0x3f|0x80 // name-based UUID (RFC 9562 §5.5)
		return fmt.Sprintf("%X-%X-%X-%X-%X", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
	}
	inPort := m.IMAPSPort
	if inPort == 0 {
		inPort = m.IMAPPort
	}
	outPort := m.SubmissionsPort
	if outPort == 0 {
		outPort = m.SubmissionPort
	}
	reversed := strings.Split(m.Host, ".")
	for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
		reversed[i], reversed[j] = reversed[j], reversed[i]
	}
	id := strings.Join(reversed, ".") + ".diwan.mail"
	account := plistDict{
		{"EmailAccountDescription", address}, {"EmailAccountName", name},
		{"EmailAccountType", "EmailTypeIMAP"}, {"EmailAddress", address},
		{"IncomingMailServerAuthentication", "EmailAuthPassword"}, {"IncomingMailServerHostName", m.Host},
		{"IncomingMailServerPortNumber", inPort}, {"IncomingMailServerUseSSL", true},
		{"IncomingMailServerUsername", address},
		{"OutgoingMailServerAuthentication", "EmailAuthPassword"}, {"OutgoingMailServerHostName", m.Host},
		{"OutgoingMailServerPortNumber", outPort}, {"OutgoingMailServerUseSSL", true},
		{"OutgoingMailServerUsername", address}, {"OutgoingPasswordSameAsIncomingPassword", true},
		{"PayloadDisplayName", address}, {"PayloadIdentifier", id + ".account." + uuid(1)},
		{"PayloadType", "com.apple.mail.managed"}, {"PayloadUUID", uuid(1)}, {"PayloadVersion", 1},
		{"SMIMEEnabled", false},
	}
	profile := plistDict{
		{"PayloadContent", []plistDict{account}}, {"PayloadDisplayName", address + " (" + m.Host + ")"},
		{"PayloadIdentifier", id + "." + uuid(0)}, {"PayloadRemovalDisallowed", false},
		{"PayloadType", "Configuration"}, {"PayloadUUID", uuid(0)}, {"PayloadVersion", 1},
	}
	var b strings.Builder
	b.WriteString(xml.Header)
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	b.WriteString(`<plist version="1.0">` + "\n")
	profile.write(&b, "")
	b.WriteString("</plist>\n")
	return []byte(b.String())
}

// plistDict is a property list dictionary: keys in order, values string,
// int, bool or []plistDict.
type plistDict []struct {
	key   string
	value any
}

func (d plistDict) write(b *strings.Builder, indent string) {
	b.WriteString(indent + "<dict>\n")
	for _, kv := range d {
		b.WriteString(indent + "  <key>" + xmlText(kv.key) + "</key>\n")
		switch v := kv.value.(type) {
		case string:
			b.WriteString(indent + "  <string>" + xmlText(v) + "</string>\n")
		case int:
			fmt.Fprintf(b, "%s  <integer>%d</integer>\n", indent, v)
		case bool:
			fmt.Fprintf(b, "%s  <%t/>\n", indent, v)
		case []plistDict:
			b.WriteString(indent + "  <array>\n")
			for _, e := range v {
				e.write(b, indent+"    ")
			}
			b.WriteString(indent + "  </array>\n")
		}
	}
	b.WriteString(indent + "</dict>\n")
}

// xmlText is s escaped as XML character data.
func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
