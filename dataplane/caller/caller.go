// Package caller turns the authenticated API key and the signed-in end user
// of a data-plane request into the tenantdb.Identity its SQL runs as. Every
// tenant-facing handler starts here.
//
// Who a request is:
//
//   - a secret key alone is the service role: full access, rules bypassed;
//   - a publishable key alone is anon;
//   - either key with a verified access token of one of the project's users
//     (Authorization: Bearer, the key then in the apikey header) is that
//     user: role authenticated, auth.role the user's tenant-defined role.
//
// A secret key with a user's token acts as the user, not as the service
// role. That lets a server forward a user's request with the user's own
// rights (and no more); a server that wants the service role sends its
// secret key without a user token.
package caller

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/keyauth"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// ErrRulesNotSet answers a publishable key on data that has no access rules
// yet: only a secret key (the service role) may read or write.
// Handlers wrap it in a fresh connect.Error per request (PermissionDenied):
// a shared *connect.Error would share its metadata map across requests.
var ErrRulesNotSet = errors.New("a publishable key cannot use this collection: access rules are not set yet; use a secret key on a server")

// ErrServiceOnly answers a call that needs the service role from anyone
// else.
// Service returns it in a fresh PermissionDenied connect.Error per call.
var ErrServiceOnly = errors.New("this call needs the project's secret key (the service role), without a user's access token; use it on a server, never in an app")

// User is the signed-in end user of a request: what the auth interceptor
// found in a verified access token and the session it belongs to.
type User struct {
	// ID is the user's id (the token's sub).
	ID string
	// Role is the user's tenant-defined role, or "authenticated".
	Role string
	// AAL is "aal1", or "aal2" after MFA.
	AAL string
	// SessionID is the token's sid.
	SessionID string
	// Claims is the token's claims as a JSON object.
	Claims string
}

type userKey struct{}

// WithUser returns ctx carrying u. Only the auth interceptor, after
// verifying the user's token for the key's project, may call it.
func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFromContext returns the signed-in user of ctx, if there is one.
func UserFromContext(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey{}).(User)
	return u, ok
}

// Identity returns the identity of the request in ctx, which the keyauth
// interceptor (and for a user, the auth interceptor) authenticated.
func Identity(ctx context.Context) (tenantdb.Identity, error) {
	k, ok := keyauth.FromContext(ctx)
	if !ok {
		return tenantdb.Identity{}, connect.NewError(connect.CodeUnauthenticated, errors.New(keyauth.MissingKeyMessage))
	}
	id := tenantdb.Identity{TenantRef: k.TenantRef, KeyID: k.KeyID}
	if u, ok := UserFromContext(ctx); ok {
		id.Role = tenantdb.RoleAuthenticated
		id.UserID = u.ID
		id.AuthRole = u.Role
		if id.AuthRole == "" {
			id.AuthRole = tenantdb.RoleAuthenticated
		}
		id.AAL = u.AAL
		id.Claims = u.Claims
		return id, nil
	}
	switch k.Kind {
	case apikeys.KindSecret:
		id.Role = tenantdb.RoleService
	default:
		id.Role = tenantdb.RoleAnon
	}
	return id, nil
}

// Service returns the identity of the request when it is the service role
// (a secret key without a user), and ErrServiceOnly otherwise.
func Service(ctx context.Context) (tenantdb.Identity, error) {
	id, err := Identity(ctx)
	if err != nil {
		return id, err
	}
	if id.Role != tenantdb.RoleService {
		return tenantdb.Identity{}, connect.NewError(connect.CodePermissionDenied, ErrServiceOnly)
	}
	return id, nil
}
