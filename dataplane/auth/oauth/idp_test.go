package oauth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// idp is a minimal OpenID Connect provider for the tests, standing in for
// the third-party providers tenants configure: discovery, JWKS, an
// authorization endpoint with a login form, and a token endpoint that
// authenticates the client (client_secret_basic or client_secret_post),
// redeems each code once, checks redirect_uri and the PKCE S256 verifier,
// and issues RS256 ID tokens carrying the nonce of the request. It serves
// TLS, as the Service requires https issuers.
type idp struct {
	srv          *httptest.Server
	key          *rsa.PrivateKey
	clientID     string
	clientSecret string

	mu      sync.Mutex
	pending map[string]authRequest
	codes   map[string]*grant
	users   map[string]idpUser
	// authMethods is token_endpoint_auth_methods_supported; nil leaves it
	// out of the discovery document.
	authMethods []string
	// pkceMethods is code_challenge_methods_supported.
	pkceMethods []string
	// issuerOverride, when set, is the issuer the discovery document
	// states.
	issuerOverride string
	// claims, when set, changes an ID token's claims before signing: a
	// provider gone wrong or hostile.
	claims func(map[string]any)
	// tamper corrupts the ID token's signature.
	tamper bool
	// now is the provider's clock. Default time.Now.
	now func() time.Time
	// authUsed records how the client authenticated at each token request.
	authUsed []string
}

type authRequest struct {
	clientID, redirectURI, state, nonce, challenge, scope string
}

type grant struct {
	authRequest
	user idpUser
	used bool
}

type idpUser struct {
	password, sub, email string
	verified             bool
}

func newIDP(t *testing.T) *idp {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &idp{
		key:          key,
		clientID:     "client-" + rand.Text()[:8],
		clientSecret: "s3cret-" + rand.Text(),
		pending:      map[string]authRequest{},
		codes:        map[string]*grant{},
		users: map[string]idpUser{
			"alice": {password: "correct horse", sub: "user-alice-1", email: "alice@example.com", verified: true},
		},
		authMethods: []string{"client_secret_basic", "client_secret_post"},
		pkceMethods: []string{"S256"},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /login", p.login)
	mux.HandleFunc("POST /token", p.token)
	p.srv = httptest.NewTLSServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) issuer() string { return p.srv.URL }

// client is an http.Client that trusts the provider's certificate.
func (p *idp) client() *http.Client {
	c := p.srv.Client()
	c.Timeout = 10 * time.Second
	return c
}

func (p *idp) set(fn func(p *idp)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fn(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (p *idp) discovery(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	doc := map[string]any{
		"issuer":                                cmpOr(p.issuerOverride, p.issuer()),
		"authorization_endpoint":                p.issuer() + "/authorize",
		"token_endpoint":                        p.issuer() + "/token",
		"jwks_uri":                              p.issuer() + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      p.pkceMethods,
	}
	if p.authMethods != nil {
		doc["token_endpoint_auth_methods_supported"] = p.authMethods
	}
	writeJSON(w, http.StatusOK, doc)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (p *idp) jwks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &p.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"},
	}})
}

// authorize checks the authorization request and shows the login form.
func (p *idp) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := authRequest{clientID: q.Get("client_id"), redirectURI: q.Get("redirect_uri"), state: q.Get("state"),
		nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), scope: q.Get("scope")}
	switch {
	case q.Get("response_type") != "code":
		http.Error(w, "unsupported response_type", http.StatusBadRequest)
		return
	case req.clientID != p.clientID || req.redirectURI == "":
		http.Error(w, "unknown client or missing redirect_uri", http.StatusBadRequest)
		return
	case q.Get("code_challenge_method") != "S256" || req.challenge == "":
		http.Error(w, "PKCE S256 required", http.StatusBadRequest)
		return
	case !slices.Contains(strings.Fields(req.scope), "openid"):
		http.Error(w, "openid scope required", http.StatusBadRequest)
		return
	}
	id := rand.Text()
	p.mu.Lock()
	p.pending[id] = req
	p.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><title>Sign in</title>
<form method="post" action="/login">
<input type="hidden" name="req" value="%s">
<input name="username"> <input type="password" name="password"> <button>Sign in</button>
</form>`, html.EscapeString(id))
}

// login checks the user's password and sends the browser back with a code.
func (p *idp) login(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	req, ok := p.pending[r.PostFormValue("req")]
	u, known := p.users[r.PostFormValue("username")]
	if !ok || !known || subtle.ConstantTimeCompare([]byte(u.password), []byte(r.PostFormValue("password"))) != 1 {
		http.Error(w, "invalid credentials", http.StatusUnauthorized)
		return
	}
	delete(p.pending, r.PostFormValue("req"))
	code := rand.Text()
	p.codes[code] = &grant{authRequest: req, user: u}
	back, err := url.Parse(req.redirectURI)
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	v := back.Query()
	v.Set("code", code)
	v.Set("state", req.state)
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func tokenError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code})
}

// token redeems a code for an access token and an ID token.
func (p *idp) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	id, secret, basic := r.BasicAuth()
	method := "client_secret_basic"
	if basic {
		// RFC 6749 2.3.1: form-urlencoded before base64.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret, method = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret"), "client_secret_post"
	}
	p.authUsed = append(p.authUsed, method)
	if id != p.clientID || subtle.ConstantTimeCompare([]byte(secret), []byte(p.clientSecret)) != 1 {
		tokenError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	g, ok := p.codes[r.PostForm.Get("code")]
	if r.PostForm.Get("grant_type") != "authorization_code" || !ok || g.used || g.clientID != id ||
		g.redirectURI != r.PostForm.Get("redirect_uri") {
		tokenError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	g.used = true
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
		tokenError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	now := time.Now()
	if p.now != nil {
		now = p.now()
	}
	claims := map[string]any{
		"iss": p.issuer(), "sub": g.user.sub, "aud": p.clientID,
		"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(),
		"nonce": g.nonce, "email": g.user.email, "email_verified": g.user.verified,
	}
	if p.claims != nil {
		p.claims(claims)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: p.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error")
		return
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error")
		return
	}
	idToken, _ := jws.CompactSerialize()
	if p.tamper {
		// Flip bits in the middle of the signature: still base64url, no
		// longer the provider's signature.
		parts := strings.Split(idToken, ".")
		sig := []byte(parts[2])
		i := len(sig) / 2
		if sig[i] == 'A' {
			sig[i] = 'B'
		} else {
			sig[i] = 'A'
		}
		parts[2] = string(sig)
		idToken = strings.Join(parts, ".")
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": rand.Text(), "token_type": "Bearer", "expires_in": 300, "id_token": idToken,
	})
}

var reqField = regexp.MustCompile(`name="req" value="([^"]+)"`)

// browse plays the browser: it opens authURL, fills in the provider's
// login form as username with password, and returns where the provider
// sends it back to (the callback URL with code and state).
func (p *idp) browse(t *testing.T, authURL, username, password string) *url.URL {
	t.Helper()
	c := p.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("authorization page: %s: %s", resp.Status, page)
	}
	m := reqField.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no login form in %s", page)
	}
	resp, err = c.PostForm(p.srv.URL+"/login", url.Values{
		"req": {html.UnescapeString(string(m[1]))}, "username": {username}, "password": {password},
	})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login: %s: %s", resp.Status, body)
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return back
}
