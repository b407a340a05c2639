package imapserver

import (
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/internal/imapwire"
)

// SessionQResync is a session that answers SELECT and EXAMINE with the
// QRESYNC parameter (RFC 7162 section 3.2.5).
type SessionQResync interface {
	Session

	// ResyncSelected is called after a SELECT or EXAMINE with QRESYNC has
	// been answered with its untagged responses and before the tagged OK:
	// it writes the VANISHED (EARLIER) response and the FETCH responses of
	// the messages changed since what the client knew.
	ResyncSelected(w *FetchWriter, options *imap.SelectQResync) error
}

// WriteModSeq writes the message's mod-sequence (RFC 7162 section 3.1.4).
func (w *FetchResponseWriter) WriteModSeq(modSeq uint64) {
	w.writeItemSep()
	w.enc.Atom("MODSEQ").SP().Special('(').ModSeq(modSeq).Special(')')
}

// WriteVanished writes a VANISHED response (RFC 7162 section 3.2.10),
// with EARLIER when earlier is set: the answer to UID FETCH with the
// VANISHED modifier and to SELECT with QRESYNC.
func (cmd *FetchWriter) WriteVanished(uids imap.UIDSet, earlier bool) error {
	return cmd.conn.writeVanished(uids, earlier)
}

// WriteVanished writes a VANISHED response in place of EXPUNGE responses,
// for a client that enabled QRESYNC (RFC 7162 section 3.2.10).
func (w *ExpungeWriter) WriteVanished(uids imap.UIDSet) error {
	if w.conn == nil {
		return nil
	}
	return w.conn.writeVanished(uids, false)
}

// WriteVanished writes a VANISHED response in place of EXPUNGE responses.
func (w *MoveWriter) WriteVanished(uids imap.UIDSet) error {
	return w.conn.writeVanished(uids, false)
}

// WriteVanished writes a VANISHED response in place of EXPUNGE responses.
func (w *UpdateWriter) WriteVanished(uids imap.UIDSet) error {
	if !w.allowExpunge {
		return errExpungeNotAllowed
	}
	return w.conn.writeVanished(uids, false)
}

// WriteMessageFlagsModSeq writes a FETCH response with UID, FLAGS and
// MODSEQ, as a client that enabled CONDSTORE gets them (RFC 7162 section
// 3.2).
func (w *UpdateWriter) WriteMessageFlagsModSeq(seqNum uint32, uid imap.UID, flags []imap.Flag, modSeq uint64) error {
	fetchWriter := &FetchWriter{conn: w.conn}
	respWriter := fetchWriter.CreateMessage(seqNum)
	respWriter.WriteUID(uid)
	respWriter.WriteFlags(flags)
	respWriter.WriteModSeq(modSeq)
	return respWriter.Close()
}

var errExpungeNotAllowed = &imap.Error{
	Type: imap.StatusResponseTypeNo,
	Code: imap.ResponseCodeServerBug,
	Text: "imapserver: EXPUNGE updates are not allowed in this context",
}

func (c *Conn) writeVanished(uids imap.UIDSet, earlier bool) error {
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("VANISHED")
	if earlier {
		enc.SP().Special('(').Atom("EARLIER").Special(')')
	}
	enc.SP().NumSet(uids)
	return enc.CRLF()
}

// readFetchModifier reads one fetch-modifier: CHANGEDSINCE (RFC 7162
// section 3.1.4) or VANISHED (section 3.2.6).
func readFetchModifier(dec *imapwire.Decoder, options *imap.FetchOptions) error {
	var name string
	if !dec.ExpectAtom(&name) {
		return dec.Err()
	}
	switch strings.ToUpper(name) {
	case "CHANGEDSINCE":
		if !dec.ExpectSP() || !dec.ExpectModSeq(&options.ChangedSince) {
			return dec.Err()
		}
	case "VANISHED":
		options.Vanished = true
	default:
		return newClientBugError("Unknown FETCH modifier")
	}
	return nil
}

// checkFetchModifiers refuses VANISHED where RFC 7162 section 3.2.6 does
// (outside UID FETCH, without CHANGEDSINCE, without ENABLE QRESYNC), and
// records MODSEQ and CHANGEDSINCE as CONDSTORE enabling (section 3.1).
func (c *Conn) checkFetchModifiers(options *imap.FetchOptions, numKind NumKind) error {
	if options.Vanished {
		switch {
		case numKind != NumKindUID:
			return newClientBugError("VANISHED is only allowed with UID FETCH")
		case options.ChangedSince == 0:
			return newClientBugError("VANISHED needs CHANGEDSINCE")
		case !c.EnabledCaps().Has(imap.CapQResync):
			return newClientBugError("QRESYNC must be enabled first")
		}
	}
	if options.ModSeq || options.ChangedSince != 0 {
		c.enableCondStore()
	}
	return nil
}

// readStoreModifier reads one store-modifier: UNCHANGEDSINCE (RFC 7162
// section 3.1.3). UNCHANGEDSINCE 0, which fails for every message, reaches
// the session as StoreOptions.UnchangedSince 0 and is not told apart from
// no modifier.
func readStoreModifier(dec *imapwire.Decoder, options *imap.StoreOptions) error {
	var name string
	if !dec.ExpectAtom(&name) {
		return dec.Err()
	}
	if !strings.EqualFold(name, "UNCHANGEDSINCE") {
		return newClientBugError("Unknown STORE modifier")
	}
	if !dec.ExpectSP() || !dec.ExpectModSeq(&options.UnchangedSince) {
		return dec.Err()
	}
	return nil
}

// readSearchKeyModSeq reads the rest of the MODSEQ search key:
// [SP entry-name SP entry-type-req] SP mod-sequence-valzer (RFC 7162
// section 3.1.5). Two MODSEQ keys in one AND keep the larger value.
func readSearchKeyModSeq(criteria *imap.SearchCriteria, dec *imapwire.Decoder) error {
	m := &imap.SearchCriteriaModSeq{}
	if !dec.ExpectSP() {
		return dec.Err()
	}
	var name string
	if dec.Quoted(&name) {
		var typ string
		if !dec.ExpectSP() || !dec.ExpectAtom(&typ) || !dec.ExpectSP() {
			return dec.Err()
		}
		m.MetadataName = name
		m.MetadataType = imap.SearchCriteriaMetadataType(strings.ToLower(typ))
		switch m.MetadataType {
		case imap.SearchCriteriaMetadataAll, imap.SearchCriteriaMetadataPrivate, imap.SearchCriteriaMetadataShared:
		default:
			return newClientBugError("Unknown MODSEQ entry type")
		}
	}
	if !dec.ExpectModSeq(&m.ModSeq) {
		return dec.Err()
	}
	if criteria.ModSeq == nil || criteria.ModSeq.ModSeq < m.ModSeq {
		criteria.ModSeq = m
	}
	return nil
}

// searchHasModSeq reports whether a MODSEQ key appears anywhere in c.
func searchHasModSeq(c *imap.SearchCriteria) bool {
	if c.ModSeq != nil {
		return true
	}
	for i := range c.Not {
		if searchHasModSeq(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if searchHasModSeq(&c.Or[i][0]) || searchHasModSeq(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

// WriteHighestModSeq writes an untagged OK [HIGHESTMODSEQ n], as the
// first CONDSTORE enabling command in the selected state answers it
// (RFC 7162 section 3.1).
func (w *UpdateWriter) WriteHighestModSeq(modSeq uint64) error {
	return w.conn.writeHighestModSeq(modSeq)
}
