package oauth

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// The package's tables in the tenant's schema, created on first use, owned
// by the tenant's role, with row-level security enabled and forced and one
// policy that admits only the service role.
const (
	providersTable = "_auth_providers"
	statesTable    = "_auth_oauth_states"
)

// ErrNotTenantTx means q is not a tenant transaction of tenantdb running
// with the service identity (or runs for another tenant than the ref
// passed). It is a programming error of the caller.
var ErrNotTenantTx = errors.New("oauth: not a tenant transaction with the service identity")

var tenantRole = regexp.MustCompile(`^t_[a-z0-9]{4,32}$`)

// probeSQL reads who the transaction runs as and whether the tables are
// there, in one round trip. current_user is the tenant's role (t_<ref>)
// after tenantdb's SET ROLE.
const probeSQL = `SELECT current_user::text, coalesce(current_setting('sovereign.role', true), ''),
	to_regclass(format('%I.%I', current_user, '` + providersTable + `')) IS NOT NULL
	AND to_regclass(format('%I.%I', current_user, '` + statesTable + `')) IS NOT NULL`

// tenantTx is one call's view of the transaction.
type tenantTx struct {
	ctx       context.Context
	q         tenantdb.Querier
	ref       string
	providers string // schema-qualified, quoted
	states    string
}

// begin checks that q is a service transaction of tenant ref ("" for any
// tenant) and, when create is set, makes the tables if they are missing.
// It reports whether the tables exist (always true with create).
func begin(ctx context.Context, q tenantdb.Querier, ref string, create bool) (*tenantTx, bool, error) {
	var user, role string
	var exists bool
	if err := q.QueryRow(ctx, probeSQL).Scan(&user, &role, &exists); err != nil {
		return nil, false, fmt.Errorf("oauth: probe transaction: %w", err)
	}
	if !tenantRole.MatchString(user) || role != tenantdb.RoleService || (ref != "" && user != tenantdb.Schema(ref)) {
		return nil, false, ErrNotTenantTx
	}
	ref = strings.TrimPrefix(user, "t_")
	tx := &tenantTx{ctx: ctx, q: q, ref: ref,
		providers: tenantdb.Table(ref, providersTable), states: tenantdb.Table(ref, statesTable)}
	if exists || !create {
		return tx, exists, nil
	}
	// Concurrent first uses wait for each other here; every statement of
	// ddl is idempotent, so the one that comes second changes nothing.
	if _, err := q.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(ref)); err != nil {
		return nil, false, fmt.Errorf("oauth: lock tables: %w", err)
	}
	if _, err := q.Exec(ctx, ddl(tx.providers, tx.states)); err != nil {
		return nil, false, fmt.Errorf("oauth: create tables: %w", err)
	}
	return tx, true, nil
}

const serviceCheck = `current_setting('sovereign.role', true) = 'service'`

// ddl creates the tables; each statement is idempotent.
func ddl(providers, states string) string {
	var b strings.Builder
	b.WriteString(`
CREATE TABLE IF NOT EXISTS ` + providers + ` (
    name          text PRIMARY KEY,
    issuer        text NOT NULL,
    client_id     text NOT NULL,
    -- sealed with AES-256-GCM (see seal.go); NULL for a public client
    client_secret bytea,
    scopes        text[] NOT NULL DEFAULT '{}',
    redirect_urls text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS ` + states + ` (
    -- SHA-256 of the state parameter
    state_hash  bytea PRIMARY KEY,
    provider    text NOT NULL REFERENCES ` + providers + ` (name) ON DELETE CASCADE,
    nonce       text NOT NULL,
    -- the PKCE code verifier
    verifier    text NOT NULL,
    redirect_to text NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS ` + pgx.Identifier{statesTable + "_expires_at_idx"}.Sanitize() + ` ON ` + states + ` (expires_at);`)
	for _, t := range []string{providers, states} {
		b.WriteString(`
ALTER TABLE ` + t + ` ENABLE ROW LEVEL SECURITY;
ALTER TABLE ` + t + ` FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS service_all ON ` + t + `;
CREATE POLICY service_all ON ` + t + ` USING (` + serviceCheck + `) WITH CHECK (` + serviceCheck + `);`)
	}
	return b.String()
}

// lockKey is the advisory lock key under which the tenant's OAuth tables
// are created: 64-bit FNV-1a of a string no other package locks on.
func lockKey(ref string) int64 {
	h := fnv.New64a()
	h.Write([]byte("sovereign.dataplane.auth.oauth." + ref))
	return int64(h.Sum64())
}
