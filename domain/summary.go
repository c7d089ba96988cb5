package domain

// ThreadSummarized records a thread's summary (seed 000's ai_summary), made
// by a model or, without one, extractively; MessageCount is how many
// messages the thread had when it was made.
type ThreadSummarized struct {
	ThreadID     string `json:"thread_id"`
	Summary      string `json:"summary"`
	Model        string `json:"model"`
	MessageCount int    `json:"message_count"`
}

func (ThreadSummarized) EventType() string { return "ThreadSummarized" }

// MaxSummaryRunes bounds a summary.
const MaxSummaryRunes = 200
