package httpd

import (
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes registers every route the server answers. It is the one list of
// them: the web UI and /api/v1 are added here as they land.
func (s *Server) routes(e *gin.Engine) {
	// Operator endpoints (DESIGN.md §3 Health).
	e.GET("/healthz", healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{
		ErrorLog: promErrorLog{s.log},
	})))
}
