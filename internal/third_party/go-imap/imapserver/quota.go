package imapserver

import (
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/internal/imapwire"
)

// QuotaResourceData is the usage and the limit of one quota resource, in
// its unit (STORAGE: KiB).
type QuotaResourceData struct {
	Usage int64
	Limit int64
}

// QuotaData is a QUOTA response: a quota root and its resources.
type QuotaData struct {
	Root      string
	Resources map[imap.QuotaResourceType]QuotaResourceData
}

// SessionQuota is an IMAP session which supports QUOTA (RFC 9208).
type SessionQuota interface {
	Session

	// GetQuota returns the quota of a quota root (GETQUOTA).
	GetQuota(root string) (*QuotaData, error)
	// GetQuotaRoot returns the quota roots of a mailbox and the quota of
	// each (GETQUOTAROOT).
	GetQuotaRoot(mailbox string) ([]string, []*QuotaData, error)
	// SetQuota changes the limits of a quota root (SETQUOTA).
	SetQuota(root string, limits map[imap.QuotaResourceType]int64) error
}

// handleQuota answers GETQUOTA, GETQUOTAROOT and SETQUOTA (RFC 9208
// section 4).
func (c *Conn) handleQuota(name string, dec *imapwire.Decoder) error {
	var arg string
	var limits map[imap.QuotaResourceType]int64
	if !dec.ExpectSP() {
		return dec.Err()
	}
	if name == "GETQUOTAROOT" {
		if !dec.ExpectMailbox(&arg) {
			return dec.Err()
		}
	} else if !dec.ExpectAString(&arg) {
		return dec.Err()
	}
	if name == "SETQUOTA" {
		var err error
		if limits, err = readQuotaLimits(dec); err != nil {
			return err
		}
	}
	if !dec.ExpectCRLF() {
		return dec.Err()
	}
	if err := c.checkState(imap.ConnStateAuthenticated); err != nil {
		return err
	}
	session, ok := c.session.(SessionQuota)
	if !ok {
		return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Unknown command"}
	}
	switch name {
	case "GETQUOTA":
		data, err := session.GetQuota(arg)
		if err != nil {
			return err
		}
		return c.writeQuota(data)
	case "GETQUOTAROOT":
		roots, quotas, err := session.GetQuotaRoot(arg)
		if err != nil {
			return err
		}
		return c.writeQuotaRoot(arg, roots, quotas)
	default:
		return session.SetQuota(arg, limits)
	}
}

// readQuotaLimits reads SETQUOTA's list: SP "(" [resource SP number
// *(SP resource SP number)] ")".
func readQuotaLimits(dec *imapwire.Decoder) (map[imap.QuotaResourceType]int64, error) {
	limits := make(map[imap.QuotaResourceType]int64)
	if !dec.ExpectSP() {
		return nil, dec.Err()
	}
	err := dec.ExpectList(func() error {
		var res string
		var limit int64
		if !dec.ExpectAtom(&res) || !dec.ExpectSP() || !dec.ExpectNumber64(&limit) {
			return dec.Err()
		}
		limits[imap.QuotaResourceType(strings.ToUpper(res))] = limit
		return nil
	})
	return limits, err
}

func (c *Conn) writeQuotaRoot(mailbox string, roots []string, quotas []*QuotaData) error {
	enc := newResponseEncoder(c)
	enc.Atom("*").SP().Atom("QUOTAROOT").SP().Mailbox(mailbox)
	for _, root := range roots {
		enc.SP().String(root)
	}
	err := enc.CRLF()
	enc.end()
	if err != nil {
		return err
	}
	for _, data := range quotas {
		if err := c.writeQuota(data); err != nil {
			return err
		}
	}
	return nil
}

func (c *Conn) writeQuota(data *QuotaData) error {
	types := make([]string, 0, len(data.Resources))
	for t := range data.Resources {
		types = append(types, string(t))
	}
	sort.Strings(types)
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("QUOTA").SP().String(data.Root).SP()
	enc.List(len(types), func(i int) {
		res := data.Resources[imap.QuotaResourceType(types[i])]
		enc.Atom(types[i]).SP().Number64(res.Usage).SP().Number64(res.Limit)
	})
	return enc.CRLF()
}
