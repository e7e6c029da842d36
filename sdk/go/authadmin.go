package sovereign

import (
	"context"
	"iter"
	"time"

	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// AuthAdmin manages a project's end users, OAuth providers and token
// signing keys. It needs the project's secret key (the service role): make
// the [Client] with [WithAPIKey] and a sov_sk_… key, on a server. Its calls
// never carry a signed-in user's access token, which would make them the
// user's. Get it with [Client.AuthAdmin].
type AuthAdmin struct{ c *Client }

// AuthAdmin returns the client's auth administration.
func (c *Client) AuthAdmin() *AuthAdmin { return &AuthAdmin{c: c} }

// ListUsersParams selects the users [AuthAdmin.Users] returns.
type ListUsersParams struct {
	// EmailPrefix keeps the users whose email starts with it.
	EmailPrefix string
	// PageSize is how many users each request fetches, 1 to 1000; 0 means
	// the platform's default, 50.
	PageSize int
}

// Users iterates over the project's users, fetching pages as the loop needs
// them.
func (a *AuthAdmin) Users(ctx context.Context, p ListUsersParams) iter.Seq2[*User, error] {
	return pages(ctx, func(ctx context.Context, cursor string) ([]*User, string, error) {
		if p.PageSize < 0 || p.PageSize > MaxPageSize {
			return nil, "", invalidArgument("list users: page size %d: use 1 to %d", p.PageSize, MaxPageSize)
		}
		m, err := unary(ctx, a.c.pub, dataplanev1connect.AuthAdminServiceListUsersProcedure, callRead, a.c.authAdmin.ListUsers,
			&dataplanev1.ListUsersRequest{Limit: int32(p.PageSize), Cursor: cursor, EmailPrefix: p.EmailPrefix})
		if err != nil {
			return nil, "", err
		}
		return mapSlice(m.GetUsers(), userOf), m.GetNextCursor(), nil
	})
}

// GetUser returns the user with this id. Errors: [CodeNotFound].
func (a *AuthAdmin) GetUser(ctx context.Context, id string) (*User, error) {
	if id == "" {
		return nil, invalidArgument("get user: empty id")
	}
	m, err := unary(ctx, a.c.pub, dataplanev1connect.AuthAdminServiceGetUserProcedure, callRead, a.c.authAdmin.GetUser,
		&dataplanev1.AuthAdminServiceGetUserRequest{Id: id})
	if err != nil {
		return nil, err
	}
	return userOf(m.GetUser()), nil
}

// CreateUserParams describes a user for [AuthAdmin.CreateUser].
type CreateUserParams struct {
	Email    string
	Password string
	// EmailVerified marks the email verified; no mail is sent.
	EmailVerified bool
	// Role is the project-defined role; "" for "authenticated".
	Role string
}

// CreateUser creates a user who can then sign in with the email and
// password. Errors: [CodeInvalidArgument] (a bad email or role, a weak
// password), [CodeAlreadyExists]. It is not retried.
func (a *AuthAdmin) CreateUser(ctx context.Context, p CreateUserParams) (*User, error) {
	m, err := unary(ctx, a.c.pub, dataplanev1connect.AuthAdminServiceCreateUserProcedure, callOnce, a.c.authAdmin.CreateUser,
		&dataplanev1.CreateUserRequest{Email: p.Email, Password: p.Password, EmailVerified: p.EmailVerified, Role: p.Role})
	if err != nil {
		return nil, err
	}
	return userOf(m.GetUser()), nil
}

// DeleteUser deletes the user and ends their sessions. Errors:
// [CodeNotFound].
func (a *AuthAdmin) DeleteUser(ctx context.Context, id string) error {
	if id == "" {
		return invalidArgument("delete user: empty id")
	}
	_, err := unary(ctx, a.c.pub, dataplanev1connect.AuthAdminServiceDeleteUserProcedure, callOnce, a.c.authAdmin.DeleteUser,
		&dataplanev1.DeleteUserRequest{Id: id})
	return err
}

// DisableUser stops the user from signing in or refreshing, and ends every
// session they have (an access token already issued may be accepted until
// it expires, at most 30 minutes). It returns the user.
func (a *AuthAdmin) DisableUser(ctx context.Context, id string) (*User, error) {
	return a.updateUser(ctx, &dataplanev1.AuthAdminServiceUpdateUserRequest{Id: id, Disabled: new(true)})
}

// EnableUser lets a disabled user sign in again.
func (a *AuthAdmin) EnableUser(ctx context.Context, id string) (*User, error) {
	return a.updateUser(ctx, &dataplanev1.AuthAdminServiceUpdateUserRequest{Id: id, Disabled: new(false)})
}

// SetUserRole gives the user a project-defined role (lowercase letters,
// digits, _ and -, at most 63 characters; not anon or service), which access
// rules see as auth.role; "" resets it to "authenticated". Tokens show it
// from the user's next refresh.
func (a *AuthAdmin) SetUserRole(ctx context.Context, id, role string) (*User, error) {
	return a.updateUser(ctx, &dataplanev1.AuthAdminServiceUpdateUserRequest{Id: id, Role: new(role)})
}

// updateUser sets fields outright, so a repeat is harmless and it is
// retried.
func (a *AuthAdmin) updateUser(ctx context.Context, req *dataplanev1.AuthAdminServiceUpdateUserRequest) (*User, error) {
	if req.GetId() == "" {
		return nil, invalidArgument("update user: empty id")
	}
	m, err := unary(ctx, a.c.pub, dataplanev1connect.AuthAdminServiceUpdateUserProcedure, callIdempotent, a.c.authAdmin.UpdateUser, req)
	if err != nil {
		return nil, err
	}
	return userOf(m.GetUser()), nil
}

// RevokeSessions signs the user out everywhere and returns how many
// sessions ended. An access token already issued may be accepted until it
// expires, at most 30 minutes.
func (a *AuthAdmin) RevokeSessions(ctx context.Context, userID string) (int64, error) {
	if userID == "" {
		return 0, invalidArgument("revoke sessions: empty user id")
	}
	m, err := unary(ctx, a.c.pub, dataplanev1connect.AuthAdminServiceRevokeSessionsProcedure, callOnce, a.c.authAdmin.RevokeSessions,
		&dataplanev1.RevokeSessionsRequest{UserId: userID})
	if err != nil {
		return 0, err
	}
	return m.GetRevoked(), nil
}

// Provider is an OAuth 2 / OpenID Connect identity provider users may sign
// in with ([Auth.OAuthURL]).
type Provider struct {
	// Name is what apps pass to OAuthURL: lowercase, e.g. "google".
	Name string `json:"name"`
	// Issuer is the OIDC issuer URL; its
	// /.well-known/openid-configuration is fetched and checked.
	Issuer   string `json:"issuer"`
	ClientID string `json:"client_id"`
	// ClientSecret is sent by SetProvider and never returned.
	ClientSecret string `json:"client_secret,omitempty"`
	// Scopes are asked for besides openid and email.
	Scopes []string `json:"scopes,omitempty"`
	// RedirectURLs are the exact URLs OAuthURL's redirectTo may be.
	RedirectURLs []string `json:"redirect_urls,omitempty"`
}

// Providers returns the project's providers, without their secrets.
func (a *AuthAdmin) Providers(ctx context.Context) ([]*Provider, error) {
	m, err := unary(ctx, a.c.pub, dataplanev1connect.AuthAdminServiceListProvidersProcedure, callRead, a.c.authAdmin.ListProviders,
		&dataplanev1.ListProvidersRequest{})
	if err != nil {
		return nil, err
	}
	return mapSlice(m.GetProviders(), providerOf), nil
}

// SetProvider creates the provider, or replaces the one of the same name,
// and returns it without its secret. Errors: [CodeInvalidArgument] (a bad
// name or URL, or an issuer whose discovery document cannot be fetched or
// does not match, with the reason).
func (a *AuthAdmin) SetProvider(ctx context.Context, p Provider) (*Provider, error) {
	m, err := unary(ctx, a.c.pub, dataplanev1connect.AuthAdminServiceSetProviderProcedure, callIdempotent, a.c.authAdmin.SetProvider,
		&dataplanev1.SetProviderRequest{Provider: &dataplanev1.Provider{
			Name: p.Name, Issuer: p.Issuer, ClientId: p.ClientID, ClientSecret: p.ClientSecret,
			Scopes: p.Scopes, RedirectUrls: p.RedirectURLs,
		}})
	if err != nil {
		return nil, err
	}
	return providerOf(m.GetProvider()), nil
}

// DeleteProvider removes the provider; users who signed in with it keep
// their accounts. Errors: [CodeNotFound].
func (a *AuthAdmin) DeleteProvider(ctx context.Context, name string) error {
	_, err := unary(ctx, a.c.pub, dataplanev1connect.AuthAdminServiceDeleteProviderProcedure, callOnce, a.c.authAdmin.DeleteProvider,
		&dataplanev1.DeleteProviderRequest{Name: name})
	return err
}

// SigningKey is one of the project's keys for signing access tokens; the
// public halves are published at /.well-known/jwks.json.
type SigningKey struct {
	// KID is the key's id, the tokens' kid header.
	KID string `json:"kid"`
	// Alg is the signature algorithm, "EdDSA".
	Alg       string    `json:"alg"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	// RetiredAt is when another key became current; the key is still
	// published until the tokens it signed have expired.
	RetiredAt time.Time `json:"retired_at,omitzero"`
	// Current is true for the key that signs new tokens.
	Current bool `json:"current"`
}

// RotateSigningKey makes a new signing key current and returns it. Tokens
// signed with the previous key stay valid until they expire, so nobody is
// signed out. It is not retried: each call makes a key.
func (a *AuthAdmin) RotateSigningKey(ctx context.Context) (*SigningKey, error) {
	m, err := unary(ctx, a.c.pub, dataplanev1connect.AuthAdminServiceRotateSigningKeyProcedure, callOnce, a.c.authAdmin.RotateSigningKey,
		&dataplanev1.RotateSigningKeyRequest{})
	if err != nil {
		return nil, err
	}
	return signingKeyOf(m.GetKey()), nil
}

// SigningKeys returns the project's signing keys: the current one and those
// retired but still published.
func (a *AuthAdmin) SigningKeys(ctx context.Context) ([]*SigningKey, error) {
	m, err := unary(ctx, a.c.pub, dataplanev1connect.AuthAdminServiceListSigningKeysProcedure, callRead, a.c.authAdmin.ListSigningKeys,
		&dataplanev1.ListSigningKeysRequest{})
	if err != nil {
		return nil, err
	}
	return mapSlice(m.GetKeys(), signingKeyOf), nil
}

func providerOf(m *dataplanev1.Provider) *Provider {
	return &Provider{Name: m.GetName(), Issuer: m.GetIssuer(), ClientID: m.GetClientId(),
		Scopes: m.GetScopes(), RedirectURLs: m.GetRedirectUrls()}
}

func signingKeyOf(m *dataplanev1.SigningKey) *SigningKey {
	return &SigningKey{KID: m.GetKid(), Alg: m.GetAlg(), CreatedAt: timeOf(m.GetCreatedAt()),
		RetiredAt: timeOf(m.GetRetiredAt()), Current: m.GetCurrent()}
}
