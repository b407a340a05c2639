package httpd

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/workflow"
)

// Correspondence (DESIGN.md §6a): drafts, their edits, the document with
// the caller's entry and timeline, and its verification. Who may do what
// is the engine's decision (workflow.Service); these handlers bind input,
// check its form and render.

type recipientRequest struct {
	Registry string `json:"registry"`
	Party    string `json:"party"`
	Role     string `json:"role" enum:"to,cc"` // to (default) or cc
}

type referenceRequest struct {
	ID       int64  `json:"id" required:"true"`
	Relation string `json:"relation" enum:"reply_to,related"` // reply_to or related
}

// newCorrespondenceRequest is POST /correspondence. With sender_party it
// records a paper letter from an outside party as received at registry
// (and recipients must be empty); otherwise it is a new outgoing draft of
// sender_registry.
type newCorrespondenceRequest struct {
	Kind           string             `json:"kind" enum:"letter,memo,circular"`
	Subject        string             `json:"subject"`
	Body           string             `json:"body"`
	Classification string             `json:"classification" enum:"normal,confidential,secret"`
	Priority       string             `json:"priority" enum:"normal,urgent,immediate"`
	SenderRegistry string             `json:"sender_registry"`
	Department     string             `json:"department"`
	Recipients     []recipientRequest `json:"recipients"`
	DueDate        string             `json:"due_date" format:"date"`
	References     []referenceRequest `json:"references"`
	SenderParty    string             `json:"sender_party"`
	Registry       string             `json:"registry"`
}

// correspondencePatch is PATCH /correspondence/{id}: absent (or null)
// fields stay; recipients and references, when present, replace the lists.
type correspondencePatch struct {
	Version        *int64              `json:"version" required:"true"`
	Kind           *string             `json:"kind" enum:"letter,memo,circular"`
	Subject        *string             `json:"subject"`
	Body           *string             `json:"body"`
	Classification *string             `json:"classification" enum:"normal,confidential,secret"`
	Priority       *string             `json:"priority" enum:"normal,urgent,immediate"`
	Department     *string             `json:"department"`
	DueDate        *string             `json:"due_date" format:"date"`
	Recipients     *[]recipientRequest `json:"recipients"`
	References     *[]referenceRequest `json:"references"`
}

func toRecipientInputs(rs []recipientRequest) []workflow.RecipientInput {
	out := make([]workflow.RecipientInput, len(rs))
	for i, r := range rs {
		out[i] = workflow.RecipientInput{Registry: r.Registry, Party: r.Party, Role: workflow.RecipientRole(r.Role)}
	}
	return out
}

func toReferences(rs []referenceRequest) []workflow.Reference {
	out := make([]workflow.Reference, len(rs))
	for i, r := range rs {
		out[i] = workflow.Reference{ID: r.ID, Relation: workflow.Relation(r.Relation)}
	}
	return out
}

func (s *Server) createCorrespondence(c *gin.Context) {
	var req newCorrespondenceRequest
	if !decodeJSON(c, &req) {
		return
	}
	if _, ok := parseDate(c, "due_date", req.DueDate); !ok {
		return
	}
	ctx := c.Request.Context()
	var create func(a workflow.Actor) (workflow.Entry, error)
	if req.SenderParty != "" {
		switch {
		case req.SenderRegistry != "":
			WriteError(c, http.StatusBadRequest, "invalid_input", "a letter has a sender_registry or a sender_party, not both", "sender_registry")
			return
		case len(req.Recipients) > 0:
			WriteError(c, http.StatusBadRequest, "invalid_input", "a letter from an outside party is received by registry; it takes no recipients", "recipients")
			return
		case req.Department != "":
			WriteError(c, http.StatusBadRequest, "invalid_input", "a letter from an outside party has no drafting department", "department")
			return
		}
		n := workflow.NewIncoming{
			Registry: req.Registry, SenderParty: req.SenderParty, Kind: workflow.Kind(req.Kind),
			Subject: req.Subject, Body: req.Body, Classification: workflow.Classification(req.Classification),
			Priority: workflow.Priority(req.Priority), DueDate: req.DueDate, References: toReferences(req.References),
		}
		create = func(a workflow.Actor) (workflow.Entry, error) { return s.opts.Workflow.CreateIncoming(ctx, a, n) }
	} else {
		if req.Registry != "" {
			WriteError(c, http.StatusBadRequest, "invalid_input", "registry names the receiving registry of a letter from an outside party (sender_party); a draft names sender_registry", "registry")
			return
		}
		n := workflow.NewCorrespondence{
			Kind: workflow.Kind(req.Kind), Subject: req.Subject, Body: req.Body,
			Classification: workflow.Classification(req.Classification), Priority: workflow.Priority(req.Priority),
			SenderRegistry: req.SenderRegistry, Department: req.Department,
			Recipients: toRecipientInputs(req.Recipients), DueDate: req.DueDate, References: toReferences(req.References),
		}
		create = func(a workflow.Actor) (workflow.Entry, error) { return s.opts.Workflow.CreateDraft(ctx, a, n) }
	}
	e, err := asCaller(s, c, create)
	if err != nil {
		s.coreError(c, "create correspondence", err)
		return
	}
	c.JSON(http.StatusCreated, toDraftDTO(e))
}

func (s *Server) updateCorrespondence(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	var req correspondencePatch
	if !decodeJSON(c, &req) || !requireVersion(c, req.Version) {
		return
	}
	if req.DueDate != nil {
		if _, ok := parseDate(c, "due_date", *req.DueDate); !ok {
			return
		}
	}
	u := workflow.DraftUpdate{Subject: req.Subject, Body: req.Body, Department: req.Department, DueDate: req.DueDate}
	if req.Kind != nil {
		k := workflow.Kind(*req.Kind)
		u.Kind = &k
	}
	if req.Classification != nil {
		cl := workflow.Classification(*req.Classification)
		u.Classification = &cl
	}
	if req.Priority != nil {
		p := workflow.Priority(*req.Priority)
		u.Priority = &p
	}
	if req.Recipients != nil {
		rs := toRecipientInputs(*req.Recipients)
		u.Recipients = &rs
	}
	if req.References != nil {
		rs := toReferences(*req.References)
		u.References = &rs
	}
	e, err := asCaller(s, c, func(a workflow.Actor) (workflow.Entry, error) {
		return s.opts.Workflow.UpdateDraft(c.Request.Context(), a, id, *req.Version, u)
	})
	if err != nil {
		s.coreError(c, "edit draft", err)
		return
	}
	c.JSON(http.StatusOK, toDraftDTO(e))
}

func (s *Server) getCorrespondence(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := asCaller(s, c, func(a workflow.Actor) (workflow.View, error) {
		return s.opts.Workflow.Get(c.Request.Context(), a, id)
	})
	if err != nil {
		s.coreError(c, "read correspondence", err)
		return
	}
	c.JSON(http.StatusOK, toCorrespondenceDTO(v))
}

// verifyCorrespondence answers what the public verification page shows of
// a registered letter (number, date, registry, document hash, signature;
// the subject only when the classification is normal), to a caller who may
// read the letter; 404 to anyone else.
func (s *Server) verifyCorrespondence(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	v, err := asCaller(s, c, func(a workflow.Actor) (workflow.Verification, error) {
		return s.opts.Workflow.Verify(c.Request.Context(), a, id)
	})
	if err != nil {
		s.coreError(c, "verify correspondence", err)
		return
	}
	c.JSON(http.StatusOK, toVerificationDTO(v))
}
