package commands

import (
	"context"
	"errors"

	"github.com/socialops/socialops/domain"
)

// StartConversation is an agent opening a conversation with a contact on a
// channel the instance can write to (the integration API's POST
// conversations): the thread opens (or its closed session reopens) with the
// session already the agent's and an outbound first message.
type StartConversation struct {
	Instance         domain.Instance
	Provider         string
	ExternalThreadID string
	ContactID        string
	Subject          string
	OperatorID       int64
	Text             string
	Context          Context
}

// ConversationResult is the started conversation and its first message.
type ConversationResult struct {
	ThreadID string
	Reply    domain.ReplyQueued
	Position uint64
}

// StartConversation counts the session on the operator first (refused when
// they are full), then appends the thread's events with its revision; when
// that fails the reservation is released again.
func (s *Service) StartConversation(ctx context.Context, cmd StartConversation) (ConversationResult, error) {
	threadID := domain.InboundThreadID(cmd.Instance.ID, cmd.Provider, cmd.ExternalThreadID)
	msgID := domain.RandomID(domain.PrefixMessage, s.random)
	actionID := domain.RandomID(domain.PrefixAction, s.random)
	decide := func(t domain.Thread, op domain.Operator) ([]domain.Event, error) {
		return domain.DecideStartConversation(t, domain.StartConversationCommand{Instance: cmd.Instance,
			Provider: cmd.Provider, ExternalThreadID: cmd.ExternalThreadID, ContactID: cmd.ContactID, Subject: cmd.Subject,
			Operator: op, MessageID: msgID, ActionID: actionID, Text: cmd.Text, Actor: cmd.Context.Actor})
	}
	// Refuse early, without a reservation, what the thread refuses anyway.
	t, err := s.loadThread(ctx, threadID)
	if err != nil {
		return ConversationResult{}, err
	}
	r, err := s.loadRoster(ctx, cmd.Instance.ID)
	if err != nil {
		return ConversationResult{}, err
	}
	op, found := r.Operator(cmd.OperatorID)
	if !found {
		return ConversationResult{}, domain.Errorf(domain.ErrOperatorNotFound, "no operator %d", cmd.OperatorID)
	}
	if _, err := decide(t, op); err != nil {
		return ConversationResult{}, err
	}
	r, reserved, _, err := s.changeRoster(ctx, cmd.Instance, cmd.Context, func(r domain.Roster) ([]domain.Event, error) {
		return domain.DecideAcceptReservation(r, threadID, cmd.OperatorID)
	})
	if err != nil {
		return ConversationResult{}, err
	}
	op, _ = r.Operator(cmd.OperatorID)
	res, err := s.changeThread(ctx, threadID, cmd.Context, func(t domain.Thread) ([]domain.Event, error) {
		return decide(t, op)
	}, nil)
	if err != nil {
		if len(reserved) > 0 {
			s.releaseReservation(ctx, AcceptSession{Instance: cmd.Instance, ThreadID: threadID, OperatorID: cmd.OperatorID, Context: cmd.Context})
		}
		return ConversationResult{}, err
	}
	out := ConversationResult{ThreadID: threadID, Position: res.Position}
	for _, e := range res.Events {
		if q, ok := e.(domain.ReplyQueued); ok {
			out.Reply = q
		}
	}
	return out, nil
}

// ChangeMessage edits (Text set) or retracts an outbound message.
type ChangeMessage struct {
	Instance  domain.Instance
	ThreadID  string
	MessageID string
	Text      *string // nil: retract
	Context   Context
}

// MessageChangeResult says what the change did at the provider.
type MessageChangeResult struct {
	Propagation string // domain.PropagatedToProvider, …
	Reason      string
	Position    uint64
	Unchanged   bool // the same text again, or retracted already: nothing appended
}

// messageChanger is a sender that can also edit and delete what it sent.
type messageChanger interface {
	EditMessageText(ctx context.Context, token, chatID, messageID, text, parseMode string) error
	DeleteMessage(ctx context.Context, token, chatID, messageID string) error
}

// ChangeMessage edits or retracts an outbound message, where the reply went:
//   - not yet claimed by a delivery: recorded, and the delivery sends the new
//     text (or, retracted, nothing);
//   - being delivered right now: domain.ErrMessageInDelivery (retry);
//   - delivered: the provider's editMessageText/deleteMessage is called where
//     the provider has one; its refusal is recorded with the change;
//   - failed: recorded; nothing to change at the provider.
//
// The provider is called before the event is appended: a crash in between
// leaves the provider changed and the history not, and the same request
// again records it.
func (m *DeliveryManager) ChangeMessage(ctx context.Context, cmd ChangeMessage) (MessageChangeResult, error) {
	t, err := m.s.loadThread(ctx, cmd.ThreadID)
	if err != nil {
		return MessageChangeResult{}, err
	}
	var reply domain.ReplyQueued
	if cmd.Text != nil {
		if reply, err = domain.EditableReply(t, cmd.Instance.ID, cmd.MessageID); err != nil {
			return MessageChangeResult{}, err
		}
		text, err := domain.CleanText("content", *cmd.Text, domain.MaxReplyRunes)
		if err != nil {
			return MessageChangeResult{}, err
		}
		if text == reply.Text {
			return MessageChangeResult{Unchanged: true, Propagation: domain.PropagatedToProvider}, nil
		}
		cmd.Text = &text
	} else {
		r, ok := t.Replies[cmd.MessageID]
		if t.InstanceID != cmd.Instance.ID || !ok {
			return MessageChangeResult{}, domain.Errorf(domain.ErrMessageNotFound, "no outbound message %s", cmd.MessageID)
		}
		if r.Retracted {
			return MessageChangeResult{Unchanged: true}, nil
		}
		reply = r
	}
	d, err := load(ctx, m.s, domain.DeliveryStream(reply.ActionID), domain.NewDelivery(reply.ActionID), domain.EvolveDelivery)
	if err != nil {
		return MessageChangeResult{}, err
	}
	out := MessageChangeResult{}
	switch {
	case d.Claims == 0:
		out.Propagation = domain.PropagatedBeforeSend
	case d.Status == domain.ActionFailed:
		out.Propagation, out.Reason = domain.NotPropagatedFailed, d.LastError
	case !d.Terminal():
		return MessageChangeResult{}, domain.Errorf(domain.ErrMessageInDelivery, "message %s is being delivered; retry in a moment", cmd.MessageID)
	default:
		out.Propagation, out.Reason = m.changeAtProvider(ctx, d, cmd.Text)
	}
	var ev domain.Event
	if cmd.Text != nil {
		ev = domain.MessageEdited{MessageID: cmd.MessageID, To: *cmd.Text, EditorID: cmd.Context.Actor.ID,
			Propagation: out.Propagation, Reason: out.Reason}
	} else {
		ev = domain.MessageRetracted{MessageID: cmd.MessageID, RetractorID: cmd.Context.Actor.ID,
			Propagation: out.Propagation, Reason: out.Reason}
	}
	res, err := m.s.changeThread(ctx, cmd.ThreadID, cmd.Context, func(t domain.Thread) ([]domain.Event, error) {
		if e, ok := ev.(domain.MessageEdited); ok {
			return domain.DecideEdit(t, cmd.Instance.ID, e)
		}
		return domain.DecideRetract(t, cmd.Instance.ID, ev.(domain.MessageRetracted))
	}, nil)
	if err != nil {
		return MessageChangeResult{}, err
	}
	out.Position, out.Unchanged = res.Position, len(res.Events) == 0
	return out, nil
}

// changeAtProvider edits (text set) or deletes a delivered message at its
// provider, when the provider has such a call.
func (m *DeliveryManager) changeAtProvider(ctx context.Context, d domain.Delivery, text *string) (string, string) {
	changer, ok := m.sender.(messageChanger)
	if !ok || d.Reply.Provider != domain.ProviderTelegram || d.ProviderMessageID == "" {
		return domain.NotPropagatedNoAPI, d.Reply.Provider + " has no call to change a sent message"
	}
	tgt, failCode, failMsg, err := m.resolve(ctx, d)
	if err != nil {
		return domain.NotPropagatedProvider, "could not work out where the message went"
	}
	if failCode != "" {
		return domain.NotPropagatedProvider, failCode + ": " + failMsg
	}
	callCtx, cancel := context.WithTimeout(ctx, m.opts.SendTimeout)
	defer cancel()
	if text != nil {
		err = changer.EditMessageText(callCtx, tgt.token, tgt.chatID, d.ProviderMessageID, *text, tgt.parseMode)
	} else {
		err = changer.DeleteMessage(callCtx, tgt.token, tgt.chatID, d.ProviderMessageID)
	}
	var se *domain.SendError
	switch {
	case err == nil:
		return domain.PropagatedToProvider, ""
	case errors.As(err, &se):
		return domain.NotPropagatedProvider, se.Code + ": " + se.Message
	default:
		return domain.NotPropagatedProvider, "the provider call failed"
	}
}

// ConversationTarget is where a conversation with a contact goes: a
// channel's bound chat, or the chat of one of the contact's threads.
type ConversationTarget struct {
	Provider         string
	ExternalThreadID string
	ContactID        string
}

// ChannelTarget is the chat an instance's active channel is bound to
// (domain.ErrChannelNotFound for another instance's, or an inactive one).
func (s *Service) ChannelTarget(ctx context.Context, instanceID, channelID string) (ConversationTarget, error) {
	ch, err := load(ctx, s, domain.ChannelStream(channelID), domain.NewChannel(channelID), domain.EvolveChannel)
	if err != nil {
		return ConversationTarget{}, err
	}
	if ch.Version < 0 || ch.Created.InstanceID != instanceID {
		return ConversationTarget{}, domain.Errorf(domain.ErrChannelNotFound, "no channel %s", channelID)
	}
	if ch.Status != domain.ChannelActive {
		return ConversationTarget{}, domain.Errorf(domain.ErrChannelNotFound, "channel %s is inactive", channelID)
	}
	chat := ch.Created.ExternalChannelID
	// A private chat's id is its user's: the contact an inbound message
	// from that chat would name.
	contact := domain.ContactID(instanceID, ch.Created.Provider, domain.Sender{ExternalID: chat}, chat)
	return ConversationTarget{Provider: ch.Created.Provider, ExternalThreadID: chat, ContactID: contact}, nil
}

// ThreadTarget is the chat of an instance's thread.
func (s *Service) ThreadTarget(ctx context.Context, instanceID, threadID string) (ConversationTarget, error) {
	t, err := s.loadThread(ctx, threadID)
	if err != nil {
		return ConversationTarget{}, err
	}
	if !t.Exists() || t.InstanceID != instanceID {
		return ConversationTarget{}, domain.ErrThreadNotFound
	}
	return ConversationTarget{Provider: t.Provider, ExternalThreadID: t.ExternalThreadID, ContactID: t.ContactID}, nil
}
