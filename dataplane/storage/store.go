package storage

import (
	"context"
	"strings"
	"time"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// The service's tables in the tenant's schema.
const (
	bucketsTable = "_storage_buckets"
	objectsTable = "_storage_objects"
	usageTable   = "_storage_usage"
	keysTable    = "_storage_keys"
)

// tables are one tenant's storage tables, schema-qualified and quoted.
type tables struct {
	ref                          string
	buckets, objects, usage, key string
}

func tablesOf(ref string) tables {
	return tables{ref: ref, buckets: tenantdb.Table(ref, bucketsTable), objects: tenantdb.Table(ref, objectsTable),
		usage: tenantdb.Table(ref, usageTable), key: tenantdb.Table(ref, keysTable)}
}

const serviceCheck = `current_setting('sovereign.role', true) = 'service'`

// ddl makes the tables; each statement is idempotent. objects' columns
// name, folder, size, content_type, metadata, id, created_at, updated_at
// and version are what bucket rules read (filter.ObjectFields), so a
// compiled read rule is a condition on this table as it is.
func (t tables) ddl() string {
	var b strings.Builder
	b.WriteString(`
CREATE TABLE IF NOT EXISTS ` + t.buckets + ` (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                  text NOT NULL UNIQUE,
    public                boolean NOT NULL DEFAULT false,
    max_object_bytes      bigint NOT NULL DEFAULT 0,
    allowed_content_types text[] NOT NULL DEFAULT '{}',
    rule_read             text NOT NULL DEFAULT '',
    rule_write            text NOT NULL DEFAULT '',
    rule_delete           text NOT NULL DEFAULT '',
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS ` + t.objects + ` (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    bucket_id    uuid NOT NULL REFERENCES ` + t.buckets + ` (id) ON DELETE CASCADE,
    name         text COLLATE "C" NOT NULL,
    folder       text GENERATED ALWAYS AS (CASE WHEN strpos(name, '/') > 0 THEN split_part(name, '/', 1) ELSE '' END) STORED,
    blob_key     text NOT NULL,
    size         bigint NOT NULL,
    content_type text NOT NULL,
    sha256       text NOT NULL,
    etag         text NOT NULL,
    metadata     jsonb NOT NULL DEFAULT '{}',
    version      bigint NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (bucket_id, name)
);
CREATE TABLE IF NOT EXISTS ` + t.usage + ` (
    id      integer PRIMARY KEY CHECK (id = 1),
    bytes   bigint NOT NULL DEFAULT 0,
    objects bigint NOT NULL DEFAULT 0
);
INSERT INTO ` + t.usage + ` (id) VALUES (1) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS ` + t.key + ` (
    id         text PRIMARY KEY,
    -- the HMAC key sealed with AES-256-GCM (see sign.go)
    sealed     bytea NOT NULL,
    current    boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);`)
	for _, tb := range []string{t.buckets, t.objects, t.usage, t.key} {
		b.WriteString(`
ALTER TABLE ` + tb + ` ENABLE ROW LEVEL SECURITY;
ALTER TABLE ` + tb + ` FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS service_all ON ` + tb + `;
CREATE POLICY service_all ON ` + tb + ` USING (` + serviceCheck + `) WITH CHECK (` + serviceCheck + `);`)
	}
	return b.String()
}

// lockName names the advisory lock under which a tenant's storage tables
// are made (tenantdb.EnsureTables).
func lockName(ref string) string { return "sovereign.dataplane.storage." + ref }

// serviceID is the identity the service's SQL runs as for ref: the
// caller was authorized before.
func serviceID(ref string) tenantdb.Identity {
	return tenantdb.Identity{TenantRef: ref, Role: tenantdb.RoleService}
}

// tx runs fn in a transaction of ref's tenant as the service role, making
// the tables first when they are missing.
func (s *Service) tx(ctx context.Context, ref string, fn func(q tenantdb.Querier, t tables) error) error {
	t := tablesOf(ref)
	return s.cfg.DB.Tx(ctx, serviceID(ref), tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
		if err := s.ensure(ctx, q, t); err != nil {
			return err
		}
		return fn(q, t)
	})
}

// ensure makes the tables unless this node already saw them.
func (s *Service) ensure(ctx context.Context, q tenantdb.Querier, t tables) error {
	if _, ok := s.ready.Load(t.ref); ok {
		return nil
	}
	existed, err := tenantdb.EnsureTables(ctx, q, lockName(t.ref), t.ddl(), t.key, t.usage)
	if err != nil || !existed {
		// Tables made here are visible to others only after this
		// transaction commits: the next one marks them ready.
		return err
	}
	s.ready.Store(t.ref, time.Now())
	return nil
}

// forget drops what the node knows of ref's tables (the tenant was purged).
func (s *Service) forget(ref string) { s.ready.Delete(ref) }
