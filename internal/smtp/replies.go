package smtp

import (
	"strings"

	gosmtp "github.com/emersion/go-smtp"
)

// reply is an SMTP reply with its enhanced status code (RFC 3463). Every
// answer of this package is one; their texts are fixed or name only what
// the client sent, never an internal error.
func reply(code int, class, subject, detail int, msg string) *gosmtp.SMTPError {
	return &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.EnhancedCode{class, subject, detail}, Message: msg}
}

var (
	errAuthRequired    = reply(530, 5, 7, 0, "Authentication required")
	errAlreadyAuth     = reply(503, 5, 5, 1, "Already authenticated")
	errAuthFailed      = reply(535, 5, 7, 8, "Authentication credentials invalid")
	errAuthTemp        = reply(454, 4, 7, 0, "Temporary authentication failure; try again later")
	errAuthMalformed   = reply(501, 5, 5, 2, "Malformed authentication response")
	errTooManyAuth     = reply(421, 4, 7, 0, "Too many failed authentications; closing the connection")
	errTemporary       = reply(451, 4, 3, 0, "Temporary failure; try again later")
	errLocalProblem    = reply(451, 4, 3, 0, "Temporary local problem: the message was not stored; try again later")
	errShuttingDown    = reply(421, 4, 3, 2, "Service shutting down")
	errConnection      = reply(421, 4, 4, 2, "Connection lost while receiving the message")
	errTooManyRefusals = reply(421, 4, 7, 0, "Too many refused commands; closing the connection")
	errRateLimited     = reply(451, 4, 7, 1, "Sending rate exceeded; try again later")
	// errTooManyConnections answers a connection over
	// smtp.max_connections_per_ip, in place of the greeting.
	errTooManyConnections = reply(421, 4, 7, 0, "Too many connections from your address")
	// errEnded answers what a client pipelined after a 421; it is never
	// written (the connection is closed by then).
	errEnded = reply(421, 4, 7, 0, "Closing the connection")

	errBadSender    = reply(553, 5, 1, 7, "The sender address is not a valid mailbox address")
	errBadRecipient = reply(553, 5, 1, 3, "The recipient address is not a valid mailbox address")
	errBadUTF8Addr  = reply(553, 5, 6, 7, "A non-ASCII address needs SMTPUTF8 (RFC 6531)")
	errNullSender   = reply(550, 5, 7, 1, "The null sender is not accepted here")
	errUnknownUser  = reply(550, 5, 1, 1, "No such mailbox here")
	errMailboxFull  = reply(552, 5, 2, 2, "Mailbox full")
	errTooBig       = reply(552, 5, 3, 4, "Message exceeds the maximum size")
	errRelayTrick   = reply(550, 5, 7, 1, "Relaying denied: routed and %-hack addresses are not accepted")

	errBareNewline  = reply(554, 5, 6, 0, "Message refused: lines must end with CRLF; a bare CR or LF was found (RFC 5321 §2.3.8)")
	errLongLine     = reply(554, 5, 6, 0, "Message refused: a line is longer than 998 octets (RFC 5322 §2.1.1)")
	errHeaderSize   = reply(552, 5, 3, 4, "Message refused: the header section is too large")
	errHeaderSyntax = reply(554, 5, 6, 0, "Message refused: the header section cannot be parsed")
	// errAuthUnavailable answers a message whose sender checks met a DNS
	// failure (RFC 7208 §8.6).
	errAuthUnavailable = reply(451, 4, 4, 3, "Temporary DNS failure while checking the sender's domain; try again later")
	errFromHeader      = reply(550, 5, 7, 1, "The From header must hold exactly one address, one you may send as")
	errSenderHeader    = reply(550, 5, 7, 1, "The Sender header must hold exactly one address, one you may send as")
)

// replyLine is a one-line reply as written on the wire, for the replies
// sent outside go-smtp's command loop.
func replyLine(e *gosmtp.SMTPError) string { return replyText(e) + "\r\n" }

func errRelayDenied(domain string) *gosmtp.SMTPError {
	if d := shown(domain); d != "" {
		return reply(550, 5, 7, 1, "Relaying denied: "+d+" is not hosted here")
	}
	return reply(550, 5, 7, 1, "Relaying denied: the domain is not hosted here")
}

func errSendAs(address string) *gosmtp.SMTPError {
	if a := shown(address); a != "" {
		return reply(550, 5, 7, 1, "You may not send as <"+a+">")
	}
	return reply(550, 5, 7, 1, "You may not send as this address")
}

func errFromMismatch(header, envelope string) *gosmtp.SMTPError {
	h, e := shown(header), shown(envelope)
	if h != "" && e != "" {
		return reply(550, 5, 7, 1, "The From header <"+h+"> does not match the envelope sender <"+e+">")
	}
	return reply(550, 5, 7, 1, "The From header does not match the envelope sender")
}

func errSenderNotYours(address string) *gosmtp.SMTPError {
	if a := shown(address); a != "" {
		return reply(550, 5, 7, 1, "The Sender header <"+a+"> is not an address you may send as")
	}
	return reply(550, 5, 7, 1, "The Sender header is not an address you may send as")
}

// errSenderAuth refuses a message that failed the sender checks of
// policy.inbound_auth: 550 5.7.26, "multiple authentication checks failed"
// (RFC 7372 §3.3), naming the check ("dmarc:fail p=reject").
func errSenderAuth(rule string) *gosmtp.SMTPError {
	const text = "Message refused: the sender's domain does not authenticate it"
	if r := shown(strings.ReplaceAll(rule, " ", "_")); r != "" {
		return reply(550, 5, 7, 26, text+" ("+rule+")")
	}
	return reply(550, 5, 7, 26, text)
}

// errDisplayName refuses a display name that shows another address than
// its field's (field is "From" or "Sender").
func errDisplayName(field, address string) *gosmtp.SMTPError {
	if a := shown(address); a != "" {
		return reply(550, 5, 7, 1, "The display name of the "+field+" header shows another address <"+a+">")
	}
	return reply(550, 5, 7, 1, "The display name of the "+field+" header shows another address")
}

// shown returns s when it is printable ASCII and short enough to quote in
// a reply line, else "": replies stay ASCII whatever was negotiated.
func shown(s string) string {
	if len(s) > 254 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return ""
		}
	}
	return s
}

// passwordChange answers the AUTH of a user whose password must change
// (DESIGN.md §3a): 432 4.7.12, "a password transition is needed" (RFC
// 4954 §6), naming the web page where to change it.
func passwordChange(accountURL string) *gosmtp.SMTPError {
	if accountURL == "" {
		return reply(432, 4, 7, 12, "A password transition is needed: log in to the web interface to set a new password")
	}
	return reply(432, 4, 7, 12, "A password transition is needed: set a new password at "+accountURL)
}
