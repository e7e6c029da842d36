-- What a data plane needs to authenticate a tenant's API keys on its own,
-- without the control plane: each tenant's plan limits, and the hashes of
-- its keys as the control plane pushes them (AdminService.PutApiKeys).

-- Limits from the organization's plan, as JSON: {"plan": "free",
-- "requests_per_second": 0, "database_bytes": 0, "storage_bytes": 0,
-- "realtime_connections": 0}; 0 means unlimited.
ALTER TABLE dataplane.tenants
    ADD COLUMN limits jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(limits) = 'object');

CREATE TABLE dataplane.api_keys (
    -- The control plane's key id.
    id         text PRIMARY KEY CHECK (id <> '' AND length(id) <= 128),
    tenant_ref text NOT NULL REFERENCES dataplane.tenants (ref),
    kind       text NOT NULL CHECK (kind IN ('publishable', 'secret')),
    -- SHA-256 of the whole key, lowercase hex; the key itself is never stored.
    hash       text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'),
    -- NULL: never expires.
    expires_at timestamptz,
    -- NULL: not revoked. Once set it only moves earlier (see apikeys.Put).
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX api_keys_tenant_ref_idx ON dataplane.api_keys (tenant_ref);
