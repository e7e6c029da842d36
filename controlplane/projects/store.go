package projects

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sovereign-backend/sovereign/controlplane/fault"
	"github.com/sovereign-backend/sovereign/controlplane/orgs"
)

// Store reads and writes projects and API keys. It checks nothing about who
// may do what; Service does.
type Store struct{ db orgs.DB }

// NewStore returns a Store running on db (a pool or a transaction).
func NewStore(db orgs.DB) *Store { return &Store{db: db} }

const projectColumns = `p.id::text, p.ref, p.organization_id::text, p.name, p.region, p.state,
	r.public_url, p.created_at, p.purge_at, coalesce(p.last_error, '')`

func scanProject(row pgx.Row, extra ...any) (Project, error) {
	var p Project
	var purge *time.Time
	dest := append([]any{&p.ID, &p.Ref, &p.OrganizationID, &p.Name, &p.Region, &p.State,
		&p.DataPlaneURL, &p.CreatedAt, &purge, &p.LastError}, extra...)
	if err := row.Scan(dest...); err != nil {
		return Project{}, err
	}
	if purge != nil {
		p.PurgeAt = *purge
	}
	return p, nil
}

// errRefTaken is an insert whose random ref collided with another's.
var errRefTaken = errors.New("project ref taken")

// ProjectInsertParams describe a new project.
type ProjectInsertParams struct {
	ID             string
	Ref            string
	OrganizationID string
	Name           string
	Region         string
}

// ProjectInsert inserts a project in state provisioning. A name taken in the
// organization is fault.AlreadyExists; a ref taken is errRefTaken.
func (s *Store) ProjectInsert(ctx context.Context, p ProjectInsertParams) (Project, error) {
	row := s.db.QueryRow(ctx, `
WITH p AS (
	INSERT INTO controlplane.projects (id, ref, organization_id, name, region)
	VALUES ($1, $2, $3, $4, $5)
	RETURNING *
)
SELECT `+projectColumns+` FROM p JOIN controlplane.regions r ON r.name = p.region`,
		p.ID, p.Ref, p.OrganizationID, p.Name, p.Region)
	out, err := scanProject(row)
	if err != nil {
		return Project{}, projectWriteError(err, p.Name)
	}
	return out, nil
}

// projectWriteError maps unique violations of a project insert or rename.
func projectWriteError(err error, name string) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		switch pgErr.ConstraintName {
		case "projects_ref_key":
			return errRefTaken
		case "projects_org_name_live_idx":
			return fault.New(fault.AlreadyExists, "the organization already has a project named %q", name)
		}
	}
	return fmt.Errorf("write project: %w", err)
}

// RegionURL returns the public URL of a registered region, or
// fault.NotFound.
func (s *Store) RegionURL(ctx context.Context, name string) (string, error) {
	var u string
	err := s.db.QueryRow(ctx, `SELECT public_url FROM controlplane.regions WHERE name = $1`, name).Scan(&u)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fault.New(fault.NotFound, "region %q is not known; see sov regions list", truncate(name, 40))
	}
	if err != nil {
		return "", fmt.Errorf("look up region: %w", err)
	}
	return u, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ProjectGetForMemberParams name a project and the account looking at it.
type ProjectGetForMemberParams struct {
	Key       projectKey
	AccountID string
	// ForUpdate locks the project's row until the transaction ends.
	ForUpdate bool
}

// ProjectGetForMember returns a project of a live organization with the
// account's role in it. A project the account cannot see is fault.NotFound.
func (s *Store) ProjectGetForMember(ctx context.Context, p ProjectGetForMemberParams) (Project, orgs.Role, error) {
	lock := ""
	if p.ForUpdate {
		lock = " FOR UPDATE OF p"
	}
	var role orgs.Role
	out, err := scanProject(s.db.QueryRow(ctx, `
SELECT `+projectColumns+`, m.role
FROM controlplane.projects p
JOIN controlplane.regions r ON r.name = p.region
JOIN controlplane.organizations o ON o.id = p.organization_id AND o.deleted_at IS NULL
JOIN controlplane.memberships m ON m.organization_id = p.organization_id AND m.account_id = $3
WHERE (p.id = $1 OR p.ref = $2)`+lock, nullable(p.Key.ID), nullable(p.Key.Ref), p.AccountID), &role)
	if errors.Is(err, pgx.ErrNoRows) {
		return Project{}, "", fault.New(fault.NotFound, "project %s not found", p.Key.ID+p.Key.Ref)
	}
	if err != nil {
		return Project{}, "", fmt.Errorf("get project: %w", err)
	}
	return out, role, nil
}

// nullable turns "" into SQL NULL, so that an absent id or ref matches
// nothing.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// ProjectGet returns a project by id, whoever asks (for jobs).
func (s *Store) ProjectGet(ctx context.Context, id string) (Project, error) {
	out, err := scanProject(s.db.QueryRow(ctx, `
SELECT `+projectColumns+`
FROM controlplane.projects p JOIN controlplane.regions r ON r.name = p.region
WHERE p.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Project{}, fault.New(fault.NotFound, "project %s not found", id)
	}
	if err != nil {
		return Project{}, fmt.Errorf("get project: %w", err)
	}
	return out, nil
}

// cursor is a position in a project listing.
type cursor struct {
	CreatedAt time.Time
	ID        string
}

// ProjectListParams select a page of an organization's projects.
type ProjectListParams struct {
	OrganizationID string
	// After is the last project of the previous page; nil for the first.
	After          *cursor
	Limit          int
	IncludeDeleted bool
}

// ProjectList lists projects newest first.
func (s *Store) ProjectList(ctx context.Context, p ProjectListParams) ([]Project, error) {
	var afterAt *time.Time
	var afterID *string
	if p.After != nil {
		afterAt, afterID = &p.After.CreatedAt, &p.After.ID
	}
	rows, err := s.db.Query(ctx, `
SELECT `+projectColumns+`
FROM controlplane.projects p JOIN controlplane.regions r ON r.name = p.region
WHERE p.organization_id = $1
  AND ($2::boolean OR p.state NOT IN ('deleting', 'deleted'))
  AND ($3::timestamptz IS NULL OR (p.created_at, p.id) < ($3::timestamptz, $4::uuid))
ORDER BY p.created_at DESC, p.id DESC
LIMIT $5`, p.OrganizationID, p.IncludeDeleted, afterAt, afterID, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Project, error) { return scanProject(r) })
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return out, nil
}

// ProjectRenameParams rename a project.
type ProjectRenameParams struct {
	ID   string
	Name string
}

// ProjectRename renames a project; a name taken is fault.AlreadyExists.
func (s *Store) ProjectRename(ctx context.Context, p ProjectRenameParams) error {
	_, err := s.db.Exec(ctx, `UPDATE controlplane.projects SET name = $2 WHERE id = $1`, p.ID, p.Name)
	if err != nil {
		return projectWriteError(err, p.Name)
	}
	return nil
}

// ProjectStateSetParams change a project's state.
type ProjectStateSetParams struct {
	ID    string
	State State
	// Retention, for StateDeleting, is how long until the data is purged.
	Retention time.Duration
}

// ProjectStateSet changes a project's state, bumps its state version (so
// that the change is pushed) and returns its purge time (zero unless
// deleting).
func (s *Store) ProjectStateSet(ctx context.Context, p ProjectStateSetParams) (time.Time, error) {
	var purge *time.Time
	err := s.db.QueryRow(ctx, `
UPDATE controlplane.projects SET
	state = $2,
	state_version = state_version + 1,
	delete_requested_at = CASE WHEN $2 = 'deleting' THEN now() ELSE delete_requested_at END,
	purge_at = CASE WHEN $2 = 'deleting' THEN now() + make_interval(secs => $3) ELSE purge_at END
WHERE id = $1
RETURNING purge_at`, p.ID, string(p.State), p.Retention.Seconds()).Scan(&purge)
	if err != nil {
		return time.Time{}, fmt.Errorf("set project state: %w", err)
	}
	if purge == nil || p.State != StateDeleting {
		return time.Time{}, nil
	}
	return *purge, nil
}

// ProjectActivate moves a provisioning project to active and clears its
// last error. It reports whether it did, and the project's state after.
func (s *Store) ProjectActivate(ctx context.Context, id string) (bool, State, error) {
	var st State
	err := s.db.QueryRow(ctx, `
UPDATE controlplane.projects SET state = 'active', last_error = NULL
WHERE id = $1 AND state = 'provisioning'
RETURNING state`, id).Scan(&st)
	if err == nil {
		return true, st, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return false, "", fmt.Errorf("activate project: %w", err)
	}
	if err := s.db.QueryRow(ctx, `SELECT state FROM controlplane.projects WHERE id = $1`, id).Scan(&st); err != nil {
		return false, "", fmt.Errorf("activate project: %w", err)
	}
	return false, st, nil
}

// ProjectLastErrorSet records why provisioning failed, while it is still
// provisioning.
func (s *Store) ProjectLastErrorSet(ctx context.Context, id, msg string) error {
	_, err := s.db.Exec(ctx, `
UPDATE controlplane.projects SET last_error = $2 WHERE id = $1 AND state = 'provisioning'`, id, msg)
	if err != nil {
		return fmt.Errorf("record provisioning error: %w", err)
	}
	return nil
}

// ProjectMarkDeleted moves a deleting project to deleted.
func (s *Store) ProjectMarkDeleted(ctx context.Context, id string) error {
	_, err := s.db.Exec(ctx, `
UPDATE controlplane.projects SET state = 'deleted', last_error = NULL WHERE id = $1 AND state = 'deleting'`, id)
	if err != nil {
		return fmt.Errorf("mark project deleted: %w", err)
	}
	return nil
}

// ProjectIDsLiveByOrganization lists the ids of an organization's live
// projects.
func (s *Store) ProjectIDsLiveByOrganization(ctx context.Context, orgID string) ([]string, error) {
	rows, err := s.db.Query(ctx, `
SELECT id::text FROM controlplane.projects
WHERE organization_id = $1 AND state IN ('provisioning', 'active', 'paused')`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list project ids: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list project ids: %w", err)
	}
	return ids, nil
}

// projectPush is what a push of a project's state needs.
type projectPush struct {
	Ref, Region   string
	State         State
	Version       int64
	PushedVersion int64
	Plan          string
}

// projectForPush reads a project's push state; the caller holds the push
// lock.
func (s *Store) projectForPush(ctx context.Context, id string) (projectPush, error) {
	var p projectPush
	err := s.db.QueryRow(ctx, `
SELECT p.ref, p.region, p.state, p.state_version, p.state_pushed_version, o.plan
FROM controlplane.projects p JOIN controlplane.organizations o ON o.id = p.organization_id
WHERE p.id = $1`, id).Scan(&p.Ref, &p.Region, &p.State, &p.Version, &p.PushedVersion, &p.Plan)
	if err != nil {
		return projectPush{}, fmt.Errorf("read project %s: %w", id, err)
	}
	return p, nil
}

// projectStatePushed records that version of the state reached the data
// plane.
func (s *Store) projectStatePushed(ctx context.Context, id string, version int64) error {
	_, err := s.db.Exec(ctx, `
UPDATE controlplane.projects SET state_pushed_version = $2 WHERE id = $1 AND state_pushed_version < $2`, id, version)
	if err != nil {
		return fmt.Errorf("record state push: %w", err)
	}
	return nil
}

// pushLock takes a transaction-scoped advisory lock that serializes pushes
// of one kind for one project.
func (s *Store) pushLock(ctx context.Context, what, id string) error {
	_, err := s.db.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`,
		"sovereign.projects.push."+what+":"+id)
	if err != nil {
		return fmt.Errorf("lock %s push: %w", what, err)
	}
	return nil
}

const keyColumns = `k.id::text, k.project_id::text, k.name, k.kind, k.prefix, k.created_at,
	k.expires_at, k.last_used_at, k.revoked_at`

func scanKey(row pgx.Row, extra ...any) (Key, error) {
	var k Key
	var expires, used, revoked *time.Time
	dest := append([]any{&k.ID, &k.ProjectID, &k.Name, &k.Kind, &k.Prefix, &k.CreatedAt,
		&expires, &used, &revoked}, extra...)
	if err := row.Scan(dest...); err != nil {
		return Key{}, err
	}
	for _, t := range []struct {
		src *time.Time
		dst *time.Time
	}{{expires, &k.ExpiresAt}, {used, &k.LastUsedAt}, {revoked, &k.RevokedAt}} {
		if t.src != nil {
			*t.dst = *t.src
		}
	}
	return k, nil
}

// KeyInsertParams describe a new API key.
type KeyInsertParams struct {
	ID        string
	ProjectID string
	Name      string
	Kind      KeyKind
	Hash      string
	Prefix    string
	// TTL is the key's lifetime; 0 means it does not expire.
	TTL time.Duration
}

// KeyInsert inserts an API key.
func (s *Store) KeyInsert(ctx context.Context, p KeyInsertParams) (Key, error) {
	var ttl *float64
	if p.TTL > 0 {
		secs := p.TTL.Seconds()
		ttl = &secs
	}
	k, err := scanKey(s.db.QueryRow(ctx, `
INSERT INTO controlplane.api_keys AS k (id, project_id, name, kind, hash, prefix, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
RETURNING `+keyColumns, p.ID, p.ProjectID, p.Name, string(p.Kind), p.Hash, p.Prefix, ttl))
	if err != nil {
		return Key{}, fmt.Errorf("insert key: %w", err)
	}
	return k, nil
}

// KeyListParams select a project's keys.
type KeyListParams struct {
	ProjectID      string
	IncludeRevoked bool
}

// KeyList lists a project's keys, newest first.
func (s *Store) KeyList(ctx context.Context, p KeyListParams) ([]Key, error) {
	rows, err := s.db.Query(ctx, `
SELECT `+keyColumns+` FROM controlplane.api_keys k
WHERE k.project_id = $1 AND ($2::boolean OR k.revoked_at IS NULL)
ORDER BY k.created_at DESC, k.id DESC`, p.ProjectID, p.IncludeRevoked)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Key, error) { return scanKey(r) })
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return out, nil
}

// KeyGetForMemberParams name a key and the account looking at it.
type KeyGetForMemberParams struct {
	ID        string
	AccountID string
	ForUpdate bool
}

// KeyGetForMember returns a key with the account's role in its project's
// organization. A key the account cannot see is fault.NotFound.
func (s *Store) KeyGetForMember(ctx context.Context, p KeyGetForMemberParams) (Key, orgs.Role, error) {
	lock := ""
	if p.ForUpdate {
		lock = " FOR UPDATE OF k"
	}
	var role orgs.Role
	k, err := scanKey(s.db.QueryRow(ctx, `
SELECT `+keyColumns+`, m.role
FROM controlplane.api_keys k
JOIN controlplane.projects p ON p.id = k.project_id
JOIN controlplane.organizations o ON o.id = p.organization_id AND o.deleted_at IS NULL
JOIN controlplane.memberships m ON m.organization_id = p.organization_id AND m.account_id = $2
WHERE k.id = $1`+lock, p.ID, p.AccountID), &role)
	if errors.Is(err, pgx.ErrNoRows) {
		return Key{}, "", fault.New(fault.NotFound, "API key %s not found", p.ID)
	}
	if err != nil {
		return Key{}, "", fmt.Errorf("get key: %w", err)
	}
	return k, role, nil
}

// KeyRevoke revokes a key (a no-op for a revoked one) and returns it.
func (s *Store) KeyRevoke(ctx context.Context, id string) (Key, error) {
	k, err := scanKey(s.db.QueryRow(ctx, `
UPDATE controlplane.api_keys AS k
SET revoked_at = coalesce(revoked_at, now()),
    sync_version = sync_version + CASE WHEN revoked_at IS NULL THEN 1 ELSE 0 END
WHERE id = $1
RETURNING `+keyColumns, id))
	if err != nil {
		return Key{}, fmt.Errorf("revoke key: %w", err)
	}
	return k, nil
}

// keyPush is one key record to push, with the version it carries.
type keyPush struct {
	ID, Kind, Hash       string
	ExpiresAt, RevokedAt *time.Time
	Version              int64
}

// keysUnpushed lists a project's keys whose latest version has not reached
// the data plane.
func (s *Store) keysUnpushed(ctx context.Context, projectID string) ([]keyPush, error) {
	rows, err := s.db.Query(ctx, `
SELECT id::text, kind, hash, expires_at, revoked_at, sync_version
FROM controlplane.api_keys
WHERE project_id = $1 AND sync_version > pushed_version
ORDER BY created_at, id`, projectID)
	if err != nil {
		return nil, fmt.Errorf("list unpushed keys: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (keyPush, error) {
		var k keyPush
		err := r.Scan(&k.ID, &k.Kind, &k.Hash, &k.ExpiresAt, &k.RevokedAt, &k.Version)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("list unpushed keys: %w", err)
	}
	return out, nil
}

// keysPushed records that the keys' versions reached the data plane.
func (s *Store) keysPushed(ctx context.Context, keys []keyPush) error {
	ids := make([]string, len(keys))
	versions := make([]int64, len(keys))
	for i, k := range keys {
		ids[i], versions[i] = k.ID, k.Version
	}
	_, err := s.db.Exec(ctx, `
UPDATE controlplane.api_keys k SET pushed_version = v.version
FROM unnest($1::uuid[], $2::bigint[]) AS v(id, version)
WHERE k.id = v.id AND k.pushed_version < v.version`, ids, versions)
	if err != nil {
		return fmt.Errorf("record key push: %w", err)
	}
	return nil
}

// projectPurgeWait is how long until a deleting project's purge time, by
// the database's clock; zero or less when it has come.
func (s *Store) projectPurgeWait(ctx context.Context, id string) (time.Duration, error) {
	var secs float64
	err := s.db.QueryRow(ctx, `
SELECT coalesce(extract(epoch FROM purge_at - now()), 0)::float8 FROM controlplane.projects WHERE id = $1`, id).Scan(&secs)
	if err != nil {
		return 0, fmt.Errorf("read purge time: %w", err)
	}
	return time.Duration(secs * float64(time.Second)), nil
}
