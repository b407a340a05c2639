package workflow

import "strconv"

// event is one change: a timeline row and its audit event, written in the
// caller's transaction (insertEvents).
type event struct {
	corrID     int64
	entryID    int64 // 0 for none
	referralID int64 // 0 for none
	action     string
	from, to   State
	comment    string
	details    map[string]any // extra audit details
	// asRegistry, when set, is who the timeline names as the actor: the
	// code of the acting registry, for an event one registry writes on
	// another's entry (a dispatch's receipt, a recall), so that the
	// recipient sees the sender's registry, never its people. The audit
	// event names the person.
	asRegistry string
}

// auditFields are the action, target and details of e's audit event. The
// audit action is "entry.<action>", "referral.<action>" or
// "correspondence.<action>" after the object the event is about.
func auditFields(e event) (action, target string, details map[string]any) {
	details = map[string]any{"correspondence": e.corrID}
	for k, v := range e.details {
		details[k] = v
	}
	if e.from != "" {
		details["from"] = string(e.from)
	}
	if e.to != "" {
		details["to"] = string(e.to)
	}
	if e.comment != "" {
		details["comment"] = e.comment
	}
	switch {
	case e.referralID != 0:
		action, target = "referral."+e.action, "referral:"+strconv.FormatInt(e.referralID, 10)
		details["entry"] = e.entryID
	case e.entryID != 0:
		action, target = "entry."+e.action, "entry:"+strconv.FormatInt(e.entryID, 10)
	default:
		action, target = "correspondence."+e.action, "correspondence:"+strconv.FormatInt(e.corrID, 10)
	}
	return action, target, details
}

// auditName is the actor as audit events name them: a user by their login
// as the database has it (Actor.Login is the caller's, for messages).
func (p *principal) auditName() string {
	if p.operator {
		return p.a.Operator
	}
	return "user:" + p.login
}

// displayName is the actor as the timeline shows them.
func (p *principal) displayName() string {
	if p.operator {
		return p.a.Operator
	}
	return p.login
}
