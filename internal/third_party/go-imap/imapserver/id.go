package imapserver

import (
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/internal/imapwire"
)

// SessionID is an IMAP session which supports ID (RFC 2971), in any state.
type SessionID interface {
	Session

	// ID receives the client's fields (field names as sent; a NIL value
	// is ""; nil for "ID NIL") and returns the server's, or nil for NIL.
	ID(client map[string]string) (*imap.IDData, error)
}

// RFC 2971 §3.3: at most 30 field-value pairs, fields of at most 30 octets
// and values of at most 1024.
const (
	maxIDPairs = 30
	maxIDField = 30
	maxIDValue = 1024
)

func (c *Conn) handleID(dec *imapwire.Decoder) error {
	if !dec.ExpectSP() {
		return dec.Err()
	}
	var client map[string]string
	err := dec.ExpectNList(func() error {
		var field, value string
		if !dec.ExpectString(&field) || !dec.ExpectSP() || !dec.ExpectNString(&value) {
			return dec.Err()
		}
		if client == nil {
			client = make(map[string]string)
		}
		if len(client) >= maxIDPairs || len(field) > maxIDField || len(value) > maxIDValue {
			return newClientBugError("ID fields exceed RFC 2971 limits")
		}
		client[field] = value
		return nil
	})
	if err != nil {
		return err
	}
	if !dec.ExpectCRLF() {
		return dec.Err()
	}
	session, ok := c.session.(SessionID)
	if !ok {
		return newClientBugError("ID is not supported")
	}
	data, err := session.ID(client)
	if err != nil {
		return err
	}
	return c.writeID(data)
}

func (c *Conn) writeID(data *imap.IDData) error {
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("ID").SP()
	var pairs [][2]string
	if data != nil {
		for _, p := range [][2]string{
			{"name", data.Name}, {"version", data.Version}, {"os", data.OS},
			{"os-version", data.OSVersion}, {"vendor", data.Vendor},
			{"support-url", data.SupportURL}, {"address", data.Address},
			{"date", data.Date}, {"command", data.Command},
			{"arguments", data.Arguments}, {"environment", data.Environment},
		} {
			if p[1] != "" {
				pairs = append(pairs, p)
			}
		}
	}
	if len(pairs) == 0 {
		enc.NIL()
	} else {
		enc.List(len(pairs), func(i int) {
			enc.String(pairs[i][0]).SP().String(pairs[i][1])
		})
	}
	return enc.CRLF()
}
