package mfa

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// The package's tables in the tenant's schema. They are created on first
// use, owned by the tenant's role, with row-level security enabled and
// forced and one policy that admits only the service role.
const (
	factorsTable  = "_auth_mfa_factors"
	recoveryTable = "_auth_recovery_codes"
)

// ErrNotTenantTx means q is not a tenant transaction of tenantdb running
// with the service identity. It is a programming error of the caller.
var ErrNotTenantTx = errors.New("mfa: not a tenant transaction with the service identity")

var tenantRole = regexp.MustCompile(`^t_[a-z0-9]{4,32}$`)

// probeSQL reads who the transaction runs as and whether the tables are
// there, in one round trip. current_user is the tenant's role (t_<ref>)
// after tenantdb's SET ROLE.
const probeSQL = `SELECT current_user::text, coalesce(current_setting('sovereign.role', true), ''),
	to_regclass(format('%I.%I', current_user, '` + factorsTable + `')) IS NOT NULL
	AND to_regclass(format('%I.%I', current_user, '` + recoveryTable + `')) IS NOT NULL`

// tenantTx is one call's view of the transaction.
type tenantTx struct {
	ctx     context.Context
	q       tenantdb.Querier
	ref     string
	factors string // schema-qualified, quoted
	codes   string
}

// begin checks that q is a tenant transaction with the service identity
// and, when create is set, makes the tables if they are missing. It
// reports whether the tables exist (always true with create).
func begin(ctx context.Context, q tenantdb.Querier, create bool) (*tenantTx, bool, error) {
	var user, role string
	var exists bool
	if err := q.QueryRow(ctx, probeSQL).Scan(&user, &role, &exists); err != nil {
		return nil, false, fmt.Errorf("mfa: probe transaction: %w", err)
	}
	if !tenantRole.MatchString(user) || role != tenantdb.RoleService {
		return nil, false, ErrNotTenantTx
	}
	ref := strings.TrimPrefix(user, "t_")
	tx := &tenantTx{ctx: ctx, q: q, ref: ref,
		factors: tenantdb.Table(ref, factorsTable), codes: tenantdb.Table(ref, recoveryTable)}
	if exists || !create {
		return tx, exists, nil
	}
	// Concurrent first uses wait for each other here; every statement of
	// ddl is idempotent, so the one that comes second changes nothing.
	if _, err := q.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(ref)); err != nil {
		return nil, false, fmt.Errorf("mfa: lock tables: %w", err)
	}
	if _, err := q.Exec(ctx, ddl(tx.factors, tx.codes)); err != nil {
		return nil, false, fmt.Errorf("mfa: create tables: %w", err)
	}
	return tx, true, nil
}

const serviceCheck = `current_setting('sovereign.role', true) = 'service'`

// ddl creates the tables; each statement is idempotent.
func ddl(factors, codes string) string {
	var b strings.Builder
	b.WriteString(`
CREATE TABLE IF NOT EXISTS ` + factors + ` (
    user_id      text PRIMARY KEY,
    -- the TOTP secret sealed with AES-256-GCM (see seal.go)
    secret       bytea NOT NULL,
    active       boolean NOT NULL DEFAULT false,
    -- the last 30-second step whose code was accepted; codes of this or
    -- an earlier step are refused
    last_step    bigint,
    -- consecutive failed verifications since the last success or lockout
    failures     integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    created_at   timestamptz NOT NULL,
    activated_at timestamptz
);
CREATE TABLE IF NOT EXISTS ` + codes + ` (
    user_id   text NOT NULL REFERENCES ` + factors + ` (user_id) ON DELETE CASCADE,
    -- HMAC-SHA256 of the code (see seal.go)
    code_hash bytea NOT NULL,
    used_at   timestamptz,
    PRIMARY KEY (user_id, code_hash)
);`)
	for _, t := range []string{factors, codes} {
		b.WriteString(`
ALTER TABLE ` + t + ` ENABLE ROW LEVEL SECURITY;
ALTER TABLE ` + t + ` FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS service_all ON ` + t + `;
CREATE POLICY service_all ON ` + t + ` USING (` + serviceCheck + `) WITH CHECK (` + serviceCheck + `);`)
	}
	return b.String()
}

// lockKey is the advisory lock key under which the tenant's MFA tables are
// created: 64-bit FNV-1a of a string no other package locks on.
func lockKey(ref string) int64 {
	h := fnv.New64a()
	h.Write([]byte("sovereign.dataplane.auth.mfa." + ref))
	return int64(h.Sum64())
}

// factor is a user's row of the factors table.
type factor struct {
	secret      []byte
	active      bool
	lastStep    *int64
	failures    int
	lockedUntil *time.Time
}

// loadForUpdate reads userID's factor and locks its row until the
// transaction ends, so that concurrent verifications take turns.
func (tx *tenantTx) loadForUpdate(userID string) (factor, bool, error) {
	var f factor
	err := tx.q.QueryRow(tx.ctx, `SELECT secret, active, last_step, failures, locked_until FROM `+tx.factors+
		` WHERE user_id = $1 FOR UPDATE`, userID).Scan(&f.secret, &f.active, &f.lastStep, &f.failures, &f.lockedUntil)
	if errors.Is(err, pgx.ErrNoRows) {
		return factor{}, false, nil
	}
	if err != nil {
		return factor{}, false, fmt.Errorf("mfa: read factor: %w", err)
	}
	return f, true, nil
}
