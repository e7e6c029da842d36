// Package tenants keeps the tenants (projects) a data plane serves: their
// PostgreSQL schema and role t_<ref>, their state and their plan limits, in
// the region's own database, so that the region goes on serving them while
// the control plane is down.
//
// Every change runs in one transaction under a transaction-level advisory
// lock keyed on the tenant's ref, so two control-plane retries arriving at
// once serialise instead of failing, and a failed call leaves nothing
// half-done.
//
// # Privileges
//
// The pool's user creates and drops the tenant roles and must be able to
// SET ROLE to them (DESIGN.md, "Tenancy and isolation"). It therefore needs
// CREATEROLE and the CREATE privilege on the database; Provision grants it
// membership in each role it creates. A superuser works too.
//
// Roles are cluster-wide while schemas are per database: when several
// databases share one cluster, a role t_<ref> may already exist. Provision
// adopts an existing role only when it cannot log in and is not a
// superuser, and tolerates another session creating it at the same moment.
package tenants

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// State is where a tenant is in its life.
type State string

// The states of a tenant. Provision makes a tenant ACTIVE; SetState moves it
// between ACTIVE and PAUSED and on to DELETING; Purge ends it as DELETED.
// Keys of a tenant that is not ACTIVE are refused.
const (
	StateProvisioning State = "provisioning"
	StateActive       State = "active"
	StatePaused       State = "paused"
	StateDeleting     State = "deleting"
	StateDeleted      State = "deleted"
)

// Errors a caller can act on. Anything else is internal.
var (
	// ErrInvalidRef: the ref is not 4 to 32 lowercase letters and digits.
	ErrInvalidRef = errors.New("ref: must be 4 to 32 lowercase letters and digits")
	// ErrNotFound: no tenant with that ref is provisioned in this region.
	ErrNotFound = errors.New("tenant not found in this region")
	// ErrTransition: the tenant's current state does not allow the change;
	// the error is a *TransitionError.
	ErrTransition = errors.New("tenant state does not allow this")
	// ErrInvalidLimits: a limit is negative or the plan name too long (see
	// Limits.Validate).
	ErrInvalidLimits = errors.New("invalid limits")
	// ErrConflict: the cluster holds a role or schema of that name that this
	// data plane may not adopt (a role that can log in, a superuser, or a
	// schema owned by another role).
	ErrConflict = errors.New("conflicting role or schema")
)

// refPattern matches what dataplane.tenants accepts. The control plane makes
// 12-character refs; the wider range matches the table's check.
var refPattern = regexp.MustCompile(`^[a-z0-9]{4,32}$`)

// ValidRef reports whether ref is a well-formed tenant ref.
func ValidRef(ref string) bool { return refPattern.MatchString(ref) }

// SchemaName is the name of the tenant's schema and role: t_<ref>.
func SchemaName(ref string) string { return "t_" + ref }

// MaxPlanLen is the longest plan name Limits accepts, in bytes.
const MaxPlanLen = 64

// Limits come from the organization's plan. Zero means unlimited.
type Limits struct {
	// Plan is the plan's name, e.g. "free"; at most MaxPlanLen bytes.
	Plan string `json:"plan"`
	// RequestsPerSecond over the project's keys.
	RequestsPerSecond int32 `json:"requests_per_second"`
	// DatabaseBytes is the size of the tenant's schema, in bytes.
	DatabaseBytes int64 `json:"database_bytes"`
	// StorageBytes is file storage, in bytes.
	StorageBytes int64 `json:"storage_bytes"`
	// RealtimeConnections is concurrent realtime connections.
	RealtimeConnections int32 `json:"realtime_connections"`
	// RealtimeSubscriptions is subscriptions (and, counted apart, channel
	// joins) per realtime connection; 0 means the node's default (100).
	RealtimeSubscriptions int32 `json:"realtime_subscriptions"`
	// RealtimeMessagesPerSecond is frames one realtime connection may send
	// per second; 0 means the node's default (100).
	RealtimeMessagesPerSecond int32 `json:"realtime_messages_per_second"`
	// RealtimePayloadBytes is the largest frame a realtime client may send;
	// 0 means the node's default (64 KiB).
	RealtimePayloadBytes int32 `json:"realtime_payload_bytes"`
}

// Validate returns nil, or an error that names the field at fault (as
// "limits.<field>: …") and matches ErrInvalidLimits with errors.Is.
func (l Limits) Validate() error {
	switch {
	case len(l.Plan) > MaxPlanLen:
		return limitsError(fmt.Sprintf("plan: at most %d bytes", MaxPlanLen))
	case l.RequestsPerSecond < 0:
		return limitsError("requests_per_second: must be 0 (unlimited) or more")
	case l.DatabaseBytes < 0:
		return limitsError("database_bytes: must be 0 (unlimited) or more")
	case l.StorageBytes < 0:
		return limitsError("storage_bytes: must be 0 (unlimited) or more")
	case l.RealtimeConnections < 0:
		return limitsError("realtime_connections: must be 0 (unlimited) or more")
	case l.RealtimeSubscriptions < 0:
		return limitsError("realtime_subscriptions: must be 0 (the node's default) or more")
	case l.RealtimeMessagesPerSecond < 0:
		return limitsError("realtime_messages_per_second: must be 0 (the node's default) or more")
	case l.RealtimePayloadBytes < 0:
		return limitsError("realtime_payload_bytes: must be 0 (the node's default) or more")
	}
	return nil
}

type limitsError string

func (e limitsError) Error() string        { return "limits." + string(e) }
func (e limitsError) Is(target error) bool { return target == ErrInvalidLimits }

// TransitionError says that a tenant's state does not allow a change. It
// matches ErrTransition with errors.Is.
type TransitionError struct {
	Ref string
	// From is the tenant's state.
	From State
	// To is the state asked for, or "" when the change is not a state
	// change (Provision, Purge).
	To State
	// Why completes the message.
	Why string
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("tenant %s is %s: %s", e.Ref, e.From, e.Why)
}

// Is makes errors.Is(err, ErrTransition) true.
func (e *TransitionError) Is(target error) bool { return target == ErrTransition }

// Tenant is one row of dataplane.tenants.
type Tenant struct {
	Ref string
	// Schema is the tenant's schema and role, t_<ref>.
	Schema    string
	State     State
	Limits    Limits
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Config configures a Store.
type Config struct {
	// Pool is the region database, migrated with dataplane/migrations.
	// Required. Its user needs CREATEROLE and CREATE on the database (see
	// the package doc).
	Pool *pgxpool.Pool
	// Changed, when set, is called with the tenant's ref after every
	// committed change (Provision, SetState, Purge) and after a SetState or
	// Purge that found nothing to change, so that a retry re-announces a
	// change whose announcement failed. apikeys.Keys.TenantChanged fits: it
	// drops the tenant's cached keys on every node. An error from it is
	// returned, wrapped, after the change was committed.
	Changed func(ctx context.Context, ref string) error
}

// Store reads and changes tenants. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	changed func(ctx context.Context, ref string) error
}

// New returns a Store over cfg.Pool.
func New(cfg Config) (*Store, error) {
	if cfg.Pool == nil {
		return nil, errors.New("tenants: config has no Pool")
	}
	changed := cfg.Changed
	if changed == nil {
		changed = func(context.Context, string) error { return nil }
	}
	return &Store{pool: cfg.Pool, changed: changed}, nil
}

// ProvisionParams are the arguments of Provision.
type ProvisionParams struct {
	Ref    string
	Limits Limits
}

// Provision creates the tenant's role t_<ref> (NOLOGIN) and schema t_<ref>
// owned by it, with no privileges for PUBLIC, and records the tenant as
// ACTIVE with its limits, all in one transaction. For a tenant that exists
// it updates the limits and leaves the state alone (PROVISIONING, which only
// an older writer leaves behind, becomes ACTIVE) (it also re-creates a
// role or schema found missing). It refuses a tenant that is DELETING or
// DELETED (ErrTransition).
func (s *Store) Provision(ctx context.Context, p ProvisionParams) (Tenant, error) {
	if !ValidRef(p.Ref) {
		return Tenant{}, ErrInvalidRef
	}
	if err := p.Limits.Validate(); err != nil {
		return Tenant{}, err
	}
	limits, err := json.Marshal(p.Limits)
	if err != nil {
		return Tenant{}, fmt.Errorf("provision tenant: %w", err)
	}
	name := SchemaName(p.Ref)
	var t Tenant
	err = s.inTx(ctx, p.Ref, func(tx pgx.Tx) error {
		cur, found, err := get(ctx, tx, p.Ref, true)
		if err != nil {
			return err
		}
		if found && (cur.State == StateDeleting || cur.State == StateDeleted) {
			return &TransitionError{Ref: p.Ref, From: cur.State, Why: "it cannot be provisioned again"}
		}
		if err := ensureRole(ctx, tx, name); err != nil {
			return err
		}
		if err := ensureSchema(ctx, tx, name); err != nil {
			return err
		}
		row := tx.QueryRow(ctx, `
INSERT INTO dataplane.tenants AS t (ref, schema_name, state, limits)
VALUES ($1, $2, $3, $4)
ON CONFLICT (ref) DO UPDATE SET
    limits = excluded.limits,
    state = CASE WHEN t.state = 'provisioning' THEN excluded.state ELSE t.state END,
    updated_at = now()
RETURNING `+columns, p.Ref, name, string(StateActive), limits)
		t, err = scanTenant(row)
		return err
	})
	if err != nil {
		return Tenant{}, fmt.Errorf("provision tenant %s: %w", p.Ref, err)
	}
	if err := s.changed(ctx, p.Ref); err != nil {
		return t, fmt.Errorf("provision tenant %s: %w", p.Ref, err)
	}
	return t, nil
}

// ensureRole creates role name (NOLOGIN) unless it exists, and makes the
// current user a member so that it can SET ROLE to it.
func ensureRole(ctx context.Context, tx pgx.Tx, name string) error {
	ident := pgx.Identifier{name}.Sanitize()
	exists, err := checkRole(ctx, tx, name)
	if err != nil {
		return err
	}
	if !exists {
		// A savepoint, so that losing a race with another database of the
		// cluster creating the same role does not abort the transaction.
		sp, err := tx.Begin(ctx)
		if err != nil {
			return fmt.Errorf("savepoint: %w", err)
		}
		if _, err := sp.Exec(ctx, "CREATE ROLE "+ident+" NOLOGIN"); err == nil {
			if err := sp.Commit(ctx); err != nil {
				return fmt.Errorf("release savepoint: %w", err)
			}
		} else {
			_ = sp.Rollback(ctx)
			// 42710 duplicate_object: created and committed meanwhile;
			// 23505 unique_violation: created by a transaction that
			// committed while this one waited on it.
			if !isCode(err, "42710", "23505") {
				return fmt.Errorf("create role %s: %w", name, err)
			}
			if _, err := checkRole(ctx, tx, name); err != nil {
				return err
			}
		}
	}
	if _, err := tx.Exec(ctx, "GRANT "+ident+" TO CURRENT_USER"); err != nil {
		return fmt.Errorf("grant role %s: %w", name, err)
	}
	return nil
}

// checkRole reports whether role name exists, and refuses one that is not
// safe to use as a tenant role.
func checkRole(ctx context.Context, tx pgx.Tx, name string) (bool, error) {
	var canLogin, super bool
	err := tx.QueryRow(ctx, "SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = $1", name).Scan(&canLogin, &super)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up role %s: %w", name, err)
	}
	if canLogin || super {
		return true, fmt.Errorf("%w: role %s exists and can log in or is a superuser", ErrConflict, name)
	}
	return true, nil
}

// ensureSchema creates schema name owned by role name, unless it exists, and
// checks that an existing one belongs to that role.
func ensureSchema(ctx context.Context, tx pgx.Tx, name string) error {
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+ident+" AUTHORIZATION "+ident); err != nil {
		return fmt.Errorf("create schema %s: %w", name, err)
	}
	var owner string
	if err := tx.QueryRow(ctx,
		"SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = $1", name).Scan(&owner); err != nil {
		return fmt.Errorf("look up schema %s: %w", name, err)
	}
	if owner != name {
		return fmt.Errorf("%w: schema %s exists and belongs to role %s", ErrConflict, name, owner)
	}
	if _, err := tx.Exec(ctx, "REVOKE ALL ON SCHEMA "+ident+" FROM PUBLIC"); err != nil {
		return fmt.Errorf("revoke public access to schema %s: %w", name, err)
	}
	return nil
}

// SetStateParams are the arguments of SetState.
type SetStateParams struct {
	Ref string
	// State is StateActive, StatePaused or StateDeleting.
	State State
}

// CanSet reports whether SetState may move a tenant from one state to
// another: ACTIVE ⇄ PAUSED, either of them → DELETING, and any state to
// itself. DELETED is reached only through Purge; asking a DELETED tenant to
// be DELETING is allowed and changes nothing, so that a retried deletion
// (SetState DELETING, then Purge) succeeds after the purge is done.
func CanSet(from, to State) bool {
	switch to {
	case StateActive, StatePaused:
		return from == StateActive || from == StatePaused
	case StateDeleting:
		return from == StateActive || from == StatePaused || from == StateDeleting || from == StateDeleted
	}
	return false
}

// SetState moves a tenant to p.State (see CanSet; a move CanSet refuses is a
// *TransitionError, and p.State other than active, paused or deleting an
// error). Setting the state a tenant already has changes nothing.
func (s *Store) SetState(ctx context.Context, p SetStateParams) (Tenant, error) {
	if !ValidRef(p.Ref) {
		return Tenant{}, ErrInvalidRef
	}
	switch p.State {
	case StateActive, StatePaused, StateDeleting:
	default:
		return Tenant{}, fmt.Errorf("set tenant %s state: state %q cannot be set: use active, paused or deleting", p.Ref, p.State)
	}
	var t Tenant
	err := s.inTx(ctx, p.Ref, func(tx pgx.Tx) error {
		cur, found, err := get(ctx, tx, p.Ref, true)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		if !CanSet(cur.State, p.State) {
			why := fmt.Sprintf("it cannot become %s", p.State)
			if cur.State == StateDeleting {
				why += "; a tenant being deleted can only be purged"
			}
			return &TransitionError{Ref: p.Ref, From: cur.State, To: p.State, Why: why}
		}
		if cur.State == p.State || cur.State == StateDeleted {
			t = cur
			return nil
		}
		row := tx.QueryRow(ctx, `
UPDATE dataplane.tenants AS t SET state = $2, updated_at = now() WHERE ref = $1
RETURNING `+columns, p.Ref, string(p.State))
		t, err = scanTenant(row)
		return err
	})
	if err != nil {
		return Tenant{}, fmt.Errorf("set tenant %s state: %w", p.Ref, err)
	}
	if err := s.changed(ctx, p.Ref); err != nil {
		return t, fmt.Errorf("set tenant %s state: %w", p.Ref, err)
	}
	return t, nil
}

// Purge drops a DELETING tenant's schema (with everything in it) and role,
// deletes its keys and marks it DELETED, in one transaction. Purging a
// DELETED tenant changes nothing; any other state is ErrTransition.
func (s *Store) Purge(ctx context.Context, ref string) error {
	if !ValidRef(ref) {
		return ErrInvalidRef
	}
	name := SchemaName(ref)
	ident := pgx.Identifier{name}.Sanitize()
	err := s.inTx(ctx, ref, func(tx pgx.Tx) error {
		cur, found, err := get(ctx, tx, ref, true)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		switch cur.State {
		case StateDeleted:
			return nil
		case StateDeleting:
		default:
			return &TransitionError{Ref: ref, From: cur.State, Why: "set it to deleting before purging it"}
		}
		if _, err := tx.Exec(ctx, "DROP SCHEMA IF EXISTS "+ident+" CASCADE"); err != nil {
			return fmt.Errorf("drop schema %s: %w", name, err)
		}
		exists, err := checkRole(ctx, tx, name)
		if err != nil {
			return err
		}
		if exists {
			// DROP OWNED revokes what the role was granted in this database
			// and drops anything it still owns here, so DROP ROLE does not
			// fail on a stray object; the membership goes with the role.
			if _, err := tx.Exec(ctx, "DROP OWNED BY "+ident+" CASCADE"); err != nil {
				return fmt.Errorf("drop objects of role %s: %w", name, err)
			}
			if _, err := tx.Exec(ctx, "DROP ROLE IF EXISTS "+ident); err != nil {
				return fmt.Errorf("drop role %s: %w", name, err)
			}
		}
		if _, err := tx.Exec(ctx, "DELETE FROM dataplane.api_keys WHERE tenant_ref = $1", ref); err != nil {
			return fmt.Errorf("delete keys: %w", err)
		}
		_, err = tx.Exec(ctx, "UPDATE dataplane.tenants SET state = $2, updated_at = now() WHERE ref = $1",
			ref, string(StateDeleted))
		return err
	})
	if err != nil {
		return fmt.Errorf("purge tenant %s: %w", ref, err)
	}
	if err := s.changed(ctx, ref); err != nil {
		return fmt.Errorf("purge tenant %s: %w", ref, err)
	}
	return nil
}

// Get returns the tenant with ref, or ErrNotFound.
func (s *Store) Get(ctx context.Context, ref string) (Tenant, error) {
	if !ValidRef(ref) {
		return Tenant{}, ErrInvalidRef
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return Tenant{}, fmt.Errorf("get tenant %s: %w", ref, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read only
	t, found, err := get(ctx, tx, ref, false)
	if err != nil {
		return Tenant{}, fmt.Errorf("get tenant %s: %w", ref, err)
	}
	if !found {
		return Tenant{}, ErrNotFound
	}
	return t, nil
}

const columns = "t.ref, t.schema_name, t.state, t.limits, t.created_at, t.updated_at"

func get(ctx context.Context, tx pgx.Tx, ref string, forUpdate bool) (Tenant, bool, error) {
	q := "SELECT " + columns + " FROM dataplane.tenants AS t WHERE t.ref = $1"
	if forUpdate {
		q += " FOR UPDATE"
	}
	t, err := scanTenant(tx.QueryRow(ctx, q, ref))
	if errors.Is(err, pgx.ErrNoRows) {
		return Tenant{}, false, nil
	}
	if err != nil {
		return Tenant{}, false, fmt.Errorf("read tenant: %w", err)
	}
	return t, true, nil
}

func scanTenant(row pgx.Row) (Tenant, error) {
	var (
		t      Tenant
		state  string
		limits []byte
	)
	if err := row.Scan(&t.Ref, &t.Schema, &state, &limits, &t.CreatedAt, &t.UpdatedAt); err != nil {
		return Tenant{}, err
	}
	t.State = State(state)
	if err := json.Unmarshal(limits, &t.Limits); err != nil {
		return Tenant{}, fmt.Errorf("decode limits of tenant %s: %w", t.Ref, err)
	}
	return t, nil
}

// inTx runs fn in a transaction holding the tenant's advisory lock, and
// commits when fn returns nil.
func (s *Store) inTx(ctx context.Context, ref string, fn func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit; the first error is the one that matters
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(ref)); err != nil {
		return fmt.Errorf("lock tenant: %w", err)
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// lockKey derives the tenant's advisory lock key from its ref: 64-bit
// FNV-1a, stable across processes and versions. Advisory locks are per
// database, which is the scope of a tenant's row.
func lockKey(ref string) int64 {
	h := fnv.New64a()
	h.Write([]byte("sovereign.dataplane.tenant." + ref))
	return int64(h.Sum64())
}

func isCode(err error, codes ...string) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	for _, c := range codes {
		if pgErr.Code == c {
			return true
		}
	}
	return false
}
