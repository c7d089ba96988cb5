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
	if id, _, ok := domain.SessionStateAfter(events[1].Payload); ok && id == o.ThreadID {
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
