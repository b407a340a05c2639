package workflow

import (
	"fmt"
	"strings"
)

// Forwarding and recalling one recipient: the sender's registry adds a
// registry to a registered letter (a returned, misrouted letter goes on to
// the right one without a new number; a registered letter with no
// recipients finds its first), or withdraws it from one registry of a
// circular.

// forward adds the registry t.Registry to the letter's recipients and
// delivers it there, with the recipients still pending (a registered
// letter not yet dispatched).
func (tr *transition) forward() error {
	e := tr.e
	if strings.TrimSpace(tr.t.Registry) == "" {
		return inputErr("registry", "the registry to forward the letter to is required")
	}
	code, err := canonicalCode("registry", "the registry", tr.t.Registry)
	if err != nil {
		return err
	}
	reg, ok := tr.pre.registries()[code]
	if !ok {
		return unprocessable("registry", fmt.Sprintf("no registry has the code %s", code))
	}
	if reg.ID == e.RegistryID {
		return unprocessable("registry", fmt.Sprintf("%s is the sending registry; a letter is not sent to itself", code))
	}
	rows := tr.pre.deliveries()
	position := 0
	for _, row := range rows {
		if row.registryID != nil && *row.registryID == reg.ID {
			return unprocessable("registry", fmt.Sprintf("%s is a recipient of the letter already", code))
		}
		position = max(position, row.position)
	}
	cleared, err := tr.x.clerksClearance(reg.ID)
	if err != nil {
		return err
	}
	id := *tr.pre.entryID
	tr.x.insertForwarded(e.CorrespondenceID, position+1, reg.ID, id, tr.now)
	rows = append(rows, delivery{id: 0, registryID: ptr(reg.ID), state: string(StatePending), code: ptr(code), entryID: ptr(id),
		cleared: cleared})
	if err := tr.deliver(rows); err != nil {
		return err
	}
	tr.info["registry"] = code
	return nil
}

// recallOne withdraws the letter from the one recipient registry
// t.Registry while it has not registered it; the letter stays dispatched
// while another registry still holds it. all and rows are the letter's
// incoming entries and recipients, locked.
func (tr *transition) recallOne(all []*entryView, rows []recipientRow) error {
	e := tr.e
	code, err := canonicalCode("registry", "the registry", tr.t.Registry)
	if err != nil {
		return err
	}
	var in *entryView
	for _, x := range all {
		if x.RegistryCode == code && State(x.State) != StateReturned && State(x.State) != StateRecalled {
			in = x
		}
	}
	if in == nil {
		return unprocessable("registry", fmt.Sprintf("%s holds no delivered copy of the letter", code))
	}
	r, ok := findSystemRule(Incoming, ActionRecall, State(in.State))
	if !ok {
		return &TransitionError{Object: "entry", ID: e.ID, Action: ActionRecall, State: State(e.State), Conflict: true,
			Reason: fmt.Sprintf("registry %s has registered it already", in.RegistryCode)}
	}
	tr.x.updateEntry(in.ID, in.Version, map[string]any{"state": string(r.to)}, tr.now)
	tr.x.insertEvents(tr.p, event{corrID: in.CorrespondenceID, entryID: in.ID, action: string(ActionRecall),
		from: State(in.State), to: r.to, asRegistry: e.RegistryCode})
	held := false
	for _, row := range rows {
		if row.RegistryID == nil {
			continue
		}
		if deref(row.EntryID) == in.ID {
			if rr, ok := findRecipientRule(ActionRecall, State(row.State)); ok {
				tr.x.moveRecipient(row.ID, rr.to, 0, tr.now)
			}
			continue
		}
		switch State(row.State) {
		case StateDelivered, StateAcknowledged:
			held = true
		}
	}
	if held {
		tr.to = "" // another registry still holds it
	}
	tr.info["registry"] = code
	return nil
}
