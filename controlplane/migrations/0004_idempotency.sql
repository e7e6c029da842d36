-- Idempotency keys of control-plane writes (internal/idempotency): the first
-- answer to each (caller, key), replayed to retries for 24 hours.
CREATE TABLE controlplane.idempotency_keys (
    scope        text NOT NULL,
    key          text NOT NULL,
    procedure    text NOT NULL,
    request_hash bytea NOT NULL,
    response     bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expires_at ON controlplane.idempotency_keys (expires_at);
