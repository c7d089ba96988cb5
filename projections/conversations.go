package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ConversationView is a thread as the integration API (seed 002 §1.2) shows
// it: its session (who has it, in what state) beside the thread's status.
type ConversationView struct {
	ConversationID string    `json:"conversation_id"`
	VisitorID      string    `json:"visitor_id"`
	VisitorName    string    `json:"visitor_name"`
	AgentID        *int64    `json:"agent_id"`
	Channel        string    `json:"channel"`
	Status         string    `json:"status"`
	ThreadStatus   string    `json:"thread_status"`
	Priority       string    `json:"priority"`
	Subject        string    `json:"subject"`
	MessageCount   int       `json:"message_count"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	Timestamp      int64     `json:"timestamp"`
}

// GetConversation reads one conversation of an instance.
func GetConversation(ctx context.Context, q Querier, instanceID, threadID string) (ConversationView, bool, error) {
	var v ConversationView
	err := q.QueryRow(ctx, `SELECT s.thread_id, s.contact_id, coalesce(c.display_name, ''), s.operator_id, s.provider, s.status,
			coalesce(i.status, 'open'), coalesce(i.priority, 'normal'), coalesce(i.subject, ''), coalesce(i.message_count, 0),
			s.created_at, greatest(s.updated_at, coalesce(i.updated_at, s.updated_at))`+sessionFrom+`
		WHERE s.thread_id = $1 AND s.instance_id = $2`, threadID, instanceID).Scan(
		&v.ConversationID, &v.VisitorID, &v.VisitorName, &v.AgentID, &v.Channel, &v.Status,
		&v.ThreadStatus, &v.Priority, &v.Subject, &v.MessageCount, &v.CreatedAt, &v.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return ConversationView{}, false, nil
	}
	if err != nil {
		return ConversationView{}, false, fmt.Errorf("get conversation: %w", err)
	}
	v.CreatedAt, v.UpdatedAt = v.CreatedAt.UTC(), v.UpdatedAt.UTC()
	v.Timestamp = v.UpdatedAt.Unix()
	return v, true, nil
}

// LatestThreadOfContact is the contact's most recently active thread.
func LatestThreadOfContact(ctx context.Context, q Querier, instanceID, contactID string) (string, bool, error) {
	var id string
	err := q.QueryRow(ctx, `SELECT thread_id FROM sessions WHERE instance_id = $1 AND contact_id = $2
		ORDER BY updated_at DESC, thread_id DESC LIMIT 1`, instanceID, contactID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("find the contact's thread: %w", err)
	}
	return id, true, nil
}
