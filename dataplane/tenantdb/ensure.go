package tenantdb

import (
	"context"
	"fmt"
	"hash/fnv"
)

// EnsureTables makes the tables a service creates in a tenant's schema on
// first use, in q's transaction (run as the tenant's role, which owns
// them): when any of tables (schema-qualified, as Table gives them) is
// missing, it takes the transaction-scoped advisory lock named lockName,
// so that concurrent first uses wait for each other, and runs ddl, whose
// statements must be idempotent (IF NOT EXISTS, DROP POLICY IF EXISTS…).
// existed reports that every table was there already; tables made here
// are visible to other transactions only once q's commits.
func EnsureTables(ctx context.Context, q Querier, lockName, ddl string, tables ...string) (existed bool, err error) {
	if err := q.QueryRow(ctx, `SELECT bool_and(to_regclass(t) IS NOT NULL) FROM unnest($1::text[]) AS t`, tables).Scan(&existed); err != nil {
		return false, fmt.Errorf("tenantdb: probe tables: %w", err)
	}
	if existed {
		return true, nil
	}
	if _, err := q.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", LockKey(lockName)); err != nil {
		return false, fmt.Errorf("tenantdb: lock tables: %w", err)
	}
	if _, err := q.Exec(ctx, ddl); err != nil {
		return false, fmt.Errorf("tenantdb: create tables: %w", err)
	}
	return false, nil
}

// LockKey is the advisory lock key of name (a 64-bit FNV-1a hash).
func LockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64())
}
