package smtp

import (
	"sync"

	"diwan.gov.sy/diwan/internal/prom"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the SMTP listeners' Prometheus collectors.
type metrics struct {
	refusals   *prometheus.CounterVec // reason, domain
	messages   *prometheus.CounterVec // listener
	recipients *prometheus.CounterVec // listener, kind (local, relay)
	sessions   *prometheus.GaugeVec   // listener
	domains    labelSet
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "diwan", Subsystem: "smtp", Name: "refusals_total",
			Help: "SMTP commands and messages refused, by reason (policy, relay, spoofing, auth, syntax, unknown_recipient, quota, size, content, rate, ...) and the domain concerned.",
		}, []string{"reason", "domain"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "diwan", Subsystem: "smtp", Name: "messages_accepted_total",
			Help: "Messages accepted (stored and committed), by listener.",
		}, []string{"listener"}),
		recipients: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "diwan", Subsystem: "smtp", Name: "recipients_accepted_total",
			Help: "Recipients of accepted messages: local users, and relay (queued for other national servers).",
		}, []string{"listener", "kind"}),
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "diwan", Subsystem: "smtp", Name: "sessions",
			Help: "SMTP sessions open (after HELO/EHLO), by listener.",
		}, []string{"listener"}),
		domains: labelSet{max: maxDomainLabels, seen: map[string]bool{}},
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.refusals, err = prom.Register(reg, m.refusals); err != nil {
		return nil, err
	}
	if m.messages, err = prom.Register(reg, m.messages); err != nil {
		return nil, err
	}
	if m.recipients, err = prom.Register(reg, m.recipients); err != nil {
		return nil, err
	}
	if m.sessions, err = prom.Register(reg, m.sessions); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *metrics) refused(reason, domain string) {
	m.refusals.WithLabelValues(reason, m.domains.label(domain)).Inc()
}

func (m *metrics) accepted(l Listener, local, relay int) {
	m.messages.WithLabelValues(string(l)).Inc()
	if local > 0 {
		m.recipients.WithLabelValues(string(l), "local").Add(float64(local))
	}
	if relay > 0 {
		m.recipients.WithLabelValues(string(l), "relay").Add(float64(relay))
	}
}

// maxDomainLabels bounds the distinct domain label values: domains come
// from clients, and a label per hostile domain would grow without end.
const maxDomainLabels = 500

// labelSet hands out the first max distinct values as themselves and the
// rest as "other".
type labelSet struct {
	mu   sync.Mutex
	max  int
	seen map[string]bool
}

func (l *labelSet) label(v string) string {
	if v == "" {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[v] {
		return v
	}
	if len(l.seen) >= l.max {
		return "other"
	}
	l.seen[v] = true
	return v
}
