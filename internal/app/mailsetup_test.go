package app

import (
	"testing"

	"diwan.gov.sy/diwan/internal/config"
	"diwan.gov.sy/diwan/internal/httpd"
)

// Mail clients are told smtp.hostname and the ports the listeners are
// configured on; a listener that is off, or on a port picked at start,
// is not offered.
func TestMailSetupTakesTheHostAndPortsOfTheMailListeners(t *testing.T) {
	cfg := config.Default()
	cfg.SMTP.Hostname = "mail.moh.gov.sy"
	cfg.IMAP.Addr, cfg.IMAP.TLSAddr = ":143", "10.0.0.5:993"
	cfg.SMTP.SubmissionAddr, cfg.SMTP.SubmissionsAddr = "[::]:587", ""
	want := httpd.MailSetup{Host: "mail.moh.gov.sy", IMAPPort: 143, IMAPSPort: 993, SubmissionPort: 587}
	if got := mailSetup(cfg); got != want {
		t.Errorf("mailSetup = %+v, want %+v", got, want)
	}
	cfg.IMAP.Addr, cfg.SMTP.SubmissionsAddr = "127.0.0.1:0", ":465"
	want.IMAPPort, want.SubmissionsPort = 0, 465
	if got := mailSetup(cfg); got != want {
		t.Errorf("mailSetup = %+v, want %+v", got, want)
	}
}
