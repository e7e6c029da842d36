package auth

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/google/uuid"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/token"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
)

// UserListParams selects a page of users.
type UserListParams struct {
	// Limit is 1 to 1000; 0 means 50.
	Limit int
	// Cursor is a previous page's NextCursor; "" starts at the beginning.
	Cursor string
	// EmailPrefix keeps users whose email starts with it (case-insensitive).
	EmailPrefix string
}

// UserList returns users in id order (ids are UUIDv7: creation order) and
// the cursor of the next page, "" after the last.
func (s *Service) UserList(ctx context.Context, ref string, p UserListParams) ([]User, string, error) {
	switch {
	case p.Limit == 0:
		p.Limit = 50
	case p.Limit < 1 || p.Limit > 1000:
		return nil, "", &InputError{Field: "limit", Reason: fmt.Sprintf("must be from 1 to 1000 (0 means 50), got %d", p.Limit)}
	}
	after := ""
	if p.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(p.Cursor)
		if err != nil {
			return nil, "", &InputError{Field: "cursor", Reason: "not a cursor this API gave"}
		}
		if _, err := uuid.Parse(string(b)); err != nil {
			return nil, "", &InputError{Field: "cursor", Reason: "not a cursor this API gave"}
		}
		after = string(b)
	}
	if len(p.EmailPrefix) > 254 {
		return nil, "", &InputError{Field: "email_prefix", Reason: "too long: at most 254 characters"}
	}
	var users []User
	err := s.tx(ctx, ref, func(q tenantdb.Querier) error {
		rows, err := q.Query(ctx, "SELECT "+userColumns(ref)+" FROM "+table(ref, usersTable)+` u
			WHERE ($1 = '' OR u.id > $1::uuid) AND ($2 = '' OR starts_with(u.email, lower($2)))
			ORDER BY u.id LIMIT $3`, after, p.EmailPrefix, p.Limit+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				return err
			}
			users = append(users, u.User)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, "", fmt.Errorf("list users: %w", err)
	}
	next := ""
	if len(users) > p.Limit {
		users = users[:p.Limit]
		next = base64.RawURLEncoding.EncodeToString([]byte(users[len(users)-1].ID))
	}
	return users, next, nil
}

// UserCreateParams is a user made by the project.
type UserCreateParams struct {
	Email    string
	Password string
	// EmailVerified marks the email verified without a mail.
	EmailVerified bool
	Role          string
}

// UserCreate makes a user with email and password (no session). Without
// EmailVerified a verification mail is sent.
func (s *Service) UserCreate(ctx context.Context, ref string, p UserCreateParams) (User, error) {
	email, err := normalizeEmail(p.Email)
	if err != nil {
		return User{}, err
	}
	role, err := checkRole(p.Role)
	if err != nil {
		return User{}, err
	}
	var hash string
	if p.Password != "" {
		if err := checkPassword(p.Password, email); err != nil {
			return User{}, err
		}
		if hash, err = s.hasher.Hash(ctx, p.Password); err != nil {
			return User{}, fmt.Errorf("create user: %w", err)
		}
	}
	tok := token.New(token.MailToken)
	var u userRow
	err = s.tx(ctx, ref, func(q tenantdb.Querier) error {
		var err error
		if u, err = s.insertUser(ctx, q, ref, userInsert{Email: email, Verified: p.EmailVerified, PasswordHash: hash, Role: role}); err != nil {
			return err
		}
		if p.EmailVerified {
			return nil
		}
		return s.insertMailToken(ctx, q, ref, tok, PurposeSignup, u.ID, email, s.cfg.VerifyTTL)
	})
	if err != nil {
		return User{}, wrapUnlessDomain("create user", err)
	}
	if !p.EmailVerified {
		s.sendMail(ctx, ref, u.ID, s.verificationMail(email, tok))
	}
	return u.User, nil
}

// UserDelete deletes a user with their sessions, identities and tokens.
func (s *Service) UserDelete(ctx context.Context, ref, id string) error {
	if _, err := uuid.Parse(id); err != nil {
		return fmt.Errorf("user %q: %w", id, ErrNotFound)
	}
	err := s.tx(ctx, ref, func(q tenantdb.Querier) error {
		tag, err := q.Exec(ctx, "DELETE FROM "+table(ref, usersTable)+" WHERE id = $1", id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("user %s: %w", id, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return wrapUnlessDomain("delete user", err)
	}
	s.announce(ctx, invalidation{Tenant: ref, Sessions: true})
	return nil
}

// UserUpdateParams changes a user as the project.
type UserUpdateParams struct {
	ID string
	// Disabled, when not nil, disables (signing the user out everywhere) or
	// enables the user.
	Disabled *bool
	// Role, when not nil, sets the user's role; "" resets it to
	// "authenticated".
	Role *string
}

// UserUpdate disables or enables a user, or sets their role.
func (s *Service) UserUpdate(ctx context.Context, ref string, p UserUpdateParams) (User, error) {
	var role string
	if p.Role != nil {
		var err error
		if role, err = checkRole(*p.Role); err != nil {
			return User{}, err
		}
	}
	var u userRow
	err := s.tx(ctx, ref, func(q tenantdb.Querier) error {
		var err error
		if u, err = s.userByID(ctx, q, ref, p.ID, true); err != nil {
			return err
		}
		now := s.now()
		if p.Disabled != nil {
			if *p.Disabled {
				if _, err := q.Exec(ctx, "UPDATE "+table(ref, usersTable)+" SET disabled_at = coalesce(disabled_at, $2), updated_at = $2 WHERE id = $1", u.ID, now); err != nil {
					return err
				}
				if _, err := s.revokeSessions(ctx, q, ref, u.ID, "", "disabled"); err != nil {
					return err
				}
			} else if _, err := q.Exec(ctx, "UPDATE "+table(ref, usersTable)+" SET disabled_at = NULL, updated_at = $2 WHERE id = $1", u.ID, now); err != nil {
				return err
			}
		}
		if p.Role != nil {
			if _, err := q.Exec(ctx, "UPDATE "+table(ref, usersTable)+" SET role = $2, updated_at = $3 WHERE id = $1", u.ID, nullable(role), now); err != nil {
				return err
			}
		}
		u, err = s.userByID(ctx, q, ref, u.ID, false)
		return err
	})
	if err != nil {
		return User{}, wrapUnlessDomain("update user", err)
	}
	if p.Disabled != nil || p.Role != nil {
		s.announce(ctx, invalidation{Tenant: ref, Sessions: true})
	}
	return u.User, nil
}

// SessionsRevoke signs user id out everywhere and returns how many sessions
// ended.
func (s *Service) SessionsRevoke(ctx context.Context, ref, id string) (int64, error) {
	var n int64
	err := s.tx(ctx, ref, func(q tenantdb.Querier) error {
		u, err := s.userByID(ctx, q, ref, id, false)
		if err != nil {
			return err
		}
		n, err = s.revokeSessions(ctx, q, ref, u.ID, "", "admin")
		return err
	})
	if err != nil {
		return 0, wrapUnlessDomain("revoke sessions", err)
	}
	s.announce(ctx, invalidation{Tenant: ref, Sessions: true})
	return n, nil
}

// ProviderList returns ref's OAuth providers.
func (s *Service) ProviderList(ctx context.Context, ref string) ([]*dataplanev1.Provider, error) {
	if s.cfg.OAuth == nil {
		return nil, ErrOAuthUnavailable
	}
	var out []*dataplanev1.Provider
	err := s.tx(ctx, ref, func(q tenantdb.Querier) error {
		var err error
		out, err = s.cfg.OAuth.ListProviders(ctx, q, ref)
		return err
	})
	return out, wrapNil("list providers", err)
}

// ProviderSet creates or replaces one of ref's OAuth providers.
func (s *Service) ProviderSet(ctx context.Context, ref string, p *dataplanev1.Provider) (*dataplanev1.Provider, error) {
	if s.cfg.OAuth == nil {
		return nil, ErrOAuthUnavailable
	}
	if p == nil {
		return nil, &InputError{Field: "provider", Reason: "required"}
	}
	var out *dataplanev1.Provider
	err := s.tx(ctx, ref, func(q tenantdb.Querier) error {
		var err error
		out, err = s.cfg.OAuth.SetProvider(ctx, q, ref, p)
		return err
	})
	return out, wrapNil("set provider", err)
}

// ProviderDelete removes one of ref's OAuth providers.
func (s *Service) ProviderDelete(ctx context.Context, ref, name string) error {
	if s.cfg.OAuth == nil {
		return ErrOAuthUnavailable
	}
	if name == "" {
		return &InputError{Field: "name", Reason: "required"}
	}
	err := s.tx(ctx, ref, func(q tenantdb.Querier) error {
		return s.cfg.OAuth.DeleteProvider(ctx, q, ref, name)
	})
	return wrapNil("delete provider", err)
}

func wrapNil(op string, err error) error {
	if err == nil {
		return nil
	}
	return wrapUnlessDomain(op, err)
}
