package httpd

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"diwan.gov.sy/diwan/internal/delivery"
)

// Queue is the outbound queue as administrators care for it;
// *delivery.Queue satisfies it.
type Queue interface {
	// List returns entries, oldest first, and how many match in all.
	List(ctx context.Context, o delivery.ListOptions) ([]delivery.Entry, int64, error)
	// Get returns one entry, or delivery.ErrNotFound.
	Get(ctx context.Context, id int64) (delivery.Entry, error)
	// Retry makes a pending entry due now; Drop gives it up and bounces it
	// to its sender. Both are audited with actor; an unknown id is
	// delivery.ErrNotFound, one no longer pending delivery.ErrNotPending.
	Retry(ctx context.Context, actor string, id int64) error
	Drop(ctx context.Context, actor string, id int64) error
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

// queueReady answers 403 to anyone but an administrator and 503 when this
// server has no queue.
func (s *Server) queueReady(c *gin.Context) bool {
	if _, ok := s.requireAdmin(c); !ok {
		return false
	}
	if s.opts.Queue == nil {
		WriteError(c, http.StatusServiceUnavailable, "unavailable", "the outbound queue is not available on this server", "")
		return false
	}
	return true
}

func (s *Server) listQueue(c *gin.Context) {
	p, ok := parsePage(c)
	if !ok || !s.queueReady(c) {
		return
	}
	entries, total, err := s.opts.Queue.List(c.Request.Context(),
		delivery.ListOptions{State: c.Query("state"), Limit: p.PerPage, Offset: p.Offset()})
	if err != nil {
		s.internalError(c, "list the outbound queue", err)
		return
	}
	c.JSON(http.StatusOK, newList(mapSlice(entries, toQueueEntryDTO), total))
}

// actOnQueue is retry or drop on one entry; it answers the entry as it
// now stands.
func (s *Server) actOnQueue(act func(Queue, context.Context, string, int64) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !s.queueReady(c) {
			return
		}
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		if err != nil || id <= 0 {
			WriteError(c, http.StatusNotFound, "not_found", "no such queue entry", "id")
			return
		}
		ctx := c.Request.Context()
		err = act(s.opts.Queue, ctx, principalOf(c).Actor(), id)
		if err == nil {
			var e delivery.Entry
			if e, err = s.opts.Queue.Get(ctx, id); err == nil {
				c.JSON(http.StatusOK, toQueueEntryDTO(e))
				return
			}
		}
		switch {
		case errors.Is(err, delivery.ErrNotFound):
			WriteError(c, http.StatusNotFound, "not_found", "no such queue entry", "id")
		case errors.Is(err, delivery.ErrNotPending):
			WriteError(c, http.StatusConflict, "not_pending", "the queue entry was already sent or given up", "")
		default:
			s.internalError(c, "act on the outbound queue", err)
		}
	}
}
