package imap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"diwan.gov.sy/diwan/internal/mailstore"
	"diwan.gov.sy/diwan/internal/message"
)

// fetchBatch is how many messages one store.Fetch call loads (the store's
// own batch). The next batch is loaded while one is written: memory per
// FETCH is two batches of metadata, whatever the size of the set, and the
// implicit \Seen of a batch is one store call.
const fetchBatch = 256

// flagsBatch is fetchBatch for a FETCH of UID, FLAGS and MODSEQ alone,
// whose metadata is small (the store reads it as a few packed rows).
const flagsBatch = 4096

// bufferBinary is the largest part BINARY decodes in memory; larger ones
// are decoded twice (once to learn the size, once to send).
const bufferBinary = 1 << 20

// Fetch answers FETCH and UID FETCH (RFC 9051 §6.4.5, BINARY RFC 3516)
// from the metadata the store parsed on arrival and byte ranges of the raw
// message; nothing is parsed again.
func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, o *imap.FetchOptions) (err error) {
	defer s.done(byKind(numKind(numSet), cmdFetch, cmdUIDFetch), &err)
	v, err := s.selected()
	if err != nil {
		return err
	}
	uids, err := v.resolve(numSet, true)
	if err != nil {
		return err
	}
	if o.ChangedSince > 0 {
		if uids, err = s.fetchChangedSince(w, v, numSet, uids, o); err != nil {
			return err
		}
	}
	if len(uids) == 0 {
		return nil
	}
	if _, isUID := numSet.(imap.UIDSet); isUID {
		o.UID = true
	}
	// RFC 9051 §6.4.5: BODY[...] and BINARY[...] set \Seen, except .PEEK
	// and in a read-only mailbox.
	markSeen := false
	if !v.readOnly {
		for _, bs := range o.BodySection {
			markSeen = markSeen || !bs.Peek
		}
		for _, bs := range o.BinarySection {
			markSeen = markSeen || !bs.Peek
		}
	}
	if s.out != nil {
		// One response per message, each flushed by imapserver: send
		// them in large writes. An error sending the last ones fails the
		// tagged response that follows.
		s.out.gather()
		defer s.out.flush()
	}
	l := &batchLoader{s: s, ctx: s.ctx, userID: s.uid(), mailboxID: v.mailboxID, rest: uids, size: fetchBatch,
		o: mailstore.FetchOptions{Envelope: o.Envelope, Structure: needsStructure(o), FlagsOnly: flagsOnly(o),
			MailboxOnly: !o.Envelope && o.BodyStructure == nil && len(o.BodySection)+len(o.BinarySection)+len(o.BinarySectionSize) == 0}}
	if l.o.FlagsOnly {
		l.size = flagsBatch
	}
	defer l.close()
	for {
		b, ok := l.next()
		if !ok {
			return nil
		}
		if b.err != nil {
			return s.storeError("fetch", b.err)
		}
		changed, err := s.markSeen(v, b.infos, markSeen)
		if err != nil {
			return err
		}
		if l.o.FlagsOnly {
			err = s.writeFlagsBatch(w, v, b.infos, o)
		} else {
			err = s.writeBatch(w, v, b.infos, o, changed)
		}
		if err != nil {
			return err
		}
	}
}

// batchLoader yields the metadata of a FETCH batch by batch. While the
// caller writes one batch, the next is loaded on another goroutine, so
// that the database and the client are busy at the same time.
type batchLoader struct {
	s         *session
	ctx       context.Context
	userID    int64
	mailboxID int64
	o         mailstore.FetchOptions
	rest      []uint32
	size      int              // UIDs per batch
	pending   chan loadedBatch // the load under way, nil if none
}

type loadedBatch struct {
	infos []*mailstore.MessageInfo
	err   error
}

// next returns the next batch; false after the last.
func (l *batchLoader) next() (loadedBatch, bool) {
	var b loadedBatch
	switch {
	case l.pending != nil:
		b = <-l.pending
		l.pending = nil
	case len(l.rest) > 0:
		b = l.load(l.take())
	default:
		return b, false
	}
	if b.err == nil && len(l.rest) > 0 {
		batch := l.take()
		l.pending = make(chan loadedBatch, 1)
		go func(c chan<- loadedBatch) { c <- l.load(batch) }(l.pending)
	}
	return b, true
}

func (l *batchLoader) take() []uint32 {
	batch := l.rest[:min(l.size, len(l.rest))]
	l.rest = l.rest[len(batch):]
	return batch
}

func (l *batchLoader) load(uids []uint32) loadedBatch {
	var b loadedBatch
	b.err = l.s.srv.o.Store.Fetch(l.ctx, l.userID, l.mailboxID, uids, l.o, func(mi *mailstore.MessageInfo) error {
		b.infos = append(b.infos, mi)
		return nil
	})
	return b
}

// close waits for a load still under way (the FETCH ended early): no store
// call outlives the command.
func (l *batchLoader) close() {
	if l.pending != nil {
		<-l.pending
		l.pending = nil
	}
}

// readAhead is how many messages' raw bytes are read ahead of the one being
// written, by up to readers goroutines, and maxReadAhead the largest span
// read ahead (bigger ones are streamed when their turn comes): a FETCH
// holds at most about 2 × readAhead × maxReadAhead of message data (heads
// read ahead, and as many buffers kept to read the next ones into). Measured
// (BenchmarkMailbox10k, 500 bodies of 10 KiB): 1.6× faster on S3, where
// every read is a round trip, and about 1.4× on the filesystem.
const (
	readAhead    = 8
	readers      = 4
	maxReadAhead = 1 << 20
)

// writeBatch writes the FETCH responses of one batch. When the responses
// carry message data, other goroutines read the blobs ahead (the part of
// each message the sections need), so that reading the store and writing
// to the client overlap.
func (s *session) writeBatch(w *imapserver.FetchWriter, v *view, infos []*mailstore.MessageInfo, o *imap.FetchOptions, changed map[uint32]bool) error {
	if len(o.BodySection) == 0 && len(o.BinarySection) == 0 && len(o.BinarySectionSize) == 0 {
		for _, mi := range infos {
			if err := s.fetchOne(w, v, mi, o, changed[mi.UID], rawSource{s: s, key: mi.BlobKey}); err != nil {
				return err
			}
		}
		return nil
	}
	// Slot i gets message i's head; at most readAhead slots are being
	// filled or waiting at a time, by up to readers goroutines (reads
	// from S3 are round trips: several at once hide their latency).
	type slot struct {
		head []byte
		done chan struct{}
	}
	slots := make([]slot, len(infos))
	for i := range slots {
		slots[i].done = make(chan struct{})
	}
	window := make(chan struct{}, readAhead)
	// free holds the buffers of heads already written, for the readers
	// to fill again: a batch allocates about readAhead of them, not one
	// per message.
	free := make(chan []byte, readAhead+1)
	quit := make(chan struct{})
	defer close(quit)
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range infos {
			select {
			case window <- struct{}{}:
			case <-quit:
				return
			}
			select {
			case next <- i:
			case <-quit:
				return
			}
		}
	}()
	for range readers {
		go func() {
			for i := range next {
				mi := infos[i]
				if end := spanEnd(mi, o); end > 0 && end <= maxReadAhead {
					var buf []byte
					select {
					case buf = <-free:
					default:
					}
					// A failure here is not reported: the writer opens
					// the blob itself and answers the error.
					slots[i].head, _ = rawSource{s: s, key: mi.BlobKey}.readInto(buf, 0, end)
				}
				close(slots[i].done)
			}
		}()
	}
	for i, mi := range infos {
		select {
		case <-slots[i].done:
		default:
			// The read is late: let the client have what is written.
			if s.out != nil {
				s.out.send()
			}
			<-slots[i].done
		}
		head := slots[i].head
		slots[i].head = nil
		<-window
		if err := s.fetchOne(w, v, mi, o, changed[mi.UID], rawSource{s: s, key: mi.BlobKey, head: head}); err != nil {
			return err
		}
		// Nothing holds on to head once its response is written.
		if head != nil {
			select {
			case free <- head:
			default:
			}
		}
	}
	return nil
}

// spanEnd is the end of the part of a message the sections of o read: the
// header alone for HEADER.FIELDS, the whole message for BODY[]. 0 when
// nothing is read.
func spanEnd(mi *mailstore.MessageInfo, o *imap.FetchOptions) int64 {
	var end int64
	for _, bs := range o.BodySection {
		off, n, err := bodyRange(mi, bs)
		if err != nil {
			continue
		}
		end = max(end, off+n)
	}
	for _, bs := range o.BinarySection {
		if off, n, _, err := binaryPart(mi, bs.Part); err == nil {
			end = max(end, off+n)
		}
	}
	for _, bs := range o.BinarySectionSize {
		if off, n, _, err := binaryPart(mi, bs.Part); err == nil {
			end = max(end, off+n)
		}
	}
	return min(end, mi.Size)
}

// rawSource reads byte ranges of one raw message: from head, the first
// bytes of it read ahead, when the range lies there, else from the store.
type rawSource struct {
	s    *session
	key  string
	head []byte
}

func (r rawSource) open(off, n int64) (io.ReadCloser, error) {
	if b, ok := r.cached(off, n); ok {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	return r.s.srv.o.Store.OpenRaw(r.s.ctx, r.key, off, n)
}

// cached returns a range when it lies in head.
func (r rawSource) cached(off, n int64) ([]byte, bool) {
	if off >= 0 && n >= 0 && off+n <= int64(len(r.head)) {
		return r.head[off : off+n], true
	}
	return nil, false
}

// read reads a range whole.
func (r rawSource) read(off, n int64) ([]byte, error) {
	if b, ok := r.cached(off, n); ok {
		return b, nil
	}
	return r.readInto(nil, off, n)
}

// readInto reads a range whole from the store, into buf when it is large
// enough.
func (r rawSource) readInto(buf []byte, off, n int64) ([]byte, error) {
	rc, err := r.s.srv.o.Store.OpenRaw(r.s.ctx, r.key, off, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if int64(cap(buf)) >= n {
		buf = buf[:n]
	} else {
		// Some room to spare, so that the buffer fits the next message
		// too when it is a little larger.
		buf = make([]byte, n, n+n/4)
	}
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// needsStructure reports whether the FETCH needs the body structure: for
// BODYSTRUCTURE, and for any section inside the message.
func needsStructure(o *imap.FetchOptions) bool {
	if o.BodyStructure != nil || len(o.BinarySection) > 0 || len(o.BinarySectionSize) > 0 {
		return true
	}
	for _, bs := range o.BodySection {
		if len(bs.Part) > 0 {
			return true
		}
	}
	return false
}

// markSeen sets \Seen on the messages of the batch that lack it and
// returns which changed; their new flags are written into the infos.
func (s *session) markSeen(v *view, infos []*mailstore.MessageInfo, on bool) (map[uint32]bool, error) {
	if !on {
		return nil, nil
	}
	var unseen []uint32
	for _, mi := range infos {
		if !slices.Contains(mi.Flags, mailstore.FlagSeen) {
			unseen = append(unseen, mi.UID)
		}
	}
	if len(unseen) == 0 {
		return nil, nil
	}
	ups, err := s.srv.o.Store.StoreFlags(s.ctx, s.uid(), v.mailboxID, unseen, mailstore.FlagsAdd, []string{mailstore.FlagSeen})
	if err != nil {
		return nil, s.storeError("set \\Seen", err)
	}
	changed := make(map[uint32]bool, len(ups))
	byUID := make(map[uint32]mailstore.FlagUpdate, len(ups))
	for _, u := range ups {
		changed[u.UID] = true
		byUID[u.UID] = u
	}
	for _, mi := range infos {
		if u, ok := byUID[mi.UID]; ok {
			mi.Flags, mi.ModSeq = u.Flags, u.ModSeq
		}
	}
	return changed, nil
}

// fetchOne writes the FETCH response of one message.
func (s *session) fetchOne(w *imapserver.FetchWriter, v *view, mi *mailstore.MessageInfo, o *imap.FetchOptions, flagsChanged bool, src rawSource) error {
	seq := v.seqOf(mi.UID)
	if seq == 0 {
		return nil // not in the client's view (cannot happen: UIDs came from it)
	}
	// BINARY of a part in an encoding we cannot decode is refused before
	// anything is written (RFC 3516 §4.3).
	for _, bs := range o.BinarySection {
		if err := checkBinary(mi, bs.Part); err != nil {
			return err
		}
	}
	for _, bs := range o.BinarySectionSize {
		if err := checkBinary(mi, bs.Part); err != nil {
			return err
		}
	}

	if o.Flags || flagsChanged {
		if err := announceFlags(w, v, mi.Flags); err != nil {
			return err
		}
	}
	rw := w.CreateMessage(seq)
	// RFC 7162 §3.2: with CONDSTORE enabled, an implicit \Seen is
	// reported with UID and MODSEQ.
	cs := flagsChanged && s.condStore()
	if o.UID || cs {
		rw.WriteUID(imap.UID(mi.UID))
	}
	if o.Flags || flagsChanged {
		rw.WriteFlags(toFlags(v.withRecent(mi.UID, mi.Flags)))
	}
	if o.ModSeq || cs {
		rw.WriteModSeq(mi.ModSeq)
	}
	if o.InternalDate {
		rw.WriteInternalDate(mi.InternalDate)
	}
	if o.RFC822Size {
		rw.WriteRFC822Size(mi.Size)
	}
	if o.Envelope {
		rw.WriteEnvelope(toEnvelope(mi.Envelope))
	}
	if o.BodyStructure != nil {
		rw.WriteBodyStructure(toBodyStructure(mi.Body))
	}
	var firstErr error
	keep := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	for _, bs := range o.BodySection {
		keep(s.writeBodySection(rw, mi, src, bs))
	}
	for _, bs := range o.BinarySection {
		keep(s.writeBinarySection(rw, mi, src, bs))
	}
	for _, bs := range o.BinarySectionSize {
		n, err := s.binarySize(mi, src, bs.Part)
		keep(err)
		rw.WriteBinarySectionSize(bs, uint32(min(n, 1<<32-1)))
	}
	if err := rw.Close(); err != nil {
		return err
	}
	if firstErr != nil {
		return s.internal("fetch body", firstErr)
	}
	return nil
}

// errLiteral is a failure in the middle of a literal: the response on the
// wire is broken, so the connection is closed.
var errLiteral = errors.New("message data ended early")

// writeBodySection writes BODY[section]<partial>. A section that names no
// part is an empty string. A blob that cannot be opened is written as an
// empty string too (the error is returned, logged and answered with NO);
// one that breaks off inside the literal closes the connection.
func (s *session) writeBodySection(rw *imapserver.FetchResponseWriter, mi *mailstore.MessageInfo, src rawSource, bs *imap.FetchItemBodySection) error {
	off, n, err := bodyRange(mi, bs)
	if errors.Is(err, message.ErrNoSection) {
		return closeEmpty(rw.WriteBodySection(bs, 0))
	}
	if err != nil {
		closeEmpty(rw.WriteBodySection(bs, 0))
		return err
	}
	if len(bs.HeaderFields) > 0 || len(bs.HeaderFieldsNot) > 0 {
		hdr, err := src.read(off, n)
		if err != nil {
			closeEmpty(rw.WriteBodySection(bs, 0))
			return err
		}
		hdr = message.FilterHeader(bytes.Clone(hdr), headerList(bs), len(bs.HeaderFields) == 0)
		hdr = partialBytes(hdr, bs.Partial)
		lit := rw.WriteBodySection(bs, int64(len(hdr)))
		if _, err := lit.Write(hdr); err != nil {
			return err
		}
		return lit.Close()
	}
	off, n = partialRange(off, n, bs.Partial)
	return s.sendRange(func(size int64) io.WriteCloser { return rw.WriteBodySection(bs, size) }, src, off, n)
}

func headerList(bs *imap.FetchItemBodySection) []string {
	if len(bs.HeaderFields) > 0 {
		return bs.HeaderFields
	}
	return bs.HeaderFieldsNot
}

// bodyRange is the byte range of the raw message that a body section
// names (RFC 9051 §6.4.5), before any partial.
func bodyRange(mi *mailstore.MessageInfo, bs *imap.FetchItemBodySection) (off, n int64, err error) {
	spec := message.SpecAll
	switch bs.Specifier {
	case imap.PartSpecifierHeader:
		spec = message.SpecHeader
	case imap.PartSpecifierText:
		spec = message.SpecText
	case imap.PartSpecifierMIME:
		spec = message.SpecMIME
	}
	if len(bs.Part) == 0 {
		switch spec {
		case message.SpecAll:
			return 0, mi.Size, nil
		case message.SpecHeader:
			return 0, mi.HeaderSize, nil
		case message.SpecText:
			return mi.HeaderSize, mi.Size - mi.HeaderSize, nil
		default:
			return 0, 0, message.ErrNoSection
		}
	}
	if mi.Body == nil {
		return 0, 0, fmt.Errorf("message %d: no body structure", mi.UID)
	}
	p := &message.Parsed{Body: mi.Body}
	return p.Section(bs.Part, spec)
}

// partialRange applies <offset.size> (RFC 9051 §6.4.5) to a range.
func partialRange(off, n int64, p *imap.SectionPartial) (int64, int64) {
	if p == nil {
		return off, n
	}
	start := min(max(p.Offset, 0), n)
	return off + start, min(max(p.Size, 0), n-start)
}

func partialBytes(b []byte, p *imap.SectionPartial) []byte {
	off, n := partialRange(0, int64(len(b)), p)
	return b[off : off+n]
}

func closeEmpty(wc io.WriteCloser) error { return wc.Close() }

// sendRange streams n bytes of a raw message into a literal that lit
// opens with its size. The blob is opened before the literal is begun, so
// a missing blob leaves an empty string, not a broken stream.
func (s *session) sendRange(lit func(size int64) io.WriteCloser, src rawSource, off, n int64) error {
	if n == 0 {
		return lit(0).Close()
	}
	if b, ok := src.cached(off, n); ok {
		w := lit(n)
		if written, err := w.Write(b); err != nil {
			s.breakLiteral()
			return fmt.Errorf("%w: %d of %d bytes: %v", errLiteral, written, n, err)
		}
		return w.Close()
	}
	r, err := src.open(off, n)
	if err != nil {
		_ = lit(0).Close()
		return err
	}
	defer r.Close()
	w := lit(n)
	if written, err := io.CopyN(w, r, n); err != nil {
		s.breakLiteral()
		return fmt.Errorf("%w: %d of %d bytes: %v", errLiteral, written, n, err)
	}
	return w.Close()
}

// breakLiteral gives up on a literal that cannot be filled: its size is
// promised, so the only honest way out is to drop the connection (the
// client retries on a new one).
func (s *session) breakLiteral() { _ = s.conn.NetConn().Close() }

// checkBinary refuses BINARY of a part whose transfer encoding is unknown
// (NO [UNKNOWN-CTE], RFC 3516 §4.3). A part that does not exist is not an
// error: it is answered with an empty string.
func checkBinary(mi *mailstore.MessageInfo, path []int) error {
	if len(path) == 0 || mi.Body == nil {
		return nil
	}
	p, err := mi.Body.Find(path)
	if err != nil || p.IsMultipart() || p.Message != nil {
		return nil
	}
	if _, err := message.Decoder(p.Encoding, strings.NewReader("")); err != nil {
		return no(imap.ResponseCodeUnknownCTE, "Unknown Content-Transfer-Encoding: "+p.Encoding)
	}
	return nil
}

// binaryPart returns the raw range of BINARY[path] and the encoding to
// undo ("" for none): the whole message for an empty path, the body of a
// leaf part otherwise (multiparts and enclosed messages are not encoded).
func binaryPart(mi *mailstore.MessageInfo, path []int) (off, n int64, enc string, err error) {
	if len(path) == 0 {
		return 0, mi.Size, "", nil
	}
	if mi.Body == nil {
		return 0, 0, "", fmt.Errorf("message %d: no body structure", mi.UID)
	}
	p, err := mi.Body.Find(path)
	if err != nil {
		return 0, 0, "", err
	}
	if p.IsMultipart() || p.Message != nil {
		return p.BodyStart, p.End - p.BodyStart, "", nil
	}
	return p.BodyStart, p.End - p.BodyStart, p.Encoding, nil
}

// decoded opens BINARY[path] decoded.
func (s *session) decoded(mi *mailstore.MessageInfo, src rawSource, path []int) (io.Reader, io.Closer, int64, error) {
	off, n, enc, err := binaryPart(mi, path)
	if err != nil {
		return nil, nil, 0, err
	}
	r, err := src.open(off, n)
	if err != nil {
		return nil, nil, 0, err
	}
	d, err := message.Decoder(enc, r)
	if err != nil {
		r.Close()
		return nil, nil, 0, err
	}
	return d, r, n, nil
}

// binarySize is BINARY.SIZE[path]: the size of the decoded part.
func (s *session) binarySize(mi *mailstore.MessageInfo, src rawSource, path []int) (int64, error) {
	d, c, _, err := s.decoded(mi, src, path)
	if errors.Is(err, message.ErrNoSection) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return io.Copy(io.Discard, d)
}

// writeBinarySection writes BINARY[path]<partial> (RFC 3516 §4.2): the
// part with its transfer encoding undone.
func (s *session) writeBinarySection(rw *imapserver.FetchResponseWriter, mi *mailstore.MessageInfo, src rawSource, bs *imap.FetchItemBinarySection) error {
	d, c, encSize, err := s.decoded(mi, src, bs.Part)
	if errors.Is(err, message.ErrNoSection) {
		return closeEmpty(rw.WriteBinarySection(bs, 0))
	}
	if err != nil {
		closeEmpty(rw.WriteBinarySection(bs, 0))
		return err
	}
	if encSize <= bufferBinary {
		defer c.Close()
		b, err := io.ReadAll(d)
		if err != nil {
			closeEmpty(rw.WriteBinarySection(bs, 0))
			return err
		}
		b = partialBytes(b, bs.Partial)
		lit := rw.WriteBinarySection(bs, int64(len(b)))
		if _, err := io.Copy(lit, bytes.NewReader(b)); err != nil {
			return err
		}
		return lit.Close()
	}
	// Large: count first, then decode again while sending.
	total, err := io.Copy(io.Discard, d)
	c.Close()
	if err != nil {
		closeEmpty(rw.WriteBinarySection(bs, 0))
		return err
	}
	off, n := partialRange(0, total, bs.Partial)
	d, c, _, err = s.decoded(mi, src, bs.Part)
	if err != nil {
		closeEmpty(rw.WriteBinarySection(bs, 0))
		return err
	}
	defer c.Close()
	if _, err := io.CopyN(io.Discard, d, off); err != nil {
		closeEmpty(rw.WriteBinarySection(bs, 0))
		return err
	}
	lit := rw.WriteBinarySection(bs, n)
	if _, err := io.CopyN(lit, d, n); err != nil {
		s.breakLiteral()
		return fmt.Errorf("%w: %v", errLiteral, err)
	}
	return lit.Close()
}
