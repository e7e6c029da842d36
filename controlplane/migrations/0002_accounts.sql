-- Accounts of the developers who buy the service, their sessions, personal
-- access tokens, single-use mail tokens and the dev mailbox. Tokens are never
-- stored: only their SHA-256 (hex), see internal/token.

CREATE TABLE controlplane.accounts (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Lowercased by the service; the CHECK keeps any other writer honest.
    email             text NOT NULL UNIQUE
                      CHECK (email = lower(email) AND char_length(email) BETWEEN 3 AND 254),
    -- argon2id in PHC string format ($argon2id$v=19$m=…,t=…,p=…$salt$hash).
    password_hash     text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    email_verified_at timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- One row per access/refresh token pair. A login starts a family (family_id
-- is the id of its first session); each refresh adds a child (parent_id) and
-- marks the parent rotated. A rotated session's refresh token presented again
-- is reuse: every session of the family is revoked.
CREATE TABLE controlplane.sessions (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id         uuid NOT NULL REFERENCES controlplane.accounts (id) ON DELETE CASCADE,
    family_id          uuid NOT NULL,
    parent_id          uuid REFERENCES controlplane.sessions (id) ON DELETE SET NULL,
    access_token_hash  text NOT NULL UNIQUE CHECK (char_length(access_token_hash) = 64),
    access_expires_at  timestamptz NOT NULL,
    refresh_token_hash text NOT NULL UNIQUE CHECK (char_length(refresh_token_hash) = 64),
    refresh_expires_at timestamptz NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    -- Set when the refresh token was exchanged for a child session.
    rotated_at         timestamptz,
    revoked_at         timestamptz,
    -- Why: 'logout', 'refresh_reuse' or 'password_reset'.
    revoke_reason      text CHECK (revoke_reason IN ('logout', 'refresh_reuse', 'password_reset')),
    CHECK ((revoked_at IS NULL) = (revoke_reason IS NULL))
);
CREATE INDEX sessions_family_id_idx ON controlplane.sessions (family_id);
CREATE INDEX sessions_account_id_idx ON controlplane.sessions (account_id);

-- Personal access tokens (sov_pat_…) for the CLI and CI. The name is unique
-- among an account's live (neither revoked nor expired) tokens; expiry depends
-- on the clock, so the service checks it under a lock on the account row
-- rather than with a partial unique index.
CREATE TABLE controlplane.personal_access_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id   uuid NOT NULL REFERENCES controlplane.accounts (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
    token_hash   text NOT NULL UNIQUE CHECK (char_length(token_hash) = 64),
    -- The token's first characters (sov_pat_XXXX), safe to show in lists.
    prefix       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- NULL: the token does not expire.
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX personal_access_tokens_account_id_idx ON controlplane.personal_access_tokens (account_id, created_at DESC);

-- Single-use tokens sent by mail (sov_mt_…): email verification (24 h) and
-- password reset (1 h).
CREATE TABLE controlplane.mail_tokens (
    token_hash text PRIMARY KEY CHECK (char_length(token_hash) = 64),
    purpose    text NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    account_id uuid NOT NULL REFERENCES controlplane.accounts (id) ON DELETE CASCADE,
    -- The address the token was mailed to.
    email      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX mail_tokens_account_id_idx ON controlplane.mail_tokens (account_id, purpose);

-- The dev mailbox: mails kept instead of sent when no SMTP server is
-- configured. Read by DevMailService, which only `sovereign dev` mounts.
CREATE TABLE controlplane.dev_mail (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    to_address text NOT NULL,
    subject    text NOT NULL,
    body       text NOT NULL,
    sent_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dev_mail_to_address_idx ON controlplane.dev_mail (to_address, id DESC);
