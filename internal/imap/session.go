package imap

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/mailstore"
)

// Store is what the IMAP server needs of the mail store; *mailstore.Store
// satisfies it. The contracts are mailstore's (see its api.go); the ones
// this package leans on are listed in NEEDS.md.
type Store interface {
	EnsureUser(ctx context.Context, userID int64) error
	Mailboxes(ctx context.Context, userID int64) ([]mailstore.Mailbox, error)
	Mailbox(ctx context.Context, userID int64, name string) (mailstore.Mailbox, error)
	CreateMailbox(ctx context.Context, userID int64, name, specialUse string) (mailstore.Mailbox, error)
	DeleteMailbox(ctx context.Context, userID int64, name string) error
	RenameMailbox(ctx context.Context, userID int64, oldName, newName string) error
	SetSubscribed(ctx context.Context, userID int64, name string, subscribed bool) error
	Subscriptions(ctx context.Context, userID int64) ([]string, error)
	ClaimRecent(ctx context.Context, userID, mailboxID int64, upto uint32) (uint32, error)
	CountRecent(ctx context.Context, userID, mailboxID int64) (uint32, error)
	Status(ctx context.Context, userID int64, name string) (mailstore.Status, error)
	Select(ctx context.Context, userID int64, name string) (mailstore.Selected, error)
	Append(ctx context.Context, userID int64, mailbox string, raw io.Reader, o mailstore.AppendOptions) (mailstore.Appended, error)
	Fetch(ctx context.Context, userID, mailboxID int64, uids []uint32, o mailstore.FetchOptions, fn func(*mailstore.MessageInfo) error) error
	OpenRaw(ctx context.Context, blobKey string, offset, length int64) (io.ReadCloser, error)
	Search(ctx context.Context, userID, mailboxID int64, c *mailstore.Criteria) ([]uint32, error)
	StoreFlags(ctx context.Context, userID, mailboxID int64, uids []uint32, op mailstore.FlagOp, flags []string) ([]mailstore.FlagUpdate, error)
	Copy(ctx context.Context, userID, mailboxID int64, uids []uint32, dest string) (mailstore.Copied, error)
	Move(ctx context.Context, userID, mailboxID int64, uids []uint32, dest string) (mailstore.Copied, error)
	Expunge(ctx context.Context, userID, mailboxID int64, uids []uint32) ([]uint32, error)
	StoreFlagsUnchangedSince(ctx context.Context, userID, mailboxID int64, uids []uint32, op mailstore.FlagOp, flags []string, unchangedSince uint64) ([]mailstore.FlagUpdate, []uint32, error)
	Changed(ctx context.Context, userID, mailboxID int64, since uint64) ([]mailstore.FlagUpdate, error)
	Vanished(ctx context.Context, userID, mailboxID int64, since uint64) ([]uint32, bool, error)
	Usage(ctx context.Context, userID int64) (mailstore.Usage, error)
	Feed() mailstore.Feed
}

var _ Store = (*mailstore.Store)(nil)

// session is one IMAP connection. imapserver calls its methods one command
// at a time (IDLE's updates run on a second goroutine while the first waits
// for DONE, and nothing else runs then).
type session struct {
	srv      *Server
	conn     *imapserver.Conn
	remote   string
	listener string       // listenerSTARTTLS or listenerTLS
	out      *timeoutConn // below TLS; nil when there is none (tests)

	ctx    context.Context // mailstore.WithOrigin(this session) once logged in
	cancel context.CancelFunc

	user     *directory.User      // nil before login
	held     int64                // the user ID counted in Server.perUser; 0: none
	sel      atomic.Pointer[view] // nil unless a mailbox is selected
	closeOne sync.Once

	// failures counts refused logins; at maxLoginFailures the session
	// reads no further command, and Close sends bye, the BYE's text.
	failures int
	bye      string

	idLogged bool // the client's ID fields were logged
}

// maxLoggedUser bounds the login name a log line repeats.
const maxLoggedUser = 100

// maxLoginFailures is how many refused logins a connection gets before it
// is closed, as SMTP closes after its third refused AUTH.
const maxLoginFailures = 3

var (
	_ imapserver.SessionIMAP4rev2      = (*session)(nil)
	_ imapserver.SessionUnauthenticate = (*session)(nil)
	_ imapserver.SessionAppendLimit    = (*session)(nil)
	_ imapserver.SessionNamespace      = (*session)(nil)
	_ imapserver.SessionMove           = (*session)(nil)
	_ imapserver.SessionQuota          = (*session)(nil)
	_ imapserver.Session               = (*session)(nil)
)

// Close ends the session (imapserver calls it once the connection is gone).
func (s *session) Close() error {
	s.closeOne.Do(func() {
		if s.bye != "" {
			_ = s.conn.Bye(s.bye)
		}
		s.unselect()
		s.release()
		if s.cancel != nil {
			s.cancel()
		}
		s.srv.ended(s)
	})
	return nil
}

// Login checks the credentials with the directory (RFC 9051 §6.2.3). Every
// refusal is the same NO [AUTHENTICATIONFAILED] and counts towards the
// lockout. A user who must change their password (DESIGN.md §3a) is
// refused with NO [EXPIRED] (RFC 5530 §3: "the user should get a new
// passphrase") naming the web page where to change it; that needed the
// right password, so it says nothing to a guesser.
// After maxLoginFailures refusals the connection is closed with a BYE; a
// login over MaxConnectionsPerUserIP is answered NO [LIMIT]. Every attempt
// is logged (protocol, user, client, result), as Dovecot does.
func (s *session) Login(username, password string) (err error) {
	defer s.done(cmdLogin, &err)
	if s.failures >= maxLoginFailures {
		// Commands pipelined behind the last allowed failure: refused
		// without a look at the password.
		return imapserver.ErrAuthFailed
	}
	ctx := directory.WithClient(s.ctx, "imap:"+s.remote)
	u, err := s.srv.o.Directory.Authenticate(ctx, username, password)
	if errors.Is(err, directory.ErrInvalidCredentials) {
		s.failures++
		s.logLogin(username, "failed")
		if s.failures >= maxLoginFailures {
			s.srv.metrics.refusals.WithLabelValues("login_failures").Inc()
			s.hangUp("Too many failed logins")
		}
		return imapserver.ErrAuthFailed
	}
	if err != nil {
		s.logLogin(username, "error")
		return s.internal("login", err)
	}
	if u.MustChangePassword {
		s.logLogin(u.Login, "password change needed")
		return no(imap.ResponseCodeExpired, passwordChangeText(s.srv.o.AccountURL))
	}
	if !s.srv.holdUser(u.ID, s.remote) {
		s.srv.metrics.refusals.WithLabelValues("connections_per_user_ip").Inc()
		s.logLogin(u.Login, "limit")
		return no(imap.ResponseCodeLimit, "Too many connections for this user from your address")
	}
	s.held = u.ID
	if err := s.begin(u); err != nil {
		s.release()
		s.logLogin(u.Login, "error")
		return err
	}
	s.logLogin(u.Login, "ok")
	return nil
}

// logLogin writes the log line of one login attempt and counts it.
func (s *session) logLogin(user, result string) {
	if len(user) > maxLoggedUser {
		user = user[:maxLoggedUser] + "…" // a client's string: bounded in the log
	}
	s.srv.metrics.logins.WithLabelValues(result).Inc()
	s.srv.log.Info("login", slog.String("protocol", "imap"), slog.String("user", user),
		slog.String("client", s.remote), slog.String("listener", s.listener), slog.String("result", result))
}

// hangUp ends the session once the current command is answered: the
// connection reads nothing more from the socket (imapserver sees the end
// of its input), and Close sends the BYE. Logins pipelined behind are
// refused without a password check (see Login).
func (s *session) hangUp(text string) {
	if s.out == nil {
		_ = s.conn.Bye(text)
		return
	}
	s.bye = text
	s.out.stopReading()
}

// release gives back the user's slot in MaxConnectionsPerUserIP.
func (s *session) release() {
	if s.held != 0 {
		s.srv.releaseUser(s.held, s.remote)
		s.held = 0
	}
}

// begin enters the authenticated state as u.
func (s *session) begin(u directory.User) error {
	if err := s.srv.o.Store.EnsureUser(s.ctx, u.ID); err != nil {
		return s.internal("prepare mailboxes", err)
	}
	s.user = &u
	s.ctx = mailstore.WithOrigin(s.ctx, s)
	return nil
}

// Unauthenticate returns to the not-authenticated state (RFC 8437).
func (s *session) Unauthenticate() (err error) {
	defer s.done(cmdUnauth, &err)
	s.unselect()
	s.release()
	s.user = nil
	old := s.cancel
	s.ctx, s.cancel = context.WithCancel(s.srv.base)
	old()
	return nil
}

// Namespace: one personal namespace, no others (RFC 2342, RFC 9051 §6.3.10).
func (s *session) Namespace() (_ *imap.NamespaceData, err error) {
	defer s.done(cmdNamespace, &err)
	return &imap.NamespaceData{
		Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: mailstore.Separator}},
	}, nil
}

// AppendLimit is advertised as APPENDLIMIT=n (RFC 7889); imapserver refuses
// a larger literal with NO [TOOBIG] before the client sends it.
func (s *session) AppendLimit() uint32 { return s.srv.limit }

// uid returns the logged-in user's ID.
func (s *session) uid() int64 { return s.user.ID }

// internal logs err with what failed and returns the safe face: a NO the
// client may retry.
func (s *session) internal(what string, err error) error {
	if errors.Is(err, context.Canceled) && s.ctx.Err() != nil {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "Server shutting down"}
	}
	attrs := []any{slog.String("op", what), slog.String("client", s.remote), slog.Any("err", err)}
	if s.user != nil {
		attrs = append(attrs, slog.String("user", s.user.Login))
	}
	s.srv.log.Error("imap command failed", attrs...)
	s.srv.metrics.errors.WithLabelValues(what).Inc()
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug, Text: "Internal error, please try again later"}
}

// storeError turns a mailstore error into the IMAP answer: the codes of
// RFC 5530 where one fits; anything unexpected is logged and answered with
// a generic NO.
func (s *session) storeError(what string, err error) error {
	var imapErr *imap.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &imapErr):
		return err
	case errors.Is(err, mailstore.ErrNotFound):
		return no(imap.ResponseCodeNonExistent, "No such mailbox")
	case errors.Is(err, mailstore.ErrExists):
		return no(imap.ResponseCodeAlreadyExists, "Mailbox already exists")
	case errors.Is(err, mailstore.ErrInvalidName):
		return no(imap.ResponseCodeCannot, "Invalid mailbox name")
	case errors.Is(err, mailstore.ErrOverQuota):
		return no(imap.ResponseCodeOverQuota, "Over quota: the message was not stored")
	case errors.Is(err, mailstore.ErrTooBig):
		return no(imap.ResponseCodeTooBig, "Message too big: it was not stored")
	case errors.Is(err, mailstore.ErrInvalidFlag):
		return &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: "Invalid flag"}
	case errors.Is(err, mailstore.ErrHasChildren):
		return no(imap.ResponseCodeHasChildren, "Mailbox has children: delete them first")
	case errors.Is(err, mailstore.ErrProtected):
		return no(imap.ResponseCodeCannot, "Not allowed on this mailbox")
	case errors.Is(err, mailstore.ErrTooMany):
		return no(imap.ResponseCodeLimit, "Too many mailboxes")
	}
	return s.internal(what, err)
}

func no(code imap.ResponseCode, text string) *imap.Error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
}

func bad(text string) *imap.Error {
	return &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: text}
}

// passwordChangeText is the refusal of a login whose password must change.
func passwordChangeText(accountURL string) string {
	if accountURL == "" {
		return "Your password must be changed: log in to the web interface to set a new one"
	}
	return "Your password must be changed: set a new one at " + accountURL
}
