package imap

import (
	"log/slog"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

var _ imapserver.SessionID = (*session)(nil)

// ID answers the client's identification (RFC 2971) before and after
// login with Diwan's name and version, nothing that would help an attacker
// more (RFC 2971 §5: no OS, no host). The client's fields are logged once
// per connection, the first time it sends any, as Dovecot logs them.
func (s *session) ID(client map[string]string) (_ *imap.IDData, err error) {
	defer s.done(cmdID, &err)
	if len(client) > 0 && !s.idLogged {
		s.idLogged = true
		keys := make([]string, 0, len(client))
		for k := range client {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		attrs := []any{slog.String("client", s.remote)}
		for _, k := range keys {
			attrs = append(attrs, slog.String("id."+k, client[k]))
		}
		if s.user != nil {
			attrs = append(attrs, slog.String("user", s.user.Login))
		}
		s.srv.log.Info("client id", attrs...)
	}
	return &imap.IDData{Name: "Diwan", Version: s.srv.o.Version}, nil
}
