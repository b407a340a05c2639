package message

import (
	"errors"
	"io"
)

// ErrNoSection: a section path names no part of the message.
var ErrNoSection = errors.New("message: no such section")

// Parse reads a raw message once, streaming (it never holds more than one
// line, one header and the search excerpts in memory), and returns what it
// learnt. It never fails on bad input: broken MIME degrades to one text/plain
// part (Parsed.Broken). The only errors are read errors from r.
func Parse(r io.Reader) (*Parsed, error) {
	return parse(r)
}

// Find returns the part that an IMAP section part path names (RFC 9051
// §6.4.5): nil or empty path is the root; in a multipart part, n is its n-th
// child; in a message/rfc822 part, the path goes on in the enclosed message
// (whose part 1 is its body when it is not multipart); in any other leaf,
// part 1 is the leaf itself (so BODY[1] of a single-part message is its
// body). A path that names nothing is ErrNoSection.
func (p *Part) Find(path []int) (*Part, error) {
	return find(p, path)
}

// Specifier says which piece of a part a section names.
type Specifier string

// Section specifiers (RFC 9051 §6.4.5). HEADER.FIELDS and HEADER.FIELDS.NOT
// are served from SpecHeader's range, filtered by FilterHeader.
const (
	SpecAll    Specifier = ""       // the part's body (the whole message for the root)
	SpecHeader Specifier = "HEADER" // the header of the root or of an enclosed message
	SpecText   Specifier = "TEXT"   // the body of the root or of an enclosed message
	SpecMIME   Specifier = "MIME"   // the MIME header of a part (path not empty)
)

// Section returns the byte range [offset, offset+length) of the raw message
// that BODY[path.spec] names. An empty path with SpecAll is the whole message.
// HEADER and TEXT with a non-empty path need a message/rfc822 part; MIME needs
// a non-empty path; otherwise ErrNoSection.
func (p *Parsed) Section(path []int, spec Specifier) (offset, length int64, err error) {
	return section(p.Body, path, spec)
}

// FilterHeader keeps the fields of a raw header block that HEADER.FIELDS
// (not=false) or HEADER.FIELDS.NOT (not=true) select, names compared without
// regard to case, in their original order and bytes, followed by the blank
// line (RFC 9051 §6.4.5).
func FilterHeader(header []byte, fields []string, not bool) []byte {
	return filterHeader(header, fields, not)
}

// Decoder returns a reader of the body r decoded from the transfer encoding
// enc (base64, quoted-printable; identity for 7bit, 8bit, binary and "").
// An unknown encoding is an error (BINARY answers it with
// [UNKNOWN-CTE], RFC 3516 §4.3).
func Decoder(enc string, r io.Reader) (io.Reader, error) {
	return decoder(enc, r)
}

// Fold prepares text for case-insensitive substring matching: lower case
// (unicode.ToLower), Arabic diacritics (harakat) and the tatweel removed, as
// are invisible format characters, NUL and invalid UTF-8; runs of white
// space become one space, none at either end. Stores fold both the stored
// search text and the query with it.
func Fold(s string) string {
	return fold(s)
}
