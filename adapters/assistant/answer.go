package assistant

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/socialops/socialops/adapters/ai"
	"github.com/socialops/socialops/adapters/telegram"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

// HandoffPrefix starts the model's answer when it cannot help: the rest of
// the line is the reason. The system prompt tells the model so.
const HandoffPrefix = "HANDOFF:"

// handoffInstruction is appended to every model bot's system prompt.
const handoffInstruction = "\n\nYou answer customers of a support team in their language, briefly. " +
	"If you cannot help, or the customer asks for a person, answer with exactly one line: " +
	HandoffPrefix + " followed by a short reason, and nothing else."

type modelBot struct {
	id, prompt, faq, model string
	maxTurns               int
}

// answer lets the built-in bot answer a customer's message in a session it
// has (ai): through sendtext's path (delivery, billing, idempotency by the
// message's id), or by handing off — when the model says it cannot help, or
// after max_turns answers. A failed call answers nothing: the bot's answer
// timeout hands the session to people.
func (f *Follower) answer(ctx context.Context, threadID, messageID string) error {
	var instanceID, status string
	var aiSince *time.Time
	err := f.pool.QueryRow(ctx, `SELECT instance_id, status, ai_since FROM sessions WHERE thread_id = $1`, threadID).Scan(&instanceID, &status, &aiSince)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && status != domain.StateAI) {
		return nil
	}
	if err != nil {
		return err
	}
	var b modelBot
	var kind string
	err = f.pool.QueryRow(ctx, `SELECT bot_id, kind, system_prompt, faq, model, max_turns FROM bots WHERE instance_id = $1
		AND mode = 'first' AND deleted_at IS NULL ORDER BY created_at, bot_id LIMIT 1`, instanceID).Scan(&b.id, &kind, &b.prompt, &b.faq, &b.model, &b.maxTurns)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && kind != "model") {
		return nil
	}
	if err != nil {
		return err
	}
	cc := commands.Context{Actor: domain.Actor{Kind: domain.ActorSystem, ID: domain.BotAuthor(b.id)}, CorrelationID: messageID}
	inst := domain.Instance{ID: instanceID}
	var turns int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM thread_messages WHERE thread_id = $1 AND direction = 'outbound'
		AND sender_id = $2 AND created_at >= coalesce($3, '-infinity'::timestamptz)`, threadID, domain.BotAuthor(b.id), aiSince).Scan(&turns); err != nil {
		return err
	}
	if turns >= b.maxTurns {
		return f.handoff(ctx, instanceID, threadID, domain.SessionReasonHandoffTurns, "", cc)
	}
	instModel, off := f.instanceAI(ctx, instanceID)
	if off {
		return nil // no model calls for this instance: the answer timeout hands off
	}
	if b.model == "" {
		b.model = instModel
	}
	msgs, err := f.conversation(ctx, threadID, b)
	if err != nil {
		return err
	}
	out, err := f.model.CompleteWith(ctx, instanceID, b.model, msgs)
	if err != nil {
		f.logger.Warn("the model bot did not answer; its answer timeout will hand off", "thread_id", threadID, "bot_id", b.id, "error", err)
		return nil
	}
	if reason, ok := strings.CutPrefix(strings.TrimSpace(out), HandoffPrefix); ok {
		return f.handoff(ctx, instanceID, threadID, domain.SessionReasonHandoff, strings.TrimSpace(reason), cc)
	}
	parts := telegram.SplitHTML(telegram.MarkdownToHTML(out), telegram.MaxMessageLength)
	_, err = f.commands.SendBotMessage(ctx, commands.SendBotMessage{Instance: inst, ThreadID: threadID, BotID: b.id,
		Key: "answer-" + messageID, Parts: parts, Context: cc})
	var de *domain.Error
	if errors.As(err, &de) {
		f.logger.Info("the model bot's answer was not sent", "thread_id", threadID, "reason", de.Message)
		return nil // a person took the session meanwhile, or the thread is gone
	}
	return err
}

func (f *Follower) handoff(ctx context.Context, instanceID, threadID, reason, detail string, cc commands.Context) error {
	_, err := f.commands.Handoff(ctx, instanceID, threadID, reason, detail, cc)
	var de *domain.Error
	if errors.As(err, &de) {
		return nil // not the bot's any more
	}
	return err
}

// conversation is the model bot's prompt: its instructions and FAQ, then the
// thread's recent messages as user and assistant turns.
func (f *Follower) conversation(ctx context.Context, threadID string, b modelBot) ([]ai.Message, error) {
	system := strings.TrimSpace(b.prompt)
	if system == "" {
		system = "You are a helpful customer-service assistant."
	}
	if strings.TrimSpace(b.faq) != "" {
		system += "\n\nFAQ:\n" + b.faq
	}
	msgs := []ai.Message{{Role: "system", Content: system + handoffInstruction}}
	rows, err := f.pool.Query(ctx, `SELECT direction, text FROM (SELECT direction, text, position FROM thread_messages
		WHERE thread_id = $1 AND direction IN ('inbound', 'outbound') AND retracted_at IS NULL AND text <> ''
		ORDER BY position DESC LIMIT 20) m ORDER BY position`, threadID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var dir, text string
		if err := rows.Scan(&dir, &text); err != nil {
			return nil, err
		}
		role := "user"
		if dir == "outbound" {
			role = "assistant"
		}
		msgs = append(msgs, ai.Message{Role: role, Content: text})
	}
	return msgs, rows.Err()
}
