-- Tenants served by this region. The data plane keeps what it needs to serve
-- them here, so it goes on serving while the control plane is down.
CREATE TABLE dataplane.tenants (
    ref         text PRIMARY KEY CHECK (ref ~ '^[a-z0-9]{4,32}$'),
    schema_name text NOT NULL UNIQUE,
    state       text NOT NULL CHECK (state IN ('provisioning', 'active', 'paused', 'deleting', 'deleted')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
