package mailstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"

	"diwan.gov.sy/diwan/internal/db"
)

// CanonicalName validates a mailbox name and returns its canonical form
// (any case of "INBOX" as the first level becomes "INBOX"). A name is 1 to
// MaxNameLen bytes of valid UTF-8 with at most MaxNameDepth levels, without
// control or bidirectional-override characters, without the LIST wildcards
// '*' and '%', without a leading or trailing '/', empty levels, or levels
// that are "." or ".."; otherwise ErrInvalidName.
func CanonicalName(name string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w: %q %s", ErrInvalidName, name, why)
	}
	switch {
	case name == "":
		return bad("is empty")
	case len(name) > MaxNameLen:
		return bad(fmt.Sprintf("is longer than %d bytes", MaxNameLen))
	case !utf8.ValidString(name):
		return bad("is not valid UTF-8")
	}
	for _, r := range name {
		switch {
		case unicode.IsControl(r), r == utf8.RuneError:
			return bad("has a control character")
		case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
			return bad("has a bidirectional control character")
		case r == '*' || r == '%':
			return bad("has a wildcard character")
		}
	}
	segs := strings.Split(name, string(Separator))
	if len(segs) > MaxNameDepth {
		return bad(fmt.Sprintf("has more than %d levels", MaxNameDepth))
	}
	for _, seg := range segs {
		switch {
		case seg == "":
			return bad("has an empty level")
		case seg == "." || seg == "..":
			return bad("has a . or .. level")
		case strings.TrimSpace(seg) == "":
			return bad("has a blank level")
		}
	}
	if strings.EqualFold(segs[0], Inbox) {
		segs[0] = Inbox
	}
	return strings.Join(segs, string(Separator)), nil
}

// parents returns the ancestors of a canonical name, outermost first.
func parents(name string) []string {
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == Separator {
			out = append(out, name[:i])
		}
	}
	return out
}

// under reports whether name is child of (or deeper under) parent.
func under(name, parent string) bool {
	return len(name) > len(parent) && name[len(parent)] == Separator && strings.HasPrefix(name, parent)
}

func validSpecialUse(u string) bool {
	switch u {
	case "", UseSent, UseDrafts, UseTrash, UseJunk, UseArchive:
		return true
	}
	return false
}

// EnsureUser creates the user's mail store on first use: the usage
// counter and the DefaultMailboxes (subscribed, with their SPECIAL-USE).
// Later calls only make sure INBOX exists; a default mailbox the user
// deleted stays deleted. Idempotent and safe to race. An unknown user is
// ErrNotFound.
func (s *Store) EnsureUser(ctx context.Context, userID int64) error {
	if _, ok := s.ensured.Load(userID); ok {
		return nil
	}
	_, err := s.ensureUser(ctx, userID)
	return err
}

// ensureUser is EnsureUser that returns the user's quota.
func (s *Store) ensureUser(ctx context.Context, userID int64) (quota int64, err error) {
	quotas, err := s.ensureUsers(ctx, []int64{userID})
	if err != nil {
		return 0, err
	}
	quota, ok := quotas[userID]
	if !ok {
		return 0, fmt.Errorf("user %d: %w", userID, ErrNotFound)
	}
	return quota, nil
}

// ensureUsers is EnsureUser for several users in one transaction; it
// returns the quotas of the users the directory knows (the others are
// missing from the map, and get no mail store).
func (s *Store) ensureUsers(ctx context.Context, userIDs []int64) (map[int64]int64, error) {
	quotas, err := s.dir.Quota(ctx, userIDs)
	if err != nil {
		return nil, err
	}
	var todo []int64
	for _, id := range userIDs {
		if _, ok := s.ensured.Load(id); !ok {
			if _, known := quotas[id]; known {
				todo = append(todo, id)
			}
		}
	}
	if len(todo) == 0 {
		return quotas, nil
	}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		for _, id := range todo {
			res := tx.Exec("INSERT INTO mail_users (user_id) VALUES (?) ON CONFLICT (user_id) DO NOTHING", id)
			if res.Error != nil {
				return res.Error
			}
			boxes := DefaultMailboxes[:1]
			if res.RowsAffected == 1 {
				boxes = DefaultMailboxes
			}
			for _, b := range boxes {
				if _, err := s.insertMailbox(tx, id, b.Name, b.SpecialUse, true); err != nil && !errors.Is(err, ErrExists) {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("set up mail of %d user(s): %w", len(todo), err)
	}
	for _, id := range todo {
		s.ensured.Store(id, struct{}{})
	}
	return quotas, nil
}

// insertMailbox creates one mailbox; an existing name is ErrExists (and
// leaves the transaction usable).
func (s *Store) insertMailbox(tx *gorm.DB, userID int64, name, specialUse string, subscribed bool) (Mailbox, error) {
	kept, err := takeSubscription(tx, userID, name)
	if err != nil {
		return Mailbox{}, err
	}
	subscribed = subscribed || kept
	var ids []int64
	err = tx.Raw(`INSERT INTO mailboxes (user_id, name, special_use, subscribed, created_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, name) DO NOTHING RETURNING id`,
		userID, name, specialUse, subscribed, s.now()).Scan(&ids).Error
	if err != nil {
		return Mailbox{}, err
	}
	if len(ids) == 0 {
		return Mailbox{}, fmt.Errorf("mailbox %q: %w", name, ErrExists)
	}
	if err := tx.Exec("UPDATE mailboxes SET uid_validity = id WHERE id = ?", ids[0]).Error; err != nil {
		return Mailbox{}, err
	}
	return Mailbox{ID: ids[0], Name: name, SpecialUse: specialUse, Subscribed: subscribed,
		UIDValidity: uint32(ids[0]), UIDNext: 1, HighestModSeq: 1}, nil
}

// mailboxRow is a row of mailboxes as the queries here read it.
type mailboxRow struct {
	ID            int64  `gorm:"column:id"`
	Name          string `gorm:"column:name"`
	SpecialUse    string `gorm:"column:special_use"`
	Subscribed    bool   `gorm:"column:subscribed"`
	UIDValidity   int64  `gorm:"column:uid_validity"`
	UIDNext       int64  `gorm:"column:uid_next"`
	HighestModseq int64  `gorm:"column:highest_modseq"`
	Messages      int64  `gorm:"column:messages"`
	Size          int64  `gorm:"column:size"`
	Keywords      string `gorm:"column:keywords"`
	FirstRecent   int64  `gorm:"column:first_recent_uid"`
}

const mailboxCols = "id, name, special_use, subscribed, uid_validity, uid_next, highest_modseq, messages, size, keywords, first_recent_uid"

func (r mailboxRow) mailbox() Mailbox {
	return Mailbox{
		ID:             r.ID,
		Name:           r.Name,
		SpecialUse:     r.SpecialUse,
		Subscribed:     r.Subscribed,
		UIDValidity:    uint32(r.UIDValidity),
		UIDNext:        uint32(r.UIDNext),
		HighestModSeq:  uint64(r.HighestModseq),
		FirstRecentUID: uint32(r.FirstRecent),
	}
}

// findMailbox reads a mailbox by canonical name.
func findMailbox(tx *gorm.DB, userID int64, name string) (mailboxRow, error) {
	var rows []mailboxRow
	err := tx.Raw("SELECT "+mailboxCols+" FROM mailboxes WHERE user_id = ? AND name = ?", userID, name).Scan(&rows).Error
	if err != nil {
		return mailboxRow{}, err
	}
	if len(rows) == 0 {
		return mailboxRow{}, fmt.Errorf("mailbox %q: %w", name, ErrNotFound)
	}
	return rows[0], nil
}

// Mailboxes lists all the user's mailboxes, sorted by name, with
// HasChildren filled.
func (s *Store) Mailboxes(ctx context.Context, userID int64) ([]Mailbox, error) {
	var rows []mailboxRow
	err := s.db.Reader().WithContext(ctx).Raw("SELECT "+mailboxCols+" FROM mailboxes WHERE user_id = ? ORDER BY name LIMIT ?",
		userID, MaxMailboxes+1).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list mailboxes of user %d: %w", userID, err)
	}
	out := make([]Mailbox, len(rows))
	for i, r := range rows {
		out[i] = r.mailbox()
	}
	// Byte order keeps a parent before its children only when no sibling
	// name sorts between them ("a" < "a b" < "a/b"), so look for children
	// by prefix.
	slices.SortFunc(out, func(a, b Mailbox) int { return strings.Compare(a.Name, b.Name) })
	names := make(map[string]bool, len(out))
	for _, m := range out {
		for _, p := range parents(m.Name) {
			names[p] = true
		}
	}
	for i := range out {
		out[i].HasChildren = names[out[i].Name]
	}
	return out, nil
}

// Mailbox returns one mailbox by name.
func (s *Store) Mailbox(ctx context.Context, userID int64, name string) (Mailbox, error) {
	name, err := CanonicalName(name)
	if err != nil {
		return Mailbox{}, err
	}
	r, err := findMailbox(s.db.Reader().WithContext(ctx), userID, name)
	if err != nil {
		return Mailbox{}, err
	}
	m := r.mailbox()
	var n int64
	if err := s.db.Reader().WithContext(ctx).Raw("SELECT count(*) FROM mailboxes WHERE user_id = ? AND substr(name, 1, ?) = ?",
		userID, utf8.RuneCountInString(name)+1, name+"/").Scan(&n).Error; err != nil {
		return Mailbox{}, err
	}
	m.HasChildren = n > 0
	return m, nil
}

// CreateMailbox creates name and any missing parents (RFC 9051 §6.3.4).
func (s *Store) CreateMailbox(ctx context.Context, userID int64, name, specialUse string) (Mailbox, error) {
	name, err := CanonicalName(name)
	if err != nil {
		return Mailbox{}, err
	}
	if !validSpecialUse(specialUse) {
		return Mailbox{}, fmt.Errorf("%w: special use %q", ErrInvalidName, specialUse)
	}
	if err := s.EnsureUser(ctx, userID); err != nil {
		return Mailbox{}, err
	}
	var m Mailbox
	err = s.tx(ctx, func(tx *gorm.DB) error {
		if err := lockUser(tx, userID); err != nil {
			return err
		}
		var count int64
		if err := tx.Raw("SELECT count(*) FROM mailboxes WHERE user_id = ?", userID).Scan(&count).Error; err != nil {
			return err
		}
		for _, p := range parents(name) {
			if _, err := s.insertMailbox(tx, userID, p, "", false); err == nil {
				count++
			} else if !errors.Is(err, ErrExists) {
				return err
			}
		}
		if count >= MaxMailboxes {
			return fmt.Errorf("user %d: %w", userID, ErrTooMany)
		}
		var err error
		m, err = s.insertMailbox(tx, userID, name, specialUse, false)
		return err
	})
	if err != nil {
		return Mailbox{}, fmt.Errorf("create mailbox %q: %w", name, err)
	}
	return m, nil
}

// DeleteMailbox removes the mailbox and its messages.
func (s *Store) DeleteMailbox(ctx context.Context, userID int64, name string) error {
	name, err := CanonicalName(name)
	if err != nil {
		return err
	}
	if name == Inbox {
		return fmt.Errorf("delete %s: %w", Inbox, ErrProtected)
	}
	mb, err := findMailbox(s.db.Reader().WithContext(ctx), userID, name)
	if err != nil {
		return err
	}
	unlock := s.lock(userID)
	defer unlock()
	var ev Event
	err = s.tx(ctx, func(tx *gorm.DB) error {
		if err := lockUser(tx, userID); err != nil {
			return err
		}
		var rows []mailboxRow
		if err := tx.Raw("UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = ? AND user_id = ? RETURNING "+mailboxCols,
			mb.ID, userID).Scan(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return fmt.Errorf("mailbox %q: %w", name, ErrNotFound)
		}
		r := rows[0]
		var children int64
		if err := tx.Raw("SELECT count(*) FROM mailboxes WHERE user_id = ? AND substr(name, 1, ?) = ?",
			userID, utf8.RuneCountInString(r.Name)+1, r.Name+"/").Scan(&children).Error; err != nil {
			return err
		}
		if children > 0 {
			return fmt.Errorf("delete %q: %w", r.Name, ErrHasChildren)
		}
		if err := s.unrefMailbox(tx, mb.ID); err != nil {
			return err
		}
		if err := tx.Exec("DELETE FROM mailbox_messages WHERE mailbox_id = ?", mb.ID).Error; err != nil {
			return err
		}
		if err := tx.Exec("DELETE FROM mailboxes WHERE id = ?", mb.ID).Error; err != nil {
			return err
		}
		if r.Subscribed {
			if err := keepSubscription(tx, userID, r.Name); err != nil {
				return err
			}
		}
		if err := addUsage(tx, userID, -r.Size, 0, false); err != nil {
			return err
		}
		ev = Event{Kind: EventMailboxDeleted, UserID: userID, MailboxID: mb.ID, ModSeq: uint64(r.HighestModseq)}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete mailbox %q: %w", name, err)
	}
	s.publish(ctx, ev)
	return nil
}

// unrefMailbox drops the references that a mailbox's messages hold.
func (s *Store) unrefMailbox(tx *gorm.DB, mailboxID int64) error {
	rows, err := tx.Raw("SELECT message_id, count(*) FROM mailbox_messages WHERE mailbox_id = ? GROUP BY message_id", mailboxID).Rows()
	if err != nil {
		return err
	}
	counts := map[int64]int64{}
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return err
		}
		counts[id] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	return s.addRefs(tx, counts, -1)
}

// addRefs adds sign*counts[id] to the refs of each message, in id order
// (the lock order), and stamps orphaned_at on those that reach zero.
func (s *Store) addRefs(tx *gorm.DB, counts map[int64]int64, sign int64) error {
	byCount := map[int64][]int64{}
	for id, n := range counts {
		byCount[n] = append(byCount[n], id)
	}
	keys := make([]int64, 0, len(byCount))
	for n := range byCount {
		keys = append(keys, n)
	}
	slices.Sort(keys)
	now := s.now()
	for _, n := range keys {
		ids := byCount[n]
		slices.Sort(ids)
		for len(ids) > 0 {
			b := ids[:min(len(ids), 500)]
			ids = ids[len(b):]
			d := sign * n
			var err error
			if d < 0 {
				err = tx.Exec(`UPDATE messages SET refs = refs + ?,
					orphaned_at = CASE WHEN refs + ? = 0 THEN ? ELSE orphaned_at END WHERE id IN ?`, d, d, now, b).Error
			} else {
				err = tx.Exec("UPDATE messages SET refs = refs + ?, orphaned_at = NULL WHERE id IN ?", d, b).Error
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// RenameMailbox renames the mailbox and every mailbox under it.
func (s *Store) RenameMailbox(ctx context.Context, userID int64, oldName, newName string) error {
	oldName, err := CanonicalName(oldName)
	if err != nil {
		return err
	}
	newName, err = CanonicalName(newName)
	if err != nil {
		return err
	}
	if newName == Inbox {
		return fmt.Errorf("rename to %s: %w", Inbox, ErrExists)
	}
	if newName == oldName || under(newName, oldName) {
		return fmt.Errorf("rename %q to %q: %w", oldName, newName, ErrProtected)
	}
	if oldName == Inbox {
		return s.renameInbox(ctx, userID, newName)
	}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		if err := lockUser(tx, userID); err != nil {
			return err
		}
		var rows []mailboxRow
		if err := tx.Raw("SELECT id, name FROM mailboxes WHERE user_id = ?", userID).Scan(&rows).Error; err != nil {
			return err
		}
		have := map[string]int64{}
		for _, r := range rows {
			have[r.Name] = r.ID
		}
		if _, ok := have[oldName]; !ok {
			return fmt.Errorf("mailbox %q: %w", oldName, ErrNotFound)
		}
		type move struct {
			id   int64
			name string
		}
		var moves []move
		for _, r := range rows {
			if r.Name == oldName || under(r.Name, oldName) {
				to := newName + r.Name[len(oldName):]
				if len(to) > MaxNameLen || strings.Count(to, "/") >= MaxNameDepth {
					return fmt.Errorf("%w: %q would be too long", ErrInvalidName, to)
				}
				if _, ok := have[to]; ok {
					return fmt.Errorf("mailbox %q: %w", to, ErrExists)
				}
				moves = append(moves, move{r.ID, to})
			}
		}
		for _, p := range parents(newName) {
			if _, ok := have[p]; !ok {
				if _, err := s.insertMailbox(tx, userID, p, "", false); err != nil {
					return err
				}
			}
		}
		for _, m := range moves {
			if err := tx.Exec("UPDATE mailboxes SET name = ? WHERE id = ? AND user_id = ?", m.name, m.id, userID).Error; err != nil {
				if db.IsUniqueViolation(err) {
					return fmt.Errorf("mailbox %q: %w", m.name, ErrExists)
				}
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rename mailbox %q to %q: %w", oldName, newName, err)
	}
	return nil
}

// renameInbox moves INBOX's messages to a new mailbox (RFC 9051 §6.3.6):
// they keep their UIDs there (a new mailbox, a new UIDVALIDITY), and INBOX
// stays, empty, with its UIDNEXT.
func (s *Store) renameInbox(ctx context.Context, userID int64, newName string) error {
	if err := s.EnsureUser(ctx, userID); err != nil {
		return err
	}
	inbox, err := findMailbox(s.db.Reader().WithContext(ctx), userID, Inbox)
	if err != nil {
		return err
	}
	unlock := s.lock(userID)
	defer unlock()
	var ev Event
	err = s.tx(ctx, func(tx *gorm.DB) error {
		if err := lockUser(tx, userID); err != nil {
			return err
		}
		for _, p := range parents(newName) {
			if _, err := s.insertMailbox(tx, userID, p, "", false); err != nil && !errors.Is(err, ErrExists) {
				return err
			}
		}
		dst, err := s.insertMailbox(tx, userID, newName, "", false)
		if err != nil {
			return err
		}
		var rows []mailboxRow
		if err := tx.Raw(`UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = ? RETURNING `+mailboxCols,
			inbox.ID).Scan(&rows).Error; err != nil {
			return err
		}
		in := rows[0]
		uids, err := mailboxUIDs(tx, inbox.ID)
		if err != nil {
			return err
		}
		if err := tx.Exec(`INSERT INTO mailbox_messages (mailbox_id, uid, user_id, message_id, modseq, seen, answered, flagged,
				deleted, draft, keywords, internal_date, size)
			SELECT ?, uid, user_id, message_id, 1, seen, answered, flagged, deleted, draft, keywords, internal_date, size
			FROM mailbox_messages WHERE mailbox_id = ?`, dst.ID, inbox.ID).Error; err != nil {
			return err
		}
		if err := tx.Exec("DELETE FROM mailbox_messages WHERE mailbox_id = ?", inbox.ID).Error; err != nil {
			return err
		}
		if err := s.recordExpunged(tx, inbox.ID, uids, in.HighestModseq); err != nil {
			return err
		}
		if err := tx.Exec("UPDATE mailboxes SET uid_next = ?, messages = ?, size = ?, keywords = ? WHERE id = ?",
			in.UIDNext, in.Messages, in.Size, in.Keywords, dst.ID).Error; err != nil {
			return err
		}
		if err := tx.Exec("UPDATE mailboxes SET messages = 0, size = 0 WHERE id = ?", inbox.ID).Error; err != nil {
			return err
		}
		ev = Event{Kind: EventExpunge, UserID: userID, MailboxID: inbox.ID, ModSeq: uint64(in.HighestModseq), UIDs: uids}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rename %s to %q: %w", Inbox, newName, err)
	}
	if len(ev.UIDs) > 0 {
		s.publish(ctx, ev)
	}
	return nil
}
