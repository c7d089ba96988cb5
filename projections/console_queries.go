package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ChannelView is a channel binding as the console shows it: never a token.
type ChannelView struct {
	ChannelID          string    `json:"channel_id"`
	Provider           string    `json:"provider"`
	ConnectedAccountID string    `json:"connected_account_id"`
	ChannelName        string    `json:"channel_name"`
	ExternalChannelID  string    `json:"external_channel_id"`
	ParseMode          string    `json:"parse_mode"`
	Status             string    `json:"status"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
}

const channelColumns = `channel_id, provider, connected_account_id, channel_name, external_channel_id, parse_mode, status, created_at, updated_at`

func scanChannel(r pgx.CollectableRow) (ChannelView, error) {
	var c ChannelView
	err := r.Scan(&c.ChannelID, &c.Provider, &c.ConnectedAccountID, &c.ChannelName, &c.ExternalChannelID, &c.ParseMode, &c.Status, &c.CreatedAt, &c.UpdatedAt)
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, err
}

// ListChannels returns an instance's channels, oldest first.
func ListChannels(ctx context.Context, q Querier, instanceID string) ([]ChannelView, error) {
	rows, err := q.Query(ctx, `SELECT `+channelColumns+` FROM channels WHERE instance_id = $1 ORDER BY created_at, channel_id`, instanceID)
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	return collect(rows, scanChannel)
}

// ActionView is a send_reply action with its delivery state.
type ActionView struct {
	ActionID     string    `json:"action_id"`
	ThreadID     string    `json:"thread_id"`
	MessageID    string    `json:"message_id"`
	ActionType   string    `json:"action_type"`
	Status       string    `json:"status"`
	Attempts     int       `json:"attempts"`
	ErrorCode    *string   `json:"error_code"`
	ErrorMessage *string   `json:"error_message"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// ActionStatus returns one action's status; ok is false when it is not projected yet.
func ActionStatus(ctx context.Context, q Querier, actionID string) (string, bool, error) {
	var status string
	err := q.QueryRow(ctx, `SELECT status FROM reply_actions WHERE action_id = $1`, actionID).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return status, err == nil, err
}

// ListActions returns a thread's actions, oldest first.
func ListActions(ctx context.Context, q Querier, threadID string) ([]ActionView, error) {
	rows, err := q.Query(ctx, `SELECT action_id, thread_id, message_id, action_type, status, attempts, error_code, error_message, created_at, updated_at
		FROM reply_actions WHERE thread_id = $1 ORDER BY created_at, action_id`, threadID)
	if err != nil {
		return nil, fmt.Errorf("list actions: %w", err)
	}
	return collect(rows, func(r pgx.CollectableRow) (ActionView, error) {
		var a ActionView
		err := r.Scan(&a.ActionID, &a.ThreadID, &a.MessageID, &a.ActionType, &a.Status, &a.Attempts, &a.ErrorCode, &a.ErrorMessage, &a.CreatedAt, &a.UpdatedAt)
		a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
		return a, err
	})
}
