package projectionrunner_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/projectionrunner"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// notesProjector copies inbound texts into test_notes. The table's CHECK
// refuses a text containing "poison" (SQLSTATE 23514, a data error of that one
// event), and a text containing "kill" makes the projector's SQL terminate its
// own connection (a transient error: the database went away under it).
type notesProjector struct{}

func (notesProjector) Name() string     { return "test_notes" }
func (notesProjector) Tables() []string { return []string{"test_notes"} }
func (notesProjector) Handles(t string) bool {
	return t == (domain.InboundMessageReceived{}).EventType()
}
func (notesProjector) Apply(b *pgx.Batch, env domain.Envelope) error {
	m := env.Payload.(domain.InboundMessageReceived)
	if strings.Contains(m.Text, "kill") {
		b.Queue(`SELECT pg_terminate_backend(pg_backend_pid())`)
	}
	b.Queue(`INSERT INTO test_notes (message_id, text, position) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		m.MessageID, m.Text, int64(env.Raw.Position))
	return nil
}

func createNotes(t *testing.T, f *fixture) {
	_, err := f.pool.Exec(context.Background(), `CREATE TABLE test_notes (
		message_id text PRIMARY KEY,
		text       text NOT NULL CONSTRAINT test_notes_no_poison CHECK (text NOT LIKE '%poison%'),
		position   bigint NOT NULL)`)
	require.NoError(t, err)
}

// message ingests one inbound text on a thread of an instance.
func (f *fixture) message(t *testing.T, instance, thread, text string) commands.IngestResult {
	res, err := f.commands.IngestWebhook(context.Background(), commands.IngestWebhook{
		Instance: domain.Instance{ID: "soinst_" + instance, Alias: instance, OwnerID: "owner-" + instance},
		Message: domain.InboundMessage{
			Provider: domain.ProviderGenericWebhook, ProviderEventID: thread + "/" + text, ExternalThreadID: thread,
			Subject: "subject " + thread, MessageType: domain.MessageText, Text: text, Sender: domain.Sender{DisplayName: "c"},
		},
		RawPayload: []byte(`{}`),
		Context:    commands.Context{Actor: domain.Actor{Kind: domain.ActorSystem, ID: "test"}},
	})
	require.NoError(t, err)
	return res
}

func notes(t *testing.T, f *fixture) []string {
	rows, err := f.pool.Query(context.Background(), `SELECT text FROM test_notes ORDER BY position`)
	require.NoError(t, err)
	texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return texts
}

func statusOf(r *projectionrunner.Runner, name string) projectionrunner.Status {
	for _, s := range r.Statuses() {
		if s.Name == name {
			return s
		}
	}
	return projectionrunner.Status{}
}

func waitCheckpoint(t *testing.T, f *fixture, name string, pos uint64) {
	t.Helper()
	fresh, err := projections.WaitForPosition(context.Background(), f.pool, []string{name}, pos, 20*time.Second)
	require.NoError(t, err)
	require.True(t, fresh, "projector %s reached %d", name, pos)
}

// messageEvent finds the stored InboundMessageReceived of an ingest (its
// position is not the append's, which ends with the charge).
func messageEvent(t *testing.T, f *fixture, res commands.IngestResult) domain.RecordedEvent {
	evs, err := f.store.ReadAll(context.Background(), 0, 10000)
	require.NoError(t, err)
	for _, e := range evs {
		if e.Type == (domain.InboundMessageReceived{}).EventType() && strings.Contains(string(e.Data), res.MessageID) {
			return e
		}
	}
	t.Fatalf("no message event for %s", res.MessageID)
	return domain.RecordedEvent{}
}

// One instance's event that the read model refuses must not stop the others:
// it is parked (with its own position), the rest of the batch and everything
// after it is applied; a retry once the cause is fixed applies it, a skip
// records the decision.
func TestDataErrorParksTheFailingEventAndTheOthersGoOn(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	createNotes(t, f)
	f.message(t, "a", "t1", "hello from a")
	bad := messageEvent(t, f, f.message(t, "b", "t2", "poison from b"))
	good := f.message(t, "a", "t1", "more from a")

	r, _, _ := f.run(t, projectionrunner.Options{Projectors: []projections.Projector{notesProjector{}}, ParkedRefresh: 50 * time.Millisecond})
	waitCheckpoint(t, f, "test_notes", good.Position)
	assert.Equal(t, []string{"hello from a", "more from a"}, notes(t, f))

	parked, err := projections.ListParked(ctx, f.pool, "test_notes", false)
	require.NoError(t, err)
	require.Len(t, parked, 1)
	p := parked[0]
	assert.Equal(t, bad.Position, p.Position, "the failing event's own position")
	assert.Equal(t, bad.ID, p.EventID)
	assert.Equal(t, bad.StreamID, p.Stream)
	assert.Equal(t, "InboundMessageReceived", p.EventType)
	assert.Contains(t, p.Error, "23514")
	assert.Equal(t, projections.ParkedOpen, p.State)
	// The status is set just after the batch commits: wait for it too.
	require.Eventually(t, func() bool {
		st := statusOf(r, "test_notes")
		return st.State == "running" && st.Parked == 1
	}, 10*time.Second, 10*time.Millisecond, "running with one parked event")
	assert.NoError(t, r.Healthy(), "parked events do not make the service unready")

	// Later events apply.
	later := f.message(t, "c", "t3", "later from c")
	waitCheckpoint(t, f, "test_notes", later.Position)
	assert.Equal(t, []string{"hello from a", "more from a", "later from c"}, notes(t, f))

	// A retry before the cause is fixed fails and leaves it parked.
	err = projections.RetryParked(ctx, f.pool, f.store, f.registry, notesProjector{}, bad.Position)
	require.ErrorIs(t, err, projections.ErrParkedRetryFailed)
	parked, err = projections.ListParked(ctx, f.pool, "test_notes", false)
	require.NoError(t, err)
	require.Len(t, parked, 1)
	assert.Equal(t, 2, parked[0].Attempts)

	// Fixed: the retry applies it and resolves the row, which stays for audit.
	_, err = f.pool.Exec(ctx, `ALTER TABLE test_notes DROP CONSTRAINT test_notes_no_poison`)
	require.NoError(t, err)
	require.NoError(t, projections.RetryParked(ctx, f.pool, f.store, f.registry, notesProjector{}, bad.Position))
	assert.Contains(t, notes(t, f), "poison from b")
	all, err := projections.ListParked(ctx, f.pool, "test_notes", true)
	require.NoError(t, err)
	require.Len(t, all, 1)
	assert.Equal(t, projections.ParkedResolved, all[0].State)
	require.Eventually(t, func() bool { return statusOf(r, "test_notes").Parked == 0 }, 5*time.Second, 20*time.Millisecond)
	assert.ErrorIs(t, projections.RetryParked(ctx, f.pool, f.store, f.registry, notesProjector{}, bad.Position), projections.ErrParkedEventNotFound)

	// Another one is skipped with a reason, and kept.
	_, err = f.pool.Exec(ctx, `ALTER TABLE test_notes ADD CONSTRAINT test_notes_no_poison CHECK (text NOT LIKE '%poison%') NOT VALID`)
	require.NoError(t, err)
	bad2 := messageEvent(t, f, f.message(t, "b", "t2", "poison again"))
	last := f.message(t, "a", "t1", "last from a")
	waitCheckpoint(t, f, "test_notes", last.Position)
	assert.ErrorIs(t, projections.SkipParked(ctx, f.pool, "test_notes", bad2.Position, ""), projections.ErrSkipNeedsReason)
	require.NoError(t, projections.SkipParked(ctx, f.pool, "test_notes", bad2.Position, "customer withdrew it"))
	assert.ErrorIs(t, projections.SkipParked(ctx, f.pool, "test_notes", bad2.Position, "again"), projections.ErrParkedEventNotFound)
	all, err = projections.ListParked(ctx, f.pool, "test_notes", true)
	require.NoError(t, err)
	require.Len(t, all, 2)
	assert.Equal(t, projections.ParkedSkipped, all[1].State)
	assert.Equal(t, "customer withdrew it", all[1].Reason)
	assert.NotContains(t, notes(t, f), "poison again")
	open, err := projections.ListParked(ctx, f.pool, "", false)
	require.NoError(t, err)
	assert.Empty(t, open)
}

// Parking happens in the transaction that moves the checkpoint: a batch cut
// before its commit leaves neither the parked row nor the checkpoint.
func TestParkingCommitsWithTheCheckpoint(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	createNotes(t, f)
	f.message(t, "b", "t2", "poison from b")
	evs, err := f.store.ReadAll(ctx, 0, 100)
	require.NoError(t, err)
	boom := errors.New("stopped before the checkpoint")
	_, err = projections.ApplyBatch(ctx, f.pool, f.registry, notesProjector{}, evs, "", projections.Hooks{
		BeforeCheckpoint: func(context.Context, string) error { return boom },
	})
	require.ErrorIs(t, err, boom)
	parked, err := projections.ListParked(ctx, f.pool, "", true)
	require.NoError(t, err)
	assert.Empty(t, parked)
	cp, err := projections.Checkpoint(ctx, f.pool, "test_notes")
	require.NoError(t, err)
	assert.Zero(t, cp)

	res, err := projections.ApplyBatch(ctx, f.pool, f.registry, notesProjector{}, evs, "", projections.Hooks{})
	require.NoError(t, err)
	require.Len(t, res.Parked, 1)
	assert.Equal(t, evs[len(evs)-1].Position, res.Position)
}

// A transient error (the connection cut under the projector) still halts it,
// naming the event it failed on (not the batch's first), and parks nothing.
func TestTransientErrorHaltsAtTheFailingEvent(t *testing.T) {
	f := newFixture(t)
	createNotes(t, f)
	f.message(t, "a", "t1", "hello from a")
	kill := messageEvent(t, f, f.message(t, "b", "t2", "kill from b"))
	f.message(t, "a", "t1", "more from a")

	r, _, _ := f.run(t, projectionrunner.Options{Projectors: []projections.Projector{notesProjector{}}})
	require.Eventually(t, func() bool { return r.Healthy() != nil }, 20*time.Second, 20*time.Millisecond)
	st := statusOf(r, "test_notes")
	assert.Equal(t, "halted", st.State)
	assert.Equal(t, kill.Position, st.ErrorPosition, "the failing event's position")

	time.Sleep(300 * time.Millisecond)
	cp, err := projections.Checkpoint(context.Background(), f.pool, "test_notes")
	require.NoError(t, err)
	assert.Less(t, cp, kill.Position, "never past the event it halted on")
	assert.Equal(t, "halted", statusOf(r, "test_notes").State)
	parked, err := projections.ListParked(context.Background(), f.pool, "", true)
	require.NoError(t, err)
	assert.Empty(t, parked, "a transient error is never parked")
}

// A closed pool (the database unavailable) halts too and parks nothing.
func TestUnavailableDatabaseHaltsAndNeverParks(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	createNotes(t, f)
	f.message(t, "b", "t2", "poison from b")
	evs, err := f.store.ReadAll(ctx, 0, 100)
	require.NoError(t, err)
	closed, err := pgxpool.New(ctx, f.pool.Config().ConnString())
	require.NoError(t, err)
	closed.Close()
	_, err = projections.ApplyBatch(ctx, closed, f.registry, notesProjector{}, evs, "", projections.Hooks{})
	require.Error(t, err)
	assert.False(t, projections.IsDataError(err))
	parked, err := projections.ListParked(ctx, f.pool, "", true)
	require.NoError(t, err)
	assert.Empty(t, parked)
}
