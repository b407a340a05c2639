package httpd

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"diwan.gov.sy/diwan/internal/prom"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors, the one the composition root gives to every component that
// exports metrics and to Options.Gatherer.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// httpMetrics count and time the requests the server answers.
//
//	diwan_http_requests_total{method, route, status}
//	diwan_http_request_duration_seconds{method, route}
//
// route is the route pattern ("/api/v1/entries/:id"), never the raw path,
// and "unmatched" for a request no route matches, so that the number of
// series stays bounded whatever clients send; method is one of the standard
// methods or "other".
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "diwan_http_requests_total",
			Help: "HTTP requests answered, by method, route pattern and status code.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "diwan_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by method and route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
	}
	if reg != nil {
		m.requests = register(reg, m.requests)
		m.duration = register(reg, m.duration)
	}
	return m
}

// register registers c, or returns the collector already registered under
// the same description (a second Server on one registry shares the series).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	c, err := prom.Register(reg, c)
	if err != nil {
		// Same name with other labels or help: a programming error.
		panic(fmt.Sprintf("httpd: register metrics: %v", err))
	}
	return c
}

func (m *httpMetrics) observe(method, route string, status int, seconds float64) {
	method = methodLabel(method)
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(seconds)
}

func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// promErrorLog sends the errors promhttp meets while gathering to the log.
type promErrorLog struct{ log *slog.Logger }

func (l promErrorLog) Println(v ...any) {
	l.log.Error("metrics: " + fmt.Sprint(v...))
}

// metricsGuard decides who may read /metrics: a client whose address is in
// one of the allowed networks (metrics.allow), or any client that sends
// "Authorization: Bearer" with the metrics token (metrics.token). The
// client's address is c.ClientIP(): the peer's, or the X-Forwarded-For
// address when the peer is one of http.trusted_proxies, as on every route.
type metricsGuard struct {
	allow []netip.Prefix
	// token is the SHA-256 of metrics.token; hasToken is false when none is
	// set. Comparing digests keeps the comparison's time independent of the
	// token's length as well as of its content.
	token    [sha256.Size]byte
	hasToken bool
}

// newMetricsGuard parses the allowed IPs and CIDRs; an entry that is
// neither (the configuration validated the list) is logged and left out, so
// that a typo never opens /metrics wider than written.
func newMetricsGuard(allow []string, token string, log *slog.Logger) metricsGuard {
	var g metricsGuard
	for _, a := range allow {
		p, err := parsePrefix(a)
		if err != nil {
			log.Error("metrics.allow entry refused; leaving it out", slog.String("entry", a), slog.Any("error", err))
			continue
		}
		g.allow = append(g.allow, p)
	}
	if token != "" {
		g.token, g.hasToken = sha256.Sum256([]byte(token)), true
	}
	return g
}

// parsePrefix reads an IP (a network of that one address) or a CIDR.
func parsePrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// allowed reports whether the request may read /metrics.
func (g metricsGuard) allowed(c *gin.Context) bool {
	if g.hasToken {
		if scheme, token, ok := strings.Cut(c.GetHeader("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
			sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
			if subtle.ConstantTimeCompare(sum[:], g.token[:]) == 1 {
				return true
			}
		}
	}
	addr, err := netip.ParseAddr(c.ClientIP())
	if err != nil {
		return false
	}
	addr = addr.Unmap().WithZone("")
	for _, p := range g.allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// guard answers 403 in the JSON error shape to a client that may not read
// /metrics. A wrong token is refused the same way as no token: the reply
// does not tell which of the two ways in was tried. The refusal is in the
// request log (status 403, the client's address); it is not logged again.
func (g metricsGuard) guard(c *gin.Context) {
	if !g.allowed(c) {
		WriteError(c, http.StatusForbidden, "forbidden",
			"metrics are served only to the networks in metrics.allow or with the bearer metrics.token", "")
		return
	}
	c.Next()
}
