package rules

import (
	"context"
	"errors"

	"github.com/sovereign-backend/sovereign/dataplane/schema"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// Config configures a Service.
type Config struct {
	// Schema holds the collections and their rules. Required.
	Schema *schema.Store
}

// Service reads and sets collections' access rules, for the service role
// only. It is safe for concurrent use.
type Service struct {
	schema *schema.Store
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Schema == nil {
		return nil, errors.New("rules: Config.Schema is required")
	}
	return &Service{schema: cfg.Schema}, nil
}

// Get returns the rules of collection name. Errors: ErrServiceOnly, and
// those of schema.Store.Get (ErrNotFound, *schema.InputError).
func (s *Service) Get(ctx context.Context, id tenantdb.Identity, name string) (Set, error) {
	if id.Role != tenantdb.RoleService {
		return Set{}, ErrServiceOnly
	}
	c, err := s.schema.Get(ctx, id, name)
	if err != nil {
		return Set{}, err
	}
	return SetOf(c.Rules), nil
}

// Set replaces all five rules of collection name with set, and the
// row-level-security policies they compile to, in one transaction, and
// returns the rules as stored. Errors: ErrServiceOnly, *Error for a rule
// that does not compile (nothing changed), and those of
// schema.Store.SetRules (ErrNotFound, ErrBusy, *schema.InputError).
func (s *Service) Set(ctx context.Context, id tenantdb.Identity, name string, set Set) (Set, error) {
	if id.Role != tenantdb.RoleService {
		return Set{}, ErrServiceOnly
	}
	c, err := s.schema.SetRules(ctx, id, schema.SetRulesParams{
		Collection: name,
		Compile: func(c *schema.Collection) (*schema.Rules, schema.Policies, error) {
			return Compile(c, set)
		},
	})
	if errors.Is(err, schema.ErrServiceOnly) {
		return Set{}, ErrServiceOnly
	}
	if err != nil {
		return Set{}, err
	}
	return SetOf(c.Rules), nil
}
