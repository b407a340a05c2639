package mailauth

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"diwan.gov.sy/diwan/internal/directory"
)

// signedHeaders are the header fields a signature covers (RFC 6376 §5.4.1).
// From is named twice: a second From added on the way breaks the
// signature (oversigning, §8.15). A field named but absent is signed as
// absent, so it cannot be added either.
var signedHeaders = []string{
	"From", "From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Reply-To", "Sender",
}

const (
	// signRefresh is how long a domain's keys are used as read before the
	// database is asked again: a rotation on another node signs here
	// within this time.
	signRefresh = time.Minute
	// signCacheSize bounds the domains whose keys are kept decrypted.
	signCacheSize = 1024
)

// Signer DKIM-signs mail for the hosted domains with their active keys
// (relaxed/relaxed, RSA and, when the domain has one, Ed25519); it
// satisfies internal/smtp's Signer. A domain's first message generates its
// RSA key. Keys are kept decrypted in memory, for signCacheSize domains
// at most, and read again when signRefresh has passed.
type Signer struct {
	keys *Keys

	mu      sync.Mutex
	cache   map[string]*signEntry // by canonical domain
	loading map[string]*loadLock  // domains whose keys are being read
}

// loadLock lets one session of a process read (or generate) a domain's
// keys while the others wait for its result: a new domain's first burst
// of messages makes one key, not one per message.
type loadLock struct {
	mu      sync.Mutex
	waiters int
}

// signEntry is a domain's active keys, decrypted, as read at checked.
type signEntry struct {
	ascii   string
	keys    []signKey
	checked time.Time
}

type signKey struct {
	id       int64
	selector string
	signer   crypto.Signer
}

// NewSigner returns a Signer of k's keys.
func NewSigner(k *Keys) *Signer {
	return &Signer{keys: k, cache: make(map[string]*signEntry), loading: make(map[string]*loadLock)}
}

// Sign reads the whole message and returns its DKIM-Signature fields (one
// per active key, each ending in CRLF) for the domain, "" for a domain
// not hosted here. An error (the database, a key that does not decrypt)
// leaves the message unsigned: the caller refuses it for now.
func (s *Signer) Sign(ctx context.Context, domain string, message io.Reader) (string, error) {
	e, err := s.entry(ctx, domain)
	if err != nil || e == nil {
		return "", err
	}
	return e.sign(message)
}

// entry returns the domain's keys, from the cache while fresh; nil for a
// domain not hosted. Whether it is hosted is asked again with its keys.
func (s *Signer) entry(ctx context.Context, domain string) (*signEntry, error) {
	canon, err := directory.CanonicalDomain(domain)
	if err != nil {
		return nil, nil // not a domain name: not hosted
	}
	if e := s.cached(canon); e != nil {
		return e, nil
	}
	defer s.lockLoad(canon)()
	if e := s.cached(canon); e != nil { // read meanwhile by another session
		return e, nil
	}
	now := s.keys.clock()
	s.mu.Lock()
	old := s.cache[canon]
	s.mu.Unlock()
	_, ascii, err := s.keys.domain(ctx, canon)
	if errors.Is(err, directory.ErrNotHosted) {
		s.mu.Lock()
		delete(s.cache, canon)
		s.mu.Unlock()
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	e, err := s.load(ctx, canon, ascii, old, now)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cache[canon]; !ok && len(s.cache) >= signCacheSize {
		for d := range s.cache { // any one: map order is random
			delete(s.cache, d)
			break
		}
	}
	s.cache[canon] = e
	return e, nil
}

// cached returns the domain's keys if they were read less than
// signRefresh ago.
func (s *Signer) cached(canon string) *signEntry {
	s.mu.Lock()
	e := s.cache[canon]
	s.mu.Unlock()
	if e != nil && s.keys.clock().Sub(e.checked) < signRefresh {
		return e
	}
	return nil
}

// lockLoad takes the domain's load lock and returns its release.
func (s *Signer) lockLoad(canon string) func() {
	s.mu.Lock()
	l := s.loading[canon]
	if l == nil {
		l = &loadLock{}
		s.loading[canon] = l
	}
	l.waiters++
	s.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.mu.Lock()
		if l.waiters--; l.waiters == 0 {
			delete(s.loading, canon)
		}
		s.mu.Unlock()
	}
}

// load reads the domain's active keys (generating the first), decrypting
// those old does not hold already.
func (s *Signer) load(ctx context.Context, canon, ascii string, old *signEntry, now time.Time) (*signEntry, error) {
	rows, err := s.keys.ensure(ctx, actorSystem, canon, false)
	if err != nil {
		return nil, err
	}
	e := &signEntry{ascii: ascii, checked: now}
	for _, alg := range []string{AlgorithmRSA, AlgorithmEd25519} {
		for _, r := range rows {
			if !r.active() || r.Algorithm != alg {
				continue
			}
			key := signKey{id: r.ID, selector: r.Selector}
			if old != nil {
				for _, ok := range old.keys {
					if ok.id == r.ID {
						key.signer = ok.signer
					}
				}
			}
			if key.signer == nil {
				if key.signer, err = s.keys.open(r); err != nil {
					return nil, err
				}
			}
			e.keys = append(e.keys, key)
		}
	}
	return e, nil
}

// sign reads message once into one DKIM signer per key.
func (e *signEntry) sign(message io.Reader) (string, error) {
	signers := make([]*dkim.Signer, 0, len(e.keys))
	defer func() {
		for _, ds := range signers {
			ds.Close() // after an error; a second Close does no harm
		}
	}()
	ws := make([]io.Writer, 0, len(e.keys))
	for _, k := range e.keys {
		ds, err := dkim.NewSigner(&dkim.SignOptions{
			Domain:                 e.ascii,
			Selector:               k.selector,
			Signer:                 k.signer,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys:             signedHeaders,
		})
		if err != nil {
			return "", fmt.Errorf("dkim sign for %s: %w", e.ascii, err)
		}
		signers = append(signers, ds)
		ws = append(ws, ds)
	}
	if _, err := io.Copy(io.MultiWriter(ws...), &headerEnd{r: message}); err != nil {
		return "", fmt.Errorf("dkim sign for %s: %w", e.ascii, err)
	}
	var b strings.Builder
	for _, ds := range signers {
		if err := ds.Close(); err != nil {
			return "", fmt.Errorf("dkim sign for %s: %w", e.ascii, err)
		}
		b.WriteString(ds.Signature())
	}
	return b.String(), nil
}

// headerEnd reads r and, when r ends inside the header (a message of
// header fields only, which RFC 5322 §3.5 allows), adds the empty line
// that ends it, so that the signer sees an empty body rather than an
// unfinished header.
type headerEnd struct {
	r         io.Reader
	inBody    bool
	lineBytes int  // bytes of the current line but CR
	last      byte // the last byte read
	done      bool
	tail      string
}

func (h *headerEnd) Read(p []byte) (int, error) {
	if h.done {
		n := copy(p, h.tail)
		h.tail = h.tail[n:]
		if h.tail == "" {
			return n, io.EOF
		}
		return n, nil
	}
	n, err := h.r.Read(p)
	if !h.inBody {
		h.scan(p[:n])
	}
	if err == io.EOF && !h.inBody {
		h.done, h.tail = true, "\r\n"
		if h.last != '\n' && h.last != 0 { // the last line has no line end
			h.tail = "\r\n\r\n"
		}
		return n, nil
	}
	return n, err
}

// scan follows the header's lines until the empty one.
func (h *headerEnd) scan(b []byte) {
	for _, c := range b {
		h.last = c
		switch c {
		case '\n':
			if h.lineBytes == 0 {
				h.inBody = true
				return
			}
			h.lineBytes = 0
		case '\r':
		default:
			h.lineBytes++
		}
	}
}
