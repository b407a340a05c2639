package httpd

// The outbound queue page (/admin/queue, DESIGN.md §3a): the recipients
// waiting to be sent to other national servers, and those sent or given
// up, oldest first, filtered by state; a pending one can be retried now
// or dropped (bounced to its sender). It calls the same queue as GET
// /api/v1/queue and POST /api/v1/queue/{id}/retry|drop, whose acts are
// audited with the administrator as actor. Only the instance's
// administrators see it: the queue refuses anyone else
// (delivery.ErrForbidden), who finds no such page.

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/delivery"
	"diwan.gov.sy/diwan/internal/directory"
)

// queuePerPage is the length of a page of /admin/queue.
const queuePerPage = 50

// queueStates are the states the page filters by; without one it lists
// the pending entries, and queueAllStates lists every state.
var queueStates = []string{delivery.StatePending, delivery.StateSent, delivery.StateFailed}

const queueAllStates = "all"

// queuePageData is what admin_queue.html shows.
type queuePageData struct {
	Entries     []delivery.Entry
	States      []string
	State       string
	Total       int64
	Page, Pages int
	PrevURL     string
	NextURL     string
	Unavailable bool // this server has no queue
}

// queueDone are the flashes of /admin/queue?done=KEY&id=N.
var queueDone = map[string]bool{"retry": true, "drop": true}

// queuePage lists the outbound queue.
func (s *Server) queuePage(c *gin.Context) {
	who, ok := s.callerForPage(c)
	if !ok {
		return
	}
	p := s.newAdminPage(c, "queue")
	if k := c.Query("done"); queueDone[k] {
		if id, err := strconv.ParseInt(c.Query("id"), 10, 64); err == nil && id > 0 {
			p.Flash = p.T("admin.queue.done."+k, "ID", id)
		}
	}
	s.showQueue(c, who, p, http.StatusOK)
}

// showQueue renders the page of the state and page in the query with
// status (a failed act's, or 200) for who; the queue decides whether they
// may see it, and anyone it refuses finds no such page.
func (s *Server) showQueue(c *gin.Context, who directory.Principal, p *uiPage, status int) {
	d := &queuePageData{States: queueStates, State: c.DefaultQuery("state", delivery.StatePending), Page: 1}
	p.Data = d
	if d.State != queueAllStates && !slices.Contains(queueStates, d.State) {
		p.SetFieldError("state", "admin.queue.error.state")
		d.State, status = queueAllStates, http.StatusUnprocessableEntity
	}
	state := d.State
	if state == queueAllStates {
		state = ""
	}
	if s.opts.Queue == nil {
		d.Unavailable = true
		s.render(c, http.StatusServiceUnavailable, "admin_queue", p)
		return
	}
	if n, err := strconv.Atoi(c.Query("page")); err == nil && n > 1 && n <= 1<<20 {
		d.Page = n
	}
	entries, total, err := s.opts.Queue.ListAs(c.Request.Context(), who,
		delivery.ListOptions{State: state, Limit: queuePerPage, Offset: (d.Page - 1) * queuePerPage})
	if err != nil {
		s.uiQueueFail(c, "list the outbound queue", err)
		return
	}
	d.Entries, d.Total = entries, total
	d.Pages = max(1, int((total+queuePerPage-1)/queuePerPage))
	d.PrevURL, d.NextURL = d.pageURL(d.Page-1), d.pageURL(d.Page+1)
	s.render(c, status, "admin_queue", p)
}

// pageURL is the link to page n of the list as filtered, "" when there is
// no such page.
func (d *queuePageData) pageURL(n int) string {
	if n < 1 || n > d.Pages {
		return ""
	}
	q := url.Values{}
	if d.State != delivery.StatePending {
		q.Set("state", d.State)
	}
	if n > 1 {
		q.Set("page", strconv.Itoa(n))
	}
	if len(q) == 0 {
		return "/admin/queue"
	}
	return "/admin/queue?" + q.Encode()
}

// actOnQueueForm is retry or drop of one entry from the page: back to the
// list with a flash, or the list again with what went wrong above it.
func (s *Server) actOnQueueForm(name string, act func(Queue, context.Context, directory.Principal, int64) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		who, ok := s.callerForPage(c)
		if !ok {
			return
		}
		p := s.newAdminPage(c, "queue")
		p.OtherLangHref = "/admin/queue?lang=" + p.OtherLang // the page answers a POST
		if s.opts.Queue == nil {
			s.showQueue(c, who, p, http.StatusServiceUnavailable)
			return
		}
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		if err != nil || id < 0 {
			id = 0 // no entry; the queue still asks who calls first
		}
		err = act(s.opts.Queue, c.Request.Context(), who, id)
		switch {
		case err == nil:
			redirect(c, "/admin/queue?done="+name+"&id="+strconv.FormatInt(id, 10))
		case errors.Is(err, delivery.ErrNotFound):
			p.Error = p.T("admin.queue.error.not_found", "ID", clip(c.Param("id")))
			s.showQueue(c, who, p, http.StatusNotFound)
		case errors.Is(err, delivery.ErrNotPending):
			p.Error = p.T("admin.queue.error.not_pending", "ID", id)
			s.showQueue(c, who, p, http.StatusConflict)
		default:
			s.uiQueueFail(c, name+" a queue entry", err)
		}
	}
}

// uiQueueFail answers an error of the queue: for a caller the queue
// refuses, the page does not exist (404).
func (s *Server) uiQueueFail(c *gin.Context, doing string, err error) {
	if errors.Is(err, delivery.ErrForbidden) {
		s.uiNotFound(c)
		return
	}
	s.uiInternal(c, doing, err)
}
