package message

import (
	"strings"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// envelope reads the ENVELOPE fields of a message header (RFC 3501
// §7.4.2), leniently: an unreadable field is left empty, never an error.
func envelope(h textproto.Header) Envelope {
	mh := mail.Header{Header: gomessage.Header{Header: h}}
	var env Envelope
	if d, err := mh.Date(); err == nil {
		env.Date = d
	}
	env.Subject = clean(text(mh, "Subject"))
	env.From = addressList(mh, "From")
	env.Sender = addressList(mh, "Sender")
	env.ReplyTo = addressList(mh, "Reply-To")
	env.To = addressList(mh, "To")
	env.Cc = addressList(mh, "Cc")
	env.Bcc = addressList(mh, "Bcc")
	// RFC 3501 §7.4.2: a missing or empty Sender or Reply-To is From.
	if len(env.Sender) == 0 {
		env.Sender = env.From
	}
	if len(env.ReplyTo) == 0 {
		env.ReplyTo = env.From
	}
	if ids, err := mh.MsgIDList("In-Reply-To"); err == nil {
		for _, id := range ids {
			env.InReplyTo = append(env.InReplyTo, clean(id))
		}
	}
	if id, err := mh.MessageID(); err == nil {
		env.MessageID = clean(id)
	} else {
		env.MessageID = clean(strings.Trim(strings.TrimSpace(mh.Get("Message-Id")), "<>"))
	}
	return env
}

// text decodes a field's encoded words; with an unknown charset it keeps
// the raw value.
func text(mh mail.Header, key string) string {
	v, err := mh.Text(key)
	if err != nil {
		return mh.Get(key)
	}
	return v
}

// addressList parses an address field, groups included (address.go).
func addressList(mh mail.Header, key string) []Address {
	v := mh.Get(key)
	if strings.TrimSpace(v) == "" {
		return nil
	}
	return parseAddressField(v)
}

// clean makes a header value safe to store: valid UTF-8, no NUL and no
// line breaks.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.ContainsAny(s, "\x00\r\n") {
		s = strings.Map(func(r rune) rune {
			switch r {
			case 0:
				return -1
			case '\r', '\n':
				return ' '
			}
			return r
		}, s)
	}
	return s
}

// searchFields collects the header text SEARCH matches.
func searchFields(h textproto.Header) Search {
	mh := mail.Header{Header: gomessage.Header{Header: h}}
	field := func(key string) string {
		var parts []string
		fs := mh.FieldsByKey(key)
		for fs.Next() {
			v, err := fs.Text()
			if err != nil {
				v = fs.Value()
			}
			parts = append(parts, v)
		}
		return Fold(strings.Join(parts, ", "))
	}
	// Address fields also hold their mailboxes as parsed, so that a
	// mailbox written with comments inside is found by its address.
	addrs := func(key string) string {
		return field(key) + Fold(addressText(addressList(mh, key)))
	}
	s := Search{
		Subject: field("Subject"),
		From:    addrs("From"),
		To:      addrs("To"),
		Cc:      addrs("Cc"),
		Bcc:     addrs("Bcc"),
	}
	var b strings.Builder
	fs := h.Fields()
	for fs.Next() {
		line := Fold(fs.Key()) + ": " + Fold(decodeValue(fs.Value()))
		if b.Len()+len(line)+1 > MaxSearchHeader {
			break
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	s.Header = b.String()
	return s
}

// decodeValue decodes the encoded words of a header value, leaving it as it
// is when they cannot be decoded.
func decodeValue(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	var h gomessage.Header
	h.Set("X", v)
	if d, err := h.Text("X"); err == nil {
		return d
	}
	return v
}
