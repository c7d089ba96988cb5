package projections

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Paging limits (seed 000: limit max 100).
const (
	DefaultLimit = 20
	MaxLimit     = 100
	// KeywordTotalBound is how far the total of a keyword search counts:
	// up to this many matches, or to the end of the page asked for when
	// that is further; with more matches, the total is the bound and
	// TotalExact is false. A keyword's total is counted match by match
	// (about 0.2 µs an index entry), which over a deep instance took 8-9 ms
	// of the 10 ms a page may take; search engines bound their totals the
	// same way (issue 21).
	KeywordTotalBound = 10000
	// MaxPage bounds offset paging; deeper pages use the keyset cursor.
	MaxPage = 10000
)

// ThreadFilter selects inbox threads of one instance.
type ThreadFilter struct {
	InstanceID string
	Status     string
	Priority   string
	Provider   string
	Q          string
	// OperatorID, when set, keeps the threads whose session that operator
	// holds (a credential bound to an operator sees only those).
	OperatorID int64
	// SessionState keeps threads whose session is in that state (pending,
	// manual, ai, closed); Assignee those assigned to that name.
	SessionState string
	Assignee     string
	Page         int
	Limit        int
	Cursor       *Cursor
}

// Cursor is a keyset position in the inbox order (latest activity first).
type Cursor struct {
	LastMessageAt time.Time
	ThreadID      string
}

// Encode makes an opaque cursor string.
func (c Cursor) Encode() string {
	raw := strconv.FormatInt(c.LastMessageAt.UnixMicro(), 10) + "|" + c.ThreadID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// ErrBadCursor is a cursor this server did not make.
var ErrBadCursor = errors.New("invalid cursor")

// DecodeCursor reads a cursor made by Encode.
func DecodeCursor(s string) (Cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) > 300 {
		return Cursor{}, ErrBadCursor
	}
	ts, id, ok := strings.Cut(string(raw), "|")
	micros, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil || !strings.HasPrefix(id, "soth_") {
		return Cursor{}, ErrBadCursor
	}
	return Cursor{LastMessageAt: time.UnixMicro(micros).UTC(), ThreadID: id}, nil
}

// ThreadView is an inbox row as the API shows it: no external ids.
type ThreadView struct {
	ThreadID           string    `json:"thread_id"`
	Subject            string    `json:"subject"`
	Provider           string    `json:"provider"`
	Status             string    `json:"status"`
	Priority           string    `json:"priority"`
	Assignee           *string   `json:"assignee"`
	Labels             []string  `json:"labels"`
	LastMessagePreview string    `json:"last_message_preview"`
	LastMessageAt      time.Time `json:"last_message_at"`
	MessageCount       int       `json:"message_count"`
	AISummary          string    `json:"ai_summary"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
	// The thread's session: its state and the operator holding it (none
	// for a thread without a session).
	SessionState      *string `json:"session_state"`
	SessionOperatorID *int64  `json:"session_operator_id"`
}

// ThreadPage is one page of the inbox.
type ThreadPage struct {
	Threads []ThreadView `json:"threads"`
	Total   int          `json:"total"`
	// TotalExact is false when a keyword search has more matches than
	// Total, its bound (KeywordTotalBound, or the end of the page).
	TotalExact bool   `json:"total_exact"`
	Page       int    `json:"page"`
	Limit      int    `json:"limit"`
	HasMore    bool   `json:"has_more"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// likePattern escapes a keyword for a LIKE match anywhere.
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(q)) + "%"
}

// ListThreads returns one page of an instance's inbox, latest activity first.
// With a cursor, the page starts after it (page is then ignored).
func ListThreads(ctx context.Context, q Querier, f ThreadFilter) (ThreadPage, error) {
	if f.Limit <= 0 {
		f.Limit = DefaultLimit
	}
	if f.Page <= 0 {
		f.Page = 1
	}
	where := []string{"instance_id = $1"}
	args := []any{f.InstanceID}
	// scan: a condition on a column inbox_counts does not keep.
	scan := false
	add := func(cond string, v any, counted bool) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
		scan = scan || !counted
	}
	if f.Status != "" {
		add("status = $%d", f.Status, true)
	}
	if f.Priority != "" {
		add("priority = $%d", f.Priority, true)
	}
	if f.Provider != "" {
		add("provider = $%d", f.Provider, true)
	}
	if f.Q != "" {
		add("search_text LIKE $%d", likePattern(f.Q), false)
	}
	if f.Assignee != "" {
		add("assignee = $%d", f.Assignee, false)
	}
	if f.SessionState != "" {
		add("session_state = $%d", f.SessionState, true)
	}
	if f.OperatorID != 0 {
		add("session_operator = $%d", f.OperatorID, false)
	}
	filter := strings.Join(where, " AND ")

	// A filter on the instance, status, priority, provider and session state
	// alone is counted from inbox_counts: a sum over at most a few hundred
	// rows, whose columns have the same names. Any other counts the rows; the
	// count and the page are then independent reads, which from a pool run at
	// once, on two connections (a keyword over a deep instance makes each
	// scan thousands of index entries). A keyword's count stops one match
	// past its bound (KeywordTotalBound, or the end of the page when that
	// is further), which tells whether there are more than the bound.
	offset := (f.Page - 1) * f.Limit
	if f.Cursor != nil {
		offset = 0
	}
	countSQL := "SELECT coalesce(sum(threads), 0)::bigint FROM inbox_counts WHERE " + filter
	countArgs := args
	bound := 0
	switch {
	case f.Q != "":
		bound = max(KeywordTotalBound, offset+f.Limit)
		countArgs = append(append([]any(nil), args...), bound+1)
		countSQL = fmt.Sprintf("SELECT count(*) FROM (SELECT FROM inbox_threads WHERE %s LIMIT $%d) matches", filter, len(countArgs))
	case scan:
		countSQL = "SELECT count(*) FROM inbox_threads WHERE " + filter
	}
	var total int
	counted := make(chan error, 1)
	count := func() { counted <- q.QueryRow(ctx, countSQL, countArgs...).Scan(&total) }
	// A keyword's page that reaches the bound (no cursor) tells the count
	// itself: its bound is then the page's end, and the page reads limit+1
	// matches from offset, so offset plus the rows it read is the count up
	// to bound+1. Only a page past every match needs the count, after it.
	// At page 500 this halves the index entries read (issue 21).
	fromPage := f.Q != "" && f.Cursor == nil && offset+f.Limit >= KeywordTotalBound
	_, pool := q.(*pgxpool.Pool)
	switch {
	case fromPage:
	case pool && scan:
		go count()
	default:
		count()
	}
	pageWhere := filter
	pageArgs := append([]any(nil), args...)
	if f.Cursor != nil {
		pageArgs = append(pageArgs, f.Cursor.LastMessageAt, f.Cursor.ThreadID)
		pageWhere += fmt.Sprintf(" AND (last_message_at, thread_id) < ($%d, $%d)", len(pageArgs)-1, len(pageArgs))
	}
	pageArgs = append(pageArgs, f.Limit+1, offset)
	// Page over the index first, then fetch only the rows of the page: a deep
	// OFFSET then skips index entries instead of whole rows.
	rows, err := q.Query(ctx, `SELECT t.thread_id, t.subject, t.provider, t.status, t.priority, t.assignee, t.labels, t.last_message_preview,
			t.last_message_at, t.message_count, t.ai_summary, t.created_at, t.updated_at, t.session_state, t.session_operator
		FROM (SELECT thread_id FROM inbox_threads WHERE `+pageWhere+fmt.Sprintf(` ORDER BY last_message_at DESC, thread_id DESC LIMIT $%d OFFSET $%d`, len(pageArgs)-1, len(pageArgs))+`) p
		JOIN inbox_threads t USING (thread_id)
		ORDER BY t.last_message_at DESC, t.thread_id DESC`, pageArgs...)
	if err != nil {
		return ThreadPage{}, fmt.Errorf("list threads: %w", err)
	}
	threads, err := collect(rows, scanThreadView)
	if fromPage {
		if err == nil && len(threads) == 0 {
			count()
		} else {
			total = offset + len(threads)
			counted <- nil
		}
	}
	if cerr := <-counted; cerr != nil {
		return ThreadPage{}, fmt.Errorf("count threads: %w", cerr)
	}
	if err != nil {
		return ThreadPage{}, fmt.Errorf("list threads: %w", err)
	}
	exact := bound == 0 || total <= bound
	if !exact {
		total = bound // the count reached bound+1: more than bound
	}
	page := ThreadPage{Threads: threads, Total: total, TotalExact: exact, Page: f.Page, Limit: f.Limit}
	if len(threads) > f.Limit {
		page.Threads = threads[:f.Limit]
		page.HasMore = true
	}
	if page.HasMore {
		last := page.Threads[len(page.Threads)-1]
		page.NextCursor = Cursor{LastMessageAt: last.LastMessageAt, ThreadID: last.ThreadID}.Encode()
	}
	return page, nil
}

func scanThreadView(r pgx.CollectableRow) (ThreadView, error) {
	var t ThreadView
	err := r.Scan(&t.ThreadID, &t.Subject, &t.Provider, &t.Status, &t.Priority, &t.Assignee, &t.Labels, &t.LastMessagePreview,
		&t.LastMessageAt, &t.MessageCount, &t.AISummary, &t.CreatedAt, &t.UpdatedAt, &t.SessionState, &t.SessionOperatorID)
	t.LastMessageAt, t.CreatedAt, t.UpdatedAt = t.LastMessageAt.UTC(), t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	return t, err
}

// ThreadInstance returns the instance a thread belongs to; ok is false when
// the inbox does not know the thread.
func ThreadInstance(ctx context.Context, q Querier, threadID string) (string, bool, error) {
	var inst string
	err := q.QueryRow(ctx, `SELECT instance_id FROM inbox_threads WHERE thread_id = $1`, threadID).Scan(&inst)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return inst, true, nil
}

// MessageView is a normalized message: no raw payload, no external ids.
type MessageView struct {
	MessageID   string    `json:"message_id"`
	ThreadID    string    `json:"thread_id"`
	Direction   string    `json:"direction"`
	MessageType string    `json:"message_type"`
	Text        string    `json:"text"`
	SenderName  string    `json:"sender_name"`
	CreatedAt   time.Time `json:"created_at"`
	// Outbound messages only: their action and delivery state.
	ActionID       *string `json:"action_id,omitempty"`
	DeliveryStatus *string `json:"delivery_status,omitempty"`
	FailureReason  *string `json:"failure_reason,omitempty"`
	// Set once an outbound message was edited or retracted.
	EditedAt    *time.Time `json:"edited_at,omitempty"`
	RetractedAt *time.Time `json:"retracted_at,omitempty"`
}

// MessagePage is one page of a thread's history.
type MessagePage struct {
	Messages []MessageView `json:"messages"`
	Total    int           `json:"total"`
	Page     int           `json:"page"`
	Limit    int           `json:"limit"`
	HasMore  bool          `json:"has_more"`
}

// ListMessages returns a thread's messages, oldest first.
func ListMessages(ctx context.Context, q Querier, threadID string, page, limit int) (MessagePage, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	if page <= 0 {
		page = 1
	}
	var total int
	if err := q.QueryRow(ctx, `SELECT count(*) FROM thread_messages WHERE thread_id = $1`, threadID).Scan(&total); err != nil {
		return MessagePage{}, fmt.Errorf("count messages: %w", err)
	}
	rows, err := q.Query(ctx, `SELECT `+messageColumns+`
		FROM thread_messages WHERE thread_id = $1 ORDER BY position LIMIT $2 OFFSET $3`, threadID, limit, (page-1)*limit)
	if err != nil {
		return MessagePage{}, fmt.Errorf("list messages: %w", err)
	}
	msgs, err := collect(rows, func(r pgx.CollectableRow) (MessageView, error) { return scanMessage(r) })
	if err != nil {
		return MessagePage{}, fmt.Errorf("list messages: %w", err)
	}
	return MessagePage{Messages: msgs, Total: total, Page: page, Limit: limit, HasMore: page*limit < total}, nil
}

// collect scans every row with scan and returns a non-nil slice, so an empty
// page is [] in JSON, not null.
func collect[T any](rows pgx.Rows, scan func(pgx.CollectableRow) (T, error)) ([]T, error) {
	out, err := pgx.CollectRows(rows, scan)
	if out == nil {
		out = []T{}
	}
	return out, err
}

// Querier is what queries need: a pool or a transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// WaitForPosition waits until every named projector's checkpoint reaches pos,
// polling, for at most timeout. It returns false when the wait ran out (the
// answer would be stale).
func WaitForPosition(ctx context.Context, q Querier, projectors []string, pos uint64, timeout time.Duration) (bool, error) {
	deadline := time.Now().Add(timeout)
	wait := 2 * time.Millisecond
	for {
		var lowest int64
		err := q.QueryRow(ctx, `SELECT coalesce(min(coalesce(c.position, 0)), 0) FROM unnest($1::text[]) AS p(name)
			LEFT JOIN projection_checkpoints c ON c.projector = p.name`, projectors).Scan(&lowest)
		if err != nil {
			return false, err
		}
		if uint64(lowest) >= pos {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 25*time.Millisecond)
	}
}

// SessionOperator is the operator holding a thread's session (0 for none).
func SessionOperator(ctx context.Context, q Querier, instanceID, threadID string) (int64, error) {
	var op *int64
	err := q.QueryRow(ctx, `SELECT operator_id FROM sessions WHERE instance_id = $1 AND thread_id = $2`, instanceID, threadID).Scan(&op)
	if errors.Is(err, pgx.ErrNoRows) || op == nil {
		return 0, nil
	}
	return *op, err
}

const messageColumns = `message_id, thread_id, direction, message_type, text, sender_display, created_at,
	action_id, delivery_status, failure_reason, edited_at, retracted_at`

func scanMessage(r pgx.Row) (MessageView, error) {
	var m MessageView
	err := r.Scan(&m.MessageID, &m.ThreadID, &m.Direction, &m.MessageType, &m.Text, &m.SenderName, &m.CreatedAt,
		&m.ActionID, &m.DeliveryStatus, &m.FailureReason, &m.EditedAt, &m.RetractedAt)
	m.CreatedAt = m.CreatedAt.UTC()
	for _, t := range []*time.Time{m.EditedAt, m.RetractedAt} {
		if t != nil {
			*t = t.UTC()
		}
	}
	return m, err
}

// GetMessage finds one message of an instance (found false otherwise).
func GetMessage(ctx context.Context, q Querier, instanceID, messageID string) (MessageView, bool, error) {
	m, err := scanMessage(q.QueryRow(ctx, `SELECT `+messageColumns+` FROM thread_messages
		WHERE message_id = $1 AND thread_id IN (SELECT thread_id FROM inbox_threads WHERE instance_id = $2)`, messageID, instanceID))
	if errors.Is(err, pgx.ErrNoRows) {
		return MessageView{}, false, nil
	}
	if err != nil {
		return MessageView{}, false, fmt.Errorf("get message: %w", err)
	}
	return m, true, nil
}
