package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sovereign-backend/sovereign/dataplane/auth/mfa"
	"github.com/sovereign-backend/sovereign/dataplane/auth/oauth"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
)

// ErrFactorState: the user has no factor to verify, or has an active one
// that a new enrolment would replace.
var ErrFactorState = errors.New("factor state")

// ErrProviderFailed: an OAuth provider could not be reached or answered
// badly.
var ErrProviderFailed = errors.New("the identity provider failed")

// MFAFrom adapts package mfa's Service to MFA, turning its errors into this
// package's.
func MFAFrom(m *mfa.Service) MFA { return mfaAdapter{m} }

type mfaAdapter struct{ m *mfa.Service }

func mfaErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mfa.ErrThrottled):
		return &ThrottledError{What: "failed codes: multi-factor verification is locked for a while"}
	case errors.Is(err, mfa.ErrInvalidArgument):
		return &InputError{Field: "code", Reason: strings.TrimPrefix(err.Error(), "mfa: ")}
	case errors.Is(err, mfa.ErrNotEnrolled):
		return fmt.Errorf("%w: no multi-factor enrolment to verify: call MfaEnroll first", ErrFactorState)
	case errors.Is(err, mfa.ErrAlreadyEnrolled):
		return fmt.Errorf("%w: multi-factor authentication is already active for this user", ErrFactorState)
	}
	return err
}

func (a mfaAdapter) Enroll(ctx context.Context, q tenantdb.Querier, userID, accountLabel, issuer string) (string, string, []string, error) {
	s, u, c, err := a.m.Enroll(ctx, q, userID, accountLabel, issuer)
	return s, u, c, mfaErr(err)
}

func (a mfaAdapter) Verify(ctx context.Context, q tenantdb.Querier, userID, code string) (bool, error) {
	ok, err := a.m.Verify(ctx, q, userID, code)
	return ok, mfaErr(err)
}

func (a mfaAdapter) Enabled(ctx context.Context, q tenantdb.Querier, userID string) (bool, error) {
	ok, err := a.m.Enabled(ctx, q, userID)
	return ok, mfaErr(err)
}

// OAuthFrom adapts package oauth's Service to OAuth, turning its types and
// errors into this package's.
func OAuthFrom(o *oauth.Service) OAuth { return oauthAdapter{o} }

type oauthAdapter struct{ o *oauth.Service }

func oauthErr(err error) error {
	msg := func() string { return strings.TrimPrefix(err.Error(), "oauth: ") }
	switch {
	case err == nil:
		return nil
	case errors.Is(err, oauth.ErrUnknownProvider):
		return fmt.Errorf("provider: %w (%s)", ErrNotFound, msg())
	case errors.Is(err, oauth.ErrInvalidProvider):
		return &InputError{Field: "provider", Reason: msg()}
	case errors.Is(err, oauth.ErrBadRedirect):
		return &InputError{Field: "redirect_to", Reason: msg()}
	case errors.Is(err, oauth.ErrBadState), errors.Is(err, oauth.ErrBadCode), errors.Is(err, oauth.ErrBadIDToken):
		return credErr("OAuth sign-in failed: " + msg() + "; start again")
	case errors.Is(err, oauth.ErrProvider):
		return fmt.Errorf("%w: %s", ErrProviderFailed, msg())
	}
	return err
}

func providerPB(p oauth.Provider) *dataplanev1.Provider {
	return &dataplanev1.Provider{Name: p.Name, Issuer: p.Issuer, ClientId: p.ClientID, Scopes: p.Scopes, RedirectUrls: p.RedirectURLs}
}

func (a oauthAdapter) AuthorizeURL(ctx context.Context, q tenantdb.Querier, ref, provider, redirectTo string) (string, error) {
	u, err := a.o.AuthorizeURL(ctx, q, ref, provider, redirectTo)
	return u, oauthErr(err)
}

func (a oauthAdapter) Exchange(ctx context.Context, q tenantdb.Querier, ref, code, state string) (OAuthIdentity, string, error) {
	id, rt, err := a.o.Exchange(ctx, q, ref, code, state)
	if err != nil {
		return OAuthIdentity{}, "", oauthErr(err)
	}
	return OAuthIdentity{Provider: id.Provider, Subject: id.Subject, Email: id.Email, EmailVerified: id.EmailVerified}, rt, nil
}

func (a oauthAdapter) ListProviders(ctx context.Context, q tenantdb.Querier, _ string) ([]*dataplanev1.Provider, error) {
	ps, err := a.o.ListProviders(ctx, q)
	if err != nil {
		return nil, oauthErr(err)
	}
	out := make([]*dataplanev1.Provider, 0, len(ps))
	for _, p := range ps {
		out = append(out, providerPB(p))
	}
	return out, nil
}

func (a oauthAdapter) SetProvider(ctx context.Context, q tenantdb.Querier, _ string, p *dataplanev1.Provider) (*dataplanev1.Provider, error) {
	got, err := a.o.SetProvider(ctx, q, oauth.Provider{
		Name: p.GetName(), Issuer: p.GetIssuer(), ClientID: p.GetClientId(), ClientSecret: p.GetClientSecret(),
		Scopes: p.GetScopes(), RedirectURLs: p.GetRedirectUrls(),
	})
	if err != nil {
		return nil, oauthErr(err)
	}
	return providerPB(got), nil
}

func (a oauthAdapter) DeleteProvider(ctx context.Context, q tenantdb.Querier, _ string, name string) error {
	return oauthErr(a.o.DeleteProvider(ctx, q, name))
}
