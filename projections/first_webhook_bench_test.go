package projections_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// unmerged is a projector without its Merge: every event applied on its own.
type unmerged struct{ projections.Projector }

// BenchmarkFirstWebhookProjection measures what each projector costs
// Postgres for a new conversation's first webhook, the events of one
// ingest append (claim, opening, queued session, message, charge): 3,000 of
// them applied in batches of 50 events, as the runner applies a live log.
// It reports pg_cpu_us/conversation (the CPU of the machine's Postgres
// processes, for a local cluster) and us/conversation (wall time). A
// projector that merges the first webhook's events (projections.Merger) is
// also measured without merging, in the same run: merged_vs_unmerged is the
// ratio of their Postgres CPU. It runs once whatever b.N is.
func BenchmarkFirstWebhookProjection(b *testing.B) {
	const conversations, batch = 3000, 50
	reg := domain.NewEventRegistry()
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	var events []domain.RecordedEvent
	for i := range conversations {
		id := fmt.Sprintf("thread-%d", i)
		events = append(events, recorded(b, reg, uint64(len(events)+1), at,
			domain.InboundEventClaimed{InstanceID: "i-1", Provider: "generic", ProviderEventID: "evt-" + id, ThreadID: id, MessageID: "m-" + id},
			domain.ThreadOpened{ThreadID: id, InstanceID: "i-1", OwnerID: "o-1", Provider: "generic", ContactID: "c-" + id,
				Subject: "Order " + id, Status: domain.StatusOpen, Priority: "normal", Labels: []string{"support"}},
			domain.SessionQueued{ThreadID: id, InstanceID: "i-1", Reason: domain.SessionReasonOpened},
			domain.InboundMessageReceived{ThreadID: id, MessageID: "m-" + id, Provider: "generic", ContactID: "c-" + id,
				Text:   "The parcel has not arrived yet and the tracking page shows no update since Monday.",
				Sender: domain.Sender{ExternalID: "customer-" + id, DisplayName: "Bench Customer"}},
			domain.ChargeApplied{ChargeID: "charge-" + id, OwnerID: "o-1", AmountMicroUSD: 1000, Reason: domain.ChargeInboundMessage,
				ThreadID: id, MessageID: "m-" + id})...)
	}
	run := func(b *testing.B, p projections.Projector) float64 {
		ctx := context.Background()
		pool := pgtest.NewPool(b)
		pg0, havePG := pgtest.PostgresCPU()
		start := time.Now()
		for i := 0; i < len(events); i += batch {
			if _, err := projections.ApplyBatch(ctx, pool, reg, p, events[i:min(i+batch, len(events))], "", projections.Hooks{}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/conversations, "us/conversation")
		if pg, ok := pgtest.PostgresCPU(); ok && havePG {
			perConversation := float64((pg - pg0).Microseconds()) / conversations
			b.ReportMetric(perConversation, "pg_cpu_us/conversation")
			return perConversation
		}
		return 0
	}
	for _, p := range projections.All() {
		var unmergedCPU float64
		if _, ok := p.(projections.Merger); ok {
			b.Run(p.Name()+"/unmerged", func(b *testing.B) { unmergedCPU = run(b, unmerged{p}) })
		}
		b.Run(p.Name(), func(b *testing.B) {
			cpu := run(b, p)
			if unmergedCPU > 0 && cpu > 0 {
				b.ReportMetric(cpu/unmergedCPU, "merged_vs_unmerged")
			}
		})
	}
}
