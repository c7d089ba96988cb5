package main

// The soak's final checks, against the event store and the read models.

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// soakResult is what the checks found.
type soakResult struct {
	lost     int
	doubled  int
	failures []string // checks that failed beyond lost/doubled
	notes    []string // what the report should show
}

func (r *soakResult) lose(format string, args ...any) {
	r.lost++
	r.failures = append(r.failures, "LOST: "+fmt.Sprintf(format, args...))
}

func (r *soakResult) double(format string, args ...any) {
	r.doubled++
	r.failures = append(r.failures, "DOUBLED: "+fmt.Sprintf(format, args...))
}

func (r *soakResult) fail(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *soakResult) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// soakEvents reads the JSON data of every event of the given type. A raw
// payload may hold the escape \u0000, which Postgres' JSON functions refuse:
// it is dropped from the text first (the check reads no field that holds it).
func (e *soakEnv) soakEvents(ctx context.Context, eventType string, fields ...string) ([][]string, error) {
	cols := make([]string, len(fields))
	for i, f := range fields {
		cols[i] = fmt.Sprintf("coalesce(d->>'%s', '')", f)
	}
	rows, err := e.pool.Query(ctx, `SELECT `+strings.Join(cols, ", ")+`
		FROM (SELECT replace(convert_from(data, 'UTF8'), '\u0000', '')::jsonb AS d FROM event_store_events WHERE event_type = $1) s`, eventType)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals := make([]string, len(fields))
		ptrs := make([]any, len(fields))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}

// projectionLag returns the largest follower lag and the parked events, as
// `projections status` prints them (columns found by the header's LAG and
// PARKED).
func (e *soakEnv) projectionLag() (lag, parked int, status string) {
	out, errOut, code := e.cliCode("projections", "status")
	if code != 0 {
		return -1, 0, errOut
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	header := strings.Fields(lines[0])
	lagCol, parkedCol := slices.Index(header, "LAG"), slices.Index(header, "PARKED")
	if lagCol < 0 || parkedCol < 0 {
		return -1, 0, out
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) == 0 {
			break // the parked events' listing follows a blank line
		}
		if len(f) != len(header) {
			return -1, 0, out
		}
		n, err1 := strconv.Atoi(f[lagCol])
		p, err2 := strconv.Atoi(f[parkedCol])
		if err1 != nil || err2 != nil {
			return -1, 0, out
		}
		lag, parked = max(lag, n), parked+p
	}
	return lag, parked, out
}

// settle waits (bounded) until every projector reached the head and every
// queued reply ended completed or failed.
func (e *soakEnv) settle(within time.Duration) (time.Duration, string) {
	start := time.Now()
	ctx := context.Background()
	var last string
	logged := start
	for time.Since(start) < within {
		lag, _, status := e.projectionLag()
		var queued, open int
		err := e.pool.QueryRow(ctx, `SELECT count(*) FROM event_store_events WHERE event_type = 'ReplyQueued'`).Scan(&queued)
		if err == nil {
			err = e.pool.QueryRow(ctx, `SELECT $1::int - count(*) FILTER (WHERE status IN ('completed', 'failed')) FROM reply_actions`, queued).Scan(&open)
		}
		if err == nil && lag == 0 && open == 0 {
			return time.Since(start), ""
		}
		last = fmt.Sprintf("projector lag %d, replies not settled %d (err %v)", lag, open, err)
		if lag != 0 {
			last += "\n" + status
		}
		if time.Since(logged) > 10*time.Second {
			logged = time.Now()
			e.t.Logf("settling for %s: %s", time.Since(start).Round(time.Second), last)
		}
		time.Sleep(500 * time.Millisecond)
	}
	return time.Since(start), last
}

// check compares what the clients saw with what the system stored.
func (e *soakEnv) check(stats *soakStats, console *soakConsole) *soakResult {
	res := &soakResult{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stats.mu.Lock()
	defer stats.mu.Unlock()

	// Inbound messages: every accepted delivery stored exactly once, no bad input stored.
	inbound, err := e.soakEvents(ctx, "InboundMessageReceived", "provider", "provider_event_id", "message_id")
	if err != nil {
		res.fail("read InboundMessageReceived: %v", err)
		return res
	}
	stored := map[string]int{}
	storedMsg := map[string]bool{}
	for _, row := range inbound {
		stored[row[0]+":"+row[1]]++
		storedMsg[row[2]] = true
	}
	keys := make([]string, 0, len(stored))
	for k := range stored {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		n := stored[k]
		if n > 1 {
			res.double("provider event %s stored %d times", k, n)
		}
		switch {
		case stats.badKeys[k]:
			res.fail("bad input stored: %s", k)
		case !stats.goodKeys[k]:
			res.fail("an event nobody sent is stored: %s", k)
		}
	}
	acceptedKeys := make([]string, 0, len(stats.goodAccepted))
	for k := range stats.goodAccepted {
		acceptedKeys = append(acceptedKeys, k)
	}
	sort.Strings(acceptedKeys)
	for _, k := range acceptedKeys {
		acc := stats.goodAccepted[k]
		if stored[k] == 0 {
			res.lose("%s answered 202 %d time(s) but is not in the event store", k, acc.n)
		}
		if len(acc.messageIDs) > 1 {
			res.double("%s answered with %d different message ids", k, len(acc.messageIDs))
		}
	}
	unansweredStored, neverAccepted := 0, 0
	for k := range stats.goodUnanswered {
		if stats.goodAccepted[k] != nil {
			continue
		}
		if stored[k] > 0 {
			unansweredStored++
		} else {
			neverAccepted++
		}
	}
	res.note("inbound: %d messages stored for %d distinct valid events sent; %d valid events never answered 2xx/4xx (%d of them stored anyway, %d not stored: not accepted)",
		len(inbound), len(stats.goodKeys), unansweredStored+neverAccepted, unansweredStored, neverAccepted)

	// Inbound charges: one per stored message.
	charges, err := e.soakEvents(ctx, "ChargeApplied", "charge_id", "reason", "message_id", "action_id", "amount_micro_usd")
	if err != nil {
		res.fail("read ChargeApplied: %v", err)
		return res
	}
	perMessage := map[string]int{}
	perAction := map[string]int{}
	for _, c := range charges {
		switch c[1] {
		case "inbound_message":
			perMessage[c[2]]++
		case "reply_delivery":
			perAction[c[3]]++
		}
	}
	for m, n := range perMessage {
		if n > 1 {
			res.double("inbound message %s charged %d times", m, n)
		}
		if !storedMsg[m] {
			res.fail("a charge for message %s that is not stored", m)
		}
	}
	for m := range storedMsg {
		if perMessage[m] == 0 {
			res.fail("inbound message %s stored without its charge", m)
		}
	}
	for a, n := range perAction {
		if n > 1 {
			res.double("reply action %s charged %d times", a, n)
		}
	}

	// Refunds: none twice, in the log and in the ledger.
	refunds, err := e.soakEvents(ctx, "RefundApplied", "charge_id", "action_id")
	if err != nil {
		res.fail("read RefundApplied: %v", err)
		return res
	}
	refundedCharges := map[string]int{}
	for _, r := range refunds {
		refundedCharges[r[0]]++
	}
	for c, n := range refundedCharges {
		if n > 1 {
			res.double("charge %s refunded %d times (event log)", c, n)
		}
	}
	e.checkLedger(ctx, res)

	// Routing: with operators online and no capacity limit, no session is left
	// queued, and the assignments are spread fairly.
	e.checkRouting(ctx, res)

	// Summaries (the assistant follower): every thread with a customer's
	// text has one, and no thread state was summarized twice.
	e.checkSummaries(ctx, res)

	// Replies.
	e.checkReplies(ctx, res, console)

	// Notes (not idempotent: a retried note may be stored twice; reported only).
	notes, err := e.soakEvents(ctx, "NoteAdded", "text")
	if err == nil {
		perText := map[string]int{}
		for _, n := range notes {
			perText[n[0]]++
		}
		twice, missing := 0, 0
		for _, n := range perText {
			if n > 1 {
				twice++
			}
		}
		console.mu.Lock()
		for text := range console.notesOK {
			if perText[text] == 0 {
				missing++
			}
		}
		res.note("notes: %d sent, %d answered 201, %d unanswered; %d stored, %d stored twice (retried after an unanswered request), %d answered 201 but missing",
			console.notes.sent, console.notes.created, console.notes.unanswered, len(notes), twice, missing)
		console.mu.Unlock()
		if missing > 0 {
			res.fail("%d notes answered 201 are not stored", missing)
		}
	}
	return res
}

// checkLedger: balance = credits − charges + refunds; every refund reverses one
// charge of the same amount; no charge refunded twice.
func (e *soakEnv) checkLedger(ctx context.Context, res *soakResult) {
	rows, err := e.pool.Query(ctx, `SELECT entry_id, kind, amount_micro_usd, coalesce(reverses_entry_id, '') FROM wallet_ledger WHERE owner_id = $1`, soakOwner)
	if err != nil {
		res.fail("read wallet_ledger: %v", err)
		return
	}
	defer rows.Close()
	charges := map[string]int64{}
	type refund struct {
		id, charge string
		amount     int64
	}
	var refunds []refund
	var credits, charged, refunded int64
	var nCredits, nCharges int
	for rows.Next() {
		var id, kind, rev string
		var amount int64
		if err := rows.Scan(&id, &kind, &amount, &rev); err != nil {
			res.fail("scan wallet_ledger: %v", err)
			return
		}
		switch kind {
		case "credit":
			credits += amount
			nCredits++
		case "charge":
			charged += amount
			charges[id] = amount
			nCharges++
		case "refund":
			refunded += amount
			refunds = append(refunds, refund{id, rev, amount})
		default:
			res.fail("ledger entry %s of unknown kind %q", id, kind)
		}
	}
	if err := rows.Err(); err != nil {
		res.fail("read wallet_ledger: %v", err)
		return
	}
	seen := map[string]bool{}
	for _, r := range refunds {
		amount, ok := charges[r.charge]
		switch {
		case !ok:
			res.fail("refund %s names no charge (%q)", r.id, r.charge)
		case amount != r.amount:
			res.fail("refund %s of %d reverses a charge of %d", r.id, r.amount, amount)
		}
		if seen[r.charge] {
			res.double("charge %s refunded twice (ledger)", r.charge)
		}
		seen[r.charge] = true
	}
	var balance int64
	if err := e.pool.QueryRow(ctx, `SELECT balance_micro_usd FROM wallet_balances WHERE owner_id = $1`, soakOwner).Scan(&balance); err != nil {
		res.fail("read wallet_balances: %v", err)
		return
	}
	if want := credits - charged + refunded; balance != want {
		res.fail("ledger invariant broken: balance %d != credits %d − charges %d + refunds %d = %d", balance, credits, charged, refunded, want)
	}
	res.note("ledger: %d credit(s) %d, %d charges %d, %d refunds %d, balance %d micro-USD (= credits − charges + refunds)",
		nCredits, credits, nCharges, charged, len(refunds), refunded, balance)
}

// checkReplies: every reply the console was answered for is stored and
// settled, every stored reply settled, none sent twice.
func (e *soakEnv) checkReplies(ctx context.Context, res *soakResult, console *soakConsole) {
	queued, err := e.soakEvents(ctx, "ReplyQueued", "action_id", "text", "thread_id")
	if err != nil {
		res.fail("read ReplyQueued: %v", err)
		return
	}
	actionText := map[string]string{}
	textActions := map[string][]string{}
	for _, q := range queued {
		if _, dup := actionText[q[0]]; dup {
			res.double("ReplyQueued for action %s stored twice", q[0])
		}
		actionText[q[0]] = q[1]
		textActions[q[1]] = append(textActions[q[1]], q[0])
	}
	for text, acts := range textActions {
		if len(acts) > 1 {
			res.double("one reply (%q) queued as %d actions %v", soakCut(text, 40), len(acts), acts)
		}
	}
	status := map[string]string{}
	errCode := map[string]string{}
	rows, err := e.pool.Query(ctx, `SELECT action_id, status, coalesce(error_code, '') FROM reply_actions`)
	if err != nil {
		res.fail("read reply_actions: %v", err)
		return
	}
	for rows.Next() {
		var id, st, code string
		if err := rows.Scan(&id, &st, &code); err != nil {
			res.fail("scan reply_actions: %v", err)
			rows.Close()
			return
		}
		status[id], errCode[id] = st, code
	}
	rows.Close()
	for id := range actionText {
		if st := status[id]; st != "completed" && st != "failed" {
			res.lose("reply action %s never settled (status %q)", id, st)
		}
	}

	// What the Bot API accepted: once per reply at most.
	okSends := map[string]int{}
	sends := e.bot.sent()
	for _, s := range sends {
		if s.Status == 200 {
			okSends[s.Text]++
		}
		if len(textActions[s.Text]) == 0 {
			res.fail("sendMessage of a text no reply holds: %q", soakCut(s.Text, 60))
		}
	}
	for text, n := range okSends {
		if n > 1 {
			res.double("reply %q accepted by the Bot API %d times", soakCut(text, 50), n)
		}
	}
	for id, text := range actionText {
		if status[id] == "completed" && okSends[text] != 1 {
			res.fail("action %s completed with %d accepted sendMessage calls", id, okSends[text])
		}
	}

	// The console's view.
	console.mu.Lock()
	replies := append([]*soakReply(nil), console.replies...)
	console.mu.Unlock()
	outcome := map[string]int{}
	var answered, unanswered, replays, replayed, problems int
	for _, r := range replies {
		r.mu.Lock()
		if len(r.actions) > 1 {
			res.double("Idempotency-Key %s answered with %d different actions", r.key, len(r.actions))
		}
		for id := range r.actions {
			if _, ok := actionText[id]; !ok {
				res.lose("reply %s answered 201 (action %s) but not in the event store", r.key, id)
			}
			outcome[fmt.Sprintf("%s → %s %s", r.target, status[id], errCode[id])]++
		}
		if r.got201 > 0 {
			answered++
		} else {
			unanswered++
		}
		replays += r.replays
		replayed += r.replayed
		for _, p := range r.problems {
			problems++
			if problems <= 20 {
				res.note("reply %s: %s", r.key, p)
			}
		}
		r.mu.Unlock()
	}
	byStatus := map[int]int{}
	for _, s := range sends {
		byStatus[s.Status]++
	}
	res.note("replies: %d created by the console (%d answered 201, %d never; %d repeats of a key, %d answers marked Idempotent-Replayed), %d stored; outcomes %v",
		len(replies), answered, unanswered, replays, replayed, len(actionText), outcome)
	res.note("Bot API: %d sendMessage calls %v, %d distinct replies accepted", len(sends), byStatus, len(okSends))
}

// slowestReplies describes the replies that took longest from queued to
// settled, with their delivery streams (who claimed, what happened, when).
func (e *soakEnv) slowestReplies(n int) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := e.pool.Query(ctx, `
		WITH q AS (SELECT replace(convert_from(data, 'UTF8'), '\u0000', '')::jsonb->>'action_id' AS a, created_at AS t0
		           FROM event_store_events WHERE event_type = 'ReplyQueued'),
		     f AS (SELECT stream_name, max(created_at) AS t1 FROM event_store_events
		           WHERE event_type IN ('ReplyDelivered', 'ReplyDeliveryFailed') GROUP BY stream_name)
		SELECT q.a, q.t0, extract(epoch FROM f.t1 - q.t0)::float8 FROM q JOIN f ON f.stream_name = 'delivery-' || q.a
		ORDER BY 3 DESC LIMIT $1`, n)
	if err != nil {
		return []string{err.Error()}
	}
	type slow struct {
		action string
		t0     time.Time
		secs   float64
	}
	var slows []slow
	for rows.Next() {
		var s slow
		if err := rows.Scan(&s.action, &s.t0, &s.secs); err != nil {
			rows.Close()
			return []string{err.Error()}
		}
		slows = append(slows, s)
	}
	rows.Close()
	var out []string
	for _, s := range slows {
		line := fmt.Sprintf("%s settled %.1fs after it was queued:", s.action, s.secs)
		evs, err := e.pool.Query(ctx, `SELECT event_type, created_at, coalesce(replace(convert_from(data, 'UTF8'), '\u0000', '')::jsonb->>'worker', ''),
			coalesce(replace(convert_from(data, 'UTF8'), '\u0000', '')::jsonb->>'error_code', '') FROM event_store_events WHERE stream_name = $1 ORDER BY revision`, "delivery-"+s.action)
		if err != nil {
			out = append(out, line+" "+err.Error())
			continue
		}
		for evs.Next() {
			var typ, worker, code string
			var at time.Time
			if err := evs.Scan(&typ, &at, &worker, &code); err != nil {
				break
			}
			line += fmt.Sprintf(" +%.1fs %s", at.Sub(s.t0).Seconds(), typ)
			if worker != "" {
				line += "(" + worker + ")"
			}
			if code != "" {
				line += "(" + code + ")"
			}
		}
		evs.Close()
		out = append(out, line)
	}
	return out
}

// checkRouting: every session was assigned (none left pending), and the
// routing's round robin spread them evenly over the operators.
func (e *soakEnv) checkRouting(ctx context.Context, res *soakResult) {
	var pending, total int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FROM sessions`).Scan(&pending, &total); err != nil {
		res.fail("read sessions: %v", err)
		return
	}
	if pending > 0 {
		res.fail("%d of %d sessions still queued although %d operators were online with no capacity limit", pending, total, soakOperators)
	}
	rows, err := e.pool.Query(ctx, `SELECT operator_id, count(*) FROM sessions WHERE operator_id IS NOT NULL GROUP BY operator_id ORDER BY operator_id`)
	if err != nil {
		res.fail("read assignments: %v", err)
		return
	}
	var spread []string
	var lo, hi int
	for rows.Next() {
		var op int64
		var n int
		if err := rows.Scan(&op, &n); err != nil {
			res.fail("read assignments: %v", err)
			rows.Close()
			return
		}
		if len(spread) == 0 || n < lo {
			lo = n
		}
		hi = max(hi, n)
		spread = append(spread, fmt.Sprintf("%d:%d", op, n))
	}
	rows.Close()
	res.note("routing: %d sessions, %d pending, assigned per operator %s", total, pending, strings.Join(spread, " "))
	if len(spread) > 0 && hi-lo > 1 {
		// Round robin over equal operators: at most one apart. (Closed or
		// reassigned sessions would blur this; the soak closes none.)
		res.fail("routing spread %s is uneven (max − min = %d)", strings.Join(spread, " "), hi-lo)
	}
}

// checkSummaries waits (bounded) for the assistant follower to reach the
// head, then checks that every thread with a customer's text has an
// ai_summary and that no summary was appended twice for one thread state.
func (e *soakEnv) checkSummaries(ctx context.Context, res *soakResult) {
	deadline := time.Now().Add(60 * time.Second)
	var missing int
	for {
		err := e.pool.QueryRow(ctx, `SELECT count(*) FROM inbox_threads t WHERE t.ai_summary = ''
			AND EXISTS (SELECT 1 FROM thread_messages m WHERE m.thread_id = t.thread_id AND m.direction = 'inbound' AND btrim(m.text) <> '')`).Scan(&missing)
		if err != nil {
			res.fail("read summaries: %v", err)
			return
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	sums, err := e.soakEvents(ctx, "ThreadSummarized", "thread_id", "message_count")
	if err != nil {
		res.fail("read ThreadSummarized: %v", err)
		return
	}
	perThread := map[string]int{}
	for _, s := range sums {
		perThread[s[0]+"/"+s[1]]++
	}
	doubled := 0
	for k, n := range perThread {
		if n > 1 {
			doubled++
			if doubled <= 3 {
				res.note("summary appended %d times for thread/message count %s", n, k)
			}
		}
	}
	res.note("summaries: %d appended, %d threads with text still without one, %d thread states summarized twice", len(sums), missing, doubled)
	if missing > 0 {
		res.lose("%d threads with a customer's text have no ai_summary a minute after the load", missing)
	}
}
