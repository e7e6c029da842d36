// Package caller turns the authenticated API key (and, later, the signed-in
// end user) of a data-plane request into the tenantdb.Identity its SQL runs
// as. Every tenant-facing handler starts here.
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
var ErrRulesNotSet = connect.NewError(connect.CodePermissionDenied,
	errors.New("a publishable key cannot use this collection: access rules are not set yet; use a secret key on a server"))

// Identity returns the identity of the request in ctx, which the keyauth
// interceptor authenticated. A publishable key gets ErrRulesNotSet.
func Identity(ctx context.Context) (tenantdb.Identity, error) {
	k, ok := keyauth.FromContext(ctx)
	if !ok {
		return tenantdb.Identity{}, connect.NewError(connect.CodeUnauthenticated, errors.New("missing API key: send it in the apikey header or Authorization: Bearer"))
	}
	if k.Kind != apikeys.KindSecret {
		return tenantdb.Identity{}, ErrRulesNotSet
	}
	return tenantdb.Identity{TenantRef: k.TenantRef, Role: tenantdb.RoleService, KeyID: k.KeyID}, nil
}
