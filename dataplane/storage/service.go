package storage

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/dataplane/caller"
	"github.com/sovereign-backend/sovereign/dataplane/filter"
	"github.com/sovereign-backend/sovereign/dataplane/rules"
	"github.com/sovereign-backend/sovereign/dataplane/storage/blob"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// DefaultMaxObjectBytes is the platform's largest object: 5 GiB.
const DefaultMaxObjectBytes = 5 << 30

// Config configures the service.
type Config struct {
	// DB runs tenant transactions. Required.
	DB *tenantdb.DB
	// Blobs stores the bytes. Required.
	Blobs blob.Backend
	// QuotaBytes returns the project's storage limit in bytes from its
	// plan; 0 means unlimited. nil means every project is unlimited.
	QuotaBytes func(ctx context.Context, ref string) (int64, error)
	// TenantActive, when set, returns an error for a tenant that may not
	// be served (unknown, paused, deleting); the routes without an API key
	// (public buckets, signed URLs) call it, since no key check did.
	TenantActive func(ctx context.Context, ref string) error
	// SigningSecret seals the per-project signing keys of signed URLs
	// (32 bytes, derived from the region secret). Empty: signed URLs are
	// refused with FailedPrecondition.
	SigningSecret []byte
	// PublicURL is the data plane's base URL as clients reach it; signed
	// URLs are absolute when it is set, else paths.
	PublicURL string
	// MaxObjectBytes caps every object, in bytes, whatever a bucket says;
	// 0 means DefaultMaxObjectBytes.
	MaxObjectBytes int64
	// OrphanAge is how old a blob no row names must be before the janitor
	// deletes it; 0 means one hour.
	OrphanAge time.Duration
	// Now returns the time; nil means time.Now.
	Now func() time.Time
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Service is the storage service. It is safe for concurrent use.
type Service struct {
	cfg   Config
	env   *filter.ObjectEnv
	ready sync.Map // tenant ref → tables known to exist
	rules ruleCache
}

// New validates cfg and returns the service.
func New(cfg Config) (*Service, error) {
	if cfg.DB == nil || cfg.Blobs == nil {
		return nil, errors.New("storage: Config.DB and Config.Blobs are required")
	}
	if cfg.MaxObjectBytes < 0 {
		return nil, errors.New("storage: Config.MaxObjectBytes must not be negative")
	}
	if len(cfg.SigningSecret) != 0 && len(cfg.SigningSecret) != 32 {
		return nil, errors.New("storage: Config.SigningSecret must be 32 bytes")
	}
	cfg.MaxObjectBytes = cmp.Or(cfg.MaxObjectBytes, DefaultMaxObjectBytes)
	cfg.OrphanAge = cmp.Or(cfg.OrphanAge, time.Hour)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	env, err := filter.NewObjectRuleEnv()
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, env: env, rules: ruleCache{m: map[ruleKey]*bucketRules{}}}, nil
}

// TenantChanged drops what the service caches about ref (its tables may
// have been purged).
func (s *Service) TenantChanged(_ context.Context, ref string) error {
	s.forget(ref)
	return nil
}

// who is a request's caller: the identity its key and user give, and the
// rule inputs.
type who struct {
	id   tenantdb.Identity
	auth filter.Auth
}

func (w who) service() bool { return w.id.Role == tenantdb.RoleService }

// callerOf returns the caller of ctx (after keyauth and the user check).
func (s *Service) callerOf(ctx context.Context) (who, error) {
	id, err := caller.Identity(ctx)
	if err != nil {
		return who{}, err
	}
	auth, err := rules.AuthOf(id, s.cfg.Now())
	if err != nil {
		return who{}, err
	}
	return who{id: id, auth: auth}, nil
}

// anonymousOf is the caller of a route without a key (public bucket,
// signed URL) on ref.
func (s *Service) anonymousOf(ref string) who {
	return who{id: tenantdb.Identity{TenantRef: ref, Role: tenantdb.RoleAnon}, auth: filter.Auth{Role: tenantdb.RoleAnon, Time: s.cfg.Now()}}
}

// serviceCallerOf returns the caller of ctx when it is the service role,
// and refuses anyone else.
func (s *Service) serviceCallerOf(ctx context.Context) (who, error) {
	w, err := s.callerOf(ctx)
	if err != nil {
		return who{}, err
	}
	if !w.service() {
		return who{}, connect.NewError(connect.CodePermissionDenied, caller.ErrServiceOnly)
	}
	return w, nil
}
