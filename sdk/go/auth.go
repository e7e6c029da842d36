package sovereign

import (
	"context"
	"time"

	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// User is an end user of a project: someone who signs in to the project's
// own app (not a developer's [Account] on the platform).
type User struct {
	ID string `json:"id"`
	// Email is empty for an anonymous user.
	Email         string `json:"email,omitempty"`
	EmailVerified bool   `json:"email_verified"`
	// Anonymous is true for a user made by [Auth.SignInAnonymously] until
	// [Auth.UpdateUser] gives them an email and password.
	Anonymous bool `json:"anonymous"`
	// Role is the project-defined role, or "authenticated"; access rules
	// see it as auth.role.
	Role       string `json:"role"`
	MFAEnabled bool   `json:"mfa_enabled"`
	// Disabled users cannot sign in or refresh ([AuthAdmin.DisableUser]).
	Disabled     bool      `json:"disabled"`
	CreatedAt    time.Time `json:"created_at,omitzero"`
	LastSignInAt time.Time `json:"last_sign_in_at,omitzero"`
	// Providers are the identities linked to the user: "email", "google", …
	Providers []string `json:"providers,omitempty"`
}

// Authenticator assurance levels of an [AuthSession]; access rules see them
// as auth.aal.
const (
	AAL1 = "aal1" // signed in with one factor
	AAL2 = "aal2" // and a second: [Auth.MFAVerify]
)

// AuthSession is a signed-in end user's session: a short-lived access token
// that the [Client] sends as `Authorization: Bearer`, and a single-use
// refresh token that buys the next session. Its JSON form is what a
// [SessionStore] may keep; treat it as a password.
type AuthSession struct {
	// AccessToken is a JWT valid 30 minutes, signed with the project's key.
	AccessToken     string    `json:"access_token"`
	AccessExpiresAt time.Time `json:"access_expires_at,omitzero"`
	// RefreshToken is single use, valid 7 days: the client replaces the
	// session when it refreshes. Presenting a used one again ends every
	// session descended from the same sign-in.
	RefreshToken     string    `json:"refresh_token"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at,omitzero"`
	// AAL is [AAL1], or [AAL2] after [Auth.MFAVerify].
	AAL  string `json:"aal"`
	User *User  `json:"user,omitempty"`
	// MFARequired is set by [Auth.SignInWithPassword] when the user has
	// MFA: the session is aal1 until [Auth.MFAVerify].
	MFARequired bool `json:"mfa_required,omitempty"`
}

func (s *AuthSession) clone() *AuthSession {
	if s == nil {
		return nil
	}
	c := *s
	if s.User != nil {
		u := *s.User
		u.Providers = append([]string(nil), s.User.Providers...)
		c.User = &u
	}
	return &c
}

// SignOutScope chooses the sessions [Auth.SignOut] ends.
type SignOutScope string

// Sign-out scopes.
const (
	// SignOutSession ends the client's session only.
	SignOutSession SignOutScope = "session"
	// SignOutAll ends every session of the user, on every device.
	SignOutAll SignOutScope = "all"
)

// VerifyType says what a token given to [Auth.Verify] is for.
type VerifyType string

// Verification types.
const (
	// VerifySignup confirms a user's email address (the token mailed at
	// sign-up).
	VerifySignup VerifyType = "signup"
	// VerifyRecovery sets a new password (the token mailed by
	// [Auth.Recover]) and ends every session of the user.
	VerifyRecovery VerifyType = "recovery"
)

// MFAEnrollment is what [Auth.MFAEnroll] gives: a TOTP secret to put in an
// authenticator app, and recovery codes shown only this once.
type MFAEnrollment struct {
	// Secret is the base32 TOTP secret (30-second steps, six digits).
	Secret string `json:"secret"`
	// URI is the otpauth://totp/… URI, for a QR code.
	URI string `json:"uri"`
	// RecoveryCodes are ten single-use codes that stand in for a TOTP code
	// once each; the platform keeps only their hashes.
	RecoveryCodes []string `json:"recovery_codes"`
}

// Auth signs a project's end users up, in and out, and keeps the signed-in
// user's session fresh. Get it with [Client.Auth]; the client is made with
// the project's publishable key ([WithAPIKey] with a sov_pk_… key), which
// identifies the project and is safe to ship in an app.
//
// After a sign-in, every call of the client (records included) carries the
// user's access token as `Authorization: Bearer`, with the API key still in
// the apikey header, so the collections' access rules see the user as
// auth.uid. The session is refreshed automatically:
//
//   - before a call, when the access token expires within [RefreshMargin]
//     (30 s);
//   - after a call the platform refused as Unauthenticated with a message
//     about an expired token (the clocks disagree): the session is
//     refreshed and the call sent once more.
//
// Refreshes are serialized: callers that need one at the same time share a
// single refresh, because a refresh token works once. A refresh the platform
// refuses as Unauthenticated (the session was revoked, or has reached its
// lifetime) signs the client out: the call that needed it fails with that
// error, and later calls go on as anonymous, with the API key alone.
//
// [WithSessionStore] keeps the session across runs (loaded at the first
// call, saved on every change); [Auth.OnSessionChange] runs a function on
// every change; [Auth.SetSession] restores a session kept elsewhere.
type Auth struct{ c *Client }

// Auth returns the client's end-user authentication.
func (c *Client) Auth() *Auth { return &Auth{c: c} }

// signIn makes the session of m the client's.
func (a *Auth) signIn(ctx context.Context, m *dataplanev1.Session, mfaRequired bool) (*AuthSession, error) {
	s := authSessionOf(m, mfaRequired)
	if s.AccessToken == "" {
		return s, nil
	}
	if err := a.c.session.set(ctx, s); err != nil {
		return nil, err
	}
	return s, nil
}

// SignUp creates a user with email and password and signs them in; the
// platform mails a link to verify the address ([Auth.Verify] with
// [VerifySignup]).
//
// Errors: [CodeInvalidArgument] (a bad email; a weak password, with the rule
// it breaks), [CodeAlreadyExists], [CodeResourceExhausted] (throttled per
// account and per address). SignUp runs once: it is not retried.
func (a *Auth) SignUp(ctx context.Context, email, password string) (*AuthSession, error) {
	m, err := unary(ctx, a.c.pub, dataplanev1connect.AuthServiceSignUpProcedure, callOnce,
		a.c.auth.SignUp, &dataplanev1.SignUpRequest{Email: email, Password: password})
	if err != nil {
		return nil, err
	}
	return a.signIn(ctx, m.GetSession(), false)
}

// SignInWithPassword signs a user in with email and password. When the user
// has MFA the session is aal1 and MFARequired is set: ask for a code and
// call [Auth.MFAVerify].
//
// Errors: [CodeUnauthenticated] (the same for an unknown email and a wrong
// password), [CodeResourceExhausted] (throttled). It is not retried.
func (a *Auth) SignInWithPassword(ctx context.Context, email, password string) (*AuthSession, error) {
	return a.token(ctx, &dataplanev1.TokenRequest{GrantType: "password", Email: email, Password: password})
}

// SignInAnonymously creates an anonymous user (no email, no password) and
// signs them in: access rules see a real auth.uid, so an app can keep a
// visitor's data before they sign up, then keep it when they do with
// [Auth.UpdateUser].
func (a *Auth) SignInAnonymously(ctx context.Context) (*AuthSession, error) {
	return a.token(ctx, &dataplanev1.TokenRequest{GrantType: "anonymous"})
}

func (a *Auth) token(ctx context.Context, req *dataplanev1.TokenRequest) (*AuthSession, error) {
	m, err := unary(ctx, a.c.pub, dataplanev1connect.AuthServiceTokenProcedure, callOnce, a.c.auth.Token, req)
	if err != nil {
		return nil, err
	}
	return a.signIn(ctx, m.GetSession(), m.GetMfaRequired())
}

// RefreshSession exchanges the session's refresh token for a new session
// now, rather than when the access token is about to expire: to pick up a
// changed role or email in the token's claims, say. Callers refreshing at
// the same time share one refresh.
//
// Errors: [CodeUnauthenticated] when signed out, or when the platform
// refuses the refresh token (the session then ends).
func (a *Auth) RefreshSession(ctx context.Context) (*AuthSession, error) {
	cur, err := a.c.session.get(ctx)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		return nil, &Error{Code: CodeUnauthenticated, Message: "not signed in"}
	}
	s, err := a.c.session.refresh(ctx, cur.AccessToken)
	return s.clone(), err
}

// SignOut ends the client's session (scope [SignOutSession]) or every
// session of the user ([SignOutAll]), and forgets it: the store is cleared
// and the hooks get nil. Signed out already, it does nothing. When the
// platform answers that the session had already ended, the client forgets
// it all the same and SignOut returns nil.
func (a *Auth) SignOut(ctx context.Context, scope SignOutScope) error {
	cur, err := a.c.session.get(ctx)
	if err != nil || cur == nil {
		return err
	}
	_, err = unary(ctx, a.c.c, dataplanev1connect.AuthServiceSignOutProcedure, callOnce,
		a.c.auth.SignOut, &dataplanev1.SignOutRequest{Scope: string(scope)})
	if err != nil && !IsUnauthenticated(err) {
		return err
	}
	if cur, _ := a.c.session.current(); cur == nil {
		return nil // a refused refresh on the way has signed the client out
	}
	return a.c.session.set(ctx, nil)
}

// Session returns the current session (after loading it from the
// [SessionStore] the first time), or nil when signed out. It is a copy:
// changing it changes nothing.
func (a *Auth) Session(ctx context.Context) (*AuthSession, error) {
	s, err := a.c.session.get(ctx)
	return s.clone(), err
}

// SetSession makes s the client's session, e.g. one the program kept
// itself; nil signs the client out locally (no call). It neither saves s to
// the [SessionStore] nor calls the hooks: it restores what the program
// already has. An expired access token is fine: the next call refreshes it.
func (a *Auth) SetSession(s *AuthSession) { a.c.session.restore(s) }

// OnSessionChange makes f run after every change of the session, with the
// new session (a copy), or nil when the client signed out or the platform
// ended the session: sign-in, MFA, refresh, sign-out. f runs on the
// goroutine that changed the session, one change at a time and in order, so
// it may write the session to disk; it must not sign in or out, or call
// SetSession, itself.
func (a *Auth) OnSessionChange(f func(*AuthSession)) { a.c.session.onChange(f) }

// User returns the signed-in user as the platform has them now.
// Errors: [CodeUnauthenticated] when signed out.
func (a *Auth) User(ctx context.Context) (*User, error) {
	m, err := unary(ctx, a.c.c, dataplanev1connect.AuthServiceGetUserProcedure, callRead,
		a.c.auth.GetUser, &dataplanev1.GetUserRequest{})
	if err != nil {
		return nil, err
	}
	return userOf(m.GetUser()), nil
}

// UpdateUser sets the signed-in user's email and password (either may be ""
// to leave it). This is how an anonymous user becomes a real account,
// keeping their id and so their data. The session's access token keeps the
// claims it was issued with; [Auth.RefreshSession] gets one that shows the
// change.
//
// Errors: those of [Auth.SignUp], and [CodeUnauthenticated] when signed
// out.
func (a *Auth) UpdateUser(ctx context.Context, email, password string) (*User, error) {
	m, err := unary(ctx, a.c.c, dataplanev1connect.AuthServiceUpdateUserProcedure, callOnce,
		a.c.auth.UpdateUser, &dataplanev1.UpdateUserRequest{Email: email, Password: password})
	if err != nil {
		return nil, err
	}
	u := userOf(m.GetUser())
	if err := a.updateSessionUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// updateSessionUser puts u in the current session, when it is u's.
func (a *Auth) updateSessionUser(ctx context.Context, u *User) error {
	cur, err := a.c.session.get(ctx)
	if err != nil || cur == nil || cur.User == nil || cur.User.ID != u.ID {
		return err
	}
	next := cur.clone()
	next.User = u
	return a.c.session.set(ctx, next)
}

// Recover mails the address a single-use token to set a new password with
// [Auth.Verify] and [VerifyRecovery]. The answer is the same whether the
// address has an account or not.
func (a *Auth) Recover(ctx context.Context, email string) error {
	_, err := unary(ctx, a.c.pub, dataplanev1connect.AuthServiceRecoverProcedure, callOnce,
		a.c.auth.Recover, &dataplanev1.RecoverRequest{Email: email})
	return err
}

// Verify consumes a single-use token that was mailed to a user:
// [VerifySignup] confirms their email; [VerifyRecovery] sets newPassword
// and ends every session of the user (sign in again with it). It returns
// the user. Errors: [CodeInvalidArgument] for a weak password,
// [CodeUnauthenticated] for a token that is unknown, used or expired.
func (a *Auth) Verify(ctx context.Context, typ VerifyType, token, newPassword string) (*User, error) {
	m, err := unary(ctx, a.c.pub, dataplanev1connect.AuthServiceVerifyProcedure, callOnce,
		a.c.auth.Verify, &dataplanev1.VerifyRequest{Type: string(typ), Token: token, NewPassword: newPassword})
	if err != nil {
		return nil, err
	}
	return userOf(m.GetUser()), nil
}

// MFAEnroll starts TOTP enrolment for the signed-in user. The factor becomes
// active at the first successful [Auth.MFAVerify]; until then sign-in needs
// no code.
func (a *Auth) MFAEnroll(ctx context.Context) (*MFAEnrollment, error) {
	m, err := unary(ctx, a.c.c, dataplanev1connect.AuthServiceMfaEnrollProcedure, callOnce,
		a.c.auth.MfaEnroll, &dataplanev1.MfaEnrollRequest{})
	if err != nil {
		return nil, err
	}
	return &MFAEnrollment{Secret: m.GetSecret(), URI: m.GetUri(), RecoveryCodes: m.GetRecoveryCodes()}, nil
}

// MFAVerify checks a six-digit TOTP code (or a recovery code) for the
// signed-in user and makes the returned aal2 session the client's. A code is
// accepted once; five failures in a row throttle further tries
// ([CodeResourceExhausted]). Errors: [CodeUnauthenticated] for a wrong or
// used code.
func (a *Auth) MFAVerify(ctx context.Context, code string) (*AuthSession, error) {
	m, err := unary(ctx, a.c.c, dataplanev1connect.AuthServiceMfaVerifyProcedure, callOnce,
		a.c.auth.MfaVerify, &dataplanev1.MfaVerifyRequest{Code: code})
	if err != nil {
		return nil, err
	}
	return a.signIn(ctx, m.GetSession(), false)
}

// OAuthURL starts sign-in with a configured OAuth / OIDC provider
// ([AuthAdmin.SetProvider]): send the browser to the URL it returns. The
// provider sends it back to the project's callback with a code and a state,
// which [Auth.OAuthCallback] exchanges for a session. redirectTo is where
// the browser goes afterwards; it must be one of the provider's redirect
// URLs. Errors: [CodeNotFound] (no such provider), [CodeInvalidArgument]
// (redirectTo not allowed).
func (a *Auth) OAuthURL(ctx context.Context, provider, redirectTo string) (string, error) {
	m, err := unary(ctx, a.c.pub, dataplanev1connect.AuthServiceAuthorizeProcedure, callOnce,
		a.c.auth.Authorize, &dataplanev1.AuthorizeRequest{Provider: provider, RedirectTo: redirectTo})
	if err != nil {
		return "", err
	}
	return m.GetUrl(), nil
}

// OAuthCallback completes an OAuth sign-in with the code and state the
// provider sent back, signs the user in, and returns the session and the
// redirectTo given to [Auth.OAuthURL]. A state is good once.
func (a *Auth) OAuthCallback(ctx context.Context, code, state string) (*AuthSession, string, error) {
	m, err := unary(ctx, a.c.pub, dataplanev1connect.AuthServiceCallbackProcedure, callOnce,
		a.c.auth.Callback, &dataplanev1.CallbackRequest{Code: code, State: state})
	if err != nil {
		return nil, "", err
	}
	s, err := a.signIn(ctx, m.GetSession(), false)
	if err != nil {
		return nil, "", err
	}
	return s, m.GetRedirectTo(), nil
}

func userOf(m *dataplanev1.User) *User {
	if m == nil {
		return nil
	}
	return &User{
		ID: m.GetId(), Email: m.GetEmail(), EmailVerified: m.GetEmailVerified(), Anonymous: m.GetAnonymous(),
		Role: m.GetRole(), MFAEnabled: m.GetMfaEnabled(), Disabled: m.GetDisabled(),
		CreatedAt: timeOf(m.GetCreatedAt()), LastSignInAt: timeOf(m.GetLastSignInAt()), Providers: m.GetProviders(),
	}
}

func authSessionOf(m *dataplanev1.Session, mfaRequired bool) *AuthSession {
	return &AuthSession{
		AccessToken: m.GetAccessToken(), AccessExpiresAt: timeOf(m.GetAccessExpiresAt()),
		RefreshToken: m.GetRefreshToken(), RefreshExpiresAt: timeOf(m.GetRefreshExpiresAt()),
		AAL: m.GetAal(), User: userOf(m.GetUser()), MFARequired: mfaRequired,
	}
}
