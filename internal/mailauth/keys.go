package mailauth

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/audit"
	"diwan.gov.sy/diwan/internal/db"
	"diwan.gov.sy/diwan/internal/directory"
	"diwan.gov.sy/diwan/internal/secrets"
)

// The algorithms of DKIM keys, as the a= tag of a signature names them.
const (
	AlgorithmRSA     = "rsa-sha256"     // RFC 6376 §3.3.1, 2048-bit keys
	AlgorithmEd25519 = "ed25519-sha256" // RFC 8463, as a second signature
)

// rsaBits is the size of generated RSA keys (RFC 8301 §3.2: at least 1024,
// 2048 recommended; 4096 is too long for many DNS providers' TXT records).
const rsaBits = 2048

// DefaultRotationOverlap is how long a rotated key's record stays valid
// when KeysOptions sets none (dkim.rotation_overlap).
const DefaultRotationOverlap = 168 * time.Hour

// actorSystem is the audit actor of a key generated for the first message
// signed for a domain.
const actorSystem = "system"

// keyPurpose is the master-key derivation purpose of the key that seals
// DKIM private keys.
const keyPurpose = "dkim"

// Keys holds the DKIM keys of the hosted domains (table dkim_keys): each
// domain has one active RSA key, and an active Ed25519 key once asked for;
// a rotated key stays published (not used) until its retires_at. It is
// safe for concurrent use, also by several nodes on one database.
type Keys struct {
	db      *db.DB
	aead    cipher.AEAD
	audit   *audit.Sealer
	hosted  func(ctx context.Context, domain string) (bool, error)
	overlap time.Duration
	now     func() time.Time
}

// KeysOptions are what NewKeys needs besides the database and the master
// key; every field has a working zero value.
type KeysOptions struct {
	// Hosted reports whether a domain (canonical form) is hosted here: the
	// directory's IsHosted. Keys are made and used only for hosted domains.
	// nil: every domain is.
	Hosted func(ctx context.Context, domain string) (bool, error)
	// RotationOverlap is dkim.rotation_overlap; 0 means
	// DefaultRotationOverlap.
	RotationOverlap time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NewKeys returns the keys stored in d, sealed under master's "dkim" key.
// Generation and rotation are audit events sealed with master's audit
// key. At most one KeysOptions is read.
func NewKeys(d *db.DB, master *secrets.MasterKey, opts ...KeysOptions) *Keys {
	var o KeysOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	block, err := aes.NewCipher(master.Derive(keyPurpose))
	if err != nil {
		panic("mailauth: " + err.Error()) // a 32-byte key is always valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("mailauth: " + err.Error())
	}
	k := &Keys{db: d, aead: aead, audit: audit.NewSealer(master), hosted: o.Hosted, overlap: o.RotationOverlap, now: o.Now}
	if k.overlap <= 0 {
		k.overlap = DefaultRotationOverlap
	}
	if k.now == nil {
		k.now = time.Now
	}
	return k
}

// Record is one published key of a domain: the TXT record to publish at
// Name. Active keys sign; a retiring one (Active false) only stays
// published until RetiresAt, so that mail signed with it still verifies.
type Record struct {
	Selector  string     // "d20261206", "d20261206e"
	Algorithm string     // AlgorithmRSA or AlgorithmEd25519
	Name      string     // "d20261206._domainkey.mof.gov.sy." (A-labels, absolute)
	TXT       string     // "v=DKIM1; k=rsa; p=MIIB…", whole
	Active    bool       // signs new mail
	RetiresAt *time.Time // nil while active
}

// Strings is the TXT value cut into the character-strings of a TXT record
// (RFC 1035 §3.3.14: at most 255 bytes each); resolvers join them again
// (RFC 6376 §3.6.2.2).
func (r Record) Strings() []string {
	var out []string
	for s := r.TXT; s != ""; {
		n := min(len(s), 255)
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}

// String is the record as a zone file line:
// `SELECTOR._domainkey.DOMAIN. IN TXT ("v=DKIM1; k=rsa; p=…" "…")`.
func (r Record) String() string {
	return r.Name + ` IN TXT ("` + strings.Join(r.Strings(), `" "`) + `")`
}

// keyRow is a row of dkim_keys; it never leaves the package.
type keyRow struct {
	ID         int64 `gorm:"primaryKey"`
	Domain     string
	Selector   string
	Algorithm  string
	PrivateKey []byte
	PublicKey  []byte
	CreatedAt  time.Time
	RetiresAt  *time.Time
}

func (keyRow) TableName() string { return "dkim_keys" }

func (r keyRow) active() bool { return r.RetiresAt == nil }

// Ensure returns the records of the domain's published keys (active first),
// generating its RSA key on first use, and its Ed25519 key too when
// ed25519 is true. A domain not hosted is directory.ErrNotHosted, a name
// that is no domain a *directory.InputError. Generation is audited as the
// system's.
func (k *Keys) Ensure(ctx context.Context, domain string, ed25519 bool) ([]Record, error) {
	return k.EnsureBy(ctx, actorSystem, domain, ed25519)
}

// EnsureBy is Ensure with the audit actor of a generation ("cli:root").
func (k *Keys) EnsureBy(ctx context.Context, actor, domain string, ed25519 bool) ([]Record, error) {
	canon, ascii, err := k.domain(ctx, domain)
	if err != nil {
		return nil, err
	}
	rows, err := k.ensure(ctx, actor, canon, ed25519)
	if err != nil {
		return nil, err
	}
	return records(ascii, rows), nil
}

// Rotate replaces the domain's active keys (of each algorithm it has; RSA
// when it has none) with new ones, which sign from now on; the replaced
// keys stay published for the rotation overlap and are returned with their
// RetiresAt. Audited as the system's.
func (k *Keys) Rotate(ctx context.Context, domain string) ([]Record, error) {
	return k.RotateBy(ctx, actorSystem, domain)
}

// RotateBy is Rotate with the audit actor.
func (k *Keys) RotateBy(ctx context.Context, actor, domain string) ([]Record, error) {
	canon, ascii, err := k.domain(ctx, domain)
	if err != nil {
		return nil, err
	}
	if err := k.rotate(ctx, actor, canon); err != nil {
		return nil, err
	}
	rows, err := k.published(ctx, canon)
	if err != nil {
		return nil, err
	}
	return records(ascii, rows), nil
}

// domain checks that name is a hosted domain and returns its canonical
// and A-label forms.
func (k *Keys) domain(ctx context.Context, name string) (canon, ascii string, err error) {
	canon, err = directory.CanonicalDomain(name)
	if err != nil {
		return "", "", err
	}
	if ascii, err = directory.ASCIIDomain(canon); err != nil {
		return "", "", err
	}
	if k.hosted != nil {
		ok, err := k.hosted(ctx, canon)
		if err != nil {
			return "", "", fmt.Errorf("dkim keys of %s: %w", canon, err)
		}
		if !ok {
			return "", "", fmt.Errorf("domain %s: %w", canon, directory.ErrNotHosted)
		}
	}
	return canon, ascii, nil
}

// ensure returns the published keys of the (hosted, canonical) domain
// after generating the active ones it lacks. Of two nodes generating at
// once, one insert fails on a unique index and that node reads again.
func (k *Keys) ensure(ctx context.Context, actor, canon string, ed25519 bool) ([]keyRow, error) {
	want := []string{AlgorithmRSA}
	if ed25519 {
		want = append(want, AlgorithmEd25519)
	}
	for attempt := 0; ; attempt++ {
		rows, err := k.published(ctx, canon)
		if err != nil {
			return nil, err
		}
		missing := slices.DeleteFunc(slices.Clone(want), func(alg string) bool {
			return slices.ContainsFunc(rows, func(r keyRow) bool { return r.active() && r.Algorithm == alg })
		})
		if len(missing) == 0 {
			return rows, nil
		}
		err = k.generate(ctx, actor, canon, missing, false)
		switch {
		case err == nil || db.IsUniqueViolation(err) && attempt < 3:
			continue
		case db.IsUniqueViolation(err):
			return nil, fmt.Errorf("dkim keys of %s: made by another node at the same time, and not found after: %w", canon, err)
		}
		return nil, err
	}
}

// rotate retires the domain's active keys and makes new ones of the same
// algorithms in one transaction. A rotation meeting another's on a unique
// index is tried again once.
func (k *Keys) rotate(ctx context.Context, actor, canon string) error {
	rows, err := k.published(ctx, canon)
	if err != nil {
		return err
	}
	var algs []string
	for _, alg := range []string{AlgorithmRSA, AlgorithmEd25519} {
		if slices.ContainsFunc(rows, func(r keyRow) bool { return r.active() && r.Algorithm == alg }) {
			algs = append(algs, alg)
		}
	}
	if len(algs) == 0 {
		algs = []string{AlgorithmRSA}
	}
	err = k.generate(ctx, actor, canon, algs, true)
	if db.IsUniqueViolation(err) {
		err = k.generate(ctx, actor, canon, algs, true)
	}
	if db.IsUniqueViolation(err) {
		return fmt.Errorf("rotate dkim keys of %s: rotated elsewhere at the same time; run it again: %w", canon, err)
	}
	return err
}

// published reads the domain's active keys and those not yet retired,
// oldest first.
func (k *Keys) published(ctx context.Context, canon string) ([]keyRow, error) {
	var rows []keyRow
	err := k.db.Writer().WithContext(ctx).Where("domain = ? AND (retires_at IS NULL OR retires_at > ?)", canon, k.clock()).
		Order("id").Limit(100).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("read dkim keys of %s: %w", canon, err)
	}
	return rows, nil
}

// newKey is a generated key before it has a selector.
type newKey struct {
	algorithm string
	private   []byte // PKCS #8
	public    []byte // what p= carries
}

// generate makes keys of the algorithms and stores them in one
// transaction with their audit event; with retire, the domain's active
// keys retire after the overlap in the same transaction. The keys are made
// before the transaction: an RSA key takes tens of milliseconds.
func (k *Keys) generate(ctx context.Context, actor, canon string, algs []string, retire bool) error {
	keys := make([]newKey, len(algs))
	for i, alg := range algs {
		nk, err := makeKey(alg)
		if err != nil {
			return fmt.Errorf("generate %s key of %s: %w", alg, canon, err)
		}
		keys[i] = nk
	}
	now := k.clock()
	err := k.db.Transaction(ctx, func(tx *gorm.DB) error {
		var retired []string
		if retire {
			var err error
			if retired, err = retireActive(tx, canon, now.Add(k.overlap)); err != nil {
				return err
			}
		}
		selectors, err := k.insert(tx, canon, keys, now)
		if err != nil {
			return err
		}
		return k.auditKeys(ctx, tx, actor, canon, selectors, retired, now)
	})
	if err != nil && !db.IsUniqueViolation(err) {
		return fmt.Errorf("store dkim keys of %s: %w", canon, err)
	}
	return err
}

// retireActive sets the retirement time of the domain's active keys and
// returns their selectors.
func retireActive(tx *gorm.DB, canon string, at time.Time) ([]string, error) {
	var selectors []string
	if err := tx.Model(&keyRow{}).Where("domain = ? AND retires_at IS NULL", canon).Order("id").
		Pluck("selector", &selectors).Error; err != nil {
		return nil, err
	}
	err := tx.Model(&keyRow{}).Where("domain = ? AND retires_at IS NULL", canon).Update("retires_at", at).Error
	return selectors, err
}

// insert chooses the selectors of keys and stores them sealed.
func (k *Keys) insert(tx *gorm.DB, canon string, keys []newKey, now time.Time) ([]string, error) {
	base := "d" + now.Format("20060102")
	var taken []string
	if err := tx.Model(&keyRow{}).Where("domain = ? AND selector LIKE ?", canon, base+"%").
		Pluck("selector", &taken).Error; err != nil {
		return nil, err
	}
	selectors := make([]string, len(keys))
	for i, nk := range keys {
		sel := freeSelector(base, nk.algorithm, taken)
		taken = append(taken, sel)
		selectors[i] = sel
		row := keyRow{Domain: canon, Selector: sel, Algorithm: nk.algorithm, PublicKey: nk.public,
			PrivateKey: k.seal(canon, sel, nk.private), CreatedAt: now}
		if err := tx.Create(&row).Error; err != nil {
			return nil, err
		}
	}
	return selectors, nil
}

// freeSelector is the first selector of the date base not taken: base,
// base-2, base-3… for RSA keys, the same with an "e" after for Ed25519
// ones, so that the keys made together read as a pair.
func freeSelector(base, alg string, taken []string) string {
	suffix := ""
	if alg == AlgorithmEd25519 {
		suffix = "e"
	}
	for n := 1; ; n++ {
		sel := base
		if n > 1 {
			sel += "-" + strconv.Itoa(n)
		}
		if sel += suffix; !slices.Contains(taken, sel) {
			return sel
		}
	}
}

// auditKeys records a generation (dkim.generate) or a rotation
// (dkim.rotate, when keys retired) in the transaction tx.
func (k *Keys) auditKeys(ctx context.Context, tx *gorm.DB, actor, canon string, selectors, retired []string, now time.Time) error {
	action, details := "dkim.generate", map[string]any{"selectors": selectors}
	if retired != nil {
		action = "dkim.rotate"
		details["retired"] = retired
		details["retires_at"] = now.Add(k.overlap).Format(time.RFC3339)
	}
	return k.audit.Append(ctx, tx, audit.Event{Actor: actor, Action: action, Target: "domain:" + canon, Details: details})
}

// makeKey generates a key of the algorithm.
func makeKey(alg string) (newKey, error) {
	var priv crypto.Signer
	var pub []byte
	switch alg {
	case AlgorithmRSA:
		rk, err := rsa.GenerateKey(rand.Reader, rsaBits)
		if err != nil {
			return newKey{}, err
		}
		if pub, err = x509.MarshalPKIXPublicKey(&rk.PublicKey); err != nil {
			return newKey{}, err
		}
		priv = rk
	case AlgorithmEd25519:
		pk, ek, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return newKey{}, err
		}
		pub, priv = pk, ek
	default:
		return newKey{}, fmt.Errorf("unknown algorithm %q", alg)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return newKey{}, err
	}
	return newKey{algorithm: alg, private: der, public: pub}, nil
}

// seal encrypts a private key (AES-256-GCM under the "dkim" key): nonce,
// then ciphertext. The domain and selector are its associated data, so a
// key copied to another row does not open.
func (k *Keys) seal(canon, selector string, plain []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize())
	rand.Read(nonce) // never fails (Go 1.24+)
	return k.aead.Seal(nonce, nonce, plain, keyAAD(canon, selector))
}

// errSealed is the answer for a private key that does not open: another
// master key, or a row changed in the database.
var errSealed = errors.New("the private key does not decrypt with this server's master key")

// open decrypts and parses the private key of r.
func (k *Keys) open(r keyRow) (crypto.Signer, error) {
	n := k.aead.NonceSize()
	if len(r.PrivateKey) < n {
		return nil, fmt.Errorf("dkim key %s of %s: %w", r.Selector, r.Domain, errSealed)
	}
	der, err := k.aead.Open(nil, r.PrivateKey[:n], r.PrivateKey[n:], keyAAD(r.Domain, r.Selector))
	if err != nil {
		return nil, fmt.Errorf("dkim key %s of %s: %w", r.Selector, r.Domain, errSealed)
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("dkim key %s of %s: %w", r.Selector, r.Domain, err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("dkim key %s of %s: a %T cannot sign", r.Selector, r.Domain, key)
	}
	return s, nil
}

func keyAAD(canon, selector string) []byte {
	return []byte(canon + "\x00" + selector)
}

// records turns rows into the records to publish: active keys first (RSA,
// then Ed25519), then the retiring ones by retirement.
func records(ascii string, rows []keyRow) []Record {
	out := make([]Record, 0, len(rows))
	for _, r := range rows {
		k := "rsa"
		if r.Algorithm == AlgorithmEd25519 {
			k = "ed25519"
		}
		out = append(out, Record{
			Selector:  r.Selector,
			Algorithm: r.Algorithm,
			Name:      r.Selector + "._domainkey." + ascii + ".",
			TXT:       "v=DKIM1; k=" + k + "; p=" + base64.StdEncoding.EncodeToString(r.PublicKey),
			Active:    r.active(),
			RetiresAt: r.RetiresAt,
		})
	}
	slices.SortStableFunc(out, func(a, b Record) int {
		switch {
		case a.Active != b.Active:
			if a.Active {
				return -1
			}
			return 1
		case a.Active:
			return strings.Compare(b.Algorithm, a.Algorithm) // "rsa-…" before "ed25519-…"
		default:
			return a.RetiresAt.Compare(*b.RetiresAt)
		}
	})
	return out
}

// clock is the current time in UTC at the database's precision.
func (k *Keys) clock() time.Time { return k.now().UTC().Truncate(time.Microsecond) }
