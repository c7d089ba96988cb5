package assistant_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/assistant"
	"github.com/socialops/socialops/adapters/bots"
	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/adapters/projectionrunner"
	"github.com/socialops/socialops/adapters/webhooks"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

// The built-in model bot answers sessions it has through the bot send path,
// hands off when the model says it cannot help, and after max_turns answers.
func TestModelBotAnswersAndHandsOff(t *testing.T) {
	m := newModel(t, func(_ int64, prompt string) (int, map[string]string, string) {
		if strings.Contains(prompt, "refund") {
			return 200, nil, "HANDOFF: refunds need a person"
		}
		return 200, nil, "Your order ships **tomorrow**."
	})
	pool := pgtest.NewPool(t)
	logger := quietLogger()
	store := pgstore.New(pool, logger)
	t.Cleanup(func() { _ = store.Close() })
	reg := domain.NewEventRegistry()
	key := make([]byte, 32)
	botStore := bots.NewStore(pool, webhooks.NewStore(pool, webhooks.StoreOptions{EncryptionKey: key}), true)
	svc := commands.NewService(store, reg, commands.Options{Logger: logger}).WithBots(botStore)
	inst, err := postgres.NewTenancy(pool, nil).CreateInstance(context.Background(), "owner-1", "support")
	require.NoError(t, err)
	name, kind, prompt, faq, first, turns := "Helper", bots.KindModel, "You help Acme's customers.", "Orders ship in 1 day.", bots.ModeFirst, 2
	bot, _, secret, err := botStore.Create(context.Background(), inst.ID, bots.Settings{Name: &name, Kind: &kind, Mode: &first,
		SystemPrompt: &prompt, FAQ: &faq, MaxTurns: &turns})
	require.NoError(t, err)
	assert.Empty(t, secret, "a model bot gets no pushes")
	for _, run := range []func(context.Context) error{
		projectionrunner.New(pool, store, reg, projectionrunner.Options{Logger: logger}).Run,
		assistant.New(pool, store, reg, svc, client(m, 0, 5*time.Second), assistant.Options{Logger: logger}).Run,
	} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	e := &env{t: t, svc: svc, inst: inst}
	state := func(thread string) string {
		var s string
		_ = pool.QueryRow(context.Background(), `SELECT status FROM sessions WHERE thread_id = $1`, thread).Scan(&s)
		return s
	}
	botReplies := func(thread string) []string {
		rows, err := pool.Query(context.Background(), `SELECT text FROM thread_messages WHERE thread_id = $1 AND sender_id = $2 ORDER BY position`,
			thread, domain.BotAuthor(bot.ID))
		require.NoError(t, err)
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			require.NoError(t, rows.Scan(&s))
			out = append(out, s)
		}
		return out
	}

	thread := e.say("c1", "when does my order ship?")
	require.Eventually(t, func() bool { return len(botReplies(thread)) == 1 }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, "Your order ships <b>tomorrow</b>.", botReplies(thread)[0], "Markdown made Telegram HTML")
	assert.Equal(t, domain.StateAI, state(thread))
	m.mu.Lock()
	sent := strings.Join(m.bodies, "\n")
	m.mu.Unlock()
	assert.Contains(t, sent, "Orders ship in 1 day.", "the FAQ is in the prompt")
	assert.Contains(t, sent, assistant.HandoffPrefix)

	// The model says it cannot help: the session goes to people.
	e.say("c1", "I want a refund")
	require.Eventually(t, func() bool { return state(thread) == domain.StatePending }, 10*time.Second, 20*time.Millisecond)
	assert.Len(t, botReplies(thread), 1)

	// Another conversation: two answers, then the third question hands off.
	other := e.say("c2", "question one")
	require.Eventually(t, func() bool { return len(botReplies(other)) == 1 }, 10*time.Second, 20*time.Millisecond)
	e.say("c2", "question two")
	require.Eventually(t, func() bool { return len(botReplies(other)) == 2 }, 10*time.Second, 20*time.Millisecond)
	e.say("c2", "question three")
	require.Eventually(t, func() bool { return state(other) == domain.StatePending }, 10*time.Second, 20*time.Millisecond)
	assert.Len(t, botReplies(other), 2, "max_turns answers, then people")
	var pending int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM sessions WHERE status = 'pending'`).Scan(&pending))
	assert.Equal(t, 2, pending)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
