// Package migrations holds the data plane's SQL migrations for schema
// "dataplane", applied in order by internal/migrate. Each file is applied
// once, in its own transaction, and must never change after it was released.
package migrations

import "embed"

// FS holds the migration files, named NNNN_description.sql, at its root:
// pass it as migrate.Config.FS with Schema "dataplane".
//
//go:embed *.sql
var FS embed.FS
