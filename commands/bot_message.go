package commands

import (
	"context"
	"errors"
	"strconv"

	"github.com/socialops/socialops/adapters/telegram"
	"github.com/socialops/socialops/domain"
)

// SendBotMessage is a bot's message into a thread (seed 001's sendtext):
// Parts are the text already converted and split to the provider's limit.
// Key is the bot's idempotency key ("" for a fresh message): the same key
// from the same bot returns the first message and stores nothing.
type SendBotMessage struct {
	Instance       domain.Instance
	ThreadID       string
	BotID          string
	Key            string
	Parts          []string
	Silent         bool
	ReplyToMessage string // a message id of the thread, or ""
	Context        Context
}

// BotMessageResult is the message's replies (one per part), and whether they
// existed already.
type BotMessageResult struct {
	Replies  []domain.ReplyQueued
	Position uint64
	Replayed bool
}

// SendBotMessage queues the parts as replies of the thread in one append, so
// they are delivered in order.
func (s *Service) SendBotMessage(ctx context.Context, cmd SendBotMessage) (BotMessageResult, error) {
	key := cmd.Key
	if key == "" {
		key = domain.RandomID("", s.random)
	}
	c := domain.BotMessageCommand{InstanceID: cmd.Instance.ID, BotID: cmd.BotID, Parts: cmd.Parts, Silent: cmd.Silent}
	for i := range cmd.Parts {
		n := strconv.Itoa(i)
		c.MessageIDs = append(c.MessageIDs, domain.DerivedID(domain.PrefixMessage, "bot", cmd.BotID, key, n))
		c.ActionIDs = append(c.ActionIDs, domain.DerivedID(domain.PrefixAction, "bot", cmd.BotID, key, n))
	}
	if cmd.ReplyToMessage != "" {
		ref, err := s.providerMessageID(ctx, cmd.Instance.ID, cmd.ThreadID, cmd.ReplyToMessage)
		if err != nil {
			return BotMessageResult{}, err
		}
		c.ReplyToProviderID = ref
	}
	var prev []domain.ReplyQueued
	res, err := s.changeThread(ctx, cmd.ThreadID, cmd.Context, func(t domain.Thread) ([]domain.Event, error) {
		evs, replies, err := domain.DecideBotMessage(t, c)
		prev = replies
		return evs, err
	}, func(e domain.Event) string { return domain.EventUUID("reply", e.(domain.ReplyQueued).ActionID) })
	if err != nil {
		return BotMessageResult{}, err
	}
	return BotMessageResult{Replies: prev, Position: res.Position, Replayed: len(res.Events) == 0}, nil
}

// providerMessageID is the provider's id of a message of the thread: an
// inbound message's own id, or a delivered reply's. "" when the provider
// gave none (the reply then goes without a reference).
func (s *Service) providerMessageID(ctx context.Context, instanceID, threadID, messageID string) (string, error) {
	t, err := s.loadThread(ctx, threadID)
	if err != nil {
		return "", err
	}
	if !t.Exists() || t.InstanceID != instanceID {
		return "", domain.ErrThreadNotFound
	}
	if r, ok := t.Replies[messageID]; ok {
		d, err := load(ctx, s, domain.DeliveryStream(r.ActionID), domain.NewDelivery(r.ActionID), domain.EvolveDelivery)
		return d.ProviderMessageID, err
	}
	found := ""
	ok := false
	_, _, err = loadFrom(ctx, s, domain.ThreadStream(threadID), domain.StreamStart, struct{}{}, func(st struct{}, env domain.Envelope) struct{} {
		if m, is := env.Payload.(domain.InboundMessageReceived); is && m.MessageID == messageID {
			found, ok = m.ExternalMessageID, true
		}
		return st
	})
	if err != nil {
		return "", err
	}
	if !ok {
		return "", domain.Errorf(domain.ErrMessageNotFound, "reply_id %s is not a message of this dialog", messageID)
	}
	return found, nil
}

// OptionSender sends a Telegram message with options (a silent message, an
// answer to another message).
type OptionSender interface {
	SendMessageWith(ctx context.Context, token, chatID, text, parseMode string, opts telegram.SendOptions) (string, error)
}

// sendTelegram sends a reply through the Bot API: a bot message in HTML with
// its options, any other reply with the channel's parse mode.
func (m *DeliveryManager) sendTelegram(ctx context.Context, tgt *target, r domain.DeliveryClaimed) (string, error) {
	mode := tgt.parseMode
	if r.Format == domain.FormatHTML {
		mode = "HTML"
	}
	if os, ok := m.sender.(OptionSender); ok && (r.Silent || r.ReplyToProviderID != "") {
		return os.SendMessageWith(ctx, tgt.token, tgt.chatID, r.Text, mode, telegram.SendOptions{Silent: r.Silent, ReplyToID: r.ReplyToProviderID})
	}
	return m.sender.SendMessage(ctx, tgt.token, tgt.chatID, r.Text, mode)
}

// Handoff sends a session the bot has to people (pending: routing assigns
// it): the bot asked (with its reason), or it stayed silent too long.
func (s *Service) Handoff(ctx context.Context, instanceID, threadID, reason, detail string, cc Context) (threadResult, error) {
	return s.changeThread(ctx, threadID, cc, func(t domain.Thread) ([]domain.Event, error) {
		return domain.DecideHandoff(t, instanceID, reason, detail, cc.Actor)
	}, nil)
}

// HandoffOverdue hands a session to people because its bot did not answer in
// time; a session no longer the bot's is left as it is.
func (m *RoutingManager) HandoffOverdue(ctx context.Context, instanceID, threadID string) error {
	_, err := m.s.Handoff(ctx, instanceID, threadID, domain.SessionReasonHandoffTimeout, "",
		Context{Actor: domain.RoutingActor, CorrelationID: threadID})
	var de *domain.Error
	if errors.As(err, &de) {
		return nil // a person has it already, or it closed: nothing to do
	}
	return err
}
