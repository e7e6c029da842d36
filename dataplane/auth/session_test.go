package auth_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/pquerna/otp/totp"

	"github.com/sovereign-backend/sovereign/dataplane/auth"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/ratelimit"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
)

// TestRefreshReuse rotates three times, then replays the first token past
// the grace window: every token of the family, and the session's access
// tokens, are dead.
func TestRefreshReuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s0 := e.signUp(e.a, "reuse@example.com")
	other := e.signUp(e.a, "bystander@example.com")
	chain := []*dataplanev1.Session{s0}
	for range 3 {
		e.clock.Advance(time.Minute)
		next, err := e.refresh(e.a, chain[len(chain)-1].GetRefreshToken())
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, next)
	}
	last := chain[len(chain)-1]
	if _, err := e.whoami(e.a, last.GetAccessToken()); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(11 * time.Second)
	_, err := e.refresh(e.a, s0.GetRefreshToken())
	if c, msg := code(err); c != connect.CodeUnauthenticated || msg != auth.ErrRefreshReuse.Error() {
		t.Fatalf("replayed first token: %v", err)
	}
	for i, s := range chain {
		if _, err := e.refresh(e.a, s.GetRefreshToken()); err == nil {
			t.Errorf("refresh token %d of the family still works", i)
		}
		if _, err := e.whoami(e.a, s.GetAccessToken()); err == nil {
			t.Errorf("access token %d of the family still works", i)
		} else if _, msg := code(err); msg != auth.ReasonSessionEnded {
			t.Errorf("access token %d: %v", i, err)
		}
	}
	// Another user's session is untouched.
	if _, err := e.refresh(e.a, other.GetRefreshToken()); err != nil {
		t.Errorf("another user's session: %v", err)
	}
}

// TestRefreshGrace presents a rotated token again within the grace window:
// the same child comes back, with no new family member.
func TestRefreshGrace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s0 := e.signUp(e.a, "grace@example.com")
	s1, err := e.refresh(e.a, s0.GetRefreshToken())
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(9 * time.Second)
	again, err := e.refresh(e.a, s0.GetRefreshToken())
	if err != nil {
		t.Fatalf("retry within the grace window: %v", err)
	}
	if again.GetRefreshToken() != s1.GetRefreshToken() {
		t.Fatal("a retry within the grace window got another refresh token")
	}
	if n := e.familySize(e.a, s0.GetUser().GetId()); n != 2 {
		t.Fatalf("family has %d tokens, want 2", n)
	}
	// The child is still good, and rotating it ends the parent's grace.
	s2, err := e.refresh(e.a, s1.GetRefreshToken())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.whoami(e.a, s2.GetAccessToken()); err != nil {
		t.Fatal(err)
	}
}

func (e *env) familySize(p project, userID string) int {
	e.t.Helper()
	var n int
	err := e.pool.QueryRow(e.t.Context(), "SELECT count(*) FROM "+tenantdb.Table(p.ref, "_auth_refresh_tokens")+" r JOIN "+
		tenantdb.Table(p.ref, "_auth_sessions")+" s ON s.id = r.session_id WHERE s.user_id = $1", userID).Scan(&n)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// TestConcurrentRefresh refreshes one token 50 times at once: at most one
// new member joins the family.
func TestConcurrentRefresh(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s0 := e.signUp(e.a, "race@example.com")
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		tokens = map[string]int{}
		errs   []error
	)
	for range 50 {
		wg.Go(func() {
			s, err := e.refresh(e.a, s0.GetRefreshToken())
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			tokens[s.GetRefreshToken()]++
		})
	}
	wg.Wait()
	if len(tokens) > 1 {
		t.Fatalf("50 concurrent refreshes gave %d different refresh tokens", len(tokens))
	}
	if n := e.familySize(e.a, s0.GetUser().GetId()); n != 2 {
		t.Fatalf("family has %d tokens after 50 concurrent refreshes, want 2", n)
	}
	if len(errs) > 0 {
		t.Fatalf("%d refreshes failed within the grace window, e.g. %v", len(errs), errs[0])
	}
}

// TestSessionLifetime: refreshing never outlives the absolute lifetime, and
// a refresh token expires after 7 days.
func TestSessionLifetime(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := e.signUp(e.a, "life@example.com")
	if got := s.GetRefreshExpiresAt().AsTime().Sub(e.clock.Now()); got != 7*24*time.Hour {
		t.Fatalf("refresh token lives %v", got)
	}
	if got := s.GetAccessExpiresAt().AsTime().Sub(e.clock.Now()); got != 30*time.Minute {
		t.Fatalf("access token lives %v", got)
	}
	for range 4 {
		e.clock.Advance(6 * 24 * time.Hour)
		var err error
		if s, err = e.refresh(e.a, s.GetRefreshToken()); err != nil {
			t.Fatal(err)
		}
	}
	// 24 days in: the refresh token stops at the session's 30 days.
	if got := s.GetRefreshExpiresAt().AsTime().Sub(e.clock.Now()); got != 6*24*time.Hour {
		t.Fatalf("refresh token lives %v at day 24, want 6 days", got)
	}
	e.clock.Advance(6*24*time.Hour + time.Second)
	if _, err := e.refresh(e.a, s.GetRefreshToken()); err == nil || !strings.Contains(err.Error(), "session expired") {
		t.Fatalf("refresh past the absolute lifetime: %v", err)
	}
	s2 := e.signUp(e.a, "week@example.com")
	e.clock.Advance(7*24*time.Hour + time.Second)
	if _, err := e.refresh(e.a, s2.GetRefreshToken()); err == nil || !strings.Contains(err.Error(), "refresh token expired") {
		t.Fatalf("refresh after 7 days: %v", err)
	}
}

// TestSignOut ends one session, then all.
func TestSignOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	one := e.signUp(e.a, "out@example.com")
	sign := func() *dataplanev1.Session {
		res, err := e.auth.Token(ctx, req(&dataplanev1.TokenRequest{GrantType: "password", Email: "OUT@example.com ", Password: goodPW}, e.a.pk, ""))
		if err != nil {
			t.Fatal(err)
		}
		return res.Msg.GetSession()
	}
	two, three := sign(), sign()
	if _, err := e.auth.SignOut(ctx, req(&dataplanev1.SignOutRequest{}, e.a.pk, one.GetAccessToken())); err != nil {
		t.Fatal(err)
	}
	if _, err := e.whoami(e.a, one.GetAccessToken()); err == nil {
		t.Fatal("a signed-out session's access token works")
	}
	if _, err := e.refresh(e.a, one.GetRefreshToken()); err == nil {
		t.Fatal("a signed-out session's refresh token works")
	}
	if _, err := e.whoami(e.a, two.GetAccessToken()); err != nil {
		t.Fatalf("the other sessions must live: %v", err)
	}
	// Sign out everywhere, over REST.
	if r := e.rest(t, "POST", "/v1/auth/logout?scope=all", e.a.pk, two.GetAccessToken(), ""); r.status != 204 {
		t.Fatalf("logout all: %d %s", r.status, r.body)
	}
	for _, s := range []*dataplanev1.Session{two, three} {
		if _, err := e.whoami(e.a, s.GetAccessToken()); err == nil {
			t.Error("an access token works after signing out everywhere")
		}
		if _, err := e.refresh(e.a, s.GetRefreshToken()); err == nil {
			t.Error("a refresh token works after signing out everywhere")
		}
	}
}

// TestDisabledUser is refused everywhere, and its sessions end.
func TestDisabledUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	s := e.signUp(e.a, "ban@example.com")
	yes, no := true, false
	u, err := e.admin.UpdateUser(ctx, req(&dataplanev1.AuthAdminServiceUpdateUserRequest{Id: s.GetUser().GetId(), Disabled: &yes}, e.a.sk, ""))
	if err != nil || !u.Msg.GetUser().GetDisabled() {
		t.Fatalf("disable: %v, %v", u, err)
	}
	if _, err := e.whoami(e.a, s.GetAccessToken()); err == nil {
		t.Error("a disabled user's access token works")
	}
	if _, err := e.refresh(e.a, s.GetRefreshToken()); err == nil {
		t.Error("a disabled user's refresh token works")
	}
	_, err = e.auth.Token(ctx, req(&dataplanev1.TokenRequest{GrantType: "password", Email: "ban@example.com", Password: goodPW}, e.a.pk, ""))
	if c, msg := code(err); c != connect.CodePermissionDenied || msg != auth.ErrUserDisabled.Error() {
		t.Errorf("sign-in of a disabled user: %v", err)
	}
	_, err = e.auth.Token(ctx, req(&dataplanev1.TokenRequest{GrantType: "password", Email: "ban@example.com", Password: goodPW + "x"}, e.a.pk, ""))
	if c, _ := code(err); c != connect.CodeUnauthenticated {
		t.Errorf("a wrong password of a disabled user: %v", err)
	}
	if _, err := e.auth.Recover(ctx, req(&dataplanev1.RecoverRequest{Email: "ban@example.com"}, e.a.pk, "")); err != nil {
		t.Errorf("recover answers the same for a disabled user: %v", err)
	}
	if _, err := e.admin.UpdateUser(ctx, req(&dataplanev1.AuthAdminServiceUpdateUserRequest{Id: s.GetUser().GetId(), Disabled: &no}, e.a.sk, "")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.auth.Token(ctx, req(&dataplanev1.TokenRequest{GrantType: "password", Email: "ban@example.com", Password: goodPW}, e.a.pk, "")); err != nil {
		t.Errorf("sign-in after enabling: %v", err)
	}
	if _, err := e.whoami(e.a, s.GetAccessToken()); err == nil {
		t.Error("enabling revived a session that disabling ended")
	}
}

// TestAnonymousUpgrade signs in anonymously and becomes a real account with
// the same id.
func TestAnonymousUpgrade(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	res, err := e.auth.Token(ctx, req(&dataplanev1.TokenRequest{GrantType: "anonymous"}, e.a.pk, ""))
	if err != nil {
		t.Fatal(err)
	}
	s := res.Msg.GetSession()
	if u := s.GetUser(); !u.GetAnonymous() || u.GetEmail() != "" || u.GetRole() != "authenticated" || len(u.GetProviders()) != 1 || u.GetProviders()[0] != "anonymous" {
		t.Fatalf("anonymous user %v", u)
	}
	_, c := parts(t, s.GetAccessToken())
	if c["is_anonymous"] != true || c["role"] != "authenticated" || c["aal"] != "aal1" {
		t.Fatalf("anonymous claims %v", c)
	}
	_, err = e.auth.UpdateUser(ctx, req(&dataplanev1.UpdateUserRequest{Password: goodPW}, e.a.pk, s.GetAccessToken()))
	if cd, msg := code(err); cd != connect.CodeInvalidArgument || !strings.Contains(msg, "email: required") {
		t.Fatalf("upgrade without email: %v", err)
	}
	up, err := e.auth.UpdateUser(ctx, req(&dataplanev1.UpdateUserRequest{Email: "Anon@Example.com", Password: goodPW}, e.a.pk, s.GetAccessToken()))
	if err != nil {
		t.Fatal(err)
	}
	u := up.Msg.GetUser()
	if u.GetId() != s.GetUser().GetId() || u.GetAnonymous() || u.GetEmail() != "anon@example.com" || u.GetEmailVerified() {
		t.Fatalf("upgraded user %v", u)
	}
	if subj, _ := e.lastMail(e.a, "anon@example.com"); subj != "Confirm your email address" {
		t.Fatalf("mail %q", subj)
	}
	in, err := e.auth.Token(ctx, req(&dataplanev1.TokenRequest{GrantType: "password", Email: "anon@example.com", Password: goodPW}, e.a.pk, ""))
	if err != nil || in.Msg.GetSession().GetUser().GetId() != s.GetUser().GetId() {
		t.Fatalf("sign in to the upgraded account: %v, %v", in, err)
	}
	// Verify the address with the mailed token.
	v, err := e.auth.Verify(ctx, req(&dataplanev1.VerifyRequest{Type: "signup", Token: e.mailToken(e.a, "anon@example.com")}, e.a.pk, ""))
	if err != nil || !v.Msg.GetUser().GetEmailVerified() {
		t.Fatalf("verify: %v, %v", v, err)
	}
	if _, err := e.auth.Verify(ctx, req(&dataplanev1.VerifyRequest{Type: "signup", Token: e.mailToken(e.a, "anon@example.com")}, e.a.pk, "")); err == nil || !strings.Contains(err.Error(), "token already used") {
		t.Fatalf("a used verification token: %v", err)
	}
	// Another user's address is taken.
	e.signUp(e.a, "taken@example.com")
	_, err = e.auth.UpdateUser(ctx, req(&dataplanev1.UpdateUserRequest{Email: "taken@example.com"}, e.a.pk, s.GetAccessToken()))
	if cd, _ := code(err); cd != connect.CodeAlreadyExists {
		t.Fatalf("taking another user's email: %v", err)
	}
}

// TestRecovery resets a password with the mailed token: other sessions end,
// and the token works once and not after an hour.
func TestRecovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	s := e.signUp(e.a, "lost@example.com")
	if _, err := e.auth.Recover(ctx, req(&dataplanev1.RecoverRequest{Email: "lost@example.com"}, e.a.pk, "")); err != nil {
		t.Fatal(err)
	}
	tok := e.mailToken(e.a, "lost@example.com")
	_, err := e.auth.Verify(ctx, req(&dataplanev1.VerifyRequest{Type: "recovery", Token: tok, NewPassword: "short"}, e.a.pk, ""))
	if c, msg := code(err); c != connect.CodeInvalidArgument || !strings.HasPrefix(msg, "new_password: weak password") {
		t.Fatalf("weak new password: %v", err)
	}
	const newPW = "a brand new passphrase"
	if _, err := e.auth.Verify(ctx, req(&dataplanev1.VerifyRequest{Type: "recovery", Token: tok, NewPassword: newPW}, e.a.pk, "")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.whoami(e.a, s.GetAccessToken()); err == nil {
		t.Error("a session outlived the password reset")
	}
	if _, err := e.auth.Token(ctx, req(&dataplanev1.TokenRequest{GrantType: "password", Email: "lost@example.com", Password: newPW}, e.a.pk, "")); err != nil {
		t.Errorf("sign in with the new password: %v", err)
	}
	if _, err := e.auth.Verify(ctx, req(&dataplanev1.VerifyRequest{Type: "recovery", Token: tok, NewPassword: newPW + "!"}, e.a.pk, "")); err == nil {
		t.Error("a reset token worked twice")
	}
	// Unknown addresses get the same answer and no mail.
	if _, err := e.auth.Recover(ctx, req(&dataplanev1.RecoverRequest{Email: "nobody@example.com"}, e.a.pk, "")); err != nil {
		t.Errorf("recover of an unknown address: %v", err)
	}
	if _, err := e.auth.Recover(ctx, req(&dataplanev1.RecoverRequest{Email: "lost@example.com"}, e.a.pk, "")); err != nil {
		t.Fatal(err)
	}
	late := e.mailToken(e.a, "lost@example.com")
	e.clock.Advance(time.Hour + time.Second)
	if _, err := e.auth.Verify(ctx, req(&dataplanev1.VerifyRequest{Type: "recovery", Token: late, NewPassword: newPW + "!"}, e.a.pk, "")); err == nil || !strings.Contains(err.Error(), "token expired") {
		t.Errorf("a reset token after an hour: %v", err)
	}
}

// TestThrottle: sign-ins are throttled per account and per IP in Valkey,
// with the same answer for known and unknown users.
func TestThrottle(t *testing.T) {
	t.Parallel()
	lim, err := ratelimit.NewValkey(ratelimit.ValkeyConfig{URL: testenv.ValkeyURL(t), Prefix: testenv.KeyPrefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lim.Close)
	e := newEnv(t, func(c *auth.Config) {
		c.Limiter = lim
		c.SignInPerEmail = ratelimit.Limit{Rate: 1, Per: time.Hour, Burst: 3}
		c.SignInPerIP = ratelimit.Limit{Rate: 1, Per: time.Hour, Burst: 10}
		c.SignUpPerIP = ratelimit.Limit{Rate: 1, Per: time.Hour, Burst: 2}
	})
	ctx := t.Context()
	e.signUp(e.a, "known@example.com")
	e.signUp(e.a, "known2@example.com")
	if _, err := e.auth.SignUp(ctx, req(&dataplanev1.SignUpRequest{Email: "third@example.com", Password: goodPW}, e.a.pk, "")); err == nil {
		t.Fatal("a third sign-up from one IP passed a burst of 2")
	} else if c, msg := code(err); c != connect.CodeResourceExhausted || !strings.HasPrefix(msg, "too many sign-ups") {
		t.Fatalf("third sign-up: %v", err)
	}
	try := func(email, pw string) (connect.Code, string) {
		_, err := e.auth.Token(ctx, req(&dataplanev1.TokenRequest{GrantType: "password", Email: email, Password: pw}, e.a.pk, ""))
		return code(err)
	}
	for _, email := range []string{"known@example.com", "unknown@example.com"} {
		for i := range 3 {
			if c, msg := try(email, "wrong password 1"); c != connect.CodeUnauthenticated || msg != auth.ErrWrongCredentials.Error() {
				t.Fatalf("%s attempt %d: %v %q", email, i, c, msg)
			}
		}
		c, msg := try(email, "wrong password 1")
		if c != connect.CodeResourceExhausted || !strings.HasPrefix(msg, "too many sign-in attempts; try again in ") {
			t.Fatalf("%s attempt 4: %v %q", email, c, msg)
		}
	}
	// The right password does not get through the account's limit either.
	if c, _ := try("known@example.com", goodPW); c != connect.CodeResourceExhausted {
		t.Fatalf("right password while throttled: %v", c)
	}
	// Per IP: every attempt above counted against the IP (the refused ones by the account limit too); the tenth passes, the eleventh not.
	if c, _ := try("known2@example.com", goodPW); c != 0 {
		t.Fatalf("another account from the same IP: %v", c)
	}
	if c, msg := try("fresh@example.com", "x"); c != connect.CodeResourceExhausted {
		t.Fatalf("eleventh attempt from one IP: %v %q", c, msg)
	}
	// Another project is counted apart.
	e.signUp(e.b, "known@example.com")
	if _, err := e.auth.Token(ctx, req(&dataplanev1.TokenRequest{GrantType: "password", Email: "known@example.com", Password: goodPW}, e.b.pk, "")); err != nil {
		t.Fatalf("another project: %v", err)
	}
}

// TestMFA enrols TOTP with the real mfa package, verifies to aal2 in the
// same session, and sees mfa_required on the next sign-in.
func TestMFA(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	s := e.signUp(e.a, "mfa@example.com")
	en, err := e.auth.MfaEnroll(ctx, req(&dataplanev1.MfaEnrollRequest{}, e.a.pk, s.GetAccessToken()))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(en.Msg.GetUri(), "otpauth://totp/") || len(en.Msg.GetRecoveryCodes()) != 10 {
		t.Fatalf("enrolment %v", en.Msg)
	}
	_, err = e.auth.MfaVerify(ctx, req(&dataplanev1.MfaVerifyRequest{Code: "000000"}, e.a.pk, s.GetAccessToken()))
	if c, _ := code(err); c != connect.CodeUnauthenticated {
		t.Fatalf("wrong code: %v", err)
	}
	totpCode, err := totp.GenerateCode(en.Msg.GetSecret(), e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.auth.MfaVerify(ctx, req(&dataplanev1.MfaVerifyRequest{Code: totpCode}, e.a.pk, s.GetAccessToken()))
	if err != nil {
		t.Fatal(err)
	}
	s2 := v.Msg.GetSession()
	_, c1 := parts(t, s.GetAccessToken())
	_, c2 := parts(t, s2.GetAccessToken())
	if s2.GetAal() != "aal2" || c2["aal"] != "aal2" || c2["sid"] != c1["sid"] || !s2.GetUser().GetMfaEnabled() {
		t.Fatalf("after MFA: aal %s, claims %v (first sid %v)", s2.GetAal(), c2, c1["sid"])
	}
	if r, err := e.refresh(e.a, s2.GetRefreshToken()); err != nil || r.GetAal() != "aal2" {
		t.Fatalf("refresh of the aal2 token: %v, %v", r, err)
	}
	if r, err := e.refresh(e.a, s.GetRefreshToken()); err != nil || r.GetAal() != "aal1" {
		t.Fatalf("the aal1 refresh token stays aal1: %v, %v", r, err)
	}
	in, err := e.auth.Token(ctx, req(&dataplanev1.TokenRequest{GrantType: "password", Email: "mfa@example.com", Password: goodPW}, e.a.pk, ""))
	if err != nil || !in.Msg.GetMfaRequired() || in.Msg.GetSession().GetAal() != "aal1" {
		t.Fatalf("sign-in with MFA: %v, %v", in, err)
	}
	// An aal1 session cannot change the password of an MFA user.
	_, err = e.auth.UpdateUser(ctx, req(&dataplanev1.UpdateUserRequest{Password: "another good passphrase"}, e.a.pk, in.Msg.GetSession().GetAccessToken()))
	if c, _ := code(err); c != connect.CodePermissionDenied {
		t.Fatalf("aal1 password change: %v", err)
	}
	rc, err := e.auth.MfaVerify(ctx, req(&dataplanev1.MfaVerifyRequest{Code: en.Msg.GetRecoveryCodes()[0]}, e.a.pk, in.Msg.GetSession().GetAccessToken()))
	if err != nil || rc.Msg.GetSession().GetAal() != "aal2" {
		t.Fatalf("recovery code: %v, %v", rc, err)
	}
	if _, err := e.auth.UpdateUser(ctx, req(&dataplanev1.UpdateUserRequest{Password: "another good passphrase"}, e.a.pk, rc.Msg.GetSession().GetAccessToken())); err != nil {
		t.Fatalf("aal2 password change: %v", err)
	}
}

// TestOAuthCallback links provider identities: a new user, the same user
// again, and an existing user by verified email.
func TestOAuthCallback(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	if _, err := e.admin.SetProvider(ctx, req(&dataplanev1.SetProviderRequest{Provider: &dataplanev1.Provider{Name: "idp", Issuer: "https://idp.example", ClientId: "c", RedirectUrls: []string{"https://app.example/cb"}}}, e.a.sk, "")); err != nil {
		t.Fatal(err)
	}
	existing := e.signUp(e.a, "linked@example.com")
	e.oauth.script("c1", auth.OAuthIdentity{Provider: "idp", Subject: "s1", Email: "new@example.com", EmailVerified: true})
	e.oauth.script("c2", auth.OAuthIdentity{Provider: "idp", Subject: "s2", Email: "linked@example.com", EmailVerified: true})
	e.oauth.script("c3", auth.OAuthIdentity{Provider: "idp", Subject: "s3", Email: "linked@example.com", EmailVerified: false})

	r := e.rest(t, "GET", "/v1/auth/authorize?provider=idp&redirect_to=https://app.example/cb&apikey="+e.a.pk, "", "", "")
	if r.status != 302 || r.header.Get("Location") != "https://idp.example/authorize?state=state-"+e.a.ref+"-idp" {
		t.Fatalf("authorize: %d %v %s", r.status, r.header, r.body)
	}
	state := "state-" + e.a.ref + "-idp"
	cb := func(code string) *dataplanev1.Session {
		t.Helper()
		res, err := e.auth.Callback(ctx, req(&dataplanev1.CallbackRequest{Code: code, State: state}, e.a.pk, ""))
		if err != nil {
			t.Fatalf("callback %s: %v", code, err)
		}
		if res.Msg.GetRedirectTo() != "https://app.example/cb" {
			t.Fatalf("redirect_to %q", res.Msg.GetRedirectTo())
		}
		return res.Msg.GetSession()
	}
	first := cb("c1")
	if u := first.GetUser(); u.GetEmail() != "new@example.com" || !u.GetEmailVerified() || len(u.GetProviders()) != 1 || u.GetProviders()[0] != "idp" {
		t.Fatalf("new OAuth user %v", u)
	}
	if again := cb("c1"); again.GetUser().GetId() != first.GetUser().GetId() {
		t.Fatal("the same subject made another user")
	}
	if linked := cb("c2"); linked.GetUser().GetId() != existing.GetUser().GetId() {
		t.Fatal("a verified email did not link to the existing user")
	}
	if apart := cb("c3"); apart.GetUser().GetId() == existing.GetUser().GetId() || apart.GetUser().GetEmail() != "" {
		t.Fatalf("an unverified email linked or claimed an address: %v", apart.GetUser())
	}
	// Over REST the browser comes back with ref (no key) and is sent on
	// with the session in the fragment.
	r = e.rest(t, "GET", "/v1/auth/callback?code=c1&state="+state+"&ref="+e.a.ref, "", "", "")
	loc := r.header.Get("Location")
	if r.status != 302 || !strings.HasPrefix(loc, "https://app.example/cb#access_token=") || !strings.Contains(loc, "refresh_token=sov_rt_") {
		t.Fatalf("callback: %d %q %s", r.status, loc, r.body)
	}
	if r := e.rest(t, "GET", "/v1/auth/callback?code=bad&state="+state+"&ref="+e.a.ref, "", "", ""); r.status != 401 {
		t.Fatalf("callback with a bad code: %d %s", r.status, r.body)
	}
	if r := e.rest(t, "GET", "/v1/auth/callback?error=access_denied&ref="+e.a.ref, "", "", ""); r.status != 401 || !strings.Contains(r.body, "access_denied") {
		t.Fatalf("callback with a provider error: %d %s", r.status, r.body)
	}
}
