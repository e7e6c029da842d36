// Package migrations holds the control plane's SQL migrations, embedded, for
// migrate.Up with Schema "controlplane". Files are NNNN_description.sql; see
// internal/migrate for the rules they follow.
package migrations

import "embed"

// FS holds every *.sql migration at its root.
//
//go:embed *.sql
var FS embed.FS
