// Package eventstore holds the event store port and its backends: Postgres
// (the default) and KurrentDB. Both pass the contract suite in eventstoretest.
package eventstore

import (
	"context"

	"github.com/socialops/socialops/domain"
)

// Store is the event log: the only source of truth.
type Store interface {
	// Append writes events to a stream if the expectation holds. A failed
	// expectation is a *domain.WrongExpectedRevisionError. Appending events whose
	// ids are already stored at the expected place is an idempotent success.
	Append(ctx context.Context, stream string, expected domain.ExpectedRevision, events ...domain.ProposedEvent) (domain.AppendResult, error)

	// ReadStream reads up to count events of one stream from a revision
	// (inclusive; domain.StreamStart / domain.StreamEnd name the ends). A missing
	// stream is a *domain.StreamNotFoundError.
	ReadStream(ctx context.Context, stream string, direction domain.ReadDirection, from uint64, count uint64) ([]domain.RecordedEvent, error)

	// ReadAll reads up to count events of the whole log whose position is
	// greater than after (0 reads from the beginning), in position order.
	ReadAll(ctx context.Context, after uint64, count uint64) ([]domain.RecordedEvent, error)

	// SubscribeAll delivers every event with a position greater than after, in
	// position order, then follows live appends. It resubscribes with backoff
	// after a drop, resuming after the last delivered event, and returns only
	// when ctx ends (nil) or handle returns an error (that error).
	SubscribeAll(ctx context.Context, after uint64, handle func(context.Context, domain.RecordedEvent) error) error

	// HeadPosition is the position of the last event in the log (0 when empty).
	HeadPosition(ctx context.Context) (uint64, error)

	// Identity is the store's id: random, made the first time it is asked
	// for and kept in the store itself. Positions and revisions mean something
	// only in the store they came from, so the read side records the id it was
	// built from and refuses to run against another (projections.BindStore).
	Identity(ctx context.Context) (string, error)

	// Ping checks that the backend is reachable.
	Ping(ctx context.Context) error

	Close() error
}
