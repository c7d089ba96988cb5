package domain

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Reports (seed 002 §4.3): an instance's reporting settings, metrics other
// systems push, and the daily figures sent to subscribers. The figures
// themselves are read models (projections/reports.go) of the thread events.

// ReportsStream names the stream of an instance's report settings and pushed metrics.
func ReportsStream(instanceID string) string { return "reports-" + instanceID }

// DailyStatisticsStream names the stream of one day's compiled figures: it
// holds one event at most (appended with no-stream).
func DailyStatisticsStream(instanceID, date string) string {
	return "statistics-daily-" + instanceID + "-" + date
}

// BusinessWindow is a weekly span of business hours in local wall-clock
// time: Weekday 0 is Sunday; End "24:00" is midnight at the day's end.
type BusinessWindow struct {
	Weekday int    `json:"weekday"`
	Start   string `json:"start"`
	End     string `json:"end"`
}

// ReportSettingsChanged sets the time zone the reports count days and hours
// in, and the business hours of the business-hours durations (none: every
// hour counts). It applies to what happens after it.
type ReportSettingsChanged struct {
	InstanceID    string           `json:"instance_id"`
	TimeZone      string           `json:"time_zone"`
	BusinessHours []BusinessWindow `json:"business_hours"`
	Actor         Actor            `json:"actor"`
}

func (ReportSettingsChanged) EventType() string { return "ReportSettingsChanged" }

// MaxBusinessWindows bounds the business hours of an instance.
const MaxBusinessWindows = 28

var hhmm = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$`)

// ValidateReportSettings checks a time zone (an IANA name) and business hours.
func ValidateReportSettings(tz string, hours []BusinessWindow) error {
	if tz == "" {
		return Errorf(ErrMissingField, "time_zone is required: an IANA time zone name such as Asia/Shanghai")
	}
	if tz == "Local" || strings.HasPrefix(tz, "/") {
		return Errorf(ErrInvalidField, "time_zone %q is not an IANA time zone name", tz)
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return Errorf(ErrInvalidField, "time_zone %q is not an IANA time zone name", tz)
	}
	if len(hours) > MaxBusinessWindows {
		return Errorf(ErrInvalidField, "business_hours holds at most %d windows", MaxBusinessWindows)
	}
	for i, w := range hours {
		if w.Weekday < 0 || w.Weekday > 6 {
			return Errorf(ErrInvalidField, "business_hours[%d].weekday must be 0 (Sunday) to 6 (Saturday)", i)
		}
		if !hhmm.MatchString(w.Start) || w.Start == "24:00" {
			return Errorf(ErrInvalidField, "business_hours[%d].start must be HH:MM, 00:00 to 23:59", i)
		}
		if !hhmm.MatchString(w.End) || w.End <= w.Start {
			return Errorf(ErrInvalidField, "business_hours[%d].end must be HH:MM after start, 24:00 at most", i)
		}
	}
	return nil
}

// BusinessDuration is how much of [a, b) falls in the business hours in
// loc (every hour when there are none), in whole milliseconds rounded down:
// the definition the reports projector's SQL follows. The projector works on
// times as Postgres keeps them, to the microsecond.
func BusinessDuration(a, b time.Time, loc *time.Location, hours []BusinessWindow) int64 {
	if !b.After(a) {
		return 0
	}
	if len(hours) == 0 {
		return b.Sub(a).Milliseconds()
	}
	var total time.Duration
	la, lb := a.In(loc), b.In(loc)
	day := time.Date(la.Year(), la.Month(), la.Day(), 0, 0, 0, 0, time.UTC)
	last := time.Date(lb.Year(), lb.Month(), lb.Day(), 0, 0, 0, 0, time.UTC)
	for ; !day.After(last); day = day.AddDate(0, 0, 1) {
		for _, w := range hours {
			if w.Weekday != int(day.Weekday()) {
				continue
			}
			ws, we := localAt(day, w.Start, loc), localAt(day, w.End, loc)
			if ws.Before(a) {
				ws = a
			}
			if we.After(b) {
				we = b
			}
			if we.After(ws) {
				total += we.Sub(ws)
			}
		}
	}
	return total.Milliseconds()
}

// localAt is a wall-clock time of a day in loc, resolved as Postgres
// resolves it (the reports' SQL does the same arithmetic): a time that a
// daylight-saving change skips takes the offset from before the change, a
// time it repeats the offset from after it.
func localAt(day time.Time, hm string, loc *time.Location) time.Time {
	var h, m int
	_, _ = fmt.Sscanf(hm, "%d:%d", &h, &m)
	wall := time.Date(day.Year(), day.Month(), day.Day(), h, m, 0, 0, time.UTC)
	_, early := wall.Add(-24 * time.Hour).In(loc).Zone()
	_, late := wall.Add(24 * time.Hour).In(loc).Zone()
	before := wall.Add(-time.Duration(early) * time.Second)
	if early == late {
		return before
	}
	after := wall.Add(-time.Duration(late) * time.Second)
	isWall := func(t time.Time) bool {
		l := t.In(loc)
		return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), 0, time.UTC).Equal(wall)
	}
	switch {
	case isWall(after):
		return after // repeated (both fit) or only the later fits
	case isWall(before):
		return before
	}
	return before // skipped
}

// Statistics types: what a report or a push is about.
const (
	StatisticsConversation = "conversation"
	StatisticsMessage      = "message"
	StatisticsAgent        = "agent"
)

// StatisticsTypes lists them.
var StatisticsTypes = []string{StatisticsConversation, StatisticsMessage, StatisticsAgent}

// Limits of a push.
const (
	MaxPushedMetrics    = 50
	MaxPushedDimensions = 10
	maxPushedNameBytes  = 64
	maxPushedValueBytes = 200
)

var pushedName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// StatisticsPushed is metrics another system reported for a day and a set
// of dimensions (seed 002's push). The last push of a type, day and
// dimension set replaces the ones before.
type StatisticsPushed struct {
	InstanceID string             `json:"instance_id"`
	Type       string             `json:"type"`
	Date       string             `json:"date"`
	Dimension  map[string]string  `json:"dimension"`
	Metrics    map[string]float64 `json:"metrics"`
	Actor      Actor              `json:"actor"`
}

func (StatisticsPushed) EventType() string { return "StatisticsPushed" }

// ValidatePush checks a push; the date (dimension "date") must be a calendar day.
func ValidatePush(p StatisticsPushed) error {
	if !validType(p.Type) {
		return Errorf(ErrInvalidField, "type must be one of %s", strings.Join(StatisticsTypes, ", "))
	}
	if p.Date == "" {
		return Errorf(ErrMissingField, "dimension.date is required: the day the metrics are for, YYYY-MM-DD")
	}
	if _, err := time.Parse(time.DateOnly, p.Date); err != nil {
		return Errorf(ErrInvalidField, "dimension.date must be a date, YYYY-MM-DD")
	}
	if len(p.Metrics) == 0 {
		return Errorf(ErrMissingField, "metrics must hold at least one number")
	}
	if len(p.Metrics) > MaxPushedMetrics {
		return Errorf(ErrInvalidField, "metrics holds at most %d numbers", MaxPushedMetrics)
	}
	for _, k := range sortedKeys(p.Metrics) {
		v := p.Metrics[k]
		if len(k) > maxPushedNameBytes || !pushedName.MatchString(k) {
			return Errorf(ErrInvalidField, "metric name %q must be lower-case letters, digits and _ (at most %d)", k, maxPushedNameBytes)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e15 {
			return Errorf(ErrInvalidField, "metric %s must be a finite number of magnitude 1e15 at most", k)
		}
	}
	if len(p.Dimension) > MaxPushedDimensions {
		return Errorf(ErrInvalidField, "dimension holds at most %d entries", MaxPushedDimensions)
	}
	for _, k := range sortedKeys(p.Dimension) {
		v := p.Dimension[k]
		if len(k) > maxPushedNameBytes || !pushedName.MatchString(k) {
			return Errorf(ErrInvalidField, "dimension name %q must be lower-case letters, digits and _ (at most %d)", k, maxPushedNameBytes)
		}
		if len(v) > maxPushedValueBytes || !utf8.ValidString(v) || strings.ContainsFunc(v, isControl) {
			return Errorf(ErrInvalidField, "dimension %s must be text of at most %d bytes without control characters", k, maxPushedValueBytes)
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func validType(t string) bool {
	for _, v := range StatisticsTypes {
		if v == t {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// DailyStatisticsCompiled is one local day's figures of an instance, made
// once after the day ends; subscribers receive it as statistics.daily.
type DailyStatisticsCompiled struct {
	InstanceID    string             `json:"instance_id"`
	InstanceAlias string             `json:"instance_alias"`
	Date          string             `json:"date"`
	TimeZone      string             `json:"time_zone"`
	Conversation  map[string]float64 `json:"conversation"`
	Message       map[string]float64 `json:"message"`
}

func (DailyStatisticsCompiled) EventType() string { return "DailyStatisticsCompiled" }

// ErrReportTooLarge is a report of more rows than one answer holds.
var ErrReportTooLarge = &Error{Code: "report_too_large", Message: "the report has too many rows: narrow the range, the granularity or the dimensions"}
