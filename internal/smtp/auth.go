package smtp

import (
	"bytes"
	"errors"
	"log/slog"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"diwan.gov.sy/diwan/internal/directory"
)

// authSession is a submission session: a session with AUTH (RFC 4954).
// go-smtp offers AUTH only over TLS and answers AUTH before STARTTLS with
// 523 5.7.10 itself.
type authSession struct{ *session }

// AuthMechanisms lists PLAIN (RFC 4616) and LOGIN (the de facto
// mechanism of Outlook and older clients; draft-murchison-sasl-login).
func (a authSession) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

// Auth returns the server side of the mechanism.
func (a authSession) Auth(mech string) (sasl.Server, error) {
	if a.ended() {
		return nil, errEnded
	}
	if a.user != nil {
		return nil, errAlreadyAuth
	}
	auth := func(login, password string) error { return a.after(a.authenticate(login, password)) }
	switch mech {
	case sasl.Plain:
		return &plainServer{auth: auth, deny: func(login string) error { return a.after(a.authFailed(login, "authzid")) }}, nil
	case sasl.Login:
		return &loginServer{auth: auth}, nil
	}
	return nil, gosmtp.ErrAuthUnknownMechanism
}

// authenticate checks the credentials with the directory, which counts
// failures towards the account's lockout and records them in the audit log
// with the actor smtp:IP. After maxAuthFailures the session ends. Every
// attempt is logged, as Dovecot logs logins.
func (s *session) authenticate(login, password string) error {
	ctx, cancel := s.ctx()
	defer cancel()
	u, err := s.srv.o.Directory.Authenticate(directory.WithClient(ctx, "smtp:"+s.client), login, password)
	switch {
	case errors.Is(err, directory.ErrInvalidCredentials):
		return s.authFailed(login, "invalid credentials")
	case err != nil:
		if s.srv.base.Err() != nil {
			return errShuttingDown
		}
		s.logLogin(login, "error")
		s.srv.log.Error("smtp: authentication failed to complete", slog.String("client", s.client), slog.Any("err", err))
		return errAuthTemp
	case u.MustChangePassword:
		s.logLogin(login, "password change needed")
		return passwordChange(s.srv.o.AccountURL)
	}
	s.user = &u
	s.logLogin(login, "ok")
	return nil
}

// authFailed counts a refused AUTH; the last one allowed ends the session.
func (s *session) authFailed(login, why string) error {
	s.srv.metrics.refused("auth", "")
	s.logLogin(login, "failed: "+why)
	s.authFails++
	if s.authFails >= maxAuthFailures {
		return errTooManyAuth
	}
	return errAuthFailed
}

// logLogin logs one AUTH attempt: protocol, user, client address, result.
func (s *session) logLogin(login, result string) {
	s.srv.log.Info("smtp: login", slog.String("protocol", "smtp"), slog.String("user", logText(login)),
		slog.String("client", s.client), slog.String("listener", string(s.door.name)), slog.String("tls", s.tlsVersion()),
		slog.String("result", result))
}

// plainServer is the server side of SASL PLAIN (RFC 4616): one message,
// authzid NUL authcid NUL password. An authorization identity other than
// the authentication identity is refused: nobody may act as someone else.
type plainServer struct {
	auth func(login, password string) error
	deny func(login string) error
	done bool
}

func (p *plainServer) Next(response []byte) ([]byte, bool, error) {
	if p.done {
		return nil, false, errAuthMalformed
	}
	if response == nil {
		return []byte{}, false, nil // no initial response: an empty challenge
	}
	p.done = true
	parts := bytes.Split(response, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		return nil, false, errAuthMalformed
	}
	if len(parts[0]) > 0 && !bytes.Equal(parts[0], parts[1]) {
		return nil, false, p.deny(string(parts[1]))
	}
	return nil, true, p.auth(string(parts[1]), string(parts[2]))
}

// loginServer is the server side of LOGIN: the challenges "Username:" and
// "Password:", each answered with the value (base64 on the wire, decoded by
// go-smtp). An initial response is the user name.
type loginServer struct {
	auth func(login, password string) error
	step int
	user string
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		if len(response) > 0 {
			l.user, l.step = string(response), 2
			return []byte("Password:"), false, nil
		}
		l.step = 1
		return []byte("Username:"), false, nil
	case 1:
		l.user, l.step = string(response), 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		if l.user == "" {
			return nil, false, errAuthMalformed
		}
		return nil, true, l.auth(l.user, string(response))
	}
	return nil, false, errAuthMalformed
}
