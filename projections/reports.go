package projections

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/socialops/socialops/domain"
)

// ReportsProjector keeps the report rollups (seed 002 §4.3): per thread the
// session cycle under way (report_threads), and sums per instance, local
// hour or day and dimension (report_hourly, report_daily), the same per
// subset of the dimensions for every period that is over (report_cube), with
// the instance's reporting settings and the metrics other systems pushed. The
// per-event logic is SQL functions of migration 00031 (report_on_*), run in
// the projector's transaction with its checkpoint; README "Reports" states
// the definitions they follow.
type ReportsProjector struct{}

func (ReportsProjector) Name() string { return "reports" }
func (ReportsProjector) Tables() []string {
	return []string{"report_settings", "report_threads", "report_hourly", "report_daily", "report_pushed",
		"report_staged", "report_cube", "report_live"}
}

// Flush adds the sums its events staged to the rollups and seals the
// periods that are over (report_flush, migration 00031).
func (ReportsProjector) Flush(b *pgx.Batch) { queue(b, `SELECT report_flush()`) }

// BatchInterval implements Paced: reports are read as figures per hour and
// day, and each transaction's flush costs about a millisecond and a half
// whatever its size, so live batches start at most every 100 ms.
func (ReportsProjector) BatchInterval() time.Duration { return 100 * time.Millisecond }

var reportTypes = typesOf(domain.ThreadOpened{}, domain.InboundMessageReceived{}, domain.ReplyQueued{}, domain.NoteAdded{},
	domain.ThreadStatusChanged{}, domain.SessionQueued{}, domain.SessionAssigned{}, domain.SessionAccepted{},
	domain.SessionClosed{}, domain.SessionReopened{}, domain.SessionBotHandling{},
	domain.ReportSettingsChanged{}, domain.StatisticsPushed{})

func (ReportsProjector) Handles(t string) bool { return reportTypes[t] }

func (ReportsProjector) Apply(b *pgx.Batch, env domain.Envelope) error {
	at := occurredAt(env)
	switch e := env.Payload.(type) {
	case domain.ThreadOpened:
		queue(b, `SELECT report_on_opened($1, $2, $3, $4, $5)`, e.ThreadID, e.InstanceID, e.Provider, firstLabel(e.Labels), at)
	case domain.InboundMessageReceived:
		category := []string{}
		if l := firstLabel(e.Labels); l != "" {
			category = []string{l}
		}
		queue(b, `SELECT report_on_inbound($1, $2, $3)`, e.ThreadID, at, category)
	case domain.ReplyQueued:
		queue(b, `SELECT report_on_reply($1, $2, $3)`, e.ThreadID, at, e.AuthorID)
	case domain.NoteAdded:
		queue(b, `SELECT report_add(instance_id, $2, agent, '', channel, category, notes => 1) FROM report_threads WHERE thread_id = $1`, e.ThreadID, at)
	case domain.ThreadStatusChanged:
		if e.To == domain.StatusResolved || e.To == domain.StatusArchived {
			queue(b, `SELECT report_on_close($1, $2)`, e.ThreadID, at)
		} else {
			queue(b, `SELECT report_on_reopen($1, $2)`, e.ThreadID, at)
		}
	case domain.SessionBotHandling:
		queue(b, `SELECT report_on_session($1, $2, 'bot', '')`, e.ThreadID, at)
	case domain.SessionQueued:
		queue(b, `SELECT report_on_session($1, $2, 'queued', '')`, e.ThreadID, at)
	case domain.SessionAssigned:
		queue(b, `SELECT report_on_session($1, $2, 'assigned', $3)`, e.ThreadID, at, strconv.FormatInt(e.OperatorID, 10))
	case domain.SessionAccepted:
		queue(b, `SELECT report_on_session($1, $2, 'assigned', $3)`, e.ThreadID, at, strconv.FormatInt(e.OperatorID, 10))
	case domain.SessionClosed:
		queue(b, `SELECT report_on_close($1, $2)`, e.ThreadID, at)
	case domain.SessionReopened:
		queue(b, `SELECT report_on_reopen($1, $2)`, e.ThreadID, at)
	case domain.ReportSettingsChanged:
		hours, err := json.Marshal(nonNilHours(e.BusinessHours))
		if err != nil {
			return err
		}
		queue(b, `INSERT INTO report_settings (instance_id, time_zone, business_hours) VALUES ($1, $2, $3)
			ON CONFLICT (instance_id) DO UPDATE SET time_zone = EXCLUDED.time_zone, business_hours = EXCLUDED.business_hours`,
			e.InstanceID, e.TimeZone, string(hours))
	case domain.StatisticsPushed:
		dim, err := json.Marshal(nonNilDimension(e.Dimension))
		if err != nil {
			return err
		}
		metrics, err := json.Marshal(e.Metrics)
		if err != nil {
			return err
		}
		agent, channel, category := PushedDimensions(e.Dimension)
		queue(b, `INSERT INTO report_pushed (instance_id, type, day, dimension, agent, channel, category, metrics)
			VALUES ($1, $2, $3::date, $4::jsonb, $5, $6, $7, $8::jsonb)
			ON CONFLICT (instance_id, type, day, dimension) DO UPDATE SET metrics = EXCLUDED.metrics`,
			e.InstanceID, e.Type, e.Date, string(dim), agent, channel, category, string(metrics))
	}
	return nil
}

// PushedDimensions reads the report dimensions of a push: agent_id (or
// agent), channel and category; other names stay in the push only.
func PushedDimensions(d map[string]string) (agent, channel, category string) {
	agent = d["agent_id"]
	if agent == "" {
		agent = d["agent"]
	}
	return agent, d["channel"], d["category"]
}

// firstLabel is a thread's category: its first label, or none.
func firstLabel(labels []string) string {
	for _, l := range labels {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

func nonNilHours(h []domain.BusinessWindow) []domain.BusinessWindow {
	if h == nil {
		return []domain.BusinessWindow{}
	}
	return h
}

func nonNilDimension(d map[string]string) map[string]string {
	if d == nil {
		return map[string]string{}
	}
	return d
}
