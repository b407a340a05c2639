package smtp

import (
	"context"
	"errors"
	"io"

	"diwan.gov.sy/diwan/internal/delivery"
)

// The places of the later issue (relaying to other national servers, DKIM
// signing, SPF/DKIM/DMARC checks) are these interfaces: Options.Relay is
// filled today by delivery.Queue, which only records; the delivery worker
// (internal/delivery) will read relay_queue, send over TLS to the
// recipients' national MX and bounce what fails. Options.Signer and
// Options.Verifier stay nil until then.

// RelayMessage is an accepted message for recipients on other national
// servers (delivery.Message: the queue is internal/delivery's).
type RelayMessage = delivery.Message

// RelayQueue records mail for other national servers.
type RelayQueue interface {
	// Enqueue stores raw (size octets) and one pending entry per recipient
	// and returns only when both are durable. On error nothing is queued.
	Enqueue(ctx context.Context, m RelayMessage, raw io.Reader, size int64) error
}

// Envelope is what a SenderVerifier knows of an inbound message besides
// its content.
type Envelope struct {
	Listener Listener
	Client   string // IP address
	Helo     string
	From     string // "" for <>
	To       []string
	TLS      bool
}

// Verdict is a SenderVerifier's answer.
type Verdict struct {
	// Pass: the sender is authenticated (DMARC pass, or without a DMARC
	// record SPF or DKIM pass).
	Pass bool
	// Enforce: refuse the message when it did not pass (550 5.7.26):
	// under policy.inbound_auth enforce, and in any mode for a header From
	// of a domain hosted here; otherwise it is accepted and logged.
	Enforce bool
	// Rule is the check that failed, for the audit log and the reply:
	// "dmarc:fail p=reject", "spf:fail+dkim:none".
	Rule string
	// Header is the Authentication-Results field (RFC 8601) with its
	// CRLF, put on top of the stored message whatever the verdict.
	Header string
	// From is the header From address checked ("" when the message has
	// not exactly one).
	From string
}

// ErrSenderCheckUnavailable is wrapped by a SenderVerifier's error when
// DNS could not answer a query the verdict depends on: the message is
// answered 451 4.4.3 and may come again (RFC 7208 §8.6).
var ErrSenderCheckUnavailable = errors.New("sender checks unavailable: DNS did not answer")

// SenderVerifier checks inbound mail against its sender's domain: SPF for
// the client IP and MAIL FROM, DKIM signatures, DMARC alignment with the
// header From. It reads the message (its header section at least); an
// error is a temporary failure (451).
type SenderVerifier interface {
	Verify(ctx context.Context, env Envelope, message io.Reader) (Verdict, error)
}

// Signer DKIM-signs submitted mail.
type Signer interface {
	// Sign reads the whole message and returns the DKIM-Signature field
	// (with its CRLF) to put on top, or "" when the domain has no key.
	Sign(ctx context.Context, domain string, message io.Reader) (string, error)
}
