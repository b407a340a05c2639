package workflow

import "slices"

// The state machines, in one place. Every transition of an entry, a
// recipient or a referral is a row below naming the states it leaves, the
// state it reaches and who may make it. The code that performs a transition
// looks its row up here (findEntryRule, findReferralRule); nothing else
// decides whether a change of state is allowed.

// who is a set of parties that may make a transition.
type who uint16

const (
	// whoClerk: a clerk of the entry's registry.
	whoClerk who = 1 << iota
	// whoAuthor: the user who created the draft.
	whoAuthor
	// whoApprover: a head of the draft's drafter's department or of a
	// department above it (of the department the draft names when its
	// drafter is in none), other than its drafter (access.go).
	whoApprover
	// whoHead: a head whose departments hold a referral of the entry
	// (a head who can see the entry through their role).
	whoHead
	// whoHolder: the referral's holder: the person it is addressed to, a
	// member of the department it is addressed to, or a head above it.
	whoHolder
	// whoReferrer: who made the referral.
	whoReferrer
	// whoSystem: the engine itself, as a consequence of another transition
	// (dispatch delivers, a registered reply answers, a recall withdraws).
	whoSystem
)

// guard names an extra condition of a transition, checked by the code that
// performs it with the data it has locked.
type guard uint8

const (
	guardNone          guard = iota
	guardApprovalReq         // the registry requires approval
	guardNoApprovalReq       // the registry does not require approval
	guardRecipients          // the letter has recipients (dispatch)
	guardNotRegistered       // no recipient has registered it yet (recall)
)

// rule is one allowed transition.
type rule struct {
	dir    Direction // for entry rules; "" for referrals and recipients
	action Action
	from   []State
	to     State // "" keeps the state (comment; refer when already referred)
	who    who
	guard  guard
	reason bool // a reason is required
}

// entryRules are the outgoing and incoming entry machines.
var entryRules = []rule{
	// Outgoing: draft → (in_approval → approved →) registered → dispatched → closed.
	{dir: Outgoing, action: ActionSubmit, from: []State{StateDraft}, to: StateInApproval, who: whoClerk | whoAuthor, guard: guardApprovalReq},
	{dir: Outgoing, action: ActionApprove, from: []State{StateInApproval}, to: StateApproved, who: whoApprover},
	{dir: Outgoing, action: ActionReject, from: []State{StateInApproval}, to: StateDraft, who: whoApprover, reason: true},
	{dir: Outgoing, action: ActionRegister, from: []State{StateDraft}, to: StateRegistered, who: whoClerk, guard: guardNoApprovalReq},
	{dir: Outgoing, action: ActionRegister, from: []State{StateApproved}, to: StateRegistered, who: whoClerk},
	{dir: Outgoing, action: ActionDispatch, from: []State{StateRegistered}, to: StateDispatched, who: whoClerk, guard: guardRecipients},
	{dir: Outgoing, action: ActionRecall, from: []State{StateDispatched}, to: StateRecalled, who: whoClerk, guard: guardNotRegistered},
	{dir: Outgoing, action: ActionForward, from: []State{StateRegistered}, to: StateDispatched, who: whoClerk},
	{dir: Outgoing, action: ActionForward, from: []State{StateDispatched}, to: "", who: whoClerk},
	{dir: Outgoing, action: ActionClose, from: []State{StateDispatched}, to: StateClosed, who: whoClerk},
	{dir: Outgoing, action: ActionCancel, from: []State{StateDraft, StateInApproval, StateApproved}, to: StateCancelled, who: whoClerk | whoAuthor},
	{dir: Outgoing, action: ActionCancel, from: []State{StateRegistered}, to: StateCancelled, who: whoClerk, reason: true},

	// Incoming: received → registered → referred → in_progress → answered | closed, or returned.
	{dir: Incoming, action: ActionRegister, from: []State{StateReceived}, to: StateRegistered, who: whoClerk},
	{dir: Incoming, action: ActionReturn, from: []State{StateReceived, StateRegistered}, to: StateReturned, who: whoClerk, reason: true},
	{dir: Incoming, action: ActionRefer, from: []State{StateRegistered}, to: StateReferred, who: whoClerk | whoHead},
	{dir: Incoming, action: ActionRefer, from: []State{StateReferred, StateInProgress}, to: "", who: whoClerk | whoHead},
	{dir: Incoming, action: ActionStart, from: []State{StateRegistered, StateReferred}, to: StateInProgress, who: whoClerk | whoHead},
	{dir: Incoming, action: ActionAnswer, from: []State{StateRegistered, StateReferred, StateInProgress}, to: StateAnswered, who: whoClerk},
	{dir: Incoming, action: ActionClose, from: []State{StateRegistered, StateReferred, StateInProgress, StateAnswered}, to: StateClosed, who: whoClerk | whoHead},
}

// systemEntryRules are the transitions the engine makes as consequences.
var systemEntryRules = []rule{
	// A registered reply answers the incoming entry of the letter it replies to.
	{dir: Incoming, action: ActionAnswer, from: []State{StateRegistered, StateReferred, StateInProgress}, to: StateAnswered, who: whoSystem},
	// The sender's recall withdraws an incoming entry not yet registered.
	{dir: Incoming, action: ActionRecall, from: []State{StateReceived}, to: StateRecalled, who: whoSystem},
	// A referral accepted puts its entry in progress.
	{dir: Incoming, action: ActionAccept, from: []State{StateReferred}, to: StateInProgress, who: whoSystem},
	// A cancelled reply no longer answers: the entry goes back to the
	// state it was in before the answer ("" here: that state).
	{dir: Incoming, action: ActionCancel, from: []State{StateAnswered}, to: "", who: whoSystem},
}

// recipientRules: pending → delivered → acknowledged | returned; recalled.
// All are made by the engine: dispatch delivers, the recipient's
// registration acknowledges, their return returns, the sender's recall
// recalls.
var recipientRules = []rule{
	{action: ActionDispatch, from: []State{StatePending}, to: StateDelivered, who: whoSystem},
	{action: ActionRegister, from: []State{StateDelivered}, to: StateAcknowledged, who: whoSystem},
	{action: ActionReturn, from: []State{StateDelivered, StateAcknowledged}, to: StateReturned, who: whoSystem},
	{action: ActionRecall, from: []State{StateDelivered}, to: StateRecalled, who: whoSystem},
}

// referralRules: open → accepted → answered | closed; referred when passed
// on; comments in any state but closed.
var referralRules = []rule{
	{action: ActionAccept, from: []State{StateOpen}, to: StateAccepted, who: whoHolder},
	{action: ActionComment, from: []State{StateOpen, StateAccepted, StateReferred, StateAnswered}, to: "", who: whoHolder | whoReferrer | whoClerk},
	{action: ActionRefer, from: []State{StateOpen, StateAccepted}, to: StateReferred, who: whoHolder},
	{action: ActionAnswer, from: []State{StateOpen, StateAccepted}, to: StateAnswered, who: whoHolder},
	{action: ActionClose, from: []State{StateOpen, StateAccepted, StateReferred, StateAnswered}, to: StateClosed, who: whoHolder | whoReferrer | whoClerk},
}

// systemReferralRules are the referral transitions the engine makes as
// consequences: a referral passed on is answered when the referral it was
// passed to is. An incoming entry closed or answered (by its clerk, by the
// head responsible for it, or by a registered reply) ends its referrals
// not yet done, in the same transaction, each with a timeline line
// (entries.go endReferrals). Who may close an entry that has such
// referrals: its registry's clerk, or a head whose departments hold every
// one of them; a head holding only some of them is refused, told which
// others are open. No action is taken on a referral of an entry that is
// not open any more (referralEntryOpen): its referrals are done with it.
var systemReferralRules = []rule{
	{action: ActionAnswer, from: []State{StateReferred}, to: StateAnswered, who: whoSystem},
	{action: ActionClose, from: []State{StateOpen, StateAccepted, StateReferred}, to: StateClosed, who: whoSystem},
}

// referralEntryStates are the states of an incoming entry in which its
// referrals may be acted on.
var referralEntryStates = []State{StateRegistered, StateReferred, StateInProgress}

// referralEntryOpen reports whether a referral of an entry in state may
// be acted on.
func referralEntryOpen(state string) bool { return slices.Contains(referralEntryStates, State(state)) }

// entryActions and referralActions are the action names each machine knows.
var (
	entryActions    = actionsOf(entryRules)
	referralActions = actionsOf(referralRules)
)

func actionsOf(rules []rule) []Action {
	var out []Action
	for _, r := range rules {
		if !slices.Contains(out, r.action) {
			out = append(out, r.action)
		}
	}
	return out
}

// findRule returns the rule of rules for dir and action that leaves state,
// and whether the action exists at all for dir.
func findRule(rules []rule, dir Direction, action Action, state State) (r rule, known, ok bool) {
	for _, r := range rules {
		if r.dir != dir || r.action != action {
			continue
		}
		known = true
		if slices.Contains(r.from, state) {
			return r, true, true
		}
	}
	return rule{}, known, false
}

func findEntryRule(dir Direction, action Action, state State) (rule, bool, bool) {
	return findRule(entryRules, dir, action, state)
}

func findSystemRule(dir Direction, action Action, state State) (rule, bool) {
	r, _, ok := findRule(systemEntryRules, dir, action, state)
	return r, ok
}

func findRecipientRule(action Action, state State) (rule, bool) {
	r, _, ok := findRule(recipientRules, "", action, state)
	return r, ok
}

// recipientRuleOf is the recipient rule of an action.
func recipientRuleOf(action Action) rule {
	for _, r := range recipientRules {
		if r.action == action {
			return r
		}
	}
	panic("workflow: no recipient rule for " + string(action))
}

func findReferralRule(action Action, state State) (rule, bool, bool) {
	return findRule(referralRules, "", action, state)
}

func findSystemReferralRule(action Action, state State) (rule, bool) {
	r, _, ok := findRule(systemReferralRules, "", action, state)
	return r, ok
}

// systemReferralRuleOf is the system referral rule of an action.
func systemReferralRuleOf(action Action) rule {
	for _, r := range systemReferralRules {
		if r.action == action {
			return r
		}
	}
	panic("workflow: no system referral rule for " + string(action))
}

// EntryStates lists the states an entry can be in, of either direction,
// and ReferralStates those of a referral, each sorted: the values a list
// may be filtered by.
func EntryStates() []State {
	return statesOf(StateDraft, StateReceived, entryRules, systemEntryRules)
}

func ReferralStates() []State { return statesOf(StateOpen, "", referralRules, systemReferralRules) }

// statesOf collects the start states and every state the rules leave or
// reach.
func statesOf(start1, start2 State, tables ...[]rule) []State {
	var out []State
	add := func(s State) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	add(start1)
	add(start2)
	for _, rules := range tables {
		for _, r := range rules {
			for _, s := range r.from {
				add(s)
			}
			add(r.to)
		}
	}
	slices.Sort(out)
	return out
}
