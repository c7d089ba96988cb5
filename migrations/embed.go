// Package migrations holds the versioned SQL of every table: the Postgres
// event store, projector checkpoints, read models and configuration. Files are
// applied in order by goose (adapters/postgres.Migrate) and never edited once
// released: a change is a new file.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS

// EventStoreAppendLock is the key of the transaction-scoped advisory lock
// that serializes every writer of the Postgres event store (the bytes of
// "soc-evts"). The append functions of 00034_event_store_append_lock.sql
// take it by this literal; Go code that assigns positions takes it by this
// name.
const EventStoreAppendLock int64 = 8317976083403535475
