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
