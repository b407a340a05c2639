package httpd

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/delivery"
	"diwan.gov.sy/diwan/internal/directory"
)

// Queue is the outbound queue as administrators care for it;
// *delivery.Queue satisfies it. Each method takes the caller and refuses
// (delivery.ErrForbidden) anyone but an enabled administrator of the
// instance.
type Queue interface {
	// ListAs returns entries, oldest first, and how many match in all.
	ListAs(ctx context.Context, caller directory.Principal, o delivery.ListOptions) ([]delivery.Entry, int64, error)
	// GetAs returns one entry, or delivery.ErrNotFound.
	GetAs(ctx context.Context, caller directory.Principal, id int64) (delivery.Entry, error)
	// RetryAs makes a pending entry due now; DropAs gives it up and
	// bounces it to its sender. Both are audited with the caller as actor;
	// an unknown id is delivery.ErrNotFound, one no longer pending
	// delivery.ErrNotPending.
	RetryAs(ctx context.Context, caller directory.Principal, id int64) error
	DropAs(ctx context.Context, caller directory.Principal, id int64) error
}

// queueEntryDTO is one recipient of the outbound queue.
type queueEntryDTO struct {
	ID            int64      `json:"id"`
	From          string     `json:"from"` // "" for the null sender <>
	To            string     `json:"to"`
	Domain        string     `json:"domain"`
	Size          int64      `json:"size"`
	State         string     `json:"state" enum:"pending,sent,failed"`
	Attempts      int        `json:"attempts"`
	CreatedAt     time.Time  `json:"created_at"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"` // while pending
	LastError     string     `json:"last_error"`
}

func toQueueEntryDTO(e delivery.Entry) queueEntryDTO {
	d := queueEntryDTO{ID: e.ID, From: e.From, To: e.To, Domain: e.Domain, Size: e.Size, State: e.State,
		Attempts: e.Attempts, CreatedAt: e.CreatedAt.UTC(), LastError: e.LastError}
	if e.State == delivery.StatePending {
		next := e.NextAttemptAt.UTC()
		d.NextAttemptAt = &next
	}
	return d
}

var qQueueState = apiParam{Name: "state", Type: "string", Description: "only entries in this state", Enum: []string{"pending", "sent", "failed"}}

// queueCaller is the caller of a queue route, once the server has a
// queue (503 without one); the queue decides what they may do.
func (s *Server) queueCaller(c *gin.Context) (directory.Principal, bool) {
	if s.opts.Queue == nil {
		WriteError(c, http.StatusServiceUnavailable, "unavailable", "the outbound queue is not available on this server", "")
		return directory.Principal{}, false
	}
	return s.caller(c)
}

func (s *Server) listQueue(c *gin.Context) {
	p, ok := parsePage(c)
	if !ok {
		return
	}
	who, ok := s.queueCaller(c)
	if !ok {
		return
	}
	entries, total, err := s.opts.Queue.ListAs(c.Request.Context(), who,
		delivery.ListOptions{State: c.Query("state"), Limit: p.PerPage, Offset: p.Offset()})
	if err != nil {
		s.queueError(c, "list the outbound queue", err)
		return
	}
	c.JSON(http.StatusOK, newList(mapSlice(entries, toQueueEntryDTO), total))
}

// actOnQueue is retry or drop on one entry; it answers the entry as it
// now stands. An id that is not one is no entry (the queue still asks
// who calls first).
func (s *Server) actOnQueue(act func(Queue, context.Context, directory.Principal, int64) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		who, ok := s.queueCaller(c)
		if !ok {
			return
		}
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		if err != nil || id < 0 {
			id = 0
		}
		ctx := c.Request.Context()
		err = act(s.opts.Queue, ctx, who, id)
		if err == nil {
			var e delivery.Entry
			if e, err = s.opts.Queue.GetAs(ctx, who, id); err == nil {
				c.JSON(http.StatusOK, toQueueEntryDTO(e))
				return
			}
		}
		s.queueError(c, "act on the outbound queue", err)
	}
}

// queueError answers an error of the queue: 403 to a caller it refuses,
// 404 for an unknown entry, 409 for one no longer pending.
func (s *Server) queueError(c *gin.Context, doing string, err error) {
	switch {
	case errors.Is(err, delivery.ErrForbidden):
		WriteError(c, http.StatusForbidden, "forbidden", delivery.ErrForbidden.Error(), "")
	case errors.Is(err, delivery.ErrNotFound):
		WriteError(c, http.StatusNotFound, "not_found", "no such queue entry", "id")
	case errors.Is(err, delivery.ErrNotPending):
		WriteError(c, http.StatusConflict, "not_pending", "the queue entry was already sent or given up", "")
	default:
		s.internalError(c, doing, err)
	}
}
