package caller_test

import (
	"context"
	"testing"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/caller"
	"github.com/sovereign-backend/sovereign/dataplane/keyauth"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

func TestIdentity(t *testing.T) {
	t.Parallel()
	user := caller.User{ID: "u1", Role: "editor", AAL: "aal2", SessionID: "s1", Claims: `{"sub":"u1"}`}
	key := func(kind apikeys.Kind) context.Context {
		return keyauth.NewContext(context.Background(), apikeys.Identity{TenantRef: "abcd", KeyID: "k1", Kind: kind})
	}
	tests := []struct {
		name    string
		ctx     context.Context
		want    tenantdb.Identity
		service bool
	}{
		{"secret key", key(apikeys.KindSecret), tenantdb.Identity{TenantRef: "abcd", KeyID: "k1", Role: "service"}, true},
		{"publishable key", key(apikeys.KindPublishable), tenantdb.Identity{TenantRef: "abcd", KeyID: "k1", Role: "anon"}, false},
		{"publishable key with a user", caller.WithUser(key(apikeys.KindPublishable), user),
			tenantdb.Identity{TenantRef: "abcd", KeyID: "k1", Role: "authenticated", UserID: "u1", AuthRole: "editor", AAL: "aal2", Claims: `{"sub":"u1"}`}, false},
		{"secret key acts as its user", caller.WithUser(key(apikeys.KindSecret), caller.User{ID: "u1", AAL: "aal1"}),
			tenantdb.Identity{TenantRef: "abcd", KeyID: "k1", Role: "authenticated", UserID: "u1", AuthRole: "authenticated", AAL: "aal1"}, false},
	}
	for _, tt := range tests {
		got, err := caller.Identity(tt.ctx)
		if err != nil || got != tt.want {
			t.Errorf("%s: Identity = %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
		_, err = caller.Service(tt.ctx)
		if (err == nil) != tt.service {
			t.Errorf("%s: Service error %v", tt.name, err)
		}
		if err != nil && connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Errorf("%s: Service code %v", tt.name, connect.CodeOf(err))
		}
	}
	if _, err := caller.Identity(context.Background()); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("no key: %v", err)
	}
}
