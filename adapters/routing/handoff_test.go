package routing_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/bots"
	"github.com/socialops/socialops/adapters/projectionrunner"
	"github.com/socialops/socialops/adapters/routing"
	"github.com/socialops/socialops/adapters/webhooks"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// botEnv is routing with a first-mode bot on the instance and every
// projector running (the answer-timeout sweep reads messages).
func botEnv(t *testing.T) (*env, bots.Bot) {
	e := newEnv(t)
	store := bots.NewStore(e.pool, webhooks.NewStore(e.pool, webhooks.StoreOptions{EncryptionKey: make([]byte, 32), AllowPrivate: true}), true)
	e.svc.WithBots(store)
	first := bots.ModeFirst
	name, url := "FAQ", "https://bot.example/hook"
	b, _, _, err := store.Create(context.Background(), e.inst.ID, bots.Settings{Name: &name, WebhookURL: &url, Mode: &first})
	require.NoError(t, err)
	e.run(projectionrunner.New(e.pool, e.store, e.registry, projectionrunner.Options{
		Projectors: []projections.Projector{projections.MessagesProjector{}}, Logger: e.logger}).Run)
	e.run(routing.New(e.pool, e.store, e.registry, e.svc.NewRoutingManager(), e.tenancy, routing.Options{
		Logger: e.logger, SweepEvery: 300 * time.Millisecond, BotTimeoutEvery: 100 * time.Millisecond}).Run)
	return e, b
}

func (e *env) say(chat, text string) string {
	e.t.Helper()
	n := e.seq.Add(1)
	res, err := e.svc.IngestWebhook(context.Background(), commands.IngestWebhook{Instance: e.inst, RawPayload: []byte(`{}`),
		Message: domain.InboundMessage{Provider: domain.ProviderGenericWebhook, ProviderEventID: fmt.Sprint("say-", n),
			ExternalThreadID: chat, MessageType: domain.MessageText, Text: text, Sender: domain.Sender{ExternalID: chat}}})
	require.NoError(e.t, err)
	return res.ThreadID
}

func (e *env) sessionState(thread string) (string, *int64) {
	var status string
	var op *int64
	_ = e.pool.QueryRow(context.Background(), `SELECT status, operator_id FROM sessions WHERE thread_id = $1`, thread).Scan(&status, &op)
	return status, op
}

func (e *env) eventually(thread, want string) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		s, _ := e.sessionState(thread)
		return s == want
	}, 10*time.Second, 20*time.Millisecond, "session %s never became %s", thread, want)
}

// With a first-mode bot a new conversation starts with the bot (ai) and is
// not routed; the customer asking for a person hands it off, and routing
// gives it to an online operator.
func TestBotFirstThenHandoffByKeyword(t *testing.T) {
	e, _ := botEnv(t)
	ops := e.operators(1, 5, domain.PresenceOnline)
	thread := e.say("c1", "where is my parcel?")
	e.eventually(thread, domain.StateAI)
	time.Sleep(400 * time.Millisecond) // a routing sweep passes
	s, op := e.sessionState(thread)
	assert.Equal(t, domain.StateAI, s, "routing leaves the bot's sessions alone")
	assert.Nil(t, op)

	e.say("c1", "I want to talk to a HUMAN please")
	e.eventually(thread, domain.StateManual)
	_, op = e.sessionState(thread)
	require.NotNil(t, op)
	assert.Equal(t, ops[0], *op)

	// Chinese keyword, on another conversation.
	other := e.say("c2", "你好")
	e.eventually(other, domain.StateAI)
	e.say("c2", "转人工")
	e.eventually(other, domain.StateManual)
}

// The bot hands off by call (its reason kept on the event).
func TestBotHandoffByCall(t *testing.T) {
	e, b := botEnv(t)
	e.operators(1, 5, domain.PresenceOnline)
	thread := e.say("c3", "refund please")
	e.eventually(thread, domain.StateAI)
	cc := commands.Context{Actor: domain.Actor{Kind: domain.ActorAPIKey, ID: domain.BotAuthor(b.ID)}}
	_, err := e.svc.Handoff(context.Background(), e.inst.ID, thread, domain.SessionReasonHandoff, "refunds need a person", cc)
	require.NoError(t, err)
	e.eventually(thread, domain.StateManual)
	var found bool
	for _, ev := range e.events() {
		if q, ok := ev.Payload.(domain.SessionQueued); ok && q.ThreadID == thread {
			found = q.Reason == domain.SessionReasonHandoff && q.Detail == "refunds need a person"
		}
	}
	assert.True(t, found)
	// A person has it now: the bot cannot hand off again, nor send.
	_, err = e.svc.Handoff(context.Background(), e.inst.ID, thread, domain.SessionReasonHandoff, "", cc)
	assert.ErrorIs(t, err, domain.ErrSessionHandledByOperator)
}

// A bot that stays silent past its answer timeout loses the session to
// people; one that answered in time keeps it.
func TestBotHandoffByTimeout(t *testing.T) {
	e, b := botEnv(t)
	e.operators(1, 5, domain.PresenceOnline)
	_, err := e.pool.Exec(context.Background(), `UPDATE bots SET answer_timeout_seconds = 1 WHERE bot_id = $1`, b.ID)
	require.NoError(t, err)
	silent := e.say("c4", "hello?")
	answered := e.say("c5", "hello?")
	e.eventually(answered, domain.StateAI)
	_, err = e.svc.SendBotMessage(context.Background(), commands.SendBotMessage{Instance: e.inst, ThreadID: answered, BotID: b.ID,
		Parts: []string{"Hi! How can I help?"}})
	require.NoError(t, err)
	e.eventually(silent, domain.StateManual)
	time.Sleep(1500 * time.Millisecond)
	s, _ := e.sessionState(answered)
	assert.Equal(t, domain.StateAI, s, "the bot answered in time")
}
