-- Regions: one data plane deployment each. A data plane registers itself at
-- start and then sends heartbeats (see the control-plane issue).
CREATE TABLE controlplane.regions (
    name              text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9-]{0,31}$'),
    public_url        text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    last_heartbeat_at timestamptz
);
