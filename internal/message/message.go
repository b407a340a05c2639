// Package message parses raw RFC 5322 messages once, when they arrive: the
// envelope, the MIME body structure with the byte offsets of every part, and
// the text that searches look at. The result is plain data that serialises to
// JSON, so a store can keep it beside the message and serve FETCH ENVELOPE,
// BODYSTRUCTURE and BODY[section] without reading the message again.
//
// Parsing never fails: a message whose MIME cannot be understood degrades to
// a single text/plain part covering its body. The package must never talk to
// a database, a blob store or a network, and never import a protocol library
// (its types mirror go-imap's imap.Envelope and imap.BodyStructure field for
// field so that the IMAP adapter converts without thinking).
package message

import (
	"time"
)

// Address is one mailbox of an address list. A group is written as a start
// marker (Mailbox = the group's display name, Host "") followed by its members
// and an end marker (Mailbox "" and Host ""), as RFC 3501 §7.4.2 encodes it.
// Name is decoded to UTF-8.
type Address struct {
	Name    string `json:"n,omitempty"`
	Mailbox string `json:"m,omitempty"`
	Host    string `json:"h,omitempty"`
	// Route is an obsolete source route ("@relay.example", RFC 5322
	// §4.4), kept for ENVELOPE's adl.
	Route string `json:"r,omitempty"`
}

// Addr is "mailbox@host", or "" for a group marker.
func (a Address) Addr() string {
	if a.Mailbox == "" || a.Host == "" {
		return ""
	}
	return a.Mailbox + "@" + a.Host
}

// Envelope mirrors imap.Envelope: the header fields of RFC 3501 §7.4.2,
// decoded to UTF-8 (MIME encoded words of any charset go-message knows,
// including windows-1256 and ISO-8859-6). Date is the zero time when the
// Date field is missing or unreadable. InReplyTo and MessageID hold message
// IDs without angle brackets.
type Envelope struct {
	Date      time.Time `json:"date,omitzero"`
	Subject   string    `json:"subject,omitempty"`
	From      []Address `json:"from,omitempty"`
	Sender    []Address `json:"sender,omitempty"`
	ReplyTo   []Address `json:"reply_to,omitempty"`
	To        []Address `json:"to,omitempty"`
	Cc        []Address `json:"cc,omitempty"`
	Bcc       []Address `json:"bcc,omitempty"`
	InReplyTo []string  `json:"in_reply_to,omitempty"`
	MessageID string    `json:"message_id,omitempty"`
}

// Part is one node of a body structure (RFC 3501 §7.4.2 BODYSTRUCTURE,
// RFC 9051 §7.5.2). A multipart part has Children; a message/rfc822 (or
// message/global) part has Message, the root part of the enclosed message,
// and Envelope; every other part is a leaf.
//
// Offsets are byte positions in the raw message as stored:
//
//	[HeaderStart, BodyStart)  the part's MIME header with its blank line
//	                          (for the root part, the message header)
//	[BodyStart, End)          the part's body, as BODY[n] returns it
//
// So BODY[] is the whole message, BODY[HEADER] of the root is
// [0, root.BodyStart), BODY[TEXT] is [root.BodyStart, root.End), BODY[n.MIME]
// is Part n's header range, and BODY[n.HEADER] / BODY[n.TEXT] of a
// message/rfc822 part n are the header and body ranges of n's Message.
type Part struct {
	// Type and Subtype are lower case ("text", "plain"); "multipart" parts
	// have Type "multipart".
	Type    string `json:"type"`
	Subtype string `json:"subtype"`
	// Params are the Content-Type parameters, names lower case, values
	// decoded (RFC 2231). For a multipart part they include "boundary".
	Params      map[string]string `json:"params,omitempty"`
	ID          string            `json:"id,omitempty"`          // Content-ID, as written
	Description string            `json:"description,omitempty"` // Content-Description, decoded
	// Encoding is the Content-Transfer-Encoding, lower case; "" when the
	// header is missing (IMAP reports 7BIT then).
	Encoding string `json:"encoding,omitempty"`
	// Size is End-BodyStart: the body's size in octets as stored, encoded.
	Size int64 `json:"size"`
	// Lines is the number of line feeds in the body; meaningful for text/*
	// and message/rfc822 parts (IMAP reports it only for those).
	Lines int64  `json:"lines,omitempty"`
	MD5   string `json:"md5,omitempty"` // Content-MD5, as written

	Disposition       string            `json:"disposition,omitempty"` // lower case: "inline", "attachment"
	DispositionParams map[string]string `json:"disposition_params,omitempty"`
	Language          []string          `json:"language,omitempty"`
	Location          string            `json:"location,omitempty"`

	HeaderStart int64 `json:"hs"`
	BodyStart   int64 `json:"bs"`
	End         int64 `json:"end"`

	Children []*Part   `json:"children,omitempty"` // multipart only, in order
	Message  *Part     `json:"message,omitempty"`  // message/rfc822 and message/global only
	Envelope *Envelope `json:"envelope,omitempty"` // with Message

	bodyNL, endNL int64  // line feeds before BodyStart and End, while parsing
	search        Search // of a message root, while parsing
}

// MediaType is "type/subtype", lower case.
func (p *Part) MediaType() string { return p.Type + "/" + p.Subtype }

// IsMultipart reports whether the part is a multipart/* container.
func (p *Part) IsMultipart() bool { return p.Type == "multipart" }

// Parsed is what Parse learns from one raw message.
type Parsed struct {
	Envelope Envelope `json:"envelope"`
	// Body is the root part. Body.HeaderStart is 0 and Body.End is the size
	// of the raw message.
	Body *Part `json:"body"`
	// Broken reports that the MIME structure could not be understood and
	// Body was degraded to a single text/plain part over the whole body.
	Broken bool `json:"broken,omitempty"`
	// Search is what SEARCH looks at; it is not part of the JSON (stores
	// keep it in columns of its own).
	Search Search `json:"-"`
}

// Search holds the text that SEARCH criteria match, every field decoded to
// UTF-8 and folded with Fold, so that a query folded the same way matches
// with a plain substring test (SQL LIKE or strings.Contains).
type Search struct {
	Subject string // the Subject field
	From    string // the From field: display names and addresses
	To      string
	Cc      string
	Bcc     string
	// Header is every header field of the message as "name: value" lines,
	// names and values folded, values decoded and unfolded, "\n" after each
	// line; at most MaxSearchHeader bytes. SEARCH HEADER matches it.
	Header string
	// Text is the decoded text of the text/* parts (text/html reduced to its
	// text), folded, spaces collapsed, at most MaxSearchText bytes. SEARCH
	// BODY matches it (SEARCH TEXT matches Header or Text).
	Text string
}

// Limits of the search excerpts, in bytes.
const (
	MaxSearchHeader = 16 << 10
	MaxSearchText   = 64 << 10
)

// Date is the message's origination date (the Date field), or the zero time.
func (p *Parsed) Date() time.Time { return p.Envelope.Date }
