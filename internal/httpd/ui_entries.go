package httpd

// The entry page of the web UI (DESIGN.md §3a, issue 17 item 4): a
// registry's entry of a letter with the document, its attachments, its
// recipients, the timeline, and one form per action the engine allows the
// user now (Entry.Actions). Every form carries the entry's version: a form
// sent twice, or after someone else's change, is refused as stale and the
// fresh page shown (409).

import (
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/workflow"
)

// uiEntryFields are the actions of POST /entries/{id}/{action}, each with
// the form fields it takes besides version and comment, in the order the
// form shows them: the API's (entryActions), under the form's names
// (uiEngineField).
var uiEntryFields = func() map[workflow.Action][]string {
	out := make(map[workflow.Action][]string, len(entryActions))
	for a, fields := range entryActions {
		var names []string
		for _, f := range fields {
			if ui, ok := uiEngineField[f]; ok {
				f = ui
			}
			names = append(names, f)
		}
		out[a] = names
	}
	return out
}()

// uiConfirmed are the actions whose button asks for a confirmation
// (diwan.js, data-confirm) and is shown as dangerous.
var uiConfirmed = map[workflow.Action]bool{
	workflow.ActionCancel: true, workflow.ActionRecall: true, workflow.ActionReturn: true, workflow.ActionReject: true,
}

// uiEngineField maps the engine's name of a field (an *InputError's) to
// the form's, where they differ.
var uiEngineField = map[string]string{"to_department": "department", "to_user": "user"}

// uiInstructions are the standard instructions of a referral.
var uiInstructions = []string{workflow.InstructionInformation, workflow.InstructionStudy, workflow.InstructionAction}

// entryForm is what the user sent with an action, shown again when it
// fails.
type entryForm struct {
	Action workflow.Action
	Values map[string]string // form field → value
}

// entryPageData is the entry page. Its words of the engine's vocabularies
// are translated here rather than in the template, where each call is
// costly (entry_view.go).
type entryPageData struct {
	Entry        workflow.Entry
	Doc          workflow.Correspondence
	RegistryName string
	Words        entryWords
	Others       []otherEntry // the letter's other entries the user sees
	Attachments  []attachmentLine
	Recipients   []recipientLine
	Delivery     bool // the recipients' delivery is shown (the sender's side)
	Timeline     []timelineLine
	Forms        []actionForm

	ministry string // of the entry's registry
}

// attachmentLine is one attachment as the page lists it.
type attachmentLine struct {
	Href, Name, Type, Size string
	Inline                 bool // viewable in the browser (uiInlineTypes)
}

// uiEntry shows an entry: GET /entries/{id}[?done=ACTION].
func (s *Server) uiEntry(c *gin.Context) {
	id, ok := uiPathID(c, "id")
	if !ok {
		s.uiNotFound(c)
		return
	}
	p := s.newPage(c)
	if done := workflow.Action(c.Query("done")); hasAction(done) {
		p.Flash = p.T("entry.done." + string(done))
	}
	s.renderEntry(c, p, http.StatusOK, id, entryForm{})
}

func hasAction(a workflow.Action) bool {
	_, ok := uiEntryFields[a]
	return ok
}

// uiEntryAct makes an action: POST /entries/{id}/{action}. On success the
// browser goes back to the entry (303) with a message; on failure the page
// is shown again with the message and what the user typed.
func (s *Server) uiEntryAct(c *gin.Context) {
	id, ok := uiPathID(c, "id")
	action := workflow.Action(c.Param("action"))
	if !ok || !hasAction(action) {
		s.uiNotFound(c)
		return
	}
	p := s.newPage(c)
	form := entryForm{Action: action, Values: map[string]string{"comment": c.PostForm("comment")}}
	for _, f := range uiEntryFields[action] {
		form.Values[f] = strings.TrimSpace(c.PostForm(f))
	}
	t, ok := transitionOf(p, action, form.Values, c.PostForm("version"))
	if !ok {
		s.renderEntry(c, p, http.StatusBadRequest, id, form)
		return
	}
	_, err := asCaller(s, c, func(a workflow.Actor) (workflow.Entry, error) {
		return s.opts.Workflow.Act(c.Request.Context(), a, id, t)
	})
	if err == nil {
		redirect(c, fmt.Sprintf("/entries/%d?done=%s", id, action))
		return
	}
	status, ok := s.uiFail(c, p, string(action)+" entry", err)
	if !ok {
		return
	}
	for engine, field := range uiEngineField {
		if msg, set := p.Errors[engine]; set {
			p.Errors[field] = msg
		}
	}
	s.renderEntry(c, p, status, id, form)
}

// transitionOf reads an action's form into a transition; a version or a
// reply that is not a number is an error next to the form.
func transitionOf(p *uiPage, action workflow.Action, v map[string]string, version string) (workflow.Transition, bool) {
	t := workflow.Transition{Action: action, Comment: strings.TrimSpace(v["comment"]), Reason: v["reason"],
		ToDepartment: v["department"], ToUser: v["user"], Instruction: v["instruction"], DueDate: v["due_date"],
		Registry: strings.ToUpper(v["registry"])}
	var err error
	if t.Version, err = strconv.ParseInt(version, 10, 64); err != nil {
		p.Error = p.T("error.stale")
		return t, false
	}
	if r := v["reply"]; r != "" {
		if t.Reply, err = strconv.ParseInt(r, 10, 64); err != nil || t.Reply <= 0 {
			p.SetFieldError("reply", "error.input.reply")
			return t, false
		}
	}
	return t, true
}

// renderEntry reads the entry as the user sees it and renders its page
// with status; form is what the user sent (its action's form shows it
// again, with the errors of p).
func (s *Server) renderEntry(c *gin.Context, p *uiPage, status int, id int64, form entryForm) {
	ctx := c.Request.Context()
	view, err := asCaller(s, c, func(a workflow.Actor) (workflow.View, error) {
		return s.opts.Workflow.EntryView(ctx, a, id)
	})
	if err != nil {
		s.uiReadFailed(c, p, "read entry", err)
		return
	}
	d := newEntryPageData(p, id, view)
	if reg, err := s.orgNames.registry(ctx, s.opts.Workflow, d.Entry.Registry); err == nil {
		d.ministry, d.RegistryName = reg.Ministry, reg.NameAR
		if p.Lang != "ar" {
			d.RegistryName = reg.NameEN
		}
	}
	if d.Forms, err = s.entryForms(c, p, d, form); err != nil {
		s.uiReadFailed(c, p, "read entry", err)
		return
	}
	p.Data = d
	// A form's answer is the entry's page: its other language is too.
	p.OtherLangHref = fmt.Sprintf("/entries/%d?lang=%s", id, p.OtherLang)
	s.render(c, status, "entry", p)
}

// uiReadFailed answers a failed read of a page: not found, or an error
// page (a read has no form to show again).
func (s *Server) uiReadFailed(c *gin.Context, p *uiPage, doing string, err error) {
	if _, ok := s.uiFail(c, p, doing, err); ok {
		s.uiInternal(c, doing, err)
	}
}

func attachmentLineOf(entryID int64, a workflow.Attachment) attachmentLine {
	href := fmt.Sprintf("/entries/%d/attachments/%d", entryID, a.ID)
	return attachmentLine{Href: href, Name: a.Name, Type: a.ContentType, Size: byteSize(a.Size),
		Inline: uiInlineTypes[mediaType(a.ContentType)]}
}

// byteSize is a size for people: 512 B, 12.3 KB, 4.5 MB (Latin digits).
func byteSize(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f KB", float64(n)/1000)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.1f GB", float64(n)/1e9)
}

// uiInlineTypes are the types an attachment is shown as in the browser's
// own viewer (?inline=1) and sent as: PDFs and raster images. Anything
// else — HTML, SVG (which carries script), text a browser might take for
// HTML — is sent as application/octet-stream, to be downloaded.
var uiInlineTypes = map[string]bool{
	"application/pdf": true, "image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true,
}

// mediaType is the lower-case type/subtype of a Content-Type.
func mediaType(ctype string) string {
	mt, _, err := mime.ParseMediaType(ctype)
	if err != nil {
		return ""
	}
	return strings.ToLower(mt)
}

// uiAttachmentCSP is the Content-Security-Policy of an attachment: it
// loads nothing and runs sandboxed, as a document of no origin; the
// inline style lets browsers lay out their own image and PDF viewers.
const uiAttachmentCSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"

// uiEntryAttachment sends an attachment of an entry's letter:
// GET /entries/{id}/attachments/{aid}[?inline=1]. Only the types of
// uiInlineTypes are sent as what they are, and only they inline.
func (s *Server) uiEntryAttachment(c *gin.Context) {
	id, ok1 := uiPathID(c, "id")
	aid, ok2 := uiPathID(c, "aid")
	if !ok1 || !ok2 {
		s.uiNotFound(c)
		return
	}
	var rc io.ReadCloser
	att, err := asCaller(s, c, func(a workflow.Actor) (att workflow.Attachment, err error) {
		att, rc, err = s.opts.Workflow.OpenEntryAttachment(c.Request.Context(), a, id, aid)
		return att, err
	})
	if err != nil {
		s.uiReadFailed(c, s.newPage(c), "open attachment", err)
		return
	}
	defer rc.Close()
	ctype, disposition := "application/octet-stream", contentDisposition(att.Name)
	if mt := mediaType(att.ContentType); uiInlineTypes[mt] {
		ctype = mt
		if c.Query("inline") == "1" {
			disposition = "inline" + strings.TrimPrefix(disposition, "attachment")
		}
	}
	h := c.Writer.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.FormatInt(att.Size, 10))
	h.Set("Content-Disposition", disposition)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", uiAttachmentCSP)
	h.Set("Cache-Control", "private, no-store")
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(transferDeadline(att.Size))
	c.Status(http.StatusOK)
	if n, err := io.Copy(c.Writer, rc); err != nil {
		s.log.LogAttrs(c.Request.Context(), slog.LevelWarn, "ui: attachment download cut short",
			slog.Int64("attachment", aid), slog.Int64("sent", n), slog.Int64("size", att.Size), slog.Any("error", err))
		panic(http.ErrAbortHandler) // the browser must not keep a truncated file
	}
}

// uiCorrespondence sends the browser to the entry of a letter the user
// sees (their own registry's first): GET /correspondence/{id}, the target
// of a reference.
func (s *Server) uiCorrespondence(c *gin.Context) {
	id, ok := uiPathID(c, "id")
	if !ok {
		s.uiNotFound(c)
		return
	}
	view, err := asCaller(s, c, func(a workflow.Actor) (workflow.View, error) {
		return s.opts.Workflow.Get(c.Request.Context(), a, id)
	})
	if err != nil {
		s.uiReadFailed(c, s.newPage(c), "read correspondence", err)
		return
	}
	redirect(c, fmt.Sprintf("/entries/%d", view.Entries[0].ID))
}
