package projections_test

// Benchmarks of the read side over a million rows, loaded with COPY
// (pgtest.CopyEvents, pgtest.CopyRows) rather than through the store and the
// projectors, so that loading takes seconds:
//
//	make bench BENCH='Rebuild|InboxQuery' PKG=./projections/
//
// Each benchmark function gets one database and loads it once; the work that
// cannot be repeated b.N times (a rebuild of a million events) runs once per
// sub-benchmark and reports its figures with b.ReportMetric.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

const (
	// rebuildEvents is the size of the log BenchmarkRebuild replays.
	rebuildEvents = 1_000_000
	// inboxThreads is the size of the inbox BenchmarkInboxQuery queries.
	inboxThreads = 1_000_000
	// deepThreads of them belong to one busy instance whose threads all match
	// the filters' families (open/pending, high/urgent, a keyword in either
	// language), so that page 500 of every filter has rows there.
	deepThreads = 60_000
	// benchInstances is how many instances share the rows.
	benchInstances = 100
)

// Keywords BenchmarkInboxQuery searches for; the corpus below uses each in a
// few percent of the subjects.
const (
	keywordEN = "refund"
	keywordZH = "退款"
)

var (
	subjectsEN = []string{
		"Order #%d has not been delivered",
		"Refund request for invoice %d",
		"Cannot log in on the mobile app (build %d)",
		"API latency is high on region eu-%d",
		"Question about the pricing plan for %d seats",
		"Password reset link expired, ticket %d",
		"Please change my shipping address, order %d",
		"Bug: export to CSV fails after %d rows",
		"Feature request: dark mode (vote %d)",
		"Payment failed with card ending %d",
		"Where is my refund? Order %d",
		"Invoice %d shows the wrong VAT number",
		"Webhook deliveries failing with 502 since build %d",
		"Workflow run %d failed on main",
		"Issue %d: crash when opening settings",
		"Pull request %d: bump dependencies",
		"Subscription renewal question, account %d",
		"Damaged item received, order %d",
		"Two-factor codes not arriving (attempt %d)",
		"Partner integration onboarding, step %d",
	}
	subjectsZH = []string{
		"订单 %d 还没有发货",
		"申请退款：订单 %d",
		"无法登录账户（第 %d 次尝试）",
		"发票 %d 开具问题",
		"物流信息查询 %d",
		"退款进度查询，工单 %d",
		"会员续费咨询 %d",
		"商品破损，订单 %d",
	}
	summaries = []string{
		"Customer asks about a late delivery and wants a new date.",
		"User cannot sign in; suggested a password reset.",
		"Billing question about the annual plan; no refund asked.",
		"Automated alert, resolved by the on-call engineer.",
		"客户询问退款进度，已转交财务处理。",
		"Duplicate of an earlier ticket about shipping.",
	}
	phrases = []string{
		"hello there, ", "I have a question about my order ", "and its delivery date. ",
		"The tracking page has not changed for days. ", "Could you please check? ",
		"Thanks in advance, ", "the payment went through twice ", "according to my bank statement. ",
		"我的订单一直没有更新物流信息，", "请尽快帮我处理，谢谢！", "It worked yesterday but not today. ",
		"Error code 502 on every retry. ", "Best regards. ",
	}
	providers = []string{domain.ProviderGenericWebhook, domain.ProviderGenericWebhook, domain.ProviderTelegram, domain.ProviderTelegram, domain.ProviderGitHub}
	labelSets = [][]string{nil, nil, nil, {"billing"}, {"ops", "urgent"}, {"high"}, {"low"}, {"support", "vip"}, {"bug", "high"}}
)

// benchInstance is an instance of the synthetic data with its owner. Owners
// hold two or three instances each.
func benchInstance(i int) domain.Instance {
	return domain.Instance{
		ID:      domain.DerivedID("soinst_", "bench", strconv.Itoa(i)),
		Alias:   fmt.Sprintf("bench-%03d", i),
		OwnerID: fmt.Sprintf("owner-%02d", i*2/5),
	}
}

func randomSubject(rnd *rand.Rand) string {
	if rnd.IntN(100) < 8 {
		return fmt.Sprintf(subjectsZH[rnd.IntN(len(subjectsZH))], rnd.IntN(100000))
	}
	return fmt.Sprintf(subjectsEN[rnd.IntN(len(subjectsEN))], rnd.IntN(100000))
}

func randomText(rnd *rand.Rand, minBytes int) string {
	var sb strings.Builder
	for sb.Len() < minBytes {
		sb.WriteString(phrases[rnd.IntN(len(phrases))])
	}
	return strings.TrimSpace(sb.String())
}

// benchThread is a thread of the synthetic event log.
type benchThread struct {
	id, externalID, provider, subject string
	inst                              domain.Instance
}

// generateEvents emits about n events (never fewer; at most two more) as the
// webhook command would append them: ThreadOpened + InboundMessageReceived +
// ChargeApplied for a thread's first message, InboundMessageReceived +
// ChargeApplied for the others, on the thread's stream, over
// benchInstances instances. A quarter of the messages open a thread (about
// 110,000 threads for a million events); the others answer a recent thread.
// Event times advance about 20 s per message from 2024-01-01.
func generateEvents(reg *domain.Registry, n int, emit func(pgtest.BulkEvent) bool) error {
	rnd := rand.New(rand.NewPCG(1, 2))
	instances := make([]domain.Instance, benchInstances)
	for i := range instances {
		instances[i] = benchInstance(i)
	}
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var threads []benchThread
	count := 0
	send := func(stream string, payload domain.Event, meta domain.Metadata) (bool, error) {
		ev, err := reg.Encode(payload, meta)
		if err != nil {
			return false, err
		}
		count++
		return emit(pgtest.BulkEvent{Stream: stream, Event: ev, Created: meta.OccurredAt}), nil
	}
	for msg := 0; count < n; msg++ {
		at = at.Add(time.Duration(rnd.ExpFloat64() * float64(20*time.Second)))
		var th benchThread
		opening := len(threads) == 0 || rnd.IntN(4) == 0
		if opening {
			inst := instances[rnd.IntN(len(instances))]
			provider := providers[rnd.IntN(len(providers))]
			ext := "ext-" + strconv.Itoa(len(threads))
			th = benchThread{id: domain.InboundThreadID(inst.ID, provider, ext), externalID: ext, provider: provider, subject: randomSubject(rnd), inst: inst}
			threads = append(threads, th)
		} else {
			// Recent threads get most of the answers.
			back := min(int(rnd.ExpFloat64()*2000), len(threads)-1)
			th = threads[len(threads)-1-back]
		}
		eventID := "evt-" + strconv.Itoa(msg)
		msgID := domain.InboundMessageID(th.inst.ID, th.provider, eventID)
		labels := labelSets[rnd.IntN(len(labelSets))]
		text := randomText(rnd, 80+rnd.IntN(160))
		raw := `{"event_id":"` + eventID + `","thread_id":"` + th.externalID + `","title":"` + th.subject +
			`","text":"` + text + `","user":{"id":"u` + strconv.Itoa(rnd.IntN(5000)) + `"}}`
		meta := func(typ string) domain.Metadata {
			return domain.Metadata{
				EventID:       domain.EventUUID(th.inst.ID, th.provider, eventID, typ),
				CorrelationID: "req_" + strconv.FormatUint(rnd.Uint64(), 36),
				CausationID:   th.provider + ":" + eventID,
				OwnerID:       th.inst.OwnerID,
				InstanceAlias: th.inst.Alias,
				Actor:         domain.Actor{Kind: domain.ActorAPIKey, ID: "key_bench"},
				OccurredAt:    at,
			}
		}
		stream := domain.ThreadStream(th.id)
		var events []domain.Event
		if opening {
			events = append(events, domain.ThreadOpened{
				ThreadID: th.id, InstanceID: th.inst.ID, OwnerID: th.inst.OwnerID, InstanceAlias: th.inst.Alias,
				Provider: th.provider, ExternalThreadID: th.externalID, Subject: th.subject,
				Status: domain.StatusOpen, Priority: domain.PriorityFromLabels(labels), Labels: labels,
			})
		}
		events = append(events,
			domain.InboundMessageReceived{
				ThreadID: th.id, MessageID: msgID, Provider: th.provider, ProviderEventID: eventID, ExternalMessageID: eventID,
				MessageType: domain.MessageText, Subject: th.subject, Text: text,
				Sender: domain.Sender{ExternalID: "u1", DisplayName: "Bench Sender"}, Labels: labels, RawPayload: []byte(raw),
			},
			domain.ChargeApplied{
				ChargeID: domain.DerivedID(domain.PrefixCharge, msgID), OwnerID: th.inst.OwnerID,
				AmountMicroUSD: domain.InboundMessageFeeMicroUSD, Reason: domain.ChargeInboundMessage, ThreadID: th.id, MessageID: msgID,
			})
		for _, e := range events {
			ok, err := send(stream, e, meta(e.EventType()))
			if err != nil || !ok {
				return err
			}
		}
	}
	return nil
}

// replayOnly applies nothing but decodes every event: its rebuild is the cost
// of reading and decoding the log, the floor under every projector's rebuild.
type replayOnly struct{}

func (replayOnly) Name() string                            { return "none" }
func (replayOnly) Tables() []string                        { return nil }
func (replayOnly) Handles(string) bool                     { return true }
func (replayOnly) Apply(*pgx.Batch, domain.Envelope) error { return nil }

// BenchmarkRebuild replays a log of a million events (see generateEvents)
// into each projector with projections.Rebuild and reports events/s (events
// replayed, i.e. the whole log, per second of the whole Rebuild call) and the
// rebuild's seconds. projector=none reads and decodes without applying. A
// rebuild runs once per sub-benchmark whatever b.N is.
func BenchmarkRebuild(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.NewPool(b)
	store := pgstore.New(pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.Cleanup(func() { _ = store.Close() })
	reg := domain.NewEventRegistry()

	start := time.Now()
	head, err := pgtest.CopyEvents(ctx, pool, func(emit func(pgtest.BulkEvent) bool) error {
		return generateEvents(reg, rebuildEvents, emit)
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d events with COPY in %s (vacuum included)", head, time.Since(start).Round(time.Millisecond))
	logTableSizes(b, pool, "event_store_events")

	for _, p := range append([]projections.Projector{replayOnly{}}, projections.All()...) {
		var res projections.RebuildResult
		var wall time.Duration
		b.Run("projector="+p.Name(), func(b *testing.B) {
			if wall == 0 { // the first call; a later one (b.N > 1) reports the same run
				t0 := time.Now()
				r, err := projections.Rebuild(ctx, pool, store, reg, p)
				if err != nil {
					b.Fatal(err)
				}
				res, wall = r, time.Since(t0)
				logTableSizes(b, pool, p.Tables()...)
			}
			b.ReportMetric(float64(wall.Nanoseconds()), "ns/op")
			b.ReportMetric(float64(res.Events)/wall.Seconds(), "events/s")
			b.ReportMetric(wall.Seconds(), "rebuild_s")
			b.ReportMetric((wall - res.Elapsed).Seconds(), "swap_s")
		})
	}
}

func logTableSizes(b testing.TB, pool *pgxpool.Pool, tables ...string) {
	for _, t := range tables {
		var rows int64
		var heap, idx string
		err := pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM `+pgx.Identifier{t}.Sanitize()+`),
				pg_size_pretty(pg_table_size($1::regclass)), pg_size_pretty(pg_indexes_size($1::regclass))`, t).Scan(&rows, &heap, &idx)
		if err != nil {
			b.Logf("size of %s: %v", t, err)
			continue
		}
		b.Logf("%s: %d rows, table %s, indexes %s", t, rows, heap, idx)
	}
}

// loadInbox writes inboxThreads rows straight into inbox_threads with COPY
// (indexes built afterwards), 10,000 per instance: statuses open 35% /
// pending 15% / resolved 40% / archived 10%, priorities normal 60% / low 15% /
// high 18% / urgent 7%, three providers, 8% Chinese subjects, a fifth with an
// AI summary, a third assigned to one of 20 names, activity spread over two
// years, and a session state each; a manual session's operator is one of
// 200. The deep instance's threads match the deep filters (deepStatuses and
// the rest) and half of them are assigned to one of deepAssignees; its
// manual sessions are held by deepOperator or the next.
func loadInbox(b testing.TB, pool *pgxpool.Pool) (instances []domain.Instance, deep domain.Instance) {
	ctx := context.Background()
	instances = make([]domain.Instance, benchInstances)
	for i := range instances {
		instances[i] = benchInstance(i)
	}
	deep = benchInstance(benchInstances)
	pick := func(rnd *rand.Rand, values []string, weights []int) string {
		n := rnd.IntN(100)
		for i, w := range weights {
			if n < w {
				return values[i]
			}
			n -= w
		}
		return values[len(values)-1]
	}
	end := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	span := 2 * 365 * 24 * time.Hour
	start := time.Now()
	err := pgtest.WithoutIndexes(ctx, pool, "inbox_threads", "512MB", func() error {
		_, err := pgtest.CopyRows(ctx, pool, "inbox_threads",
			[]string{"thread_id", "instance_id", "owner_id", "provider", "subject", "status", "priority", "assignee", "labels",
				"last_message_preview", "last_message_at", "message_count", "ai_summary", "created_at", "updated_at", "last_position", "session_state",
				"session_operator"},
			func(emit func(row ...any) bool) error {
				rnd := rand.New(rand.NewPCG(3, 4))
				for i := range inboxThreads {
					inst := instances[i%len(instances)]
					isDeep := i >= inboxThreads-deepThreads
					if isDeep {
						inst = deep
					}
					provider := providers[rnd.IntN(len(providers))]
					last := end.Add(-time.Duration(rnd.Int64N(int64(span))))
					created := last.Add(-time.Duration(rnd.Int64N(int64(30 * 24 * time.Hour))))
					var assignee *string
					if rnd.IntN(3) == 0 {
						a := "agent-" + strconv.Itoa(rnd.IntN(20))
						assignee = &a
					}
					if isDeep && rnd.IntN(2) == 0 {
						// Half the deep instance is assigned to one of two names,
						// so page 500 of an assignee filter has rows.
						a := deepAssignees[rnd.IntN(len(deepAssignees))]
						assignee = &a
					}
					labels := labelSets[rnd.IntN(len(labelSets))]
					if labels == nil {
						labels = []string{}
					}
					summary := ""
					if rnd.IntN(5) == 0 {
						summary = summaries[rnd.IntN(len(summaries))]
					}
					subject := randomSubject(rnd)
					status := pick(rnd, domain.Statuses, []int{35, 15, 40, 10})
					priority := pick(rnd, []string{domain.PriorityNormal, domain.PriorityLow, domain.PriorityHigh, domain.PriorityUrgent}, []int{60, 15, 18, 7})
					session := domain.SessionStates[rnd.IntN(len(domain.SessionStates))]
					if isDeep {
						session = []string{domain.StatePending, domain.StateManual}[rnd.IntN(2)]
						subject = fmt.Sprintf([]string{"Where is my refund? Order %d", "申请退款：订单 %d"}[i%2], rnd.IntN(100000))
						status = deepStatuses[rnd.IntN(2)]
						priority = deepPriorities[rnd.IntN(2)]
					}
					var operator *int64
					if session == domain.StateManual {
						op := int64(1 + rnd.IntN(200))
						if isDeep {
							op = int64(deepOperator + rnd.IntN(2))
						}
						operator = &op
					}
					if !emit(domain.InboundThreadID(inst.ID, provider, "ext-"+strconv.Itoa(i)), inst.ID, inst.OwnerID, provider,
						subject, status, priority,
						assignee, labels, projections.Preview(randomText(rnd, 60+rnd.IntN(200))), last, 1+rnd.IntN(40), summary,
						created, last, int64(i+1), session, operator) {
						return nil
					}
				}
				return nil
			})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := pgtest.VacuumAnalyze(ctx, pool, "inbox_threads", "inbox_counts"); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d inbox threads with COPY, indexes and vacuum in %s", inboxThreads, time.Since(start).Round(time.Millisecond))
	logTableSizes(b, pool, "inbox_threads")
	return instances, deep
}

// loadSessions gives every thread the session its inbox row names, state
// and operator (loadInbox draws a quarter each ai, pending, manual and
// closed; half of the deep instance's pending, so page 500 of that filter
// has rows), so the sessions read model is at size beside the inbox.
func loadSessions(b testing.TB, pool *pgxpool.Pool) {
	ctx := context.Background()
	start := time.Now()
	_, err := pool.Exec(ctx, `INSERT INTO sessions (thread_id, instance_id, provider, contact_id, status, operator_id, queued_position, created_at, updated_at)
		SELECT thread_id, instance_id, provider, 'socus_' || md5(thread_id), session_state,
			session_operator, last_position, created_at, updated_at
		FROM inbox_threads`)
	if err != nil {
		b.Fatal(err)
	}
	if err := pgtest.VacuumAnalyze(ctx, pool, "sessions"); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded the threads' sessions in %s", time.Since(start).Round(time.Millisecond))
}

// The filter values every thread of the deep instance matches one of.
var (
	deepStatuses   = []string{domain.StatusOpen, domain.StatusPending}
	deepPriorities = []string{domain.PriorityHigh, domain.PriorityUrgent}
	deepProviders  = []string{domain.ProviderGenericWebhook, domain.ProviderTelegram}
	// Half the deep instance's threads are assigned to one of these names,
	// and its manual sessions (half of them) are held by operator
	// deepOperator or the next: about 15,000 threads each.
	deepAssignees = []string{"agent-0", "agent-1"}
)

// deepOperator is the first of the deep instance's two operators (operators
// 1-200 hold the other instances' manual sessions).
const deepOperator = 1000

// inboxCase is one kind of inbox query.
type inboxCase struct {
	name   string
	filter func(rnd *rand.Rand) projections.ThreadFilter
}

// BenchmarkInboxQuery measures projections.ListThreads (count + page, as the
// inbox endpoint runs it) over a million threads in 100 instances, one query
// at a time, each on a random instance: no filter, status+priority (a random
// pair), a keyword (q=en: "refund", q=zh: "退款"), the session state
// (session=pending; every thread has a session), a provider, an assignee
// and an operator (a credential bound to one sees only its sessions), each
// at page 1 and page 500 (limit 20; page 500 on the deep instance, so it has
// rows); nofilter/cursor500 reads the rows of page 500 with the keyset
// cursor instead of the offset. It reports p50_ms and p99_ms of b.N queries.
func BenchmarkInboxQuery(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.NewPool(b)
	instances, deep := loadInbox(b, pool)
	loadSessions(b, pool)

	// Page 1 is read on a random instance (about 9,400 threads each); page 500
	// (rows 9,981-10,000 of the answer) on the deep instance, where every
	// filter matches at least 15,000 threads, so each case reads a full page.
	var cursor projections.Cursor
	err := pool.QueryRow(ctx, `SELECT last_message_at, thread_id FROM inbox_threads WHERE instance_id = $1
		ORDER BY last_message_at DESC, thread_id DESC OFFSET $2 LIMIT 1`, deep.ID, 499*projections.DefaultLimit-1).
		Scan(&cursor.LastMessageAt, &cursor.ThreadID)
	if err != nil {
		b.Fatal(err)
	}
	on := func(rnd *rand.Rand, page int) (string, []string, []string) {
		if page == 1 {
			return instances[rnd.IntN(len(instances))].ID, domain.Statuses, domain.Priorities
		}
		return deep.ID, deepStatuses, deepPriorities
	}

	var cases []inboxCase
	for _, page := range []int{1, 500} {
		p := page
		cases = append(cases,
			inboxCase{fmt.Sprintf("nofilter/page=%d", p), func(rnd *rand.Rand) projections.ThreadFilter {
				inst, _, _ := on(rnd, p)
				return projections.ThreadFilter{InstanceID: inst, Page: p, Limit: 20}
			}},
			inboxCase{fmt.Sprintf("status+priority/page=%d", p), func(rnd *rand.Rand) projections.ThreadFilter {
				inst, statuses, priorities := on(rnd, p)
				return projections.ThreadFilter{InstanceID: inst, Page: p, Limit: 20,
					Status: statuses[rnd.IntN(len(statuses))], Priority: priorities[rnd.IntN(len(priorities))]}
			}},
			inboxCase{fmt.Sprintf("q=en/page=%d", p), func(rnd *rand.Rand) projections.ThreadFilter {
				inst, _, _ := on(rnd, p)
				return projections.ThreadFilter{InstanceID: inst, Page: p, Limit: 20, Q: keywordEN}
			}},
			inboxCase{fmt.Sprintf("q=zh/page=%d", p), func(rnd *rand.Rand) projections.ThreadFilter {
				inst, _, _ := on(rnd, p)
				return projections.ThreadFilter{InstanceID: inst, Page: p, Limit: 20, Q: keywordZH}
			}},
			inboxCase{fmt.Sprintf("session=pending/page=%d", p), func(rnd *rand.Rand) projections.ThreadFilter {
				inst, _, _ := on(rnd, p)
				return projections.ThreadFilter{InstanceID: inst, Page: p, Limit: 20, SessionState: domain.StatePending}
			}},
			inboxCase{fmt.Sprintf("provider/page=%d", p), func(rnd *rand.Rand) projections.ThreadFilter {
				inst, _, _ := on(rnd, p)
				return projections.ThreadFilter{InstanceID: inst, Page: p, Limit: 20, Provider: deepProviders[rnd.IntN(len(deepProviders))]}
			}},
			inboxCase{fmt.Sprintf("assignee/page=%d", p), func(rnd *rand.Rand) projections.ThreadFilter {
				inst, _, _ := on(rnd, p)
				a := deepAssignees[rnd.IntN(len(deepAssignees))]
				if p == 1 {
					a = "agent-" + strconv.Itoa(rnd.IntN(20))
				}
				return projections.ThreadFilter{InstanceID: inst, Page: p, Limit: 20, Assignee: a}
			}},
			inboxCase{fmt.Sprintf("operator/page=%d", p), func(rnd *rand.Rand) projections.ThreadFilter {
				inst, _, _ := on(rnd, p)
				op := int64(deepOperator + rnd.IntN(2))
				if p == 1 {
					op = int64(1 + rnd.IntN(200))
				}
				return projections.ThreadFilter{InstanceID: inst, Page: p, Limit: 20, OperatorID: op}
			}},
		)
	}
	cases = append(cases, inboxCase{"nofilter/cursor500", func(rnd *rand.Rand) projections.ThreadFilter {
		c := cursor
		return projections.ThreadFilter{InstanceID: deep.ID, Limit: 20, Cursor: &c}
	}})

	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			timeQueries(b, rand.New(rand.NewPCG(5, uint64(len(c.name)))), func(rnd *rand.Rand) (int, error) {
				page, err := projections.ListThreads(ctx, pool, c.filter(rnd))
				return len(page.Threads), err
			})
		})
	}
}

// timeQueries runs query b.N times, one at a time, and reports p50_ms and
// p99_ms of their durations and the rows they returned (rows/op).
func timeQueries(b *testing.B, rnd *rand.Rand, query func(rnd *rand.Rand) (rows int, err error)) {
	durations := make([]time.Duration, 0, b.N)
	rows := 0
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		n, err := query(rnd)
		durations = append(durations, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		rows += n
	}
	b.StopTimer()
	reportPercentiles(b, durations)
	b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
}

// BenchmarkSessionList measures projections.ListSessions (the seed-003
// session list, as its endpoint runs it) over the same million threads and
// their sessions: all of an instance's sessions by latest activity, one
// state (manual), an operator's (csId, or a credential bound to an
// operator), and the queue (pending, oldest first), at page 1 on a random
// instance and at page 500 on the deep one; and a contact's latest
// conversation. It reports p50_ms and p99_ms of b.N lists.
func BenchmarkSessionList(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.NewPool(b)
	instances, deep := loadInbox(b, pool)
	loadSessions(b, pool)
	type sessionCase struct {
		name   string
		filter func(rnd *rand.Rand) projections.SessionFilter
	}
	var cases []sessionCase
	for _, page := range []int{1, 500} {
		p := page
		on := func(rnd *rand.Rand) string {
			if p == 1 {
				return instances[rnd.IntN(len(instances))].ID
			}
			return deep.ID
		}
		operator := func(rnd *rand.Rand) *int64 {
			op := int64(deepOperator + rnd.IntN(2))
			if p == 1 {
				op = int64(1 + rnd.IntN(200))
			}
			return &op
		}
		cases = append(cases,
			sessionCase{fmt.Sprintf("all/page=%d", p), func(rnd *rand.Rand) projections.SessionFilter {
				return projections.SessionFilter{InstanceID: on(rnd), Page: p, Limit: 20}
			}},
			sessionCase{fmt.Sprintf("manual/page=%d", p), func(rnd *rand.Rand) projections.SessionFilter {
				return projections.SessionFilter{InstanceID: on(rnd), Page: p, Limit: 20, Status: domain.StateManual}
			}},
			sessionCase{fmt.Sprintf("operator/page=%d", p), func(rnd *rand.Rand) projections.SessionFilter {
				return projections.SessionFilter{InstanceID: on(rnd), Page: p, Limit: 20, OperatorID: operator(rnd)}
			}},
			sessionCase{fmt.Sprintf("pending/page=%d", p), func(rnd *rand.Rand) projections.SessionFilter {
				return projections.SessionFilter{InstanceID: on(rnd), Page: p, Limit: 20, Status: domain.StatePending}
			}},
		)
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			timeQueries(b, rand.New(rand.NewPCG(7, uint64(len(c.name)))), func(rnd *rand.Rand) (int, error) {
				views, err := projections.ListSessions(ctx, pool, c.filter(rnd))
				return len(views), err
			})
		})
	}

	// A contact's latest conversation (seed 002's conversations started by
	// visitor_id): 500 contacts drawn from every instance.
	type contact struct{ instance, id string }
	var contacts []contact
	rs, err := pool.Query(ctx, `SELECT instance_id, contact_id FROM sessions TABLESAMPLE SYSTEM (1) REPEATABLE (9) LIMIT 500`)
	if err != nil {
		b.Fatal(err)
	}
	for rs.Next() {
		var c contact
		if err := rs.Scan(&c.instance, &c.id); err != nil {
			b.Fatal(err)
		}
		contacts = append(contacts, c)
	}
	if rs.Err() != nil || len(contacts) == 0 {
		b.Fatalf("sample contacts: %v (%d)", rs.Err(), len(contacts))
	}
	b.Run("latest-of-contact", func(b *testing.B) {
		timeQueries(b, rand.New(rand.NewPCG(7, 17)), func(rnd *rand.Rand) (int, error) {
			c := contacts[rnd.IntN(len(contacts))]
			_, found, err := projections.LatestThreadOfContact(ctx, pool, c.instance, c.id)
			if !found && err == nil {
				err = fmt.Errorf("contact %s has no thread", c.id)
			}
			return 1, err
		})
	})
}

// reportPercentiles reports p50_ms and p99_ms of durations (sorted in place).
func reportPercentiles(b *testing.B, durations []time.Duration) {
	if len(durations) == 0 {
		return
	}
	slices.Sort(durations)
	at := func(q float64) float64 {
		i := min(int(q*float64(len(durations))), len(durations)-1)
		return float64(durations[i].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50_ms")
	b.ReportMetric(at(0.99), "p99_ms")
}
