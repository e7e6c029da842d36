package projects

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/sovereign-backend/sovereign/controlplane/fault"
	"github.com/sovereign-backend/sovereign/controlplane/orgs"
	"github.com/sovereign-backend/sovereign/internal/token"
)

// Defaults.
const (
	// DefaultRetention is how long a deleted project's data is kept.
	DefaultRetention = 7 * 24 * time.Hour
	// DefaultPushTimeout bounds the synchronous push a call makes after
	// its commit.
	DefaultPushTimeout = 3 * time.Second
	// DefaultBackstopDelay is when the backstop job of a push runs.
	DefaultBackstopDelay = 5 * time.Second
	// DefaultMaxAttempts is how often a job is tried before River gives up:
	// at the default retry cap of 5 minutes, about a month.
	DefaultMaxAttempts = 10000
	// DefaultPageSize and MaxPageSize bound ListProjects.
	DefaultPageSize = 50
	MaxPageSize     = 100
)

// Inserter enqueues River jobs in a transaction (*river.Client[pgx.Tx]).
type Inserter interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Config configures a Service.
type Config struct {
	// Pool of the control plane's database. Required.
	Pool *pgxpool.Pool
	// Admin gives each region's AdminService client. Required.
	Admin AdminClients
	// Jobs enqueues the provisioning, push and purge jobs. Required.
	Jobs Inserter
	// Retention is how long a deleted project's data is kept before it is
	// purged. Default DefaultRetention (7 days).
	Retention time.Duration
	// PushTimeout bounds the synchronous push to the data plane that
	// follows a commit; when it fails, the backstop job retries. Default
	// DefaultPushTimeout (3 s).
	PushTimeout time.Duration
	// BackstopDelay is how long after a commit its backstop job runs (and
	// finds nothing left to do when the synchronous push worked). Default
	// DefaultBackstopDelay (5 s).
	BackstopDelay time.Duration
	// MaxAttempts is how often a job is tried before River discards it.
	// Default DefaultMaxAttempts (10000).
	MaxAttempts int
	// Logger for failed synchronous pushes. Default slog.Default().
	Logger *slog.Logger
}

// Service is the project domain: every method checks the caller's role in
// the project's organization before it reads or changes anything.
type Service struct {
	cfg Config
	p   *pusher
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Pool == nil || cfg.Admin == nil || cfg.Jobs == nil {
		return nil, errors.New("projects: Config.Pool, Admin and Jobs are required")
	}
	cfg.Retention = cmp.Or(cfg.Retention, DefaultRetention)
	cfg.PushTimeout = cmp.Or(cfg.PushTimeout, DefaultPushTimeout)
	cfg.BackstopDelay = cmp.Or(cfg.BackstopDelay, DefaultBackstopDelay)
	cfg.MaxAttempts = cmp.Or(cfg.MaxAttempts, DefaultMaxAttempts)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	return &Service{cfg: cfg, p: &pusher{pool: cfg.Pool, admin: cfg.Admin, logger: cfg.Logger}}, nil
}

// enqueue inserts a job in tx; at is when it runs (zero: at once).
func (s *Service) enqueue(ctx context.Context, tx pgx.Tx, args river.JobArgs, at time.Time) error {
	opts := &river.InsertOpts{MaxAttempts: s.cfg.MaxAttempts, ScheduledAt: at}
	if _, err := s.cfg.Jobs.InsertTx(ctx, tx, args, opts); err != nil {
		return fmt.Errorf("enqueue %s: %w", args.Kind(), err)
	}
	return nil
}

// syncPush makes one bounded attempt of a push after a commit. Its failure
// is logged, not returned: the backstop job enqueued with the commit
// retries it.
func (s *Service) syncPush(ctx context.Context, what, projectID string, push func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.PushTimeout)
	defer cancel()
	if err := push(ctx); err != nil {
		s.cfg.Logger.WarnContext(ctx, "push to data plane failed; a job will retry",
			"what", what, "project_id", projectID, "err", err.Error())
	}
}

// ProjectCreateRequest describes a new project.
type ProjectCreateRequest struct {
	OrganizationID string
	Name           string
	Region         string
}

// ProjectCreate (developer) records a project in state provisioning and
// enqueues its provisioning in the same transaction.
func (s *Service) ProjectCreate(ctx context.Context, c orgs.Caller, r ProjectCreateRequest) (Project, error) {
	orgID, err := orgs.ParseID("organization_id", r.OrganizationID)
	if err != nil {
		return Project{}, err
	}
	name, err := orgs.CleanName("name", r.Name)
	if err != nil {
		return Project{}, err
	}
	if r.Region == "" {
		return Project{}, fault.New(fault.Invalid, "region: give a region; see sov regions list")
	}
	// A random ref collides with one in 10^18 or so; retry a few times.
	for range 5 {
		var p Project
		err = pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
			o, err := orgs.NewStore(tx).OrganizationGetForMember(ctx, orgs.OrganizationGetForMemberParams{
				OrganizationID: orgID, AccountID: c.AccountID, Lock: orgs.LockShare,
			})
			if err != nil {
				return err
			}
			if err := o.Role.Require(orgs.Developer, "creating projects"); err != nil {
				return err
			}
			st := NewStore(tx)
			if _, err := st.RegionURL(ctx, r.Region); err != nil {
				return err
			}
			p, err = st.ProjectInsert(ctx, ProjectInsertParams{
				ID: uuid.Must(uuid.NewV7()).String(), Ref: newRef(), OrganizationID: orgID, Name: name, Region: r.Region,
			})
			if err != nil {
				return err
			}
			return s.enqueue(ctx, tx, ProvisionArgs{ProjectID: p.ID}, time.Time{})
		})
		if !errors.Is(err, errRefTaken) {
			return p, err
		}
	}
	return Project{}, fmt.Errorf("create project: %w", err)
}

// ProjectGet (viewer) returns a project by id or ref.
func (s *Service) ProjectGet(ctx context.Context, c orgs.Caller, idOrRef string) (Project, error) {
	key, err := parseProjectKey("id", idOrRef)
	if err != nil {
		return Project{}, err
	}
	p, _, err := NewStore(s.cfg.Pool).ProjectGetForMember(ctx, ProjectGetForMemberParams{Key: key, AccountID: c.AccountID})
	return p, err
}

// ProjectListRequest selects a page of an organization's projects.
type ProjectListRequest struct {
	OrganizationID string
	// PageSize is 1 to MaxPageSize; 0 means DefaultPageSize.
	PageSize       int
	PageToken      string
	IncludeDeleted bool
}

// pageToken is the opaque position a listing continues from.
type pageToken struct {
	Org            string `json:"o"`
	IncludeDeleted bool   `json:"d,omitempty"`
	CreatedAt      int64  `json:"t"` // Unix microseconds, PostgreSQL's precision
	ID             string `json:"i"`
}

func (t pageToken) encode() string {
	b, _ := json.Marshal(t) // a struct of strings, ints and bools always marshals
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePageToken(s string) (pageToken, error) {
	var t pageToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err == nil {
		_, err = uuid.Parse(t.ID)
	}
	if err != nil {
		return pageToken{}, fault.New(fault.Invalid, "page_token: not a token this call returned")
	}
	return t, nil
}

// ProjectList (viewer) lists an organization's projects newest first, one
// page at a time. The next page token is empty on the last page.
func (s *Service) ProjectList(ctx context.Context, c orgs.Caller, r ProjectListRequest) ([]Project, string, error) {
	orgID, err := orgs.ParseID("organization_id", r.OrganizationID)
	if err != nil {
		return nil, "", err
	}
	if r.PageSize < 0 || r.PageSize > MaxPageSize {
		return nil, "", fault.New(fault.Invalid, "page_size: %d is out of range; give 1 to %d, or 0 for %d", r.PageSize, MaxPageSize, DefaultPageSize)
	}
	size := cmp.Or(r.PageSize, DefaultPageSize)
	params := ProjectListParams{OrganizationID: orgID, Limit: size + 1, IncludeDeleted: r.IncludeDeleted}
	if r.PageToken != "" {
		t, err := decodePageToken(r.PageToken)
		if err != nil {
			return nil, "", err
		}
		if t.Org != orgID || t.IncludeDeleted != r.IncludeDeleted {
			return nil, "", fault.New(fault.Invalid, "page_token: it belongs to another listing (organization or include_deleted differ)")
		}
		params.After = &cursor{CreatedAt: time.UnixMicro(t.CreatedAt), ID: t.ID}
	}
	st := NewStore(s.cfg.Pool)
	if _, err := orgs.NewStore(s.cfg.Pool).RoleOf(ctx, c.AccountID, orgID); err != nil {
		return nil, "", err
	}
	list, err := st.ProjectList(ctx, params)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(list) > size {
		list = list[:size]
		last := list[size-1]
		next = pageToken{Org: orgID, IncludeDeleted: r.IncludeDeleted, CreatedAt: last.CreatedAt.UnixMicro(), ID: last.ID}.encode()
	}
	return list, next, nil
}

// ProjectRename (developer) renames a live project.
func (s *Service) ProjectRename(ctx context.Context, c orgs.Caller, idOrRef, name string) (Project, error) {
	key, err := parseProjectKey("id", idOrRef)
	if err != nil {
		return Project{}, err
	}
	name, err = orgs.CleanName("name", name)
	if err != nil {
		return Project{}, err
	}
	var p Project
	err = pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		st := NewStore(tx)
		var role orgs.Role
		var err error
		p, role, err = st.ProjectGetForMember(ctx, ProjectGetForMemberParams{Key: key, AccountID: c.AccountID, ForUpdate: true})
		if err != nil {
			return err
		}
		if err := role.Require(orgs.Developer, "renaming projects"); err != nil {
			return err
		}
		if !p.State.Live() {
			return fault.New(fault.FailedPrecondition, "project %s is %s and cannot be renamed", p.Ref, p.State)
		}
		if p.Name == name {
			return nil
		}
		if err := st.ProjectRename(ctx, ProjectRenameParams{ID: p.ID, Name: name}); err != nil {
			return err
		}
		p.Name = name
		return nil
	})
	if err != nil {
		return Project{}, err
	}
	return p, nil
}

// transition is one state change a caller may ask for.
type transition struct {
	doing string    // for messages: "pausing"
	role  orgs.Role // least role that may do it
	to    State     // the state it leads to
	from  []State   // states it may start from (besides to, a no-op)
	purge bool      // schedules the purge job
}

var (
	pauseTransition  = transition{doing: "pausing projects", role: orgs.Developer, to: StatePaused, from: []State{StateActive}}
	resumeTransition = transition{doing: "resuming projects", role: orgs.Developer, to: StateActive, from: []State{StatePaused}}
	deleteTransition = transition{doing: "deleting projects", role: orgs.Admin, to: StateDeleting,
		from: []State{StateProvisioning, StateActive, StatePaused}, purge: true}
)

// ProjectPause (developer) stops the data plane from serving an active
// project's keys.
func (s *Service) ProjectPause(ctx context.Context, c orgs.Caller, idOrRef string) (Project, error) {
	return s.transition(ctx, c, idOrRef, pauseTransition)
}

// ProjectResume (developer) serves a paused project again.
func (s *Service) ProjectResume(ctx context.Context, c orgs.Caller, idOrRef string) (Project, error) {
	return s.transition(ctx, c, idOrRef, resumeTransition)
}

// ProjectDelete (admin) stops serving a project at once and purges its data
// after the retention period.
func (s *Service) ProjectDelete(ctx context.Context, c orgs.Caller, idOrRef string) (Project, error) {
	return s.transition(ctx, c, idOrRef, deleteTransition)
}

// transition validates and records a state change, enqueues its push (and
// the purge) in the same transaction, then pushes it once synchronously.
// Asking for the state the project is in already changes nothing.
func (s *Service) transition(ctx context.Context, c orgs.Caller, idOrRef string, t transition) (Project, error) {
	key, err := parseProjectKey("id", idOrRef)
	if err != nil {
		return Project{}, err
	}
	var p Project
	changed := false
	err = pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		st := NewStore(tx)
		var role orgs.Role
		var err error
		p, role, err = st.ProjectGetForMember(ctx, ProjectGetForMemberParams{Key: key, AccountID: c.AccountID, ForUpdate: true})
		if err != nil {
			return err
		}
		if err := role.Require(t.role, t.doing); err != nil {
			return err
		}
		if p.State == t.to || (t.to == StateDeleting && p.State == StateDeleted) {
			return nil
		}
		allowed := false
		for _, f := range t.from {
			allowed = allowed || p.State == f
		}
		if !allowed {
			return fault.New(fault.FailedPrecondition, "project %s is %s; %s is not possible from there", p.Ref, p.State, t.doing)
		}
		purge, err := st.ProjectStateSet(ctx, ProjectStateSetParams{ID: p.ID, State: t.to, Retention: s.cfg.Retention})
		if err != nil {
			return err
		}
		p.State, p.PurgeAt, changed = t.to, purge, true
		if p.State != StateDeleting {
			p.PurgeAt = time.Time{}
		}
		if err := s.enqueue(ctx, tx, PushStateArgs{ProjectID: p.ID}, time.Now().Add(s.cfg.BackstopDelay)); err != nil {
			return err
		}
		if t.purge {
			return s.enqueue(ctx, tx, PurgeArgs{ProjectID: p.ID}, purge)
		}
		return nil
	})
	if err != nil {
		return Project{}, err
	}
	if changed {
		s.syncPush(ctx, "state", p.ID, func(ctx context.Context) error { return s.p.pushState(ctx, p.ID, false) })
	}
	return p, nil
}

// LimitsChangedTx enqueues, in tx, a provisioning job for each live project
// of the organization, which sends the limits of its (new) plan to the data
// plane. orgs.Config.PlanChanged takes it.
func (s *Service) LimitsChangedTx(ctx context.Context, tx pgx.Tx, orgID string) error {
	ids, err := NewStore(tx).ProjectIDsLiveByOrganization(ctx, orgID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.enqueue(ctx, tx, ProvisionArgs{ProjectID: id}, time.Time{}); err != nil {
			return err
		}
	}
	return nil
}

// KeyCreateRequest describes a new API key.
type KeyCreateRequest struct {
	ProjectID string // id or ref
	Name      string
	Kind      KeyKind
	// TTL is the key's lifetime; 0 means it does not expire.
	TTL time.Duration
}

// KeyCreate (developer) makes an API key and returns it with its secret,
// which is never stored and never shown again. The key is pushed to the
// data plane before the call returns when the data plane answers (a
// provisioning project's keys are pushed when provisioning ends).
func (s *Service) KeyCreate(ctx context.Context, c orgs.Caller, r KeyCreateRequest) (Key, string, error) {
	key, err := parseProjectKey("project_id", r.ProjectID)
	if err != nil {
		return Key{}, "", err
	}
	name, err := orgs.CleanName("name", r.Name)
	if err != nil {
		return Key{}, "", err
	}
	if r.Kind != KindPublishable && r.Kind != KindSecret {
		return Key{}, "", fault.New(fault.Invalid, "kind: give publishable or secret")
	}
	if r.TTL < 0 || r.TTL > maxKeyTTL {
		return Key{}, "", fault.New(fault.Invalid, "ttl_seconds: give 0 (no expiry) or up to %d seconds", int64(maxKeyTTL/time.Second))
	}
	secret := token.New(r.Kind.prefix())
	var k Key
	err = pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		st := NewStore(tx)
		p, role, err := st.ProjectGetForMember(ctx, ProjectGetForMemberParams{Key: key, AccountID: c.AccountID, ForUpdate: true})
		if err != nil {
			return err
		}
		if err := role.Require(orgs.Developer, "creating API keys"); err != nil {
			return err
		}
		if !p.State.Live() {
			return fault.New(fault.FailedPrecondition, "project %s is %s; it takes no new keys", p.Ref, p.State)
		}
		k, err = st.KeyInsert(ctx, KeyInsertParams{
			ID: uuid.Must(uuid.NewV7()).String(), ProjectID: p.ID, Name: name, Kind: r.Kind,
			Hash: token.Hash(secret), Prefix: token.Display(secret, r.Kind.prefix()), TTL: r.TTL,
		})
		if err != nil {
			return err
		}
		return s.enqueue(ctx, tx, PushKeysArgs{ProjectID: p.ID}, time.Now().Add(s.cfg.BackstopDelay))
	})
	if err != nil {
		return Key{}, "", err
	}
	s.syncPush(ctx, "keys", k.ProjectID, func(ctx context.Context) error { return s.p.pushKeys(ctx, k.ProjectID, keyPushOptions{}) })
	return k, secret, nil
}

// KeyListRequest selects a project's keys.
type KeyListRequest struct {
	ProjectID      string // id or ref
	IncludeRevoked bool
}

// KeyList (viewer) lists a project's keys, newest first, without secrets or
// hashes. Expired keys are listed (with their expiry); revoked ones only on
// request.
func (s *Service) KeyList(ctx context.Context, c orgs.Caller, r KeyListRequest) ([]Key, error) {
	key, err := parseProjectKey("project_id", r.ProjectID)
	if err != nil {
		return nil, err
	}
	st := NewStore(s.cfg.Pool)
	p, _, err := st.ProjectGetForMember(ctx, ProjectGetForMemberParams{Key: key, AccountID: c.AccountID})
	if err != nil {
		return nil, err
	}
	return st.KeyList(ctx, KeyListParams{ProjectID: p.ID, IncludeRevoked: r.IncludeRevoked})
}

// KeyRevoke (developer) revokes a key and pushes the revocation to the data
// plane before it returns when the data plane answers; otherwise a job
// retries. Revoking a revoked key changes nothing.
func (s *Service) KeyRevoke(ctx context.Context, c orgs.Caller, id string) (Key, error) {
	id, err := orgs.ParseID("id", id)
	if err != nil {
		return Key{}, err
	}
	var k Key
	changed := false
	err = pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		st := NewStore(tx)
		var role orgs.Role
		var err error
		k, role, err = st.KeyGetForMember(ctx, KeyGetForMemberParams{ID: id, AccountID: c.AccountID, ForUpdate: true})
		if err != nil {
			return err
		}
		if err := role.Require(orgs.Developer, "revoking API keys"); err != nil {
			return err
		}
		if !k.RevokedAt.IsZero() {
			return nil
		}
		if k, err = st.KeyRevoke(ctx, id); err != nil {
			return err
		}
		changed = true
		return s.enqueue(ctx, tx, PushKeysArgs{ProjectID: k.ProjectID}, time.Now().Add(s.cfg.BackstopDelay))
	})
	if err != nil {
		return Key{}, err
	}
	if changed {
		s.syncPush(ctx, "keys", k.ProjectID, func(ctx context.Context) error { return s.p.pushKeys(ctx, k.ProjectID, keyPushOptions{}) })
	}
	return k, nil
}
