package httpd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/workflow"
)

// Attachments (DESIGN.md §6a, §6): uploads are streamed part by part from
// the multipart body to the engine, which streams them to the blob store;
// nothing holds a file whole in memory or on local disk. Downloads are
// authorised by the engine per request and streamed back.

// multipartSlack is what a multipart body may carry besides the file:
// boundaries and part headers. A declared Content-Length above the
// per-file limit plus this is refused before anything is read.
const multipartSlack = 64 << 10

// Transfer deadlines: a large upload or download may take longer than the
// server's whole-request timeouts; it gets a base time plus one second per
// minTransferRate bytes of the limit (or of the file).
const (
	transferBase    = 5 * time.Minute
	minTransferRate = 256 << 10 // bytes per second
)

// uploadReadSize is how much of a request body an upload asks for in one
// read. mime/multipart reads through a 4 KiB buffer of its own, and over
// HTTP/2 each read of the body hands that much flow-control window back to
// the client at once: two WINDOW_UPDATE frames (stream and connection) per
// 4 KiB, a million for a 2 GiB attachment, each a TLS record for the server
// to seal and send and garbage to collect; the collector lets garbage grow
// as large as the live heap, which the blob store's part buffers make
// 32 MiB, so that came to some 30 MiB more resident memory. Reading the
// body in large pieces makes it a few frames per MiB.
const uploadReadSize = 256 << 10

func transferDeadline(bytes int64) time.Time {
	return time.Now().Add(transferBase + time.Duration(bytes/minTransferRate)*time.Second)
}

// clientReader remembers the error of reading the request body, so that a
// client that went away mid-upload is told apart from a failing store.
type clientReader struct {
	r   io.Reader
	err error
}

func (cr *clientReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	if err != nil && err != io.EOF {
		cr.err = err
	}
	return n, err
}

// addAttachment takes a multipart/form-data body with one part named
// "file" and streams it to the engine. The part's file name is passed on
// as given; the engine reduces it to display text and sniffs the type.
func (s *Server) addAttachment(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	perFile, _ := s.opts.Workflow.Limits()
	if perFile > 0 && c.Request.ContentLength > perFile+multipartSlack {
		WriteError(c, http.StatusRequestEntityTooLarge, "too_large",
			fmt.Sprintf("an attachment may have at most %d bytes", perFile), "file")
		return
	}
	limit := perFile
	if limit <= 0 {
		limit = 1 << 30
	}
	// Extends only this request's deadlines (the answer is written after
	// the whole upload); ErrNotSupported leaves the server's.
	rc := http.NewResponseController(c.Writer)
	_ = rc.SetReadDeadline(transferDeadline(limit))
	_ = rc.SetWriteDeadline(transferDeadline(limit).Add(time.Minute))

	mr, err := attachmentParts(c.Request)
	if err != nil {
		WriteError(c, http.StatusBadRequest, "invalid_input", "an attachment is sent as multipart/form-data with a part named file", "file")
		return
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			WriteError(c, http.StatusBadRequest, "missing_field", "the multipart body has no part named file", "file")
			return
		}
		if err != nil {
			WriteError(c, http.StatusBadRequest, "invalid_input", "the multipart body is malformed", "file")
			return
		}
		if name := part.FormName(); name != "file" {
			part.Close()
			WriteError(c, http.StatusBadRequest, "unknown_field", fmt.Sprintf("%q is not a part of this request; send one part named file", clip(name)), name)
			return
		}
		cr := &clientReader{r: part}
		att, err := asCaller(s, c, func(a workflow.Actor) (workflow.Attachment, error) {
			return s.opts.Workflow.AddAttachment(c.Request.Context(), a, id, rawFileName(part.Header.Get("Content-Disposition")), cr)
		})
		if err != nil {
			if cr.err != nil && !errors.Is(err, workflow.ErrTooLarge) {
				s.log.LogAttrs(c.Request.Context(), slog.LevelInfo, "api: upload cut short; nothing stored",
					slog.Int64("correspondence", id), slog.Any("error", cr.err))
				WriteError(c, http.StatusBadRequest, "upload_incomplete", "the upload did not arrive whole; nothing was stored", "file")
				return
			}
			s.coreError(c, "add attachment", err)
			return
		}
		c.JSON(http.StatusCreated, toAttachmentDTO(att))
		return
	}
}

// attachmentParts is Request.MultipartReader (multipart/form-data or
// multipart/mixed), reading the body in pieces of uploadReadSize.
func attachmentParts(r *http.Request) (*multipart.Reader, error) {
	d, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, err
	}
	if d != "multipart/form-data" && d != "multipart/mixed" {
		return nil, http.ErrNotMultipart
	}
	boundary := params["boundary"]
	if boundary == "" {
		return nil, http.ErrMissingBoundary
	}
	return multipart.NewReader(bufio.NewReaderSize(r.Body, uploadReadSize), boundary), nil
}

// rawFileName is the file name a part's Content-Disposition gives, as
// sent (filename* preferred, as mime decodes it). multipart.Part.FileName
// would already cut it to a base name; the engine's one rule for display
// names is applied instead.
func rawFileName(cd string) string {
	_, params, err := mime.ParseMediaType(cd)
	if err != nil {
		return ""
	}
	return params["filename"]
}

func (s *Server) downloadAttachment(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	aid, ok := pathID(c, "aid")
	if !ok {
		return
	}
	var rc io.ReadCloser
	att, err := asCaller(s, c, func(a workflow.Actor) (att workflow.Attachment, err error) {
		att, rc, err = s.opts.Workflow.OpenAttachment(c.Request.Context(), a, id, aid)
		return att, err
	})
	if err != nil {
		s.coreError(c, "open attachment", err)
		return
	}
	defer rc.Close()
	ctype := att.ContentType
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h := c.Writer.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.FormatInt(att.Size, 10))
	h.Set("Content-Disposition", contentDisposition(att.Name))
	// Whatever the file holds, it never runs as a page of this site.
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, no-store")
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(transferDeadline(att.Size))
	c.Status(http.StatusOK)
	if n, err := io.Copy(c.Writer, rc); err != nil {
		s.log.LogAttrs(c.Request.Context(), slog.LevelWarn, "api: attachment download cut short",
			slog.Int64("attachment", aid), slog.Int64("sent", n), slog.Int64("size", att.Size), slog.Any("error", err))
		// The client must not take a truncated file for a whole one.
		panic(http.ErrAbortHandler)
	}
}

func (s *Server) deleteAttachment(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	aid, ok := pathID(c, "aid")
	if !ok {
		return
	}
	_, err := asCaller(s, c, func(a workflow.Actor) (struct{}, error) {
		return struct{}{}, s.opts.Workflow.DeleteAttachment(c.Request.Context(), a, id, aid)
	})
	if err != nil {
		s.coreError(c, "delete attachment", err)
		return
	}
	c.Status(http.StatusNoContent)
}

// contentDisposition is an attachment's Content-Disposition (RFC 6266):
// an ASCII fallback in filename for old clients, and the exact name in
// filename* as UTF-8, percent-encoded (RFC 8187), so that Arabic names
// survive.
func contentDisposition(name string) string {
	if name == "" {
		name = "attachment"
	}
	return `attachment; filename="` + asciiFallback(name) + `"; filename*=UTF-8''` + rfc8187Encode(name)
}

// asciiFallback replaces what a quoted-string cannot carry plainly
// (non-ASCII, control characters, quote, backslash) with "_".
func asciiFallback(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r < 0x20 || r >= 0x7f || r == '"' || r == '\\' {
			b.WriteByte('_')
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// rfc8187Encode percent-encodes every octet that is not an attr-char
// (RFC 8187 §3.2.1).
func rfc8187Encode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAttrChar(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func isAttrChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}
