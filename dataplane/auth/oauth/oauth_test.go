package oauth_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sovereign-backend/sovereign/dataplane/auth/oauth"
	"github.com/sovereign-backend/sovereign/dataplane/schema/schematest"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// clock is the real time plus an offset the test moves.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.offset) }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

var testKey = bytes.Repeat([]byte{9}, 32)

func callbackURL(ref string) string { return "https://" + ref + ".data.example/v1/auth/callback" }

const (
	appURL   = "https://app.example/auth/done"
	otherApp = "com.example.app:/oauth"
)

// env is one test's tenant, provider and Service.
type env struct {
	t     *testing.T
	d     *schematest.Database
	id    tenantdb.Identity
	idp   *idp
	svc   *oauth.Service
	clock *clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	_, d := schematest.New(t)
	p := newIDP(t)
	c := &clock{}
	p.now = c.Now
	svc, err := oauth.New(oauth.Config{SecretKey: testKey, CallbackURL: callbackURL, HTTPClient: p.client(), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, d: d, id: d.Tenant(t), idp: p, svc: svc, clock: c}
}

func (e *env) tx(fn func(q tenantdb.Querier) error) error {
	return e.d.DB.Tx(e.t.Context(), e.id, tenantdb.TxOptions{}, fn)
}

func (e *env) provider() oauth.Provider {
	return oauth.Provider{Name: "acme", Issuer: e.idp.issuer(), ClientID: e.idp.clientID, ClientSecret: e.idp.clientSecret,
		Scopes: []string{"profile", "openid"}, RedirectURLs: []string{appURL, otherApp}}
}

func (e *env) setProvider(p oauth.Provider) (oauth.Provider, error) {
	var out oauth.Provider
	err := e.tx(func(q tenantdb.Querier) error {
		var err error
		out, err = e.svc.SetProvider(e.t.Context(), q, p)
		return err
	})
	return out, err
}

func (e *env) mustSetProvider(p oauth.Provider) oauth.Provider {
	e.t.Helper()
	out, err := e.setProvider(p)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) authorize(provider, redirectTo string) (string, error) {
	var u string
	err := e.tx(func(q tenantdb.Querier) error {
		var err error
		u, err = e.svc.AuthorizeURL(e.t.Context(), q, e.id.TenantRef, provider, redirectTo)
		return err
	})
	return u, err
}

func (e *env) mustAuthorize(provider, redirectTo string) string {
	e.t.Helper()
	u, err := e.authorize(provider, redirectTo)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// exchange calls Exchange and commits whatever it returns, as the
// callback handler must.
func (e *env) exchange(code, state string) (oauth.Identity, string, error) {
	var (
		id       oauth.Identity
		redirect string
		exErr    error
	)
	err := e.tx(func(q tenantdb.Querier) error {
		id, redirect, exErr = e.svc.Exchange(e.t.Context(), q, e.id.TenantRef, code, state)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return id, redirect, exErr
}

// signIn runs the browser part: authorize, log in at the provider as
// alice, and return the callback's code and state.
func (e *env) signIn(redirectTo string) (code, state string) {
	e.t.Helper()
	back := e.idp.browse(e.t, e.mustAuthorize("acme", redirectTo), "alice", "correct horse")
	if got := back.Scheme + "://" + back.Host + back.Path; got != callbackURL(e.id.TenantRef) {
		e.t.Fatalf("provider sent the browser to %s, want the callback %s", got, callbackURL(e.id.TenantRef))
	}
	return back.Query().Get("code"), back.Query().Get("state")
}

func (e *env) countStates() int {
	e.t.Helper()
	var n int
	if err := e.d.Pool.QueryRow(e.t.Context(), "SELECT count(*) FROM "+tenantdb.Table(e.id.TenantRef, "_auth_oauth_states")).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	got := e.mustSetProvider(e.provider())
	if got.ClientSecret != "" || !got.HasClientSecret || !slices.Equal(got.Scopes, []string{"profile"}) || got.CreatedAt.IsZero() {
		t.Fatalf("SetProvider returned %+v", got)
	}

	raw := e.mustAuthorize("acme", otherApp)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	challenge, _ := base64.RawURLEncoding.DecodeString(q.Get("code_challenge"))
	switch {
	case !strings.HasPrefix(raw, e.idp.issuer()+"/authorize?"):
		t.Errorf("authorize URL %s is not the provider's endpoint", raw)
	case q.Get("response_type") != "code", q.Get("client_id") != e.idp.clientID,
		q.Get("redirect_uri") != callbackURL(e.id.TenantRef):
		t.Errorf("authorize URL %s: wrong response_type, client_id or redirect_uri", raw)
	case q.Get("code_challenge_method") != "S256" || len(challenge) != 32:
		t.Errorf("authorize URL %s: want a PKCE S256 challenge (32-byte hash)", raw)
	case len(q.Get("state")) < 43 || len(q.Get("nonce")) < 43 || q.Get("state") == q.Get("nonce"):
		t.Errorf("authorize URL %s: want distinct random state and nonce of 256 bits", raw)
	case !slices.Equal(strings.Fields(q.Get("scope")), []string{"openid", "email", "profile"}):
		t.Errorf("authorize URL %s: scope %q", raw, q.Get("scope"))
	}
	if strings.Contains(raw, e.idp.clientSecret) {
		t.Fatal("the client secret is in the authorize URL")
	}
	// The state is kept as a hash only.
	var plain int
	if err := e.d.Pool.QueryRow(t.Context(), "SELECT count(*) FROM "+tenantdb.Table(e.id.TenantRef, "_auth_oauth_states")+
		" WHERE position(convert_to($1, 'UTF8') in state_hash) > 0", q.Get("state")).Scan(&plain); err != nil || plain != 0 {
		t.Fatalf("state stored in plain text (%d rows, %v)", plain, err)
	}

	back := e.idp.browse(t, raw, "alice", "correct horse")
	id, redirect, err := e.exchange(back.Query().Get("code"), back.Query().Get("state"))
	if err != nil {
		t.Fatal(err)
	}
	want := oauth.Identity{Provider: "acme", Subject: "user-alice-1", Email: "alice@example.com", EmailVerified: true}
	if id != want || redirect != otherApp {
		t.Fatalf("Exchange = %+v, %q; want %+v, %q", id, redirect, want, otherApp)
	}
	if e.idp.authUsed[len(e.idp.authUsed)-1] != "client_secret_basic" {
		t.Fatalf("client authenticated with %v, want client_secret_basic", e.idp.authUsed)
	}

	// The state is single use.
	if _, _, err := e.exchange(back.Query().Get("code"), back.Query().Get("state")); !errors.Is(err, oauth.ErrBadState) {
		t.Fatalf("replayed state: %v, want ErrBadState", err)
	}
	if n := e.countStates(); n != 0 {
		t.Fatalf("%d states left after the sign-in", n)
	}

	// A code the provider already redeemed, brought with a fresh state,
	// is refused by the provider (used, and the PKCE verifier is not its).
	_, state := e.signIn("")
	if _, _, err := e.exchange(back.Query().Get("code"), state); !errors.Is(err, oauth.ErrBadCode) {
		t.Fatalf("reused code: %v, want ErrBadCode", err)
	}

	// "" means the first allowed redirect.
	code, state := e.signIn("")
	if _, redirect, err := e.exchange(code, state); err != nil || redirect != appURL {
		t.Fatalf("default redirect: %q, %v; want %q", redirect, err, appURL)
	}
}

// Providers that send email_verified as a string, or no email at all.
func TestIdentityClaims(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustSetProvider(e.provider())
	for _, tc := range []struct {
		name  string
		claim func(map[string]any)
		want  oauth.Identity
	}{
		{"string true", func(c map[string]any) { c["email_verified"] = "true" },
			oauth.Identity{Provider: "acme", Subject: "user-alice-1", Email: "alice@example.com", EmailVerified: true}},
		{"unverified", func(c map[string]any) { c["email_verified"] = false },
			oauth.Identity{Provider: "acme", Subject: "user-alice-1", Email: "alice@example.com"}},
		{"no email", func(c map[string]any) { delete(c, "email"); delete(c, "email_verified") },
			oauth.Identity{Provider: "acme", Subject: "user-alice-1"}},
		{"azp with several audiences", func(c map[string]any) { c["aud"] = []string{e.idp.clientID, "other"}; c["azp"] = e.idp.clientID },
			oauth.Identity{Provider: "acme", Subject: "user-alice-1", Email: "alice@example.com", EmailVerified: true}},
	} {
		e.idp.set(func(p *idp) { p.claims = tc.claim })
		code, state := e.signIn(appURL)
		id, _, err := e.exchange(code, state)
		if err != nil || id != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, id, err, tc.want)
		}
	}
}

// ID tokens that must be refused: the provider (or someone between) gets
// the nonce, signature, audience, issuer, expiry or subject wrong.
func TestBadIDTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustSetProvider(e.provider())
	for _, tc := range []struct {
		name   string
		claims func(map[string]any)
		tamper bool
	}{
		{name: "wrong nonce", claims: func(c map[string]any) { c["nonce"] = "a-nonce-of-another-sign-in" }},
		{name: "no nonce", claims: func(c map[string]any) { delete(c, "nonce") }},
		{name: "bad signature", tamper: true},
		{name: "wrong audience", claims: func(c map[string]any) { c["aud"] = "another-client" }},
		{name: "several audiences, azp another client", claims: func(c map[string]any) { c["aud"] = []string{e.idp.clientID, "x"}; c["azp"] = "x" }},
		{name: "wrong issuer", claims: func(c map[string]any) { c["iss"] = "https://evil.example" }},
		{name: "expired", claims: func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }},
		{name: "no subject", claims: func(c map[string]any) { delete(c, "sub") }},
	} {
		e.idp.set(func(p *idp) { p.claims, p.tamper = tc.claims, tc.tamper })
		code, state := e.signIn(appURL)
		if id, _, err := e.exchange(code, state); !errors.Is(err, oauth.ErrBadIDToken) {
			t.Errorf("%s: %+v, %v; want ErrBadIDToken", tc.name, id, err)
		}
	}
	// And with the provider behaving again, sign-in works.
	e.idp.set(func(p *idp) { p.claims, p.tamper = nil, false })
	code, state := e.signIn(appURL)
	if _, _, err := e.exchange(code, state); err != nil {
		t.Fatal(err)
	}
}

func TestStates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustSetProvider(e.provider())

	// Before any table exists, and for states never issued.
	other := e.d.Tenant(t)
	err := e.d.DB.Tx(t.Context(), other, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
		_, _, err := e.svc.Exchange(t.Context(), q, other.TenantRef, "code", "state")
		return err
	})
	if !errors.Is(err, oauth.ErrBadState) {
		t.Fatalf("fresh tenant: %v, want ErrBadState", err)
	}
	for _, state := range []string{"", "never-issued", strings.Repeat("x", 300)} {
		if _, _, err := e.exchange("code", state); !errors.Is(err, oauth.ErrBadState) {
			t.Errorf("state %q: %v, want ErrBadState", state, err)
		}
	}

	// A state of this tenant means nothing in another: its table is its own.
	code, state := e.signIn(appURL)
	err = e.d.DB.Tx(t.Context(), other, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
		_, _, err := e.svc.Exchange(t.Context(), q, other.TenantRef, code, state)
		return err
	})
	if !errors.Is(err, oauth.ErrBadState) {
		t.Fatalf("state used in another tenant: %v, want ErrBadState", err)
	}

	// Expired: ten minutes after AuthorizeURL it is refused (and gone).
	e.clock.Add(10 * time.Minute)
	if _, _, err := e.exchange(code, state); !errors.Is(err, oauth.ErrBadState) {
		t.Fatalf("expired state: %v, want ErrBadState", err)
	}
	e.clock.Add(-10 * time.Minute)
	if _, _, err := e.exchange(code, state); !errors.Is(err, oauth.ErrBadState) {
		t.Fatalf("expired state, second try: %v, want ErrBadState", err)
	}

	// Just inside the ten minutes it still works.
	code, state = e.signIn(appURL)
	e.clock.Add(10*time.Minute - 5*time.Second)
	if _, _, err := e.exchange(code, state); err != nil {
		t.Fatalf("state within its lifetime: %v", err)
	}

	// Expired states are cleaned up by later sign-ins.
	e.mustAuthorize("acme", appURL)
	e.clock.Add(time.Hour)
	e.mustAuthorize("acme", appURL)
	if n := e.countStates(); n != 1 {
		t.Fatalf("%d states after cleanup, want 1", n)
	}

	// A missing code still consumes the state.
	_, state = e.signIn(appURL)
	if _, _, err := e.exchange("", state); !errors.Is(err, oauth.ErrBadCode) {
		t.Fatalf("missing code: %v, want ErrBadCode", err)
	}
	if _, _, err := e.exchange("code", state); !errors.Is(err, oauth.ErrBadState) {
		t.Fatalf("state after a failed exchange: %v, want ErrBadState", err)
	}
}

func TestAuthorizeErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// No tables yet.
	if _, err := e.authorize("acme", appURL); !errors.Is(err, oauth.ErrUnknownProvider) {
		t.Fatalf("no providers: %v, want ErrUnknownProvider", err)
	}
	e.mustSetProvider(e.provider())
	if _, err := e.authorize("google", appURL); !errors.Is(err, oauth.ErrUnknownProvider) {
		t.Fatalf("unknown provider: %v, want ErrUnknownProvider", err)
	}
	for _, r := range []string{"https://evil.example/auth/done", appURL + "/", appURL + "?next=/x", "HTTPS://app.example/auth/done",
		appURL + "#x", "https://app.example/auth/done/../done", "com.example.app:/oauth2"} {
		if _, err := e.authorize("acme", r); !errors.Is(err, oauth.ErrBadRedirect) {
			t.Errorf("redirect %q: %v, want ErrBadRedirect", r, err)
		}
	}
	if n := e.countStates(); n != 0 {
		t.Fatalf("%d states stored by refused requests", n)
	}

	// The transaction must be the tenant's own, with the service identity.
	other := e.d.Tenant(t)
	err := e.d.DB.Tx(t.Context(), other, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
		_, err := e.svc.AuthorizeURL(t.Context(), q, e.id.TenantRef, "acme", appURL)
		return err
	})
	if !errors.Is(err, oauth.ErrNotTenantTx) {
		t.Fatalf("another tenant's transaction: %v, want ErrNotTenantTx", err)
	}
	anon := e.id
	anon.Role = tenantdb.RoleAnon
	err = e.d.DB.Tx(t.Context(), anon, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
		_, err := e.svc.AuthorizeURL(t.Context(), q, e.id.TenantRef, "acme", appURL)
		return err
	})
	if !errors.Is(err, oauth.ErrNotTenantTx) {
		t.Fatalf("anon transaction: %v, want ErrNotTenantTx", err)
	}
}

func TestProviders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	list := func() []oauth.Provider {
		t.Helper()
		var ps []oauth.Provider
		err := e.d.DB.Tx(ctx, e.id, tenantdb.TxOptions{ReadOnly: true}, func(q tenantdb.Querier) error {
			var err error
			ps, err = e.svc.ListProviders(ctx, q)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return ps
	}
	if ps := list(); len(ps) != 0 {
		t.Fatalf("fresh tenant lists %v", ps)
	}
	e.mustSetProvider(e.provider())
	second := e.provider()
	second.Name, second.ClientSecret = "a-public", ""
	e.mustSetProvider(second)

	ps := list()
	if len(ps) != 2 || ps[0].Name != "a-public" || ps[1].Name != "acme" || ps[0].HasClientSecret || !ps[1].HasClientSecret {
		t.Fatalf("ListProviders = %+v", ps)
	}
	for _, p := range ps {
		if p.ClientSecret != "" {
			t.Fatalf("ListProviders returned a client secret: %+v", p)
		}
	}
	// Not stored in plain text: no row holds its bytes.
	var n int
	if err := e.d.Pool.QueryRow(ctx, "SELECT count(*) FROM "+tenantdb.Table(e.id.TenantRef, "_auth_providers")+
		" WHERE position(convert_to($1, 'UTF8') in coalesce(client_secret, '')) > 0 OR client_secret = convert_to($1, 'UTF8')",
		e.idp.clientSecret).Scan(&n); err != nil || n != 0 {
		t.Fatalf("client secret stored in plain text (%d rows, %v)", n, err)
	}

	// An update without a secret keeps the stored one: sign-in still
	// authenticates the client. The provider now offers only
	// client_secret_post, and the Service uses it.
	upd := e.provider()
	upd.ClientSecret, upd.Scopes = "", nil
	got := e.mustSetProvider(upd)
	if !got.HasClientSecret || len(got.Scopes) != 0 || !got.UpdatedAt.After(got.CreatedAt) && !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Fatalf("after update: %+v", got)
	}
	e.idp.set(func(p *idp) { p.authMethods = []string{"client_secret_post"} })
	e.mustSetProvider(upd) // fetches discovery again
	code, state := e.signIn(appURL)
	if _, _, err := e.exchange(code, state); err != nil {
		t.Fatal(err)
	}
	if m := e.idp.authUsed[len(e.idp.authUsed)-1]; m != "client_secret_post" {
		t.Fatalf("client authenticated with %s, want client_secret_post", m)
	}

	// A wrong secret: the provider refuses the client.
	bad := e.provider()
	bad.ClientSecret = "wrong"
	e.mustSetProvider(bad)
	code, state = e.signIn(appURL)
	if _, _, err := e.exchange(code, state); !errors.Is(err, oauth.ErrProvider) {
		t.Fatalf("wrong client secret: %v, want ErrProvider", err)
	}

	// Delete takes the sign-ins in progress with it.
	_, state = e.signIn(appURL)
	if err := e.tx(func(q tenantdb.Querier) error { return e.svc.DeleteProvider(ctx, q, "acme") }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.exchange("code", state); !errors.Is(err, oauth.ErrBadState) {
		t.Fatalf("state of a deleted provider: %v, want ErrBadState", err)
	}
	if err := e.tx(func(q tenantdb.Querier) error { return e.svc.DeleteProvider(ctx, q, "acme") }); !errors.Is(err, oauth.ErrUnknownProvider) {
		t.Fatalf("delete twice: %v, want ErrUnknownProvider", err)
	}
	if ps := list(); len(ps) != 1 || ps[0].Name != "a-public" {
		t.Fatalf("after delete: %+v", ps)
	}

	// The tables belong to the tenant, with forced row-level security.
	for _, table := range []string{"_auth_providers", "_auth_oauth_states"} {
		var owner string
		var rls, forced bool
		err := e.d.Pool.QueryRow(ctx, `SELECT pg_get_userbyid(c.relowner), c.relrowsecurity, c.relforcerowsecurity
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
			tenantdb.Schema(e.id.TenantRef), table).Scan(&owner, &rls, &forced)
		if err != nil || owner != tenantdb.Schema(e.id.TenantRef) || !rls || !forced {
			t.Errorf("%s: owner %s, rls %v, forced %v (%v)", table, owner, rls, forced, err)
		}
	}
	authd := e.id
	authd.Role, authd.UserID = tenantdb.RoleAuthenticated, "u1"
	err := e.d.DB.Tx(ctx, authd, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
		return q.QueryRow(ctx, "SELECT count(*) FROM "+tenantdb.Table(e.id.TenantRef, "_auth_providers")).Scan(&n)
	})
	if err != nil || n != 0 {
		t.Fatalf("an end user sees %d providers (%v)", n, err)
	}
}

func TestSetProviderChecks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mod := func(fn func(*oauth.Provider)) oauth.Provider { p := e.provider(); fn(&p); return p }
	for name, p := range map[string]oauth.Provider{
		"name upper":       mod(func(p *oauth.Provider) { p.Name = "Acme" }),
		"name digit":       mod(func(p *oauth.Provider) { p.Name = "1acme" }),
		"name long":        mod(func(p *oauth.Provider) { p.Name = "a" + strings.Repeat("b", 32) }),
		"issuer http":      mod(func(p *oauth.Provider) { p.Issuer = strings.Replace(p.Issuer, "https:", "http:", 1) }),
		"issuer query":     mod(func(p *oauth.Provider) { p.Issuer += "?x=1" }),
		"issuer fragment":  mod(func(p *oauth.Provider) { p.Issuer += "#x" }),
		"issuer relative":  mod(func(p *oauth.Provider) { p.Issuer = "/realms/x" }),
		"no client id":     mod(func(p *oauth.Provider) { p.ClientID = "" }),
		"scope with space": mod(func(p *oauth.Provider) { p.Scopes = []string{"a b"} }),
		"scope with quote": mod(func(p *oauth.Provider) { p.Scopes = []string{`a"`} }),
		"too many scopes": mod(func(p *oauth.Provider) {
			p.Scopes = strings.Fields(strings.Repeat("s ", 21))
			for i := range p.Scopes {
				p.Scopes[i] += strings.Repeat("x", i)
			}
		}),
		"no redirect":        mod(func(p *oauth.Provider) { p.RedirectURLs = nil }),
		"javascript":         mod(func(p *oauth.Provider) { p.RedirectURLs = []string{"javascript:alert(1)"} }),
		"data":               mod(func(p *oauth.Provider) { p.RedirectURLs = []string{"data:text/html,x"} }),
		"relative redirect":  mod(func(p *oauth.Provider) { p.RedirectURLs = []string{"/done"} }),
		"redirect fragment":  mod(func(p *oauth.Provider) { p.RedirectURLs = []string{appURL + "#x"} }),
		"redirect user info": mod(func(p *oauth.Provider) { p.RedirectURLs = []string{"https://u:p@app.example/"} }),
		"redirect no host":   mod(func(p *oauth.Provider) { p.RedirectURLs = []string{"https:///x"} }),
		"secret control":     mod(func(p *oauth.Provider) { p.ClientSecret = "a\nb" }),
	} {
		if _, err := e.setProvider(p); !errors.Is(err, oauth.ErrInvalidProvider) {
			t.Errorf("%s: %v, want ErrInvalidProvider", name, err)
		}
	}
	if p := mod(func(p *oauth.Provider) { p.Scopes = strings.Fields(strings.Repeat("s ", 30)) }); true {
		if _, err := e.setProvider(p); err != nil {
			t.Errorf("repeated scopes count once: %v", err)
		}
	}

	// The discovery document must be there, state this issuer, and not
	// rule out S256.
	for name, p := range map[string]oauth.Provider{
		"no discovery":   mod(func(p *oauth.Provider) { p.Issuer += "/nothing-here" }),
		"trailing slash": mod(func(p *oauth.Provider) { p.Issuer += "/" }),
		"unreachable":    mod(func(p *oauth.Provider) { p.Issuer = "https://127.0.0.1:1" }),
	} {
		if _, err := e.setProvider(p); !errors.Is(err, oauth.ErrProvider) {
			t.Errorf("%s: %v, want ErrProvider", name, err)
		}
	}
	e.idp.set(func(p *idp) { p.issuerOverride = "https://someone-else.example" })
	if _, err := e.setProvider(e.provider()); !errors.Is(err, oauth.ErrProvider) {
		t.Errorf("issuer mismatch: %v, want ErrProvider", err)
	}
	e.idp.set(func(p *idp) { p.issuerOverride, p.pkceMethods = "", []string{"plain"} })
	if _, err := e.setProvider(e.provider()); !errors.Is(err, oauth.ErrProvider) {
		t.Errorf("no S256: %v, want ErrProvider", err)
	}
	e.idp.set(func(p *idp) { p.pkceMethods = nil })
	if _, err := e.setProvider(e.provider()); err != nil {
		t.Errorf("PKCE methods not stated: %v", err)
	}

	// The default HTTP client does not reach loopback or private
	// addresses: a tenant cannot aim the data plane at internal hosts.
	guarded, err := oauth.New(oauth.Config{SecretKey: testKey, CallbackURL: callbackURL})
	if err != nil {
		t.Fatal(err)
	}
	err = e.tx(func(q tenantdb.Querier) error {
		_, err := guarded.SetProvider(t.Context(), q, e.provider())
		return err
	})
	if !errors.Is(err, oauth.ErrProvider) || !strings.Contains(err.Error(), "non-public") {
		t.Fatalf("default client to a loopback issuer: %v, want ErrProvider refusing a non-public address", err)
	}

	for _, cfg := range []oauth.Config{
		{SecretKey: make([]byte, 16), CallbackURL: callbackURL},
		{SecretKey: testKey},
		{SecretKey: testKey, CallbackURL: callbackURL, StateTTL: -1},
	} {
		if _, err := oauth.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}
