package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// timedEvent is an event of a generated history with the time it happened.
type timedEvent struct {
	stream string
	at     time.Time
	ev     domain.Event
}

// reportZones are the time zones histories are generated in: whole-hour,
// half-hour and 45-minute offsets, and daylight-saving rules of both
// hemispheres (Lord Howe moves by half an hour).
var reportZones = []string{"UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu",
	"Australia/Lord_Howe", "Australia/Sydney", "Asia/Shanghai"}

// reportStarts are days around daylight-saving changes of 2026.
var reportStarts = []time.Time{
	time.Date(2026, 3, 7, 20, 0, 0, 0, time.UTC),  // US spring forward (8 March)
	time.Date(2026, 3, 28, 18, 0, 0, 0, time.UTC), // EU spring forward (29 March)
	time.Date(2026, 4, 4, 10, 0, 0, 0, time.UTC),  // AU fall back (5 April)
	time.Date(2026, 10, 3, 10, 0, 0, 0, time.UTC), // AU spring forward (4 October)
	time.Date(2026, 10, 24, 20, 0, 0, 0, time.UTC),
	time.Date(2026, 10, 31, 22, 0, 0, 0, time.UTC), // US fall back (1 November)
}

// randomHours is a random weekly schedule (sometimes none).
func randomHours(r *rand.Rand) []domain.BusinessWindow {
	if r.IntN(4) == 0 {
		return nil
	}
	var out []domain.BusinessWindow
	for d := 0; d < 7; d++ {
		if r.IntN(5) == 0 {
			continue
		}
		start := r.IntN(12) // 00:00 to 11:30, sometimes in a daylight-saving gap
		end := start + 1 + r.IntN(24-start)
		hm := func(h, m int) string { return fmt.Sprintf("%02d:%02d", h, m) }
		w := domain.BusinessWindow{Weekday: d, Start: hm(start, 30*r.IntN(2)), End: hm(end, 0)}
		if end == 24 {
			w.End = "24:00"
		}
		if w.End <= w.Start {
			continue
		}
		out = append(out, w)
	}
	return out
}

// randomHistory makes the events of threads of one instance: bot-first and
// person-first sessions, hand-offs, assignments and reassignments, replies
// by operators and bots, notes, closes and reopens (by a message or a status
// change), at random gaps of seconds to days.
func randomHistory(r *rand.Rand, instanceID string, threads int, spread time.Duration) []timedEvent {
	var out []timedEvent
	start := reportStarts[r.IntN(len(reportStarts))]
	tz := reportZones[r.IntN(len(reportZones))]
	out = append(out, timedEvent{stream: domain.ReportsStream(instanceID), at: start.Add(-time.Hour),
		ev: domain.ReportSettingsChanged{InstanceID: instanceID, TimeZone: tz, BusinessHours: randomHours(r)}})
	channels := []string{domain.ProviderTelegram, domain.ProviderGenericWebhook, "wecom"}
	labels := []string{"", "billing", "refund", "tech"}
	for n := 0; n < threads; n++ {
		id := fmt.Sprintf("%s-t%d", instanceID, n)
		stream := domain.ThreadStream(id)
		// To the microsecond, as Postgres keeps a timestamp: the projector
		// computes on the stored times, and a nanosecond rounded away can
		// move a whole-millisecond figure by one.
		at := start.Add(time.Duration(r.Int64N(int64(spread)))).Truncate(time.Microsecond)
		emit := func(evs ...domain.Event) {
			for _, e := range evs {
				out = append(out, timedEvent{stream: stream, at: at, ev: e})
			}
		}
		bot := r.IntN(2) == 0
		label := labels[r.IntN(len(labels))]
		var lbls []string
		if label != "" {
			lbls = []string{label}
		}
		inbound := func() domain.InboundMessageReceived {
			return domain.InboundMessageReceived{ThreadID: id, MessageID: domain.RandomUUID(domain.CryptoRandom), Provider: "p", Text: "hi", Labels: lbls}
		}
		emit(domain.ThreadOpened{ThreadID: id, InstanceID: instanceID, Provider: channels[r.IntN(len(channels))], Status: domain.StatusOpen, Labels: lbls})
		state := domain.StatePending
		if bot {
			emit(domain.SessionBotHandling{ThreadID: id, InstanceID: instanceID, BotID: "b1"})
			state = domain.StateAI
		} else {
			emit(domain.SessionQueued{ThreadID: id, InstanceID: instanceID})
		}
		emit(inbound())
		steps := 4 + r.IntN(14)
		for s := 0; s < steps; s++ {
			switch r.IntN(4) {
			case 0:
				at = at.Add(time.Duration(1+r.IntN(300)) * time.Second)
			case 1, 2:
				at = at.Add(time.Duration(1+r.IntN(4*3600)) * time.Second)
			default:
				at = at.Add(time.Duration(1+r.IntN(3*86400)) * time.Second)
			}
			op := strconv.Itoa(1 + r.IntN(3))
			switch k := r.IntN(10); {
			case k <= 1: // the customer writes
				if state == domain.StateClosed {
					emit(domain.SessionReopened{ThreadID: id, InstanceID: instanceID})
					state = domain.StatePending
					if bot {
						emit(domain.SessionBotHandling{ThreadID: id, InstanceID: instanceID, BotID: "b1"})
						state = domain.StateAI
					}
				}
				emit(inbound())
			case k == 2: // a bot answers, or hands off
				if state == domain.StateAI {
					if r.IntN(2) == 0 {
						emit(domain.SessionQueued{ThreadID: id, InstanceID: instanceID, Reason: domain.SessionReasonHandoff})
						state = domain.StatePending
					} else {
						emit(domain.ReplyQueued{ThreadID: id, MessageID: domain.RandomUUID(domain.CryptoRandom), AuthorID: domain.BotAuthor("b1"), Text: "bot"})
					}
				}
			case k == 3: // routing or a person assigns
				if state != domain.StateClosed {
					if r.IntN(2) == 0 {
						emit(domain.SessionAssigned{ThreadID: id, InstanceID: instanceID, OperatorID: int64(op[0] - '0')})
					} else {
						emit(domain.SessionAccepted{ThreadID: id, InstanceID: instanceID, OperatorID: int64(op[0] - '0')})
					}
					state = domain.StateManual
				}
			case k <= 5: // a person replies (sometimes not the holder)
				emit(domain.ReplyQueued{ThreadID: id, MessageID: domain.RandomUUID(domain.CryptoRandom), AuthorID: "user-" + op, Text: "reply"})
			case k == 6:
				emit(domain.NoteAdded{ThreadID: id, MessageID: domain.RandomUUID(domain.CryptoRandom), AuthorID: "user-" + op, Text: "note"})
			case k == 7: // unassigned back to the queue
				if state == domain.StateManual {
					emit(domain.SessionQueued{ThreadID: id, InstanceID: instanceID, Reason: domain.SessionReasonUnassigned})
					state = domain.StatePending
				}
			case k == 8: // closed (the session, then the thread's status)
				if state != domain.StateClosed {
					emit(domain.SessionClosed{ThreadID: id, InstanceID: instanceID}, domain.ThreadStatusChanged{ThreadID: id, To: domain.StatusResolved})
					state = domain.StateClosed
				}
			default: // opened again by a status change
				if state == domain.StateClosed {
					emit(domain.ThreadStatusChanged{ThreadID: id, To: domain.StatusOpen}, domain.SessionReopened{ThreadID: id, InstanceID: instanceID})
					state = domain.StatePending
				} else {
					emit(domain.ThreadStatusChanged{ThreadID: id, To: domain.StatusResolved})
					state = domain.StateClosed
				}
			}
		}
	}
	return out
}

// bruteCycle is a thread's cycle as the brute-force computation follows it.
type bruteCycle struct {
	instance, channel, category, agent string
	open, hadBot                       bool
	started                            time.Time
	person, botSince, firstResponse    *time.Time
	operatorMessages                   int
	waiting                            []time.Time
}

// bruteReports computes every rollup sum straight from the definitions
// (README "Reports"), in Go, from the events in order: the independent
// answer the projector's SQL must agree with.
func bruteReports(events []timedEvent) (daily, hourly map[string][]int64) {
	cols := projections.RollupColumns()
	idx := map[string]int{}
	for i, c := range cols {
		idx[c] = i
	}
	daily, hourly = map[string][]int64{}, map[string][]int64{}
	zones := map[string]*time.Location{}
	hours := map[string][]domain.BusinessWindow{}
	threads := map[string]*bruteCycle{}
	zone := func(inst string) *time.Location {
		if l, ok := zones[inst]; ok {
			return l
		}
		return time.UTC
	}
	add := func(inst string, at time.Time, agent, responder, channel, category string, kv ...any) {
		local := at.In(zone(inst))
		dim := "|" + agent + "|" + responder + "|" + channel + "|" + category
		for _, m := range []struct {
			into map[string][]int64
			key  string
		}{{daily, local.Format("2006-01-02") + dim}, {hourly, local.Format("2006-01-02T15") + dim}} {
			row, ok := m.into[m.key]
			if !ok {
				row = make([]int64, len(cols))
				m.into[m.key] = row
			}
			for i := 0; i < len(kv); i += 2 {
				row[idx[kv[i].(string)]] += kv[i+1].(int64)
			}
		}
	}
	ms := func(a, b time.Time) int64 {
		if !b.After(a) {
			return 0
		}
		return b.Sub(a).Milliseconds()
	}
	for _, te := range events {
		at := te.at
		switch e := te.ev.(type) {
		case domain.ReportSettingsChanged:
			zones[e.InstanceID], _ = time.LoadLocation(e.TimeZone)
			hours[e.InstanceID] = e.BusinessHours
		case domain.ThreadOpened:
			category := ""
			if len(e.Labels) > 0 {
				category = e.Labels[0]
			}
			p := at
			threads[e.ThreadID] = &bruteCycle{instance: e.InstanceID, channel: e.Provider, category: category, open: true, started: at, person: &p}
			add(e.InstanceID, at, "", "", e.Provider, category, "conversations_created", int64(1))
		case domain.InboundMessageReceived:
			c := threads[e.ThreadID]
			if c.category == "" && len(e.Labels) > 0 {
				c.category = e.Labels[0]
			}
			if c.open && c.person != nil {
				c.waiting = append(c.waiting, at)
			}
			add(c.instance, at, c.agent, "", c.channel, c.category, "messages_in", int64(1))
		case domain.ReplyQueued:
			c := threads[e.ThreadID]
			if strings.HasPrefix(e.AuthorID, "bot:") {
				add(c.instance, at, c.agent, "", c.channel, c.category, "messages_bot", int64(1))
				continue
			}
			kv := []any{"messages_out", int64(1)}
			if c.open {
				loc, bh := zone(c.instance), hours[c.instance]
				if c.person == nil {
					if c.botSince != nil {
						kv = append(kv, "bot_handling_ms", ms(*c.botSince, at), "bot_ended", int64(1))
						c.botSince = nil
					}
					p := at
					c.person = &p
				}
				if c.firstResponse == nil {
					kv = append(kv, "first_responses", int64(1), "first_response_ms", ms(*c.person, at),
						"first_response_business_ms", domain.BusinessDuration(*c.person, at, loc, bh))
					f := at
					c.firstResponse = &f
				}
				for _, w := range c.waiting {
					kv = append(kv, "replies", int64(1), "reply_ms", ms(w, at), "reply_business_ms", domain.BusinessDuration(w, at, loc, bh))
				}
				c.waiting = nil
				c.operatorMessages++
			}
			add(c.instance, at, c.agent, e.AuthorID, c.channel, c.category, kv...)
		case domain.NoteAdded:
			c := threads[e.ThreadID]
			add(c.instance, at, c.agent, "", c.channel, c.category, "notes", int64(1))
		case domain.SessionBotHandling:
			c := threads[e.ThreadID]
			if !c.open {
				c.agent = ""
				continue
			}
			c.agent = ""
			if !c.hadBot {
				add(c.instance, at, "", "", c.channel, c.category, "bot_conversations", int64(1))
			}
			c.hadBot = true
			if c.botSince == nil {
				b := at
				c.botSince = &b
			}
			if c.firstResponse == nil {
				c.person, c.waiting = nil, nil
			}
		case domain.SessionQueued, domain.SessionAssigned, domain.SessionAccepted:
			var id string
			agent := ""
			switch s := e.(type) {
			case domain.SessionQueued:
				id = s.ThreadID
			case domain.SessionAssigned:
				id, agent = s.ThreadID, strconv.FormatInt(s.OperatorID, 10)
			case domain.SessionAccepted:
				id, agent = s.ThreadID, strconv.FormatInt(s.OperatorID, 10)
			}
			c := threads[id]
			c.agent = agent
			if !c.open {
				continue
			}
			if c.botSince != nil {
				add(c.instance, at, agent, "", c.channel, c.category, "bot_handoffs", int64(1), "bot_handling_ms", ms(*c.botSince, at), "bot_ended", int64(1))
				c.botSince = nil
			}
			if c.person == nil {
				p := at
				c.person = &p
			}
		case domain.SessionClosed:
			bruteClose(threads[e.ThreadID], at, zone, hours, add, ms)
		case domain.ThreadStatusChanged:
			if e.To == domain.StatusResolved || e.To == domain.StatusArchived {
				bruteClose(threads[e.ThreadID], at, zone, hours, add, ms)
			} else {
				bruteReopen(threads[e.ThreadID], at, add)
			}
		case domain.SessionReopened:
			bruteReopen(threads[e.ThreadID], at, add)
		}
	}
	return daily, hourly
}

func bruteClose(c *bruteCycle, at time.Time, zone func(string) *time.Location, hours map[string][]domain.BusinessWindow,
	add func(string, time.Time, string, string, string, string, ...any), ms func(a, b time.Time) int64) {
	if !c.open {
		return
	}
	kv := []any{"conversations_closed", int64(1), "resolution_ms", ms(c.started, at),
		"resolution_business_ms", domain.BusinessDuration(c.started, at, zone(c.instance), hours[c.instance])}
	if c.botSince != nil {
		kv = append(kv, "bot_handling_ms", ms(*c.botSince, at), "bot_ended", int64(1))
	}
	if c.hadBot {
		kv = append(kv, "bot_closed", int64(1))
		if c.operatorMessages == 0 {
			kv = append(kv, "bot_resolved", int64(1))
		}
	}
	add(c.instance, at, c.agent, "", c.channel, c.category, kv...)
	c.open, c.botSince, c.waiting = false, nil, nil
}

func bruteReopen(c *bruteCycle, at time.Time, add func(string, time.Time, string, string, string, string, ...any)) {
	if c.open {
		return
	}
	p := at
	*c = bruteCycle{instance: c.instance, channel: c.channel, category: c.category, open: true, started: at, person: &p}
	add(c.instance, at, "", "", c.channel, c.category, "conversations_reopened", int64(1))
}

// historyFixture is what the history tests share: a database, an event
// store on it, the event registry, and a random source seeded from the clock
// on stream (the seed is logged, so a failure can be replayed).
func historyFixture(t *testing.T, stream uint64) (*pgxpool.Pool, *pgstore.Store, *domain.Registry, *rand.Rand) {
	t.Helper()
	pool := pgtest.NewPool(t)
	store := pgstore.New(pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() { _ = store.Close() })
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return pool, store, domain.NewEventRegistry(), rand.New(rand.NewPCG(seed, stream))
}

// storeHistory copies a history into the event store and applies it with
// p in batches of batch() events, as its live runner would.
func storeHistory(t *testing.T, ctx context.Context, pool *pgxpool.Pool, store *pgstore.Store, reg *domain.Registry, p projections.Projector,
	events []timedEvent, batch func() int) {
	t.Helper()
	before, err := store.HeadPosition(ctx)
	require.NoError(t, err)
	_, err = pgtest.CopyEvents(ctx, pool, func(emit func(pgtest.BulkEvent) bool) error {
		for _, te := range events {
			p, err := reg.Encode(te.ev, domain.Metadata{EventID: domain.RandomUUID(domain.CryptoRandom), OccurredAt: te.at})
			if err != nil {
				return err
			}
			if !emit(pgtest.BulkEvent{Stream: te.stream, Event: p}) {
				return nil
			}
		}
		return nil
	})
	require.NoError(t, err)
	applyStored(t, ctx, pool, store, reg, p, before, batch)
}

// applyStored applies the stored events after position after to p, in
// batches of the sizes batch gives, as the runner applies a live log.
func applyStored(t *testing.T, ctx context.Context, pool *pgxpool.Pool, store *pgstore.Store, reg *domain.Registry, p projections.Projector,
	after uint64, batch func() int) {
	t.Helper()
	for {
		evs, err := store.ReadAll(ctx, after, uint64(batch()))
		require.NoError(t, err)
		if len(evs) == 0 {
			break
		}
		res, err := projections.ApplyBatch(ctx, pool, reg, p, evs, "", projections.Hooks{})
		require.NoError(t, err)
		require.Empty(t, res.Parked, "nothing parked")
		after = evs[len(evs)-1].Position
	}
}

// TestReportRollupsAgreeWithBruteForce generates random histories (reopens,
// reassignments, bot hand-offs, days and hours across time-zone and
// daylight-saving boundaries, business hours) and checks every rollup sum,
// daily and hourly, against the brute-force computation from the events.
func TestReportRollupsAgreeWithBruteForce(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	store := pgstore.New(pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() { _ = store.Close() })
	reg := domain.NewEventRegistry()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 17))
	covered := map[string]int64{}
	t.Cleanup(func() {
		// The histories reached every case the definitions name.
		for _, c := range projections.RollupColumns() {
			assert.Positive(t, covered[c], "some history produced %s", c)
		}
	})
	for round := 0; round < 12; round++ {
		inst := fmt.Sprintf("soinst_r%d", round)
		// Threads start within 36 hours, or (every third round) over 75
		// days, so whole months are sealed and reports read them whole.
		spread := 36 * time.Hour
		if round%3 == 2 {
			spread = 75 * 24 * time.Hour
		}
		events := randomHistory(r, inst, 25, spread)
		if round%2 == 0 {
			// In time order, as a live log mostly is: periods are sealed as
			// time goes on. Odd rounds go thread by thread, back and forth
			// in time, so most sums land in periods sealed already.
			sort.SliceStable(events, func(i, j int) bool { return events[i].at.Before(events[j].at) })
		}
		// Batches of 1 to 40 events: the stage is flushed and periods
		// sealed many times over a history.
		storeHistory(t, ctx, pool, store, reg, projections.ReportsProjector{}, events, func() int { return 1 + r.IntN(40) })
		wantDaily, wantHourly := bruteReports(events)
		for _, row := range wantDaily {
			for i, c := range projections.RollupColumns() {
				covered[c] += row[i]
			}
		}
		gotDaily, err := projections.RollupSums(ctx, pool, inst, false)
		require.NoError(t, err)
		gotHourly, err := projections.RollupSums(ctx, pool, inst, true)
		require.NoError(t, err)
		compareSums(t, fmt.Sprintf("round %d (seed %d) daily", round, seed), wantDaily, gotDaily)
		compareSums(t, fmt.Sprintf("round %d (seed %d) hourly", round, seed), wantHourly, gotHourly)
		compareReports(t, ctx, pool, r, fmt.Sprintf("round %d (seed %d)", round, seed), inst, events[0].at, wantDaily, wantHourly)
		if t.Failed() {
			return
		}
	}
	// Applied in batches of 1 to 40, the tables equal one rebuild's (pages
	// of 2,000): sealing does not depend on where batches end.
	diffs, err := projections.Verify(ctx, pool, store, reg, projections.ReportsProjector{}, 5)
	require.NoError(t, err)
	assert.Empty(t, diffs, "the reports tables equal a fresh rebuild (seed %d)", seed)
}

// compareReports asks random reports (dimensions, granularity, range) and
// checks every row against the brute-force sums added up per period and
// dimensions: whether a report reads sealed periods from the cube or the
// full-key rollups, it must give the same answer.
func compareReports(t *testing.T, ctx context.Context, pool *pgxpool.Pool, r *rand.Rand, what, inst string, first time.Time, daily, hourly map[string][]int64) {
	t.Helper()
	dims := projections.ReportDimensions
	for n := 0; n < 24; n++ {
		q := projections.ReportQuery{InstanceID: inst, Type: domain.StatisticsTypes[r.IntN(len(domain.StatisticsTypes))],
			Granularity: projections.ReportGranularities[r.IntN(len(projections.ReportGranularities))]}
		for _, i := range r.Perm(len(dims))[:r.IntN(len(dims)+1)] {
			q.Dimensions = append(q.Dimensions, dims[i])
		}
		days := 1 + r.IntN(100)
		if q.Granularity == "hour" {
			days = 1 + r.IntN(projections.MaxHourlyDays)
		}
		q.Start = time.Date(first.Year(), first.Month(), first.Day()-2+r.IntN(10), 0, 0, 0, 0, time.UTC)
		if r.IntN(2) == 0 {
			q.Start = time.Date(first.Year(), first.Month()+time.Month(r.IntN(2)), 1, 0, 0, 0, 0, time.UTC)
		}
		q.End = q.Start.AddDate(0, 0, days-1)
		require.NoError(t, projections.ValidateReportQuery(&q))
		rep, err := projections.BuildReport(ctx, pool, q)
		require.NoError(t, err)
		src := daily
		if q.Granularity == "hour" {
			src = hourly
		}
		want := map[string][]int64{}
		for k, v := range src {
			f := strings.Split(k, "|")
			day, err := time.Parse(time.DateOnly, f[0][:10])
			require.NoError(t, err)
			if day.Before(q.Start) || day.After(q.End) {
				continue
			}
			period := f[0]
			switch q.Granularity {
			case "hour":
				period = f[0] + ":00"
			case "week":
				period = day.AddDate(0, 0, -(int(day.Weekday())+6)%7).Format(time.DateOnly)
			case "month":
				period = f[0][:7]
			}
			values := map[string]string{"agent": f[1], "responder": f[2], "channel": f[3], "category": f[4]}
			key := period
			for _, d := range q.Dimensions {
				key += "|" + values[d]
			}
			if want[key] == nil {
				want[key] = make([]int64, len(v))
			}
			for i := range v {
				want[key][i] += v[i]
			}
		}
		got := map[string][]int64{}
		for _, row := range rep.Series {
			key := row.Period
			for _, d := range q.Dimensions {
				key += "|" + row.Dimension[d]
			}
			got[key] = projections.RowSums(row)
		}
		// The derived figures, as README "Reports" defines them, from the
		// brute-force sums.
		col := map[string]int{}
		for i, c := range projections.RollupColumns() {
			col[c] = i
		}
		ratios := map[string][3]string{ // figure: sum, divided by sum, unit
			"first_response_avg_seconds":          {"first_response_ms", "first_responses", "s"},
			"first_response_business_avg_seconds": {"first_response_business_ms", "first_responses", "s"},
			"resolution_avg_seconds":              {"resolution_ms", "conversations_closed", "s"},
			"resolution_business_avg_seconds":     {"resolution_business_ms", "conversations_closed", "s"},
			"reply_avg_seconds":                   {"reply_ms", "replies", "s"},
			"reply_business_avg_seconds":          {"reply_business_ms", "replies", "s"},
			"bot_handling_avg_seconds":            {"bot_handling_ms", "bot_ended", "s"},
			"bot_resolution_rate":                 {"bot_resolved", "bot_closed", ""},
		}
		for _, row := range rep.Series {
			key := row.Period
			for _, d := range q.Dimensions {
				key += "|" + row.Dimension[d]
			}
			w := want[key]
			if w == nil {
				continue // reported by compareSums below
			}
			for name, v := range row.Metrics.Map() {
				expect := 0.0
				if r, ok := ratios[name]; !ok {
					expect = float64(w[col[name]])
				} else if den := w[col[r[1]]]; den != 0 {
					expect = float64(w[col[r[0]]]) / float64(den)
					if r[2] == "s" {
						expect /= 1000
					}
				}
				assert.InDelta(t, expect, v, 0.0006, "%s: %s of %s", what, name, key)
			}
		}
		// A report reads only the sums its type's figures need.
		read := map[string]bool{}
		for _, c := range projections.ReportSumColumns(q.Type) {
			read[c] = true
		}
		for _, m := range []map[string][]int64{want, got} {
			for _, v := range m {
				for i, c := range projections.RollupColumns() {
					if !read[c] {
						v[i] = 0
					}
				}
			}
		}
		compareSums(t, fmt.Sprintf("%s report %s by %s %v from %s", what, q.Granularity, q.Dimensions, days, q.Start.Format(time.DateOnly)), want, got)
	}
}

func compareSums(t *testing.T, what string, want, got map[string][]int64) {
	t.Helper()
	cols := projections.RollupColumns()
	for k, w := range want {
		g, ok := got[k]
		if !assert.True(t, ok, "%s: rollup row %s missing", what, k) {
			continue
		}
		for i := range cols {
			assert.Equal(t, w[i], g[i], "%s: %s of %s", what, cols[i], k)
		}
	}
	for k := range got {
		_, ok := want[k]
		assert.True(t, ok, "%s: rollup row %s not expected", what, k)
	}
}

// TestBusinessDurationAgreesWithSQL compares the Go definition of
// business-hours time with the projector's SQL function over random
// intervals and schedules, daylight-saving days included.
func TestBusinessDurationAgreesWithSQL(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	seed := uint64(time.Now().UnixNano())
	r := rand.New(rand.NewPCG(seed, 3))
	for i := 0; i < 400; i++ {
		tz := reportZones[r.IntN(len(reportZones))]
		loc, err := time.LoadLocation(tz)
		require.NoError(t, err)
		hours := randomHours(r)
		a := reportStarts[r.IntN(len(reportStarts))].Add(time.Duration(r.IntN(3*86400)) * time.Second)
		b := a.Add(time.Duration(r.IntN(9*86400)) * time.Second)
		want := domain.BusinessDuration(a, b, loc, hours)
		hj := "[]"
		if len(hours) > 0 {
			var parts []string
			for _, w := range hours {
				parts = append(parts, fmt.Sprintf(`{"weekday":%d,"start":%q,"end":%q}`, w.Weekday, w.Start, w.End))
			}
			hj = "[" + strings.Join(parts, ",") + "]"
		}
		var got int64
		require.NoError(t, pool.QueryRow(ctx, `SELECT report_business_ms($1, $2, $3, $4::jsonb)`, a, b, tz, hj).Scan(&got))
		require.Equal(t, want, got, "seed %d: %s to %s in %s with %s", seed, a, b, tz, hj)
	}
}

// Figures marshal as encoding/json marshals the same map.
func TestFiguresMarshalLikeAMap(t *testing.T) {
	row := projections.ReportRowOf(domain.StatisticsAgent, []int64{3, 0, 7, 11, 250, 1, 0, 4, 1234567, 3, 9, 1e13, 1, 2500, 1, 0, 0, 0, 0, 0, 0})
	got, err := json.Marshal(row.Metrics)
	require.NoError(t, err)
	want, err := json.Marshal(row.Metrics.Map())
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(got))
	assert.Len(t, row.Metrics.Map(), len(projections.ReportMetricNames(domain.StatisticsAgent)))
}
