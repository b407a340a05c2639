package smtp

import (
	"strings"
	"unicode"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"diwan.gov.sy/diwan/internal/directory"
)

// Submitted header fields that name the author: who the message is from
// (From, and Sender when someone sends on an author's behalf, RFC 5322
// §3.6.2), and the display names readers see in place of the addresses.

// headerMailbox is the one address of a field that holds a single mailbox.
type headerMailbox struct {
	present bool   // the field is there
	ok      bool   // once, with exactly one address
	addr    string // as written
	name    string // display name, decoded
}

// headerField reads the field (From, Sender) as one mailbox.
func headerField(h textproto.Header, field string) headerMailbox {
	n := len(h.Values(field))
	if n == 0 {
		return headerMailbox{}
	}
	m := headerMailbox{present: true}
	if n != 1 {
		return m
	}
	mh := mail.Header{Header: message.Header{Header: h}}
	list, err := mh.AddressList(field)
	if err != nil || len(list) != 1 {
		return m
	}
	m.ok, m.addr, m.name = true, list[0].Address, list[0].Name
	return m
}

// atSigns are the characters a reader takes for "@" in a display name.
var atSigns = strings.NewReplacer("\uFF20", "@", "\uFE6B", "@") // FULLWIDTH and SMALL COMMERCIAL AT

// foreignAddressInName returns an address written in a display name that
// is not own (canonical), or "" when the name holds none: a name such as
// "boss@mof.gov.sy" <me@mof.gov.sy> shows readers another sender than the
// one the server checked.
func foreignAddressInName(name, own string) string {
	name = atSigns.Replace(name)
	if !strings.Contains(name, "@") {
		return ""
	}
	words := strings.FieldsFunc(name, func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune("\"'<>()[]{},;:|\\/", r)
	})
	for _, w := range words {
		if !strings.Contains(w, "@") {
			continue
		}
		local, domain, err := directory.CanonicalAddress(strings.TrimRight(w, ".!?"))
		if err != nil {
			continue
		}
		if a := local + "@" + domain; a != own {
			return a
		}
	}
	return ""
}
