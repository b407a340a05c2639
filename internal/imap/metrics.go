package imap

import (
	"errors"

	"diwan.gov.sy/diwan/internal/prom"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the IMAP server's Prometheus collectors. Every label value
// comes from this package (listener and command names, results, reasons),
// never from a client, so the label sets stay bounded.
type metrics struct {
	sessions *prometheus.GaugeVec   // listener
	started  *prometheus.CounterVec // listener
	commands *prometheus.CounterVec // command, result
	errors   *prometheus.CounterVec // op
	logins   *prometheus.CounterVec // result
	refusals *prometheus.CounterVec // reason
}

// Listener names, the listener label.
const (
	listenerSTARTTLS = "imap"  // imap.addr, port 143 role
	listenerTLS      = "imaps" // imap.tls_addr, port 993 role
)

func newMetrics() *metrics {
	return &metrics{
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "diwan", Subsystem: "imap", Name: "sessions",
			Help: "IMAP connections open, by listener (imap: STARTTLS, imaps: implicit TLS).",
		}, []string{"listener"}),
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "diwan", Subsystem: "imap", Name: "sessions_started_total",
			Help: "IMAP connections accepted, by listener; refused ones included.",
		}, []string{"listener"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "diwan", Subsystem: "imap", Name: "commands_total",
			Help: "IMAP commands that reached the mail store or the directory, by command and result (ok, no, bad).",
		}, []string{"command", "result"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "diwan", Subsystem: "imap", Name: "errors_total",
			Help: "IMAP commands that failed inside the server (answered NO [SERVERBUG] and logged), by operation.",
		}, []string{"op"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "diwan", Subsystem: "imap", Name: "logins_total",
			Help: "IMAP LOGIN and AUTHENTICATE attempts, by result (ok, failed, limit, error).",
		}, []string{"result"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "diwan", Subsystem: "imap", Name: "refusals_total",
			Help: "IMAP connections and logins refused by a limit, by reason (connections_per_ip, connections_per_user_ip, login_failures).",
		}, []string{"reason"}),
	}
}

// register registers the collectors on reg; a second Server on one
// registry shares the ones registered first.
func (m *metrics) register(reg prometheus.Registerer) error {
	var err error
	if m.sessions, err = prom.Register(reg, m.sessions); err != nil {
		return err
	}
	if m.started, err = prom.Register(reg, m.started); err != nil {
		return err
	}
	if m.commands, err = prom.Register(reg, m.commands); err != nil {
		return err
	}
	if m.errors, err = prom.Register(reg, m.errors); err != nil {
		return err
	}
	if m.logins, err = prom.Register(reg, m.logins); err != nil {
		return err
	}
	m.refusals, err = prom.Register(reg, m.refusals)
	return err
}

// Command names, the command label: the commands that reach the session.
// NOOP, CAPABILITY, LOGOUT, STARTTLS, ENABLE and commands imapserver could
// not parse end inside imapserver and are not counted.
const (
	cmdLogin       = "LOGIN" // and AUTHENTICATE
	cmdSelect      = "SELECT"
	cmdUnselect    = "UNSELECT" // and CLOSE
	cmdCreate      = "CREATE"
	cmdDelete      = "DELETE"
	cmdRename      = "RENAME"
	cmdSubscribe   = "SUBSCRIBE"
	cmdUnsubscribe = "UNSUBSCRIBE"
	cmdList        = "LIST"
	cmdStatus      = "STATUS"
	cmdAppend      = "APPEND"
	cmdIdle        = "IDLE"
	cmdNamespace   = "NAMESPACE"
	cmdID          = "ID"
	cmdUnauth      = "UNAUTHENTICATE"
	cmdExpunge     = "EXPUNGE"
	cmdUIDExpunge  = "UID EXPUNGE"
	cmdFetch       = "FETCH"
	cmdUIDFetch    = "UID FETCH"
	cmdStore       = "STORE"
	cmdUIDStore    = "UID STORE"
	cmdCopy        = "COPY"
	cmdUIDCopy     = "UID COPY"
	cmdMove        = "MOVE"
	cmdUIDMove     = "UID MOVE"
	cmdSearch      = "SEARCH"
	cmdUIDSearch   = "UID SEARCH"
)

// byKind picks the UID variant of a command name.
func byKind(kind imapserver.NumKind, seq, uid string) string {
	if kind == imapserver.NumKindUID {
		return uid
	}
	return seq
}

// numKind tells a UID set from a sequence set.
func numKind(set imap.NumSet) imapserver.NumKind {
	if _, ok := set.(imap.UIDSet); ok {
		return imapserver.NumKindUID
	}
	return imapserver.NumKindSeq
}

// result is the result label of a command's answer.
func result(err error) string {
	var ie *imap.Error
	switch {
	case err == nil, errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeOK:
		return "ok" // OK [MODIFIED …] of a conditional STORE
	case errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeBad:
		return "bad"
	}
	return "no"
}

// done counts a command the session answered; deferred with the address
// of the method's error.
func (s *session) done(cmd string, err *error) {
	s.srv.metrics.commands.WithLabelValues(cmd, result(*err)).Inc()
}
