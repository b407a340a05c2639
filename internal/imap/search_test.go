package imap_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// RFC 9051 §6.4.4 (SEARCH): text keys case-insensitive in UTF-8 including
// Arabic, dates on the internal date, sizes, flags and keywords, UID sets,
// OR and NOT; RFC 4731 (ESEARCH RETURN MIN MAX COUNT ALL); RFC 5182
// (SEARCHRES, SAVE and $).
func TestSearch(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, e *env) {
		c := e.login(t, user1)
		day := func(d int) time.Time { return time.Date(2026, 2, d, 12, 0, 0, 0, time.UTC) }
		msgs := []struct {
			raw   string
			flags []imap.Flag
			date  time.Time
		}{
			{simpleMsg("Budget Meeting", "Omar <omar@mof.gov.sy>", user1, "agenda: the budget"), []imap.Flag{imap.FlagSeen}, day(1)}, // 1
			{arabicMsg, nil, day(3)}, // 2
			{mixedMsg, []imap.Flag{imap.FlagFlagged, "$Registered"}, day(5)},                                                                                           // 3
			{simpleMsg("Lunch", "Sara <sara@mof.gov.sy>", "omar@mof.gov.sy", strings.Repeat("long body ", 500)), []imap.Flag{imap.FlagSeen, imap.FlagDeleted}, day(7)}, // 4
			{simpleMsg("budget follow-up", "ahmad@mof.gov.sy", user1, "see attached"), []imap.Flag{"$registered"}, day(7)},                                             // 5
		}
		for _, m := range msgs {
			appendMsg(t, c, "INBOX", m.raw, &imap.AppendOptions{Flags: m.flags, Time: m.date})
		}
		selectBox(t, c, "INBOX")
		date := func(d int) time.Time { return time.Date(2026, 2, d, 0, 0, 0, 0, time.UTC) }

		cases := []struct {
			name string
			c    imap.SearchCriteria
			want []uint32
		}{
			{"ALL", imap.SearchCriteria{}, []uint32{1, 2, 3, 4, 5}},
			{"SUBJECT any case", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "BUDGET"}}}, []uint32{1, 5}},
			{"SUBJECT Arabic", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "الميزانية"}}}, []uint32{2}},
			{"FROM display name Arabic", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "أحمد"}}}, []uint32{2}},
			{"FROM address", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "SARA@mof"}}}, []uint32{3, 4}},
			{"TO", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "To", Value: "omar@"}}}, []uint32{3, 4}},
			{"HEADER", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "X-Registry", Value: "mof/2026"}}}, []uint32{3}},
			{"HEADER Message-ID", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: "arabic-1"}}}, []uint32{2}},
			{"BODY", imap.SearchCriteria{Body: []string{"AGENDA"}}, []uint32{1}},
			{"BODY Arabic in base64", imap.SearchCriteria{Body: []string{"بالعالم"}}, []uint32{2, 3}},
			{"TEXT header or body", imap.SearchCriteria{Text: []string{"lunch"}}, []uint32{4}},
			{"SINCE", imap.SearchCriteria{Since: date(5)}, []uint32{3, 4, 5}},
			{"BEFORE", imap.SearchCriteria{Before: date(3)}, []uint32{1}},
			{"ON", imap.SearchCriteria{Since: date(7), Before: date(8)}, []uint32{4, 5}},
			{"LARGER", imap.SearchCriteria{Larger: 4000}, []uint32{4}},
			{"SMALLER", imap.SearchCriteria{Smaller: 400}, []uint32{1, 5}},
			{"SEEN", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, []uint32{1, 4}},
			{"UNSEEN", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, []uint32{2, 3, 5}},
			{"DELETED", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted}}, []uint32{4}},
			{"KEYWORD any case", imap.SearchCriteria{Flag: []imap.Flag{"$REGISTERED"}}, []uint32{3, 5}},
			{"UNKEYWORD", imap.SearchCriteria{NotFlag: []imap.Flag{"$Registered"}}, []uint32{1, 2, 4}},
			// The session selected the mailbox after the messages came: it
			// owns their \Recent flag (RFC 3501 §2.3.2).
			{"RECENT", imap.SearchCriteria{Flag: []imap.Flag{"\\Recent"}}, []uint32{1, 2, 3, 4, 5}},
			{"UID set", imap.SearchCriteria{UID: []imap.UIDSet{{{Start: 2, Stop: 3}, {Start: 5, Stop: 0}}}}, []uint32{2, 3, 5}},
			{"sequence set", imap.SearchCriteria{SeqNum: []imap.SeqSet{{{Start: 4, Stop: 0}}}}, []uint32{4, 5}},
			{"sequence beyond the end", imap.SearchCriteria{SeqNum: []imap.SeqSet{imap.SeqSetNum(9)}}, nil},
			{"OR", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Flag: []imap.Flag{imap.FlagFlagged}}, {Larger: 4000}}}}, []uint32{3, 4}},
			{"NOT", imap.SearchCriteria{Not: []imap.SearchCriteria{{Flag: []imap.Flag{imap.FlagSeen}}}}, []uint32{2, 3, 5}},
			{"AND of several", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "budget"}}, Flag: []imap.Flag{imap.FlagSeen}}, []uint32{1}},
		}
		for _, tc := range cases {
			d, err := c.UIDSearch(&tc.c, nil).Wait()
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			if got := d.AllUIDs(); !equalUIDs(got, tc.want) {
				t.Errorf("UID SEARCH %s = %v, want %v", tc.name, got, tc.want)
			}
		}

		// Sequence numbers (plain SEARCH): the same, numbered.
		d, err := c.Search(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
		if err != nil || !slices.Equal(d.AllSeqNums(), []uint32{1, 4}) {
			t.Errorf("SEARCH SEEN: %v %v", err, d)
		}

		// ESEARCH RETURN (MIN MAX COUNT ALL), RFC 4731 §3.1.
		d, err = c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}},
			&imap.SearchOptions{ReturnMin: true, ReturnMax: true, ReturnCount: true, ReturnAll: true}).Wait()
		if err != nil || d.Min != 2 || d.Max != 5 || d.Count != 3 || !equalUIDs(d.AllUIDs(), []uint32{2, 3, 5}) {
			t.Errorf("ESEARCH: %v %+v", err, d)
		}
		d, err = c.Search(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "nothing like it"}}},
			&imap.SearchOptions{ReturnCount: true}).Wait()
		if err != nil || d.Count != 0 {
			t.Errorf("ESEARCH COUNT of nothing: %v %+v", err, d)
		}

		// SEARCHRES (RFC 5182): SAVE, then use $ (imapclient drops the
		// answers to "UID FETCH $" as unsolicited: raw lines here).
		r := e.rawTLS(t)
		r.login(user1)
		r.cmd("SELECT INBOX")
		if _, st := r.cmd("UID SEARCH RETURN (SAVE) KEYWORD $Registered"); !strings.HasPrefix(st, "OK") {
			t.Fatalf("SEARCH RETURN (SAVE): %s", st)
		}
		lines, st := r.cmd("UID FETCH $ (FLAGS)")
		if !strings.HasPrefix(st, "OK") || len(lines) != 2 || !strings.Contains(lines[0], "UID 3") || !strings.Contains(lines[1], "UID 5") {
			t.Errorf("UID FETCH $: %s %q", st, lines)
		}
		lines, st = r.cmd("SEARCH $ SEEN")
		if !strings.HasPrefix(st, "OK") || len(lines) != 1 || lines[0] != "* SEARCH" {
			t.Errorf("SEARCH $ SEEN: %s %q", st, lines)
		}
	})
}

func equalUIDs(got []imap.UID, want []uint32) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if uint32(got[i]) != want[i] {
			return false
		}
	}
	return true
}
