// Package assistant is the "assistant" follower (issue 19): it keeps each
// thread's ai_summary current — after its first inbound message, then after
// every N more messages or a status change — with the configured model, or
// extractively without one; a failed call leaves the previous summary (or,
// for a thread that has none, an extractive one) and logs why. Nothing in
// the request path waits for it. Run it as one active process (leader role
// "assistant"); every summary is appended once whatever is replayed.
package assistant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/adapters/ai"
	"github.com/socialops/socialops/adapters/eventstore"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// CheckpointName is the follower's row in projection_checkpoints.
const CheckpointName = "assistant"

// Options tune the follower.
type Options struct {
	Logger *slog.Logger
	// Every is how many new messages make a new summary (default 5).
	Every int
	// IncludeNotes sends internal notes to the model too (default off).
	IncludeNotes bool
	// Recent bounds the messages a summary is made from (default 40).
	Recent int
}

// Follower summarizes threads.
type Follower struct {
	pool     *pgxpool.Pool
	store    eventstore.Store
	registry *domain.Registry
	commands *commands.Service
	model    *ai.Client
	opts     Options
	logger   *slog.Logger
}

// New returns the follower; model may be one without a configured model
// (summaries are then extractive).
func New(pool *pgxpool.Pool, store eventstore.Store, registry *domain.Registry, svc *commands.Service, model *ai.Client, opts Options) *Follower {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Every <= 0 {
		opts.Every = 5
	}
	if opts.Recent <= 0 {
		opts.Recent = 40
	}
	return &Follower{pool: pool, store: store, registry: registry, commands: svc, model: model, opts: opts,
		logger: opts.Logger.With("component", "assistant")}
}

var watched = map[string]bool{
	domain.InboundMessageReceived{}.EventType(): true, domain.ReplyQueued{}.EventType(): true,
	domain.NoteAdded{}.EventType(): true, domain.ThreadStatusChanged{}.EventType(): true,
}

// Run follows the log until ctx ends.
func (f *Follower) Run(ctx context.Context) error {
	err := eventstore.Follow(ctx, f.store, f.logger, CheckpointName,
		func(ctx context.Context) (uint64, error) { return projections.Checkpoint(ctx, f.pool, CheckpointName) },
		func(ctx context.Context, batch []domain.RecordedEvent) error {
			if err := f.handle(ctx, batch); err != nil {
				return err
			}
			_, err := f.pool.Exec(ctx, projections.AdvanceCheckpointSQL, CheckpointName, int64(batch[len(batch)-1].Position))
			return err
		})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (f *Follower) handle(ctx context.Context, batch []domain.RecordedEvent) error {
	var threads []string
	seen := map[string]bool{}
	type inbound struct{ thread, message string }
	var questions []inbound
	for _, raw := range batch {
		if raw.Type == (domain.InboundMessageReceived{}).EventType() {
			if env, err := f.registry.Decode(raw); err == nil {
				m := env.Payload.(domain.InboundMessageReceived)
				questions = append(questions, inbound{m.ThreadID, m.MessageID})
			}
		}
		if !watched[raw.Type] || !strings.HasPrefix(raw.StreamID, domain.ThreadStream("")) {
			continue
		}
		id := strings.TrimPrefix(raw.StreamID, domain.ThreadStream(""))
		if !seen[id] {
			seen[id] = true
			threads = append(threads, id)
		}
	}
	if len(threads) == 0 {
		return nil
	}
	// The inbox and messages read models must hold this batch.
	last := batch[len(batch)-1].Position
	if _, err := projections.WaitForPosition(ctx, f.pool, []string{projections.InboxProjector{}.Name(), projections.MessagesProjector{}.Name(),
		projections.SessionsProjector{}.Name()}, last, 10*time.Second); err != nil {
		return err
	}
	// The built-in bot answers first, then the summaries follow.
	for _, q := range questions {
		if err := f.answer(ctx, q.thread, q.message); err != nil {
			return err
		}
	}
	for _, id := range threads {
		if err := f.consider(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// consider summarizes a thread when it is due.
func (f *Follower) consider(ctx context.Context, threadID string) error {
	var instanceID, status, prevSummary string
	var count int
	err := f.pool.QueryRow(ctx, `SELECT instance_id, status, message_count, ai_summary FROM inbox_threads WHERE thread_id = $1`, threadID).
		Scan(&instanceID, &status, &count, &prevSummary)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	var lastCount int
	var lastStatus string
	err = f.pool.QueryRow(ctx, `SELECT message_count, status FROM thread_summaries WHERE thread_id = $1`, threadID).Scan(&lastCount, &lastStatus)
	first := errors.Is(err, pgx.ErrNoRows)
	if err != nil && !first {
		return err
	}
	if !first && count-lastCount < f.opts.Every && status == lastStatus {
		return nil
	}
	texts, lang, err := f.messages(ctx, threadID)
	if err != nil {
		return err
	}
	if len(texts) == 0 {
		return nil // no text yet (a thread of notes only)
	}
	summary, model := f.summarize(ctx, instanceID, threadID, texts, lang, prevSummary)
	if summary != "" {
		_, _, err := f.commands.RecordSummary(ctx, instanceID, status, domain.ThreadSummarized{ThreadID: threadID, Summary: summary,
			Model: model, MessageCount: count}, commands.Context{Actor: domain.Actor{Kind: domain.ActorSystem, ID: "assistant"}, CorrelationID: threadID})
		if err != nil {
			return err
		}
	}
	_, err = f.pool.Exec(ctx, `INSERT INTO thread_summaries (thread_id, instance_id, message_count, status) VALUES ($1, $2, $3, $4)
		ON CONFLICT (thread_id) DO UPDATE SET message_count = $3, status = $4, updated_at = now()`, threadID, instanceID, count, status)
	return err
}

// messages are the thread's recent normalized texts, oldest first, as
// "Customer: …" / "Agent: …" lines (never raw payloads; notes only when
// configured), and a hint of the conversation's language.
func (f *Follower) messages(ctx context.Context, threadID string) ([]string, string, error) {
	dirs := []string{projections.DirectionInbound, projections.DirectionOutbound}
	if f.opts.IncludeNotes {
		dirs = append(dirs, projections.DirectionInternal)
	}
	rows, err := f.pool.Query(ctx, `SELECT direction, text FROM (SELECT direction, text, position FROM thread_messages
		WHERE thread_id = $1 AND direction = ANY($2) AND retracted_at IS NULL AND text <> '' ORDER BY position DESC LIMIT $3) m
		ORDER BY position`, threadID, dirs, f.opts.Recent)
	if err != nil {
		return nil, "", fmt.Errorf("read the thread's messages: %w", err)
	}
	defer rows.Close()
	var texts []string
	cjk := 0
	for rows.Next() {
		var dir, text string
		if err := rows.Scan(&dir, &text); err != nil {
			return nil, "", err
		}
		who := "Customer"
		switch dir {
		case projections.DirectionOutbound:
			who = "Agent"
		case projections.DirectionInternal:
			who = "Note"
		}
		texts = append(texts, who+": "+text)
		for _, r := range text {
			if r >= 0x3000 {
				cjk++
			}
		}
	}
	lang := "the language of the conversation"
	if cjk > 0 {
		lang = "the language of the conversation (Chinese if it is Chinese)"
	}
	return texts, lang, rows.Err()
}

// summarize asks the model, or summarizes extractively; a failed call keeps
// the previous summary ("" to append nothing) or, without one, falls back.
func (f *Follower) summarize(ctx context.Context, instanceID, threadID string, texts []string, lang, prev string) (string, string) {
	model, off := f.instanceAI(ctx, instanceID)
	if f.model.Enabled() && !off {
		prompt := []ai.Message{
			{Role: "system", Content: "You summarize customer-service conversations for an inbox. Answer with one or two sentences, " +
				"at most 200 characters, in " + lang + ": what the customer wants and where it stands. No preamble."},
			{Role: "user", Content: strings.Join(texts, "\n")},
		}
		out, err := f.model.CompleteWith(ctx, instanceID, model, prompt)
		if err == nil && strings.TrimSpace(out) != "" {
			if model == "" {
				model = f.model.Model()
			}
			return clip(out), model
		}
		f.logger.Warn("summary not made by the model; the previous one stays", "thread_id", threadID, "error", err)
		if prev != "" {
			return "", ""
		}
	}
	var customer []string
	for _, t := range texts {
		if c, ok := strings.CutPrefix(t, "Customer: "); ok {
			customer = append(customer, c)
		}
	}
	if len(customer) == 0 {
		customer = texts
	}
	return ai.Extractive(customer, domain.MaxSummaryRunes), ai.ExtractiveModel
}

func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > domain.MaxSummaryRunes {
		return string(r[:domain.MaxSummaryRunes-1]) + "…"
	}
	return s
}

// instanceAI is an instance's AI settings: its model ("" for the
// configured one) and whether its model calls are off.
func (f *Follower) instanceAI(ctx context.Context, instanceID string) (string, bool) {
	var model string
	var off bool
	if err := f.pool.QueryRow(ctx, `SELECT ai_model, ai_disabled FROM instances WHERE instance_id = $1`, instanceID).Scan(&model, &off); err != nil {
		f.logger.Warn("could not read the instance's AI settings; using the defaults", "instance_id", instanceID, "error", err)
	}
	return model, off
}
