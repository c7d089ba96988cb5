package domain

import "strconv"

// Sessions (seed 003): every thread has a session state beside its seed-000
// status. Each transition is an event on the thread naming its actor.

// Session states.
const (
	StateAI      = "ai"
	StatePending = "pending"
	StateManual  = "manual"
	StateClosed  = "closed"
)

// SessionStates lists the states in display order.
var SessionStates = []string{StateAI, StatePending, StateManual, StateClosed}

// ValidSessionState tells whether s is a session state.
func ValidSessionState(s string) bool {
	for _, v := range SessionStates {
		if v == s {
			return true
		}
	}
	return false
}

// Reasons a session is queued, reopened, released or closed.
const (
	SessionReasonOpened           = "thread_opened"
	SessionReasonInbound          = "inbound_message"
	SessionReasonUnassigned       = "unassigned"
	SessionReasonOperatorInactive = "operator_inactive"
	SessionReasonOperatorDeleted  = "operator_deleted"
	SessionReasonStatusChanged    = "thread_status_changed"
	SessionReasonClosed           = "closed"
	// Hand-offs from a bot to people: the bot asked, the customer asked, or
	// the bot did not answer in time.
	SessionReasonHandoff        = "handoff"
	SessionReasonHandoffKeyword = "handoff_keyword"
	SessionReasonHandoffTimeout = "handoff_timeout"
	SessionReasonHandoffTurns   = "handoff_max_turns" // the built-in bot answered as often as it may
)

// Session errors.
var (
	ErrSessionWrongStatus = &Error{Code: "session_wrong_status", Message: "the session is not in a state that allows this"}
)

// SessionQueued puts a session in the queue (pending): a new thread, or a
// session whose operator was unassigned, went inactive or was deleted.
type SessionQueued struct {
	ThreadID     string `json:"thread_id"`
	InstanceID   string `json:"instance_id"`
	Reason       string `json:"reason"`
	Detail       string `json:"detail,omitempty"` // a bot's words on a hand-off
	FromOperator int64  `json:"from_operator,omitempty"`
	Actor        Actor  `json:"actor"`
}

func (SessionQueued) EventType() string { return "SessionQueued" }

// SessionAssigned gives a session to an operator: routing, or a person
// setting the thread's assignee.
type SessionAssigned struct {
	ThreadID     string `json:"thread_id"`
	InstanceID   string `json:"instance_id"`
	OperatorID   int64  `json:"operator_id"`
	FromOperator int64  `json:"from_operator,omitempty"`
	Actor        Actor  `json:"actor"`
}

func (SessionAssigned) EventType() string { return "SessionAssigned" }

// SessionAccepted is an operator taking a pending session from the queue.
type SessionAccepted struct {
	ThreadID   string `json:"thread_id"`
	InstanceID string `json:"instance_id"`
	OperatorID int64  `json:"operator_id"`
	Actor      Actor  `json:"actor"`
}

func (SessionAccepted) EventType() string { return "SessionAccepted" }

// SessionClosed ends a session (closed, or the thread resolved or archived).
type SessionClosed struct {
	ThreadID   string `json:"thread_id"`
	InstanceID string `json:"instance_id"`
	OperatorID int64  `json:"operator_id,omitempty"` // who held it
	Reason     string `json:"reason"`
	Actor      Actor  `json:"actor"`
}

func (SessionClosed) EventType() string { return "SessionClosed" }

// SessionReopened puts a closed session back in the queue: a new inbound
// message, or the thread set open again.
type SessionReopened struct {
	ThreadID   string `json:"thread_id"`
	InstanceID string `json:"instance_id"`
	Reason     string `json:"reason"`
	Actor      Actor  `json:"actor"`
}

func (SessionReopened) EventType() string { return "SessionReopened" }

// RoutingActor is the routing process manager, the actor of its assignments.
var RoutingActor = Actor{Kind: ActorSystem, ID: "routing"}

// SessionStatus is the thread's session state. Threads opened before
// sessions existed have none recorded: closed when resolved or archived,
// pending otherwise.
func (t Thread) SessionStatus() string {
	if t.Session != "" {
		return t.Session
	}
	if t.Status == StatusResolved || t.Status == StatusArchived {
		return StateClosed
	}
	return StatePending
}

// SessionStateAfter is the state a session event leaves its session in,
// and the event's thread; ok is false for any other event. The read models
// show the same states (projections).
func SessionStateAfter(e Event) (threadID, state string, ok bool) {
	switch e := e.(type) {
	case SessionQueued:
		return e.ThreadID, StatePending, true
	case SessionReopened:
		return e.ThreadID, StatePending, true
	case SessionAssigned:
		return e.ThreadID, StateManual, true
	case SessionAccepted:
		return e.ThreadID, StateManual, true
	case SessionClosed:
		return e.ThreadID, StateClosed, true
	case SessionBotHandling:
		return e.ThreadID, StateAI, true
	}
	return "", "", false
}

// SessionOperatorAfter is the operator a session event leaves holding its
// session: an assignment or an acceptance names one; a queueing, a reopening
// or a bot's handling leaves none (0); a close keeps the operator who held it
// (keep), as does any other event. The read models keep the same operator
// (projections).
func SessionOperatorAfter(e Event) (operator int64, keep bool) {
	switch e := e.(type) {
	case SessionAssigned:
		return e.OperatorID, false
	case SessionAccepted:
		return e.OperatorID, false
	case SessionQueued, SessionReopened, SessionBotHandling:
		return 0, false
	}
	return 0, true
}

// evolveSession applies the session events to a thread.
func evolveSession(t Thread, env Envelope) Thread {
	_, state, ok := SessionStateAfter(env.Payload)
	if !ok {
		return t
	}
	t.Session = state
	if op, keep := SessionOperatorAfter(env.Payload); !keep {
		t.SessionOperator = op
	}
	t.SessionRevision = int64(env.Raw.Revision)
	return t
}

// SessionChangedSince tells whether a session event later than revision was
// applied to the thread: a follower handling the event at revision late (two
// routers during a failover) must not act on it.
func (t Thread) SessionChangedSince(revision uint64) bool {
	return t.SessionRevision > int64(revision)
}

func operatorRef(id int64) string { return strconv.FormatInt(id, 10) }

// DecideAccept lets an operator take a pending session. Only a pending
// session may be accepted; appended with the thread's revision, one of many
// concurrent accepts wins and the others find the session manual.
func DecideAccept(t Thread, instanceID string, op Operator, actor Actor) ([]Event, error) {
	if err := requireThreadOf(t, instanceID); err != nil {
		return nil, err
	}
	if t.SessionStatus() != StatePending {
		return nil, Errorf(ErrSessionWrongStatus, "the session is %s; only a pending session can be accepted", t.SessionStatus())
	}
	if op.Status != OperatorActive {
		return nil, Errorf(ErrOperatorNotAssignable, "operator %d is not active", op.ID)
	}
	return []Event{
		SessionAccepted{ThreadID: t.ID, InstanceID: instanceID, OperatorID: op.ID, Actor: actor},
		ThreadAssigned{ThreadID: t.ID, From: t.Assignee, To: operatorRef(op.ID)},
	}, nil
}

// DecideRoutedAssignment is the routing manager giving a pending session to
// the operator it counted the session on.
func DecideRoutedAssignment(t Thread, instanceID string, operatorID int64) ([]Event, error) {
	if err := requireThreadOf(t, instanceID); err != nil {
		return nil, err
	}
	if t.SessionStatus() == StateManual && t.SessionOperator == operatorID {
		return nil, nil // assigned already (a route repeated after a crash)
	}
	if t.SessionStatus() != StatePending {
		return nil, Errorf(ErrSessionWrongStatus, "the session is %s", t.SessionStatus())
	}
	return []Event{
		SessionAssigned{ThreadID: t.ID, InstanceID: instanceID, OperatorID: operatorID, Actor: RoutingActor},
		ThreadAssigned{ThreadID: t.ID, From: t.Assignee, To: operatorRef(operatorID)},
	}, nil
}

// DecideRequeue puts an operator's session back in the queue (the operator
// went inactive or was deleted). A session the operator no longer holds
// appends nothing.
func DecideRequeue(t Thread, operatorID int64, reason string) []Event {
	if !t.Exists() || t.SessionStatus() != StateManual || t.SessionOperator != operatorID {
		return nil
	}
	return []Event{
		SessionQueued{ThreadID: t.ID, InstanceID: t.InstanceID, Reason: reason, FromOperator: operatorID, Actor: RoutingActor},
		ThreadAssigned{ThreadID: t.ID, From: t.Assignee, To: ""},
	}
}

// DecideCloseSession closes a session and resolves its thread. Closing a
// closed session appends nothing.
func DecideCloseSession(t Thread, instanceID string, actor Actor) ([]Event, error) {
	if err := requireThreadOf(t, instanceID); err != nil {
		return nil, err
	}
	if t.SessionStatus() == StateClosed {
		return nil, nil
	}
	evs := []Event{SessionClosed{ThreadID: t.ID, InstanceID: instanceID, OperatorID: t.SessionOperator, Reason: SessionReasonClosed, Actor: actor}}
	if t.Status != StatusResolved && t.Status != StatusArchived {
		evs = append(evs, ThreadStatusChanged{ThreadID: t.ID, From: t.Status, To: StatusResolved})
	}
	return evs, nil
}

// RequireManualSession allows a session message only on a manual session.
func RequireManualSession(t Thread, instanceID string) error {
	if err := requireThreadOf(t, instanceID); err != nil {
		return err
	}
	if t.SessionStatus() != StateManual {
		return Errorf(ErrSessionWrongStatus, "the session is %s; messages go to manual sessions only", t.SessionStatus())
	}
	return nil
}

// sessionOnInbound is what a new inbound message does to the session: a new
// thread is queued; a closed session reopens (pending, thread open). With a
// bot answering first the new or reopened session goes to the bot (ai)
// instead, and a customer asking for a person (a hand-off keyword) in a
// session the bot has sends it to the queue.
func sessionOnInbound(t Thread, instanceID string, bot BotFirst, text string) []Event {
	actor := Actor{Kind: ActorProvider}
	toBot := func(reason string) Event {
		return SessionBotHandling{ThreadID: t.ID, InstanceID: instanceID, BotID: bot.BotID, Reason: reason}
	}
	if !t.Exists() {
		if bot.BotID != "" {
			return []Event{toBot(SessionReasonOpened)}
		}
		return []Event{SessionQueued{ThreadID: t.ID, InstanceID: instanceID, Reason: SessionReasonOpened, Actor: actor}}
	}
	switch t.SessionStatus() {
	case StateAI:
		if bot.AsksForPerson(text) {
			return []Event{SessionQueued{ThreadID: t.ID, InstanceID: instanceID, Reason: SessionReasonHandoffKeyword, Actor: actor}}
		}
		return nil
	case StateClosed:
	default:
		return nil
	}
	evs := []Event{SessionReopened{ThreadID: t.ID, InstanceID: instanceID, Reason: SessionReasonInbound, Actor: actor}}
	if t.Status != StatusOpen {
		evs = append(evs, ThreadStatusChanged{ThreadID: t.ID, From: t.Status, To: StatusOpen})
	}
	if bot.BotID != "" {
		evs = append(evs, toBot(SessionReasonInbound))
	}
	return evs
}

// SessionOnThreadChanges is what a thread PATCH does to the session, given the
// events DecideThreadChanges chose: an assignee (an operator id, checked by
// the caller) assigns the session, clearing it queues the session again;
// resolving or archiving closes it, opening a closed one again reopens it.
func SessionOnThreadChanges(t Thread, changes []Event, actor Actor) ([]Event, error) {
	var out []Event
	status := t.SessionStatus()
	for _, e := range changes {
		switch c := e.(type) {
		case ThreadStatusChanged:
			closing := c.To == StatusResolved || c.To == StatusArchived
			if closing && status != StateClosed {
				out = append(out, SessionClosed{ThreadID: t.ID, InstanceID: t.InstanceID, OperatorID: t.SessionOperator, Reason: SessionReasonStatusChanged, Actor: actor})
				status = StateClosed
			} else if !closing && status == StateClosed {
				out = append(out, SessionReopened{ThreadID: t.ID, InstanceID: t.InstanceID, Reason: SessionReasonStatusChanged, Actor: actor})
				status = StatePending
			}
		case ThreadAssigned:
			if c.To == "" {
				if status == StateManual {
					out = append(out, SessionQueued{ThreadID: t.ID, InstanceID: t.InstanceID, Reason: SessionReasonUnassigned, FromOperator: t.SessionOperator, Actor: actor})
					status = StatePending
				}
				continue
			}
			id, err := strconv.ParseInt(c.To, 10, 64)
			if err != nil || id <= 0 {
				return nil, Errorf(ErrOperatorNotAssignable, "assignee must be an operator id")
			}
			if status != StateClosed {
				out = append(out, SessionAssigned{ThreadID: t.ID, InstanceID: t.InstanceID, OperatorID: id, FromOperator: t.SessionOperator, Actor: actor})
				status = StateManual
			}
		}
	}
	return out, nil
}
