package app

import (
	"net"
	"strconv"

	"diwan.gov.sy/diwan/internal/config"
	"diwan.gov.sy/diwan/internal/httpd"
)

// mailSetup is what the HTTP server tells mail clients (autoconfig,
// autodiscover, .mobileconfig): smtp.hostname, the name the certificate
// carries, and the ports of the configured IMAP and submission listeners.
// A listener that is off, or whose port is picked at start (":0"), is not
// offered.
func mailSetup(cfg *config.Config) httpd.MailSetup {
	return httpd.MailSetup{
		Host:            cfg.SMTP.Hostname,
		IMAPPort:        listenPort(cfg.IMAP.Addr),
		IMAPSPort:       listenPort(cfg.IMAP.TLSAddr),
		SubmissionPort:  listenPort(cfg.SMTP.SubmissionAddr),
		SubmissionsPort: listenPort(cfg.SMTP.SubmissionsAddr),
	}
}

// listenPort is the port of a listen address ("host:port", ":port"), 0
// when there is none.
func listenPort(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return 0
	}
	return n
}
