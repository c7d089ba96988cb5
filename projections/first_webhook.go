package projections

import "github.com/socialops/socialops/domain"

// firstWebhook is a new conversation's first webhook at the head of the
// events a projector handles (Merger): the thread's opening, the session
// event right after it if there is one (its first state: queued, or a
// bot's), and the first message, all of one thread. DecideInbound appends
// them in this order, with the charge after them.
type firstWebhook struct {
	opened, message domain.Envelope
	session         *domain.Envelope // nil: none between the opening and the message
	openedEvent     domain.ThreadOpened
	messageEvent    domain.InboundMessageReceived
	length          int // events in the run
}

// firstWebhookAt finds a first webhook at the head of events.
func firstWebhookAt(events []domain.Envelope) (firstWebhook, bool) {
	if len(events) < 2 {
		return firstWebhook{}, false
	}
	o, ok := events[0].Payload.(domain.ThreadOpened)
	if !ok {
		return firstWebhook{}, false
	}
	fw := firstWebhook{opened: events[0], openedEvent: o, length: 1}
	if id, _, ok := sessionStateAfter(events[1].Payload); ok && id == o.ThreadID {
		fw.session, fw.length = &events[1], 2
	}
	if fw.length == len(events) {
		return firstWebhook{}, false
	}
	m, ok := events[fw.length].Payload.(domain.InboundMessageReceived)
	if !ok || m.ThreadID != o.ThreadID {
		return firstWebhook{}, false
	}
	fw.message, fw.messageEvent = events[fw.length], m
	fw.length++
	return fw, true
}

// sessionStateAfter is a session's state after a session event, and the
// event's thread.
func sessionStateAfter(payload domain.Event) (threadID, state string, ok bool) {
	switch e := payload.(type) {
	case domain.SessionQueued:
		return e.ThreadID, domain.StatePending, true
	case domain.SessionReopened:
		return e.ThreadID, domain.StatePending, true
	case domain.SessionAssigned:
		return e.ThreadID, domain.StateManual, true
	case domain.SessionAccepted:
		return e.ThreadID, domain.StateManual, true
	case domain.SessionClosed:
		return e.ThreadID, domain.StateClosed, true
	case domain.SessionBotHandling:
		return e.ThreadID, domain.StateAI, true
	}
	return "", "", false
}
