-- Idempotency keys of data-plane writes (internal/idempotency): the first
-- answer to each (project, key), replayed to retries for 24 hours. The pool's
-- user reads and writes it; tenant roles have no access.
CREATE TABLE dataplane.idempotency_keys (
    scope        text NOT NULL,
    key          text NOT NULL,
    procedure    text NOT NULL,
    request_hash bytea NOT NULL,
    response     bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expires_at ON dataplane.idempotency_keys (expires_at);
