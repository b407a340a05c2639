package httpd

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/workflow"
)

// Registry entries and referrals (DESIGN.md §6a): lists, one item, and the
// transitions POST /entries/{id}/{action} and POST /referrals/{id}/{action}
// with the version the change is based on. A transition answers 200 with
// the entry (or referral) as it now stands.

// entryActions are the actions of POST /entries/{id}/{action}, each with
// the request fields it takes besides version and comment.
var entryActions = map[workflow.Action][]string{
	workflow.ActionSubmit:   nil,
	workflow.ActionApprove:  nil,
	workflow.ActionReject:   {"reason"},
	workflow.ActionRegister: nil,
	workflow.ActionDispatch: nil,
	workflow.ActionRecall:   {"registry"},
	workflow.ActionForward:  {"registry"},
	workflow.ActionRefer:    {"to_department", "to_user", "instruction", "due_date"},
	workflow.ActionStart:    nil,
	workflow.ActionAnswer:   {"reply"},
	workflow.ActionClose:    nil,
	workflow.ActionReturn:   {"reason"},
	workflow.ActionCancel:   {"reason"},
}

// referralActions are the actions of POST /referrals/{id}/{action}, each
// with the request fields it takes besides version and comment.
var referralActions = map[workflow.Action][]string{
	workflow.ActionAccept:  nil,
	workflow.ActionComment: nil,
	workflow.ActionRefer:   {"to_user", "to_department", "instruction", "due_date"},
	workflow.ActionAnswer:  {"answer"},
	workflow.ActionClose:   nil,
}

// sortedActions lists the actions of a table by name (for the OpenAPI
// document and messages).
func sortedActions(m map[workflow.Action][]string) []string {
	out := make([]string, 0, len(m))
	for a := range m {
		out = append(out, string(a))
	}
	slices.Sort(out)
	return out
}

// transitionRequest is the body of POST /entries/{id}/{action}.
type transitionRequest struct {
	Version      *int64 `json:"version" required:"true"`
	Comment      string `json:"comment"`
	Reason       string `json:"reason"`
	ToUser       string `json:"to_user"`
	ToDepartment string `json:"to_department"`
	Instruction  string `json:"instruction"`
	DueDate      string `json:"due_date" format:"date"`
	Reply        int64  `json:"reply"`
	Registry     string `json:"registry"`
}

// given names the optional fields the request set.
func (r transitionRequest) given() []string {
	return givenFields(map[string]bool{"reason": r.Reason != "", "to_user": r.ToUser != "",
		"to_department": r.ToDepartment != "", "instruction": r.Instruction != "",
		"due_date": r.DueDate != "", "reply": r.Reply != 0, "registry": r.Registry != ""})
}

// referralActionRequest is the body of POST /referrals/{id}/{action}.
type referralActionRequest struct {
	Version      *int64 `json:"version" required:"true"`
	Comment      string `json:"comment"`
	Answer       string `json:"answer"`
	ToUser       string `json:"to_user"`
	ToDepartment string `json:"to_department"`
	Instruction  string `json:"instruction"`
	DueDate      string `json:"due_date" format:"date"`
}

func (r referralActionRequest) given() []string {
	return givenFields(map[string]bool{"answer": r.Answer != "", "to_user": r.ToUser != "",
		"to_department": r.ToDepartment != "", "instruction": r.Instruction != "", "due_date": r.DueDate != ""})
}

func givenFields(set map[string]bool) []string {
	var out []string
	for f, ok := range set {
		if ok {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

// parseAction reads the {action} path parameter against a table. An
// unknown action names no resource: 404.
func parseAction(c *gin.Context, table map[workflow.Action][]string) (workflow.Action, []string, bool) {
	a := workflow.Action(c.Param("action"))
	fields, ok := table[a]
	if !ok {
		WriteError(c, http.StatusNotFound, "not_found",
			fmt.Sprintf("no action %q; the actions are %s", clip(string(a)), strings.Join(sortedActions(table), ", ")), "")
		return "", nil, false
	}
	return a, fields, true
}

// onlyFields refuses a field the action does not take, naming it.
func onlyFields(c *gin.Context, action workflow.Action, given, allowed []string) bool {
	for _, f := range given {
		if !slices.Contains(allowed, f) {
			WriteError(c, http.StatusBadRequest, "unknown_field", fmt.Sprintf("%s is not a field of the %s action", f, action), f)
			return false
		}
	}
	return true
}

func (s *Server) listEntries(c *gin.Context) {
	p, ok := parsePage(c)
	if !ok {
		return
	}
	dir := c.Query("direction")
	if !oneOf(c, "direction", dir, string(workflow.Incoming), string(workflow.Outgoing)) {
		return
	}
	pg, err := asCaller(s, c, func(a workflow.Actor) (workflow.Page[workflow.Entry], error) {
		return s.opts.Workflow.Entries(c.Request.Context(), a, workflow.ListFilter{
			Registry: c.Query("registry"), Direction: workflow.Direction(dir), State: workflow.State(c.Query("state")),
			Query: c.Query("q"), Limit: p.PerPage, Offset: p.Offset(),
		})
	})
	if err != nil {
		s.coreError(c, "list entries", err)
		return
	}
	c.JSON(http.StatusOK, newList(mapSlice(pg.Items, toEntryDTO), pg.Total))
}

func (s *Server) getEntry(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	e, err := asCaller(s, c, func(a workflow.Actor) (workflow.Entry, error) {
		return s.opts.Workflow.Entry(c.Request.Context(), a, id)
	})
	if err != nil {
		s.coreError(c, "read entry", err)
		return
	}
	c.JSON(http.StatusOK, toEntryDTO(e))
}

func (s *Server) actOnEntry(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	action, allowed, ok := parseAction(c, entryActions)
	if !ok {
		return
	}
	var req transitionRequest
	if !decodeJSON(c, &req) || !requireVersion(c, req.Version) || !onlyFields(c, action, req.given(), allowed) {
		return
	}
	if _, ok := parseDate(c, "due_date", req.DueDate); !ok {
		return
	}
	e, err := asCaller(s, c, func(a workflow.Actor) (workflow.Entry, error) {
		return s.opts.Workflow.Act(c.Request.Context(), a, id, workflow.Transition{
			Action: action, Version: *req.Version, Reason: req.Reason, Comment: req.Comment,
			ToUser: req.ToUser, ToDepartment: req.ToDepartment, Instruction: req.Instruction,
			DueDate: req.DueDate, Reply: req.Reply, Registry: req.Registry,
		})
	})
	if err != nil {
		s.coreError(c, string(action)+" entry", err)
		return
	}
	c.JSON(http.StatusOK, toEntryDTO(e))
}

func (s *Server) listReferrals(c *gin.Context) {
	p, ok := parsePage(c)
	if !ok {
		return
	}
	f := workflow.ReferralFilter{State: workflow.State(c.Query("state")), Limit: p.PerPage, Offset: p.Offset()}
	if v, ok := c.GetQuery("mine"); ok {
		mine, err := strconv.ParseBool(v)
		if err != nil {
			WriteError(c, http.StatusBadRequest, "invalid_parameter", "mine must be true or false", "mine")
			return
		}
		f.Mine = mine
	}
	if v, ok := c.GetQuery("entry_id"); ok {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			WriteError(c, http.StatusBadRequest, "invalid_parameter", "entry_id must be a positive integer", "entry_id")
			return
		}
		f.EntryID = id
	}
	pg, err := asCaller(s, c, func(a workflow.Actor) (workflow.Page[workflow.Referral], error) {
		return s.opts.Workflow.Referrals(c.Request.Context(), a, f)
	})
	if err != nil {
		s.coreError(c, "list referrals", err)
		return
	}
	c.JSON(http.StatusOK, newList(mapSlice(pg.Items, toReferralDTO), pg.Total))
}

func (s *Server) getReferral(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	r, err := asCaller(s, c, func(a workflow.Actor) (workflow.Referral, error) {
		return s.opts.Workflow.Referral(c.Request.Context(), a, id)
	})
	if err != nil {
		s.coreError(c, "read referral", err)
		return
	}
	c.JSON(http.StatusOK, toReferralDTO(r))
}

func (s *Server) actOnReferral(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	action, allowed, ok := parseAction(c, referralActions)
	if !ok {
		return
	}
	var req referralActionRequest
	if !decodeJSON(c, &req) || !requireVersion(c, req.Version) || !onlyFields(c, action, req.given(), allowed) {
		return
	}
	if _, ok := parseDate(c, "due_date", req.DueDate); !ok {
		return
	}
	r, err := asCaller(s, c, func(a workflow.Actor) (workflow.Referral, error) {
		return s.opts.Workflow.ActOnReferral(c.Request.Context(), a, id, workflow.ReferralTransition{
			Action: action, Version: *req.Version, Comment: req.Comment, Answer: req.Answer,
			ToUser: req.ToUser, ToDepartment: req.ToDepartment, Instruction: req.Instruction, DueDate: req.DueDate,
		})
	})
	if err != nil {
		s.coreError(c, string(action)+" referral", err)
		return
	}
	c.JSON(http.StatusOK, toReferralDTO(r))
}
