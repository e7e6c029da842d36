package auth

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// The tenant tables of this package.
const (
	usersTable      = "_auth_users"
	identitiesTable = "_auth_identities"
	sessionsTable   = "_auth_sessions"
	refreshTable    = "_auth_refresh_tokens"
	mailTokensTable = "_auth_mail_tokens"
	mailTable       = "_auth_mail"
	keysTable       = "_auth_keys"
)

// Tables are the tenant tables auth creates, for catalog checks.
var Tables = []string{usersTable, identitiesTable, sessionsTable, refreshTable, mailTokensTable, mailTable, keysTable}

// serviceCheck admits only the service role, as schema's policies do.
const serviceCheck = `current_setting('sovereign.role', true) = 'service'`

// tablesSQL creates the tenant's auth tables. Every table forces row-level
// security with one policy for the service role: the auth tables are never
// readable by an anon or authenticated request, whatever a handler does.
func tablesSQL(ref string) string {
	t := func(name string) string { return tenantdb.Table(ref, name) }
	i := func(name string) string { return pgx.Identifier{name}.Sanitize() }
	var b strings.Builder
	b.WriteString(`
CREATE TABLE ` + t(usersTable) + ` (
    id                uuid PRIMARY KEY,
    email             text UNIQUE CHECK (email = lower(email)),
    email_verified_at timestamptz,
    password_hash     text,
    anonymous         boolean NOT NULL DEFAULT false,
    role              text,
    mfa_enabled       boolean NOT NULL DEFAULT false,
    disabled_at       timestamptz,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    last_sign_in_at   timestamptz
);
CREATE TABLE ` + t(identitiesTable) + ` (
    provider   text NOT NULL,
    subject    text NOT NULL,
    user_id    uuid NOT NULL REFERENCES ` + t(usersTable) + ` (id) ON DELETE CASCADE,
    email      text,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX ` + i("_auth_identities_user_idx") + ` ON ` + t(identitiesTable) + ` (user_id);
CREATE TABLE ` + t(sessionsTable) + ` (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES ` + t(usersTable) + ` (id) ON DELETE CASCADE,
    aal           text NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    refreshed_at  timestamptz,
    revoked_at    timestamptz,
    revoke_reason text
);
CREATE INDEX ` + i("_auth_sessions_user_idx") + ` ON ` + t(sessionsTable) + ` (user_id);
CREATE TABLE ` + t(refreshTable) + ` (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES ` + t(sessionsTable) + ` (id) ON DELETE CASCADE,
    parent_id   bigint,
    hash        text NOT NULL UNIQUE,
    aal         text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    rotated_at  timestamptz,
    -- The child's refresh token, encrypted, kept while a retry of this
    -- rotated token may still get it (the grace window).
    child_token bytea
);
CREATE INDEX ` + i("_auth_refresh_tokens_session_idx") + ` ON ` + t(refreshTable) + ` (session_id);
CREATE TABLE ` + t(mailTokensTable) + ` (
    hash       text PRIMARY KEY,
    purpose    text NOT NULL CHECK (purpose IN ('signup', 'recovery')),
    user_id    uuid NOT NULL REFERENCES ` + t(usersTable) + ` (id) ON DELETE CASCADE,
    email      text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX ` + i("_auth_mail_tokens_user_idx") + ` ON ` + t(mailTokensTable) + ` (user_id);
CREATE TABLE ` + t(mailTable) + ` (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    to_address text NOT NULL,
    subject    text NOT NULL,
    body       text NOT NULL,
    sent_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE ` + t(keysTable) + ` (
    kid         text PRIMARY KEY,
    alg         text NOT NULL,
    public_key  bytea NOT NULL,
    -- The Ed25519 seed, AES-256-GCM under a key derived from the data
    -- plane's secret: nonce || ciphertext, bound to the tenant and kid.
    private_key bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    retired_at  timestamptz
);
CREATE UNIQUE INDEX ` + i("_auth_keys_current_idx") + ` ON ` + t(keysTable) + ` ((true)) WHERE retired_at IS NULL;
`)
	for _, name := range Tables {
		b.WriteString("ALTER TABLE " + t(name) + " ENABLE ROW LEVEL SECURITY;\n")
		b.WriteString("ALTER TABLE " + t(name) + " FORCE ROW LEVEL SECURITY;\n")
		b.WriteString("CREATE POLICY service_all ON " + t(name) + " USING (" + serviceCheck + ") WITH CHECK (" + serviceCheck + ");\n")
	}
	return b.String()
}

// tableSet remembers the tenants whose tables this node has seen, to spare
// the check on every call.
type tableSet struct {
	mu   sync.Mutex
	have map[string]bool
}

func newTableSet() *tableSet { return &tableSet{have: make(map[string]bool)} }

func (ts *tableSet) known(ref string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.have[ref]
}

func (ts *tableSet) set(ref string, ok bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ok {
		ts.have[ref] = true
	} else {
		delete(ts.have, ref)
	}
}

// lockKey is the tenant's auth advisory lock key: 64-bit FNV-1a of a string
// distinct from the ones packages tenants and schema lock on.
func lockKey(ref string) int64 {
	h := fnv.New64a()
	h.Write([]byte("sovereign.dataplane.auth." + ref))
	return int64(h.Sum64())
}

// ensureTables creates the tenant's auth tables unless they exist.
func (s *Service) ensureTables(ctx context.Context, ref string) error {
	if s.tables.known(ref) {
		return nil
	}
	err := s.db.Tx(ctx, service(ref), tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
		if _, err := q.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(ref)); err != nil {
			return err
		}
		var exists bool
		if err := q.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", tenantdb.Table(ref, keysTable)).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return nil
		}
		_, err := q.Exec(ctx, tablesSQL(ref))
		return err
	})
	if err != nil {
		return fmt.Errorf("create auth tables: %w", err)
	}
	s.tables.set(ref, true)
	return nil
}

// tx runs fn as the service role of ref, after making sure the tables are
// there.
func (s *Service) tx(ctx context.Context, ref string, fn func(q tenantdb.Querier) error) error {
	if err := s.ensureTables(ctx, ref); err != nil {
		return err
	}
	return s.db.Tx(ctx, service(ref), tenantdb.TxOptions{}, fn)
}

// table is the qualified name of one of ref's auth tables.
func table(ref, name string) string { return tenantdb.Table(ref, name) }
