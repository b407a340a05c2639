package httpd

import (
	"fmt"

	"diwan.gov.sy/diwan/internal/workflow"
)

// The entry page's lines, with the engine's words (states, actions, kinds,
// ...) translated once here: a call from a template costs a method lookup
// and a reflective call each, and the timeline makes many.

// entryWords are the entry's and its document's words.
type entryWords struct {
	Direction, State, Kind, Class, Prio string
}

// otherEntry is another entry of the letter, as the page links it.
type otherEntry struct {
	ID                                 int64
	Direction, Registry, Number, State string
}

// recipientLine is one recipient with their delivery.
type recipientLine struct {
	Registry, Party, Role, State, Reason, Number, At string
}

// timelineLine is one event of the timeline.
type timelineLine struct {
	At, ISO, Actor, Registry, Action, Change, Comment string
}

// newEntryPageData is the page of entry id in view, without its forms.
func newEntryPageData(p *uiPage, id int64, view workflow.View) *entryPageData {
	d := &entryPageData{Doc: view.Correspondence}
	for _, e := range view.Entries {
		if e.ID == id {
			d.Entry = e
			continue
		}
		d.Others = append(d.Others, otherEntry{ID: e.ID, Direction: p.T("dir." + string(e.Direction)),
			Registry: e.Registry, Number: e.Number, State: p.T("state." + string(e.State))})
	}
	c, e := &d.Doc, &d.Entry
	d.Words = entryWords{Direction: p.T("dir." + string(e.Direction)), State: p.T("state." + string(e.State)),
		Kind: p.T("kind." + string(c.Kind)), Class: p.T("class." + string(c.Classification)), Prio: p.T("prio." + string(c.Priority))}
	for _, a := range c.Attachments {
		d.Attachments = append(d.Attachments, attachmentLineOf(id, a))
	}
	for _, r := range c.Recipients {
		l := recipientLine{Registry: r.Registry, Party: r.Party, Role: p.T("role." + string(r.Role)), Reason: r.Reason,
			Number: r.Number, At: p.datetime(r.At)}
		if r.State != "" {
			l.State, d.Delivery = p.T("state."+string(r.State)), true
		}
		d.Recipients = append(d.Recipients, l)
	}
	for _, ev := range view.Timeline {
		d.Timeline = append(d.Timeline, timelineLineOf(p, ev))
	}
	return d
}

func timelineLineOf(p *uiPage, ev workflow.TimelineEvent) timelineLine {
	l := timelineLine{At: p.datetime(ev.At), ISO: ev.At.Format("2006-01-02T15:04:05Z07:00"), Actor: ev.Actor,
		Registry: ev.Registry, Action: p.T("action." + ev.Action), Comment: ev.Comment}
	switch {
	case ev.To == "":
	case ev.From == "" || ev.From == ev.To:
		l.Change = p.T("state." + string(ev.To))
	default:
		l.Change = fmt.Sprintf("%s %s %s", p.T("state."+string(ev.From)), p.T("entry.arrow"), p.T("state."+string(ev.To)))
	}
	return l
}
