package imap_test

import (
	"encoding/base64"
	"mime"
	"strings"
)

// crlf turns a fixture written with \n into a message with CRLF endings.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// simpleMsg is a one-part ASCII message.
func simpleMsg(subject, from, to, body string) string {
	return crlf("From: " + from + "\nTo: " + to + "\nSubject: " + subject +
		"\nDate: Mon, 02 Feb 2026 10:00:00 +0300\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@mof.gov.sy>\n" +
		"MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n" + body + "\n")
}

// arabicText is the decoded body of arabicMsg's text and of mixedMsg's
// part 1.
const arabicText = "مرحبا بالعالم، هذا تقرير الميزانية\r\n"

// arabicMsg has an Arabic subject and sender name in encoded words and an
// Arabic body in base64.
var arabicMsg = crlf("From: " + mime.BEncoding.Encode("utf-8", "أحمد الخطيب") + " <ahmad@mof.gov.sy>\n" +
	"To: u1@mof.gov.sy\n" +
	"Subject: " + mime.BEncoding.Encode("utf-8", "تقرير الميزانية السنوي") + "\n" +
	"Date: Tue, 03 Feb 2026 09:30:00 +0300\n" +
	"Message-ID: <arabic-1@mof.gov.sy>\n" +
	"MIME-Version: 1.0\n" +
	"Content-Type: text/plain; charset=utf-8\n" +
	"Content-Transfer-Encoding: base64\n\n" +
	base64.StdEncoding.EncodeToString([]byte(arabicText)) + "\n")

// mixed is a multipart message with a nested alternative and an attached
// message that is multipart itself:
//
//	1     text/plain, base64 (Arabic)
//	2     multipart/alternative
//	2.1     text/plain
//	2.2     text/html
//	3     message/rfc822
//	3.1     text/plain        (inner part 1)
//	3.2     application/pdf, base64
const (
	mixedPart21MIME = "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
	mixedPart21     = "plain alternative"
	mixedInnerText  = "inner text"
	mixedPDF        = "%PDF-1.4\n"
)

var mixedInnerHeader = crlf("From: inner@mof.gov.sy\nTo: u1@mof.gov.sy\nSubject: Inner message\n" +
	"Date: Sun, 01 Feb 2026 08:00:00 +0300\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"inner\"\n\n")

var mixedMsg = crlf("From: Sara <sara@mof.gov.sy>\n"+
	"To: u1@mof.gov.sy, Omar <omar@mof.gov.sy>\n"+
	"Cc: audit@mof.gov.sy\n"+
	"Subject: Quarterly report\n"+
	"Date: Mon, 02 Feb 2026 10:00:00 +0300\n"+
	"Message-ID: <mixed-1@mof.gov.sy>\n"+
	"X-Registry: MOF/2026/000123\n"+
	"MIME-Version: 1.0\n"+
	"Content-Type: multipart/mixed; boundary=\"outer\"\n"+
	"\n"+
	"--outer\n"+
	"Content-Type: text/plain; charset=utf-8\n"+
	"Content-Transfer-Encoding: base64\n"+
	"\n"+
	base64.StdEncoding.EncodeToString([]byte(arabicText))+"\n"+
	"--outer\n"+
	"Content-Type: multipart/alternative; boundary=\"alt\"\n"+
	"\n"+
	"--alt\n"+
	"Content-Type: text/plain; charset=us-ascii\n"+
	"\n"+
	mixedPart21+"\n"+
	"--alt\n"+
	"Content-Type: text/html; charset=us-ascii\n"+
	"\n"+
	"<p>html alternative</p>\n"+
	"--alt--\n"+
	"--outer\n"+
	"Content-Type: message/rfc822\n"+
	"Content-Disposition: attachment; filename=\"fwd.eml\"\n"+
	"\n") + mixedInnerHeader + crlf(
	"--inner\n"+
		"Content-Type: text/plain\n"+
		"\n"+
		mixedInnerText+"\n"+
		"--inner\n"+
		"Content-Type: application/pdf; name=\"a.pdf\"\n"+
		"Content-Transfer-Encoding: base64\n"+
		"\n"+
		base64.StdEncoding.EncodeToString([]byte(mixedPDF))+"\n"+
		"--inner--\n"+
		"--outer--\n")

// brokenMsg claims to be multipart but has no boundary: its MIME cannot be
// understood.
var brokenMsg = crlf("From: broken@mof.gov.sy\nTo: u1@mof.gov.sy\nSubject: Broken\n" +
	"MIME-Version: 1.0\nContent-Type: multipart/mixed\nContent-Transfer-Encoding: x-unknown\n\n" +
	"--nothing here\nno parts at all\n\x00\xff binary junk\n")

// headerOf and bodyOf split a raw message at its first blank line.
func headerOf(raw string) string {
	i := strings.Index(raw, "\r\n\r\n")
	return raw[:i+4]
}

func bodyOf(raw string) string {
	i := strings.Index(raw, "\r\n\r\n")
	return raw[i+4:]
}
