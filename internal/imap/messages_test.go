package imap_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// appendN appends n small messages to mailbox.
func appendN(t *testing.T, e *env, user, mailbox string, n int) {
	t.Helper()
	c := e.login(t, user)
	for i := range n {
		appendMsg(t, c, mailbox, simpleMsg(fmt.Sprintf("msg %d", i+1), "a@mof.gov.sy", user, "body"), nil)
	}
	c.Logout().Wait()
}

// RFC 9051 §6.4.6 (STORE): FLAGS, +FLAGS, -FLAGS and .SILENT, system flags
// and keywords; UID STORE answers with UIDs (§6.4.9).
func TestStore(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *env) {
		appendN(t, e, user1, "INBOX", 3)
		c := e.login(t, user1)
		selectBox(t, c, "INBOX")

		got, err := c.Store(imap.SeqSetNum(1, 2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged, "$Important"}}, nil).Collect()
		if err != nil || len(got) != 2 {
			t.Fatalf("+FLAGS: %v %d", err, len(got))
		}
		for _, m := range got {
			if !slices.Contains(m.Flags, imap.FlagFlagged) || !slices.Contains(m.Flags, "$Important") {
				t.Errorf("+FLAGS answer %d: %v", m.SeqNum, m.Flags)
			}
		}
		got, err = c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsDel, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Collect()
		if err != nil || len(got) != 1 || slices.Contains(got[0].Flags, imap.FlagFlagged) || !slices.Contains(got[0].Flags, "$Important") {
			t.Errorf("-FLAGS: %v %+v", err, got)
		}
		got, err = c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsSet, Flags: []imap.Flag{imap.FlagAnswered}}, nil).Collect()
		if err != nil || len(got) != 1 || !slices.Equal(withoutRecent(got[0].Flags), []imap.Flag{imap.FlagAnswered}) {
			t.Errorf("FLAGS: %v %+v", err, got)
		}
		got, err = c.Store(imap.SeqSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect()
		if err != nil || len(got) != 0 {
			t.Errorf("+FLAGS.SILENT answered %d FETCH responses (%v)", len(got), err)
		}
		got, err = c.Store(imap.UIDSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{"$Done"}}, nil).Collect()
		if err != nil || len(got) != 1 || got[0].UID != 3 {
			t.Errorf("UID STORE: %v %+v", err, got)
		}
		msgs := fetch(t, c, imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{Flags: true})
		want := [][]imap.Flag{{"$Important"}, {imap.FlagAnswered}, {imap.FlagSeen, "$Done"}}
		for i, m := range msgs {
			if !sameFlags(m.Flags, want[i]) {
				t.Errorf("message %d flags %v, want %v", i+1, m.Flags, want[i])
			}
		}
		if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{"\\Recent"}}, nil).Close(); err == nil {
			t.Error("STORE \\Recent succeeded")
		}
	})
}

func sameFlags(a, b []imap.Flag) bool {
	if len(a) != len(b) {
		return false
	}
	for _, f := range a {
		if !slices.ContainsFunc(b, func(g imap.Flag) bool { return strings.EqualFold(string(f), string(g)) }) {
			return false
		}
	}
	return true
}

// RFC 9051 §6.4.7 (COPY), RFC 4315 §3 (COPYUID), RFC 6851 (MOVE): COPYUID
// pairs, flags kept, EXPUNGE for what moved out, TRYCREATE for a missing
// destination.
func TestCopyAndMove(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *env) {
		appendN(t, e, user1, "INBOX", 4)
		c := e.login(t, user1)
		if err := c.Create("Work", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		selectBox(t, c, "INBOX")
		c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close()

		cd, err := c.Copy(imap.SeqSetNum(2, 3), "Work").Wait()
		if err != nil {
			t.Fatal(err)
		}
		src, _ := cd.SourceUIDs.Nums()
		dst, _ := cd.DestUIDs.Nums()
		if cd.UIDValidity == 0 || !slices.Equal(src, []imap.UID{2, 3}) || !slices.Equal(dst, []imap.UID{1, 2}) {
			t.Errorf("COPYUID %d %v %v", cd.UIDValidity, src, dst)
		}
		if _, err := c.Copy(imap.SeqSetNum(1), "Missing").Wait(); imapCode(err) != imap.ResponseCodeTryCreate {
			t.Errorf("COPY to a missing mailbox: %v", err)
		}
		if _, err := c.Copy(imap.UIDSetNum(99), "Missing").Wait(); imapCode(err) != imap.ResponseCodeTryCreate {
			t.Errorf("UID COPY of nothing to a missing mailbox: %v", err)
		}

		md, err := c.Move(imap.SeqSetNum(1, 3), "Work").Wait()
		if err != nil {
			t.Fatal(err)
		}
		src, _ = md.SourceUIDs.(imap.UIDSet).Nums()
		dst, _ = md.DestUIDs.(imap.UIDSet).Nums()
		if !slices.Equal(src, []imap.UID{1, 3}) || !slices.Equal(dst, []imap.UID{3, 4}) {
			t.Errorf("MOVE COPYUID %v %v", src, dst)
		}
		if n := c.Mailbox().NumMessages; n != 2 {
			t.Errorf("after MOVE the client counts %d messages, want 2", n)
		}
		left := fetch(t, c, imap.SeqSetNum(1, 2), &imap.FetchOptions{UID: true})
		if len(left) != 2 || left[0].UID != 2 || left[1].UID != 4 {
			t.Errorf("left in INBOX: %+v", left)
		}

		w := selectBox(t, c, "Work")
		if w.NumMessages != 4 {
			t.Errorf("Work has %d messages", w.NumMessages)
		}
		msgs := fetch(t, c, imap.UIDSetNum(1), &imap.FetchOptions{Flags: true})
		if !slices.Contains(msgs[0].Flags, imap.FlagFlagged) {
			t.Errorf("COPY lost flags: %v", msgs[0].Flags)
		}
	})
}

// RFC 9051 §6.4.3 (EXPUNGE), RFC 4315 §2.1 (UID EXPUNGE), §6.4.1 (CLOSE),
// RFC 3691 (UNSELECT): sequence numbers as the client knows them.
func TestExpungeCloseUnselect(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *env) {
		appendN(t, e, user1, "INBOX", 6)
		c := e.login(t, user1)
		selectBox(t, c, "INBOX")
		del := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
		c.Store(imap.SeqSetNum(2, 4, 5), del, nil).Close()

		// UID EXPUNGE only touches its set.
		seqs, err := c.UIDExpunge(imap.UIDSetNum(4)).Collect()
		if err != nil || !slices.Equal(seqs, []uint32{4}) {
			t.Errorf("UID EXPUNGE 4: %v %v", err, seqs)
		}
		// Now 1 2(D) 3 5(D) 6 → EXPUNGE reports 4 then 2 (or 2 then 3).
		seqs, err = c.Expunge().Collect()
		if err != nil || len(seqs) != 2 {
			t.Fatalf("EXPUNGE: %v %v", err, seqs)
		}
		if !(slices.Equal(seqs, []uint32{4, 2}) || slices.Equal(seqs, []uint32{2, 3})) {
			t.Errorf("EXPUNGE numbers %v", seqs)
		}
		left := fetch(t, c, imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{UID: true})
		if len(left) != 3 || left[0].UID != 1 || left[1].UID != 3 || left[2].UID != 6 {
			t.Errorf("left: %+v", left)
		}

		// UNSELECT keeps \Deleted messages; CLOSE removes them silently.
		c.Store(imap.SeqSetNum(1), del, nil).Close()
		if err := c.Unselect().Wait(); err != nil {
			t.Fatal(err)
		}
		if d := selectBox(t, c, "INBOX"); d.NumMessages != 3 {
			t.Errorf("after UNSELECT: %d messages", d.NumMessages)
		}
		// EXAMINE + CLOSE removes nothing either (RFC 9051 §6.4.1).
		if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			t.Fatal(err)
		}
		if err := c.Expunge().Close(); err == nil {
			t.Error("EXPUNGE in an EXAMINEd mailbox succeeded")
		}
		if err := c.UnselectAndExpunge().Wait(); err != nil {
			t.Fatal(err)
		}
		if d := selectBox(t, c, "INBOX"); d.NumMessages != 3 {
			t.Errorf("after EXAMINE+CLOSE: %d messages", d.NumMessages)
		}
		if err := c.UnselectAndExpunge().Wait(); err != nil {
			t.Fatal(err)
		}
		if d := selectBox(t, c, "INBOX"); d.NumMessages != 2 {
			t.Errorf("after CLOSE: %d messages", d.NumMessages)
		}
	})
}

// RFC 9051 §9 (seq-number) and §6.4.9 (UID): on an empty mailbox "*" is
// not a valid sequence number (BAD), while UID sets naming nothing simply
// match nothing (OK, no data).
func TestEmptyMailboxSets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := e.rawTLS(t)
	r.login(user1)
	r.cmd("SELECT INBOX")
	for _, cmd := range []string{"FETCH 1:* FLAGS", "FETCH * FLAGS", "FETCH 1 FLAGS", "STORE * +FLAGS (\\Seen)", "COPY 1:* Trash"} {
		if _, st := r.cmd(cmd); !strings.HasPrefix(st, "BAD") {
			t.Errorf("%s on an empty mailbox: %s, want BAD", cmd, st)
		}
	}
	for _, cmd := range []string{"UID FETCH 1:* FLAGS", "UID FETCH * FLAGS", "UID FETCH 5:10 FLAGS", "UID STORE 1:* +FLAGS (\\Seen)",
		"UID COPY 1:* Trash", "UID MOVE 1:* Trash", "UID EXPUNGE 1:*", "EXPUNGE", "SEARCH ALL", "UID SEARCH UID 1:*", "SEARCH 1:*"} {
		lines, st := r.cmd(cmd)
		if !strings.HasPrefix(st, "OK") {
			t.Errorf("%s on an empty mailbox: %s, want OK", cmd, st)
		}
		for _, l := range lines {
			if strings.Contains(l, "FETCH") || strings.Contains(l, "EXPUNGE") || (strings.HasPrefix(l, "* SEARCH ") && len(l) > len("* SEARCH ")) {
				t.Errorf("%s on an empty mailbox answered %q", cmd, l)
			}
		}
	}
	// Out of range on a non-empty mailbox: sequence BAD, UID ignored.
	appendN(t, e, user1, "INBOX", 2)
	r.cmd("NOOP")
	if _, st := r.cmd("FETCH 3 FLAGS"); !strings.HasPrefix(st, "BAD") {
		t.Errorf("FETCH 3 of 2: %s", st)
	}
	lines, st := r.cmd("UID FETCH 2:100 FLAGS")
	if !strings.HasPrefix(st, "OK") || len(lines) != 1 {
		t.Errorf("UID FETCH 2:100: %s %q", st, lines)
	}
	lines, st = r.cmd("UID FETCH 900:* UID")
	if !strings.HasPrefix(st, "OK") || len(lines) != 1 || !strings.Contains(lines[0], "UID 2") {
		t.Errorf("UID FETCH 900:* (RFC 9051 §9: includes the last UID): %s %q", st, lines)
	}
}
