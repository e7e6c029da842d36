-- Organizations, their members and invitations; projects (tenants) and their
-- API keys. River's own tables are not here: controlplane/jobs applies River's
-- migrations, in the schema controlplane_river, when the control plane starts.

CREATE TABLE controlplane.organizations (
    id         uuid PRIMARY KEY,
    name       text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
    -- A plan name of controlplane/plans; the code validates the set.
    plan       text NOT NULL DEFAULT 'free' CHECK (plan ~ '^[a-z][a-z0-9_-]{0,31}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Soft deletion: a deleted organization answers NotFound everywhere.
    deleted_at timestamptz
);

CREATE TABLE controlplane.memberships (
    organization_id uuid NOT NULL REFERENCES controlplane.organizations (id) ON DELETE CASCADE,
    account_id      uuid NOT NULL REFERENCES controlplane.accounts (id) ON DELETE CASCADE,
    role            text NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
    joined_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, account_id)
);

CREATE INDEX memberships_account_idx ON controlplane.memberships (account_id);

CREATE TABLE controlplane.invitations (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES controlplane.organizations (id) ON DELETE CASCADE,
    -- Lowercased; AcceptInvitation compares it with the caller's email.
    email           text NOT NULL CHECK (email = lower(email) AND char_length(email) BETWEEN 3 AND 254),
    role            text NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
    -- SHA-256 hex of the sov_inv_ token; the token itself is never stored.
    token_hash      text NOT NULL UNIQUE,
    invited_by      uuid REFERENCES controlplane.accounts (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL DEFAULT now() + interval '7 days',
    accepted_at     timestamptz,
    accepted_by     uuid REFERENCES controlplane.accounts (id) ON DELETE SET NULL
);

-- One pending invitation per address and organization: a new one replaces it.
CREATE UNIQUE INDEX invitations_pending_idx
    ON controlplane.invitations (organization_id, email) WHERE accepted_at IS NULL;

CREATE TABLE controlplane.projects (
    id                  uuid PRIMARY KEY,
    ref                 text NOT NULL UNIQUE CHECK (ref ~ '^[a-z0-9]{12}$'),
    organization_id     uuid NOT NULL REFERENCES controlplane.organizations (id),
    name                text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
    region              text NOT NULL REFERENCES controlplane.regions (name),
    state               text NOT NULL DEFAULT 'provisioning'
                        CHECK (state IN ('provisioning', 'active', 'paused', 'deleting', 'deleted')),
    -- Why provisioning has not finished yet; NULL once it has.
    last_error          text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    delete_requested_at timestamptz,
    purge_at            timestamptz,
    -- The tenant state on the data plane follows state: every change to
    -- state bumps state_version, and a push that delivered a version records
    -- it in state_pushed_version.
    state_version        bigint NOT NULL DEFAULT 0,
    state_pushed_version bigint NOT NULL DEFAULT 0
);

-- Names are unique among an organization's live projects.
CREATE UNIQUE INDEX projects_org_name_live_idx
    ON controlplane.projects (organization_id, name) WHERE state NOT IN ('deleting', 'deleted');

-- ListProjects: newest first, keyset-paginated.
CREATE INDEX projects_org_created_idx ON controlplane.projects (organization_id, created_at DESC, id DESC);

CREATE TABLE controlplane.api_keys (
    id             uuid PRIMARY KEY,
    project_id     uuid NOT NULL REFERENCES controlplane.projects (id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
    kind           text NOT NULL CHECK (kind IN ('publishable', 'secret')),
    -- SHA-256 hex of the whole key; the key itself is never stored.
    hash           text NOT NULL UNIQUE,
    -- The key's prefix and first characters (token.Display), for lists.
    prefix         text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz,
    last_used_at   timestamptz,
    revoked_at     timestamptz,
    -- Every change bumps sync_version; a push to the data plane that
    -- delivered a version records it in pushed_version.
    sync_version   bigint NOT NULL DEFAULT 1,
    pushed_version bigint NOT NULL DEFAULT 0
);

CREATE INDEX api_keys_project_idx ON controlplane.api_keys (project_id, created_at DESC);
CREATE INDEX api_keys_unpushed_idx ON controlplane.api_keys (project_id) WHERE sync_version > pushed_version;
