package httpd

// Sending the drafting form, and the attachments of a draft. The form is
// multipart/form-data (it carries files); uiSession leaves such a body
// alone, and these handlers read it part by part: the CSRF token first,
// before anything else is used, then the fields, then each file streamed
// to the engine (never whole in memory or on disk), as the API does.

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/workflow"
)

// draftBody is a drafting form's request: its fields, and for a multipart
// body the reader at its first file.
type draftBody struct {
	values url.Values
	mr     *multipart.Reader
	file   *multipart.Part // the first file; nil when none
	body   io.Reader       // the request's body, to drain
	drainN int64
}

// errFieldTooLarge: a text part of the form over what a letter may hold.
var errFieldTooLarge = errors.New("a form field is too large")

// wantsJSON reports whether the page's script asked for a JSON answer.
func wantsJSON(c *gin.Context) bool {
	return strings.Contains(c.GetHeader("Accept"), "application/json")
}

// textBudget is how many bytes a form's text fields may have together: a
// letter's body and some room for the rest.
func (s *Server) textBudget() int64 {
	_, perLetter := s.opts.Workflow.Limits()
	if perLetter <= 0 {
		perLetter = 32 << 20
	}
	return perLetter + 4*multipartSlack
}

// readDraftBody reads the form's fields, up to its first file. It answers
// the request itself (CSRF refused, malformed or oversized form) and
// returns false when the handler must stop.
func (s *Server) readDraftBody(c *gin.Context) (draftBody, bool) {
	b := draftBody{body: c.Request.Body, drainN: 2 * s.textBudget()}
	if mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type")); mt != "multipart/form-data" {
		_ = c.Request.ParseForm() // uiSession's check of the token has parsed it already
		b.values = c.Request.PostForm
		return b, true
	}
	mr, err := attachmentParts(c.Request)
	if err != nil {
		s.uiBadForm(c)
		return b, false
	}
	b.mr, b.values = mr, url.Values{}
	part, ok := s.multipartCSRF(c, mr)
	if !ok {
		return b, false
	}
	budget := s.textBudget()
	for ; ; part, err = mr.NextPart() {
		if errors.Is(err, io.EOF) {
			return b, true
		}
		if err != nil {
			s.uiBadForm(c)
			return b, false
		}
		if part == nil {
			continue
		}
		if part.FormName() == "attachments" {
			if part.FileName() != "" {
				b.file = part
				return b, true
			}
			continue // the empty file input
		}
		v, err := readField(part, budget)
		if err != nil {
			s.uiError(c, http.StatusRequestEntityTooLarge, "draft.bad_form_title", "draft.field_too_large")
			return b, false
		}
		budget -= int64(len(v))
		b.values.Add(part.FormName(), v)
	}
}

// multipartCSRF checks the CSRF token of a multipart body: its first part,
// or the X-CSRF-Token header that uiSession checked. It returns the first
// part when that was not the token (the header's case). False: refused,
// answered.
func (s *Server) multipartCSRF(c *gin.Context, mr *multipart.Reader) (*multipart.Part, bool) {
	part, err := mr.NextPart()
	if err != nil && !errors.Is(err, io.EOF) {
		s.uiBadForm(c)
		return nil, false
	}
	token := ""
	if part != nil && part.FormName() == csrfField {
		token, _ = readField(part, 512)
		part = nil
	}
	if !s.uiCheckCSRF(c, token) {
		return nil, false
	}
	if part == nil {
		return nil, true // the next part is read by the caller
	}
	return part, true
}

// readField reads a text part of at most limit bytes.
func readField(part *multipart.Part, limit int64) (string, error) {
	v, err := io.ReadAll(io.LimitReader(part, limit+1))
	if err != nil {
		return "", err
	}
	if int64(len(v)) > limit {
		return "", errFieldTooLarge
	}
	return string(v), nil
}

// nextFile moves to the next file of the form; nil at the end. Text parts
// after the files are not the form's (a browser sends them before).
func (b *draftBody) nextFile() (*multipart.Part, error) {
	for {
		part, err := b.mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if part.FormName() == "attachments" && part.FileName() != "" {
			return part, nil
		}
	}
}

// drain reads what is left of a form that is answered before its files
// were read (up to a bound), so that the browser, still sending, reads the
// answer instead of a closed connection. Nothing of it is kept.
func (b *draftBody) drain() {
	if b.file != nil && b.body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(b.body, b.drainN))
	}
}

func (s *Server) uiBadForm(c *gin.Context) {
	s.uiError(c, http.StatusBadRequest, "draft.bad_form_title", "draft.bad_form")
}

// draftFields are the form's fields that show their errors next to them.
var draftFields = []string{"kind", "subject", "body", "classification", "priority", "due_date",
	"sender_registry", "recipients", "references", "reference_number", "attachments"}

// draftErrors puts the engine's errors next to the form's fields: a
// recipient's or reference's next to its list, a file's next to the file
// input, and an error of another field above the form. In Arabic the
// field's own text (draft.error.FIELD) replaces the general one.
func draftErrors(p *uiPage) {
	errs := make(map[string]string, len(p.Errors))
	for field, msg := range p.Errors {
		f, _, _ := strings.Cut(field, "[")
		if f == "file" {
			f = "attachments"
		}
		switch {
		case !slices.Contains(draftFields, f):
			p.Error = msg
		case p.Lang != "en" && p.T("draft.error."+f) != "draft.error."+f:
			errs[f] = p.T("draft.error." + f)
		default:
			errs[f] = msg
		}
	}
	p.Errors = errs
}

// postNewDraft creates a draft from the form, attaches its files, and goes
// to the draft's entry. A button named op (find registries, add a
// reference) shows the form again with what was typed, saving nothing.
// The page's script asks for JSON ({id, entry_id, version}) and sends the
// files after, each with its progress.
func (s *Server) postNewDraft(c *gin.Context) {
	p := s.newPage(c)
	b, ok := s.readDraftBody(c)
	if !ok {
		return
	}
	f := readDraftForm(b.values)
	if s.formTooLarge(c, p, b) {
		s.showDraft(c, p, http.StatusRequestEntityTooLarge, f, nil)
		return
	}
	found, err := s.findReference(c, p, &f)
	if err == nil && (!found || b.values.Get("op") != "") {
		b.drain()
		s.showDraftAgain(c, p, found, f, nil)
		return
	}
	var e workflow.Entry
	if err == nil {
		e, err = asCaller(s, c, func(a workflow.Actor) (workflow.Entry, error) {
			return s.opts.Workflow.CreateDraft(c.Request.Context(), a, f.newCorrespondence())
		})
	}
	if err != nil {
		b.drain()
		s.draftRefused(c, p, "create draft", err, f, nil)
		return
	}
	if wantsJSON(c) && b.file == nil {
		c.JSON(http.StatusCreated, toDraftDTO(e))
		return
	}
	if s.attachFiles(c, p, e.CorrespondenceID, &b) {
		redirect(c, "/entries/"+strconv.FormatInt(e.ID, 10))
	}
}

// formTooLarge reports (with the error next to the file input) a form
// whose declared length is more than a letter's files and fields may be:
// refused before anything is stored or read further.
func (s *Server) formTooLarge(c *gin.Context, p *uiPage, b draftBody) bool {
	_, perLetter := s.opts.Workflow.Limits()
	if b.file == nil || perLetter <= 0 || c.Request.ContentLength <= perLetter+s.textBudget() {
		return false
	}
	p.SetFieldError("attachments", "draft.letter_too_large", "Limit", formatSize(perLetter))
	return true
}

// showDraftAgain shows the form again after op or a reference not found
// (422).
func (s *Server) showDraftAgain(c *gin.Context, p *uiPage, found bool, f draftForm, atts []workflow.Attachment) {
	if wantsJSON(c) && !found {
		WriteError(c, http.StatusUnprocessableEntity, "unprocessable", p.FieldError("reference_number"), "reference_number")
		return
	}
	status := http.StatusOK
	if !found {
		status = http.StatusUnprocessableEntity
	}
	s.showDraft(c, p, status, f, atts)
}

// draftRefused shows the form again with the engine's refusal next to its
// field (or answers JSON to the script).
func (s *Server) draftRefused(c *gin.Context, p *uiPage, doing string, err error, f draftForm, atts []workflow.Attachment) {
	if wantsJSON(c) {
		s.coreError(c, doing, err)
		return
	}
	status, ok := s.uiFail(c, p, doing, err)
	if !ok {
		return
	}
	draftErrors(p)
	s.showDraft(c, p, status, f, atts)
}

// postEditDraft saves a draft at the version the form was read at, and
// attaches the form's files. A stale version shows the fresh draft with
// error.stale.
func (s *Server) postEditDraft(c *gin.Context) {
	p := s.newPage(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		s.uiNotFound(c)
		return
	}
	b, ok := s.readDraftBody(c)
	if !ok {
		return
	}
	f := readDraftForm(b.values)
	f.ID = id
	if s.formTooLarge(c, p, b) {
		if v, cur, ok := s.loadDraftID(c, p, id); ok {
			f.EntryID, f.SenderRegistry = cur.ID, v.Correspondence.SenderRegistry
			s.showDraft(c, p, http.StatusRequestEntityTooLarge, f, v.Correspondence.Attachments)
		}
		return
	}
	found, err := s.findReference(c, p, &f)
	var e workflow.Entry
	if err == nil && found && b.values.Get("op") == "" {
		e, err = asCaller(s, c, func(a workflow.Actor) (workflow.Entry, error) {
			return s.opts.Workflow.UpdateDraft(c.Request.Context(), a, id, f.Version, f.update())
		})
		if err == nil {
			if s.attachFiles(c, p, id, &b) {
				redirect(c, "/entries/"+strconv.FormatInt(e.ID, 10))
			}
			return
		}
	}
	b.drain()
	s.editAgain(c, p, f, found, err)
}

// editAgain shows a draft's form again after postEditDraft did not save
// it: with what was typed, or fresh after a stale version.
func (s *Server) editAgain(c *gin.Context, p *uiPage, f draftForm, found bool, err error) {
	v, cur, ok := s.loadDraftID(c, p, f.ID)
	if !ok {
		return
	}
	f.EntryID, f.SenderRegistry = cur.ID, v.Correspondence.SenderRegistry
	atts := v.Correspondence.Attachments
	switch {
	case errors.Is(err, workflow.ErrStaleVersion):
		p.Error = p.T("error.stale")
		s.showDraft(c, p, http.StatusConflict, draftFormOf(v, cur), atts)
	case err != nil:
		s.draftRefused(c, p, "edit draft", err, f, atts)
	default:
		s.showDraftAgain(c, p, found, f, atts)
	}
}

// attachFiles streams the form's files to the draft. On a refusal it
// shows the draft's form (saved, without that file) with the error next
// to the file input, and returns false.
func (s *Server) attachFiles(c *gin.Context, p *uiPage, corrID int64, b *draftBody) bool {
	if b.file != nil {
		extendUpload(c, s.textBudget())
	}
	var err error
	for part := b.file; part != nil && err == nil; part, err = b.nextFile() {
		name := rawFileName(part.Header.Get("Content-Disposition"))
		_, err = asCaller(s, c, func(a workflow.Actor) (workflow.Attachment, error) {
			return s.opts.Workflow.AddAttachment(c.Request.Context(), a, corrID, name, part)
		})
		if err != nil {
			b.drain()
			s.attachRefused(c, p, corrID, name, err, true)
			return false
		}
	}
	if err != nil {
		s.uiBadForm(c)
		return false
	}
	return true
}

// attachRefused answers a file the engine refused (nothing of it stored)
// with the draft's form, the error next to the file input; saved: the
// form's fields were saved before (the page says so).
func (s *Server) attachRefused(c *gin.Context, p *uiPage, corrID int64, name string, err error, saved bool) {
	if wantsJSON(c) {
		s.coreError(c, "add attachment", err)
		return
	}
	status := http.StatusRequestEntityTooLarge
	if errors.Is(err, workflow.ErrTooLarge) {
		perFile, _ := s.opts.Workflow.Limits()
		if name == "" {
			name = p.T("draft.the_file")
		}
		p.SetFieldError("attachments", "draft.too_large", "Name", name, "Limit", formatSize(perFile))
	} else {
		var ok bool
		if status, ok = s.uiFail(c, p, "add attachment", err); !ok {
			return
		}
		draftErrors(p)
	}
	v, e, ok := s.loadDraftID(c, p, corrID)
	if !ok {
		return
	}
	if e.State != workflow.StateDraft {
		// No form to show: the error, and the way to the letter's page.
		p.Data = struct{ Title, Message string }{"draft.title_edit", "draft.not_draft"}
		s.render(c, status, "error", p)
		return
	}
	if saved {
		p.Error = strings.TrimSpace(p.T("draft.saved_without_file") + " " + p.Error)
	}
	s.showDraft(c, p, status, draftFormOf(v, e), v.Correspondence.Attachments)
}

// postDraftAttachment adds one file (part "file") to a draft: the page's
// script sends each dropped file here with its progress (X-CSRF-Token,
// Accept: application/json → {id, name, size}); a form without script
// goes back to the draft's form.
func (s *Server) postDraftAttachment(c *gin.Context) {
	p := s.newPage(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		s.uiNotFound(c)
		return
	}
	perFile, _ := s.opts.Workflow.Limits()
	if perFile > 0 && c.Request.ContentLength > perFile+multipartSlack {
		s.attachRefused(c, p, id, "", fmt.Errorf("declared %d bytes: %w", c.Request.ContentLength, workflow.ErrTooLarge), false)
		return
	}
	mr, err := attachmentParts(c.Request)
	if err != nil {
		s.uiBadForm(c)
		return
	}
	part, ok := s.multipartCSRF(c, mr)
	if !ok {
		return
	}
	for ; part == nil || part.FormName() != "file" || part.FileName() == ""; part, err = mr.NextPart() {
		if err != nil {
			s.uiBadForm(c)
			return
		}
	}
	extendUpload(c, perFile)
	name := rawFileName(part.Header.Get("Content-Disposition"))
	att, err := asCaller(s, c, func(a workflow.Actor) (workflow.Attachment, error) {
		return s.opts.Workflow.AddAttachment(c.Request.Context(), a, id, name, part)
	})
	switch {
	case err != nil:
		b := draftBody{file: part, body: c.Request.Body, drainN: 2 * s.textBudget()}
		b.drain()
		s.attachRefused(c, p, id, name, err, false)
	case wantsJSON(c):
		c.JSON(http.StatusCreated, gin.H{"id": att.ID, "name": att.Name, "size": att.Size})
	default:
		redirect(c, "/correspondence/"+strconv.FormatInt(id, 10)+"/edit")
	}
}

// postDeleteAttachment removes a file of a draft and goes back to its form.
func (s *Server) postDeleteAttachment(c *gin.Context) {
	p := s.newPage(c)
	id, err1 := strconv.ParseInt(c.Param("id"), 10, 64)
	aid, err2 := strconv.ParseInt(c.Param("aid"), 10, 64)
	if err1 != nil || err2 != nil {
		s.uiNotFound(c)
		return
	}
	_, err := asCaller(s, c, func(a workflow.Actor) (struct{}, error) {
		return struct{}{}, s.opts.Workflow.DeleteAttachment(c.Request.Context(), a, id, aid)
	})
	if err == nil {
		redirect(c, "/correspondence/"+strconv.FormatInt(id, 10)+"/edit")
		return
	}
	status, ok := s.uiFail(c, p, "delete attachment", err)
	if !ok {
		return
	}
	draftErrors(p)
	if v, e, ok := s.loadDraftID(c, p, id); ok {
		s.showDraft(c, p, status, draftFormOf(v, e), v.Correspondence.Attachments)
	}
}

// extendUpload gives this request's reading time for limit bytes, as the
// API's uploads have (transferDeadline).
func extendUpload(c *gin.Context, limit int64) {
	if limit <= 0 {
		limit = 1 << 30
	}
	rc := http.NewResponseController(c.Writer)
	_ = rc.SetReadDeadline(transferDeadline(limit))
	_ = rc.SetWriteDeadline(transferDeadline(limit).Add(transferBase))
}

// formatSize writes a byte count for people: 64 KiB, 50 MiB.
func formatSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + " GiB"
	case n >= 1<<20:
		return strings.TrimSuffix(strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64), ".0") + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 0, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " B"
}
