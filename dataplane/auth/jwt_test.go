package auth_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sovereign-backend/sovereign/dataplane/auth"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
)

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// parts splits a JWT into its decoded header and claims.
func parts(t *testing.T, tok string) (map[string]any, map[string]any) {
	t.Helper()
	p := strings.Split(tok, ".")
	if len(p) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	var h, c map[string]any
	hb, _ := base64.RawURLEncoding.DecodeString(p[0])
	cb, _ := base64.RawURLEncoding.DecodeString(p[1])
	if json.Unmarshal(hb, &h) != nil || json.Unmarshal(cb, &c) != nil {
		t.Fatalf("undecodable JWT %q", tok)
	}
	return h, c
}

// signEd signs header and claims with an attacker's key.
func signEd(t *testing.T, header, claims map[string]any) string {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims(claims))
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// TestForgeries sends forged and misused tokens; every one is refused with
// its reason, over Connect and over REST.
func TestForgeries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	sess := e.signUp(e.a, "forge@example.com")
	other := e.signUp(e.b, "forge@example.com")
	header, claims := parts(t, sess.GetAccessToken())
	kid := header["kid"].(string)
	now := e.clock.Now().Unix()

	// The project's own public key, as the JWKS publishes it.
	res, err := e.admin.ListSigningKeys(ctx, req(&dataplanev1.ListSigningKeysRequest{}, e.a.sk, ""))
	if err != nil || len(res.Msg.GetKeys()) != 1 || res.Msg.GetKeys()[0].GetKid() != kid {
		t.Fatalf("signing keys: %v, %v", res, err)
	}
	jwks := e.jwks(t, e.a)
	pub, _ := base64.RawURLEncoding.DecodeString(jwks.Keys[0].X)

	real := func(h, c map[string]any) string {
		tok, err := e.svc.SignForTest(ctx, e.a.ref, h, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	hs256 := func(key []byte) string {
		head := b64(map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid})
		body := head + "." + b64(claims)
		m := hmac.New(sha256.New, key)
		m.Write([]byte(body))
		return body + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	p := strings.Split(sess.GetAccessToken(), ".")
	tests := []struct {
		name, token, reason string
	}{
		{"alg none", b64(with(header, "alg", "none")) + "." + p[1] + ".", auth.ReasonAlgorithm},
		{"alg None", b64(with(header, "alg", "None")) + "." + p[1] + ".", auth.ReasonAlgorithm},
		{"alg none with the real signature", b64(with(header, "alg", "none")) + "." + p[1] + "." + p[2], auth.ReasonAlgorithm},
		{"HS256 signed with the public key", hs256(pub), auth.ReasonAlgorithm},
		{"HS256 signed with the JWK x", hs256([]byte(jwks.Keys[0].X)), auth.ReasonAlgorithm},
		{"unknown kid", signEd(t, with(header, "kid", "AAAAAAAAAAAAAAAAAAAAAA"), claims), auth.ReasonUnknownKey},
		{"attacker key with the real kid", signEd(t, header, claims), auth.ReasonSignature},
		{"kid path injection", signEd(t, with(header, "kid", "../../x"), claims), auth.ReasonKID},
		{"kid SQL injection", signEd(t, with(header, "kid", "' OR 1=1 --"), claims), auth.ReasonKID},
		{"no kid", signEd(t, with(header, "kid", nil), claims), auth.ReasonKID},
		{"jku header", signEd(t, with(header, "jku", "https://evil.example/jwks.json"), claims), auth.ReasonKeyHeader},
		{"jwk header", signEd(t, with(header, "jwk", map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64("x")}), claims), auth.ReasonKeyHeader},
		{"x5u header", signEd(t, with(header, "x5u", "https://evil.example/cert.pem"), claims), auth.ReasonKeyHeader},
		{"jku header signed with the real key", real(map[string]any{"jku": "https://evil.example/jwks.json"}, claims), auth.ReasonKeyHeader},
		{"refresh token as access token", sess.GetRefreshToken(), auth.ReasonRefreshToken},
		{"another project's token", other.GetAccessToken(), auth.ReasonUnknownKey},
		{"tampered claims", p[0] + "." + b64(with(claims, "role", "admin")) + "." + p[2], auth.ReasonSignature},
		{"wrong aud", real(nil, with(claims, "aud", e.b.ref)), auth.ReasonAudience},
		{"aud of the right project in an array", real(nil, with(claims, "aud", []string{"x", e.a.ref})), auth.ReasonMalformed},
		{"wrong iss", real(nil, with(claims, "iss", "sovereign:"+e.b.ref)), auth.ReasonIssuer},
		{"expired beyond leeway", real(nil, with(claims, "exp", now-31)), auth.ReasonExpired},
		{"nbf in the future", real(nil, with(claims, "nbf", now+60)), auth.ReasonNotYetValid},
		{"iat in the future", real(nil, with(claims, "iat", now+60)), auth.ReasonIssuedInFuture},
		{"missing exp", real(nil, with(claims, "exp", nil)), auth.ReasonNoExpiry},
		{"unknown session", real(nil, with(claims, "sid", "01890000-0000-7000-8000-000000000000")), auth.ReasonSessionEnded},
		{"another user's session", real(nil, with(claims, "sub", "01890000-0000-7000-8000-000000000000")), auth.ReasonClaims},
		{"not a JWT", "a.b.c", auth.ReasonMalformed},
		{"random bearer", "hello", auth.ReasonBearer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.whoami(e.a, tt.token)
			if c, msg := code(err); c != connect.CodeUnauthenticated || msg != tt.reason {
				t.Errorf("Connect: %v %q, want unauthenticated %q", c, msg, tt.reason)
			}
			r := e.rest(t, "GET", "/v1/auth/user", e.a.pk, tt.token, "")
			if r.status != 401 || !strings.Contains(r.body, jsonQuote(tt.reason)) {
				t.Errorf("REST: %d %s, want 401 with %q", r.status, r.body, tt.reason)
			}
		})
	}
	// Within the leeway an expired-by-seconds token still works, and the
	// genuine token of course.
	if _, err := e.whoami(e.a, real(nil, with(claims, "exp", now-10))); err != nil {
		t.Errorf("token expired 10 s ago (leeway 30 s): %v", err)
	}
	if u, err := e.whoami(e.a, sess.GetAccessToken()); err != nil || u.GetEmail() != "forge@example.com" {
		t.Errorf("genuine token: %v, %v", u, err)
	}
	// Expiry by the clock: 30 minutes plus the leeway later, it is dead.
	e.clock.Advance(30*time.Minute + 31*time.Second)
	if _, err := e.whoami(e.a, sess.GetAccessToken()); err == nil {
		t.Error("an access token outlived 30 minutes and the leeway")
	} else if _, msg := code(err); msg != auth.ReasonExpired {
		t.Errorf("expired token: %v", err)
	}
}

func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return strings.Trim(string(b), `"`)
}

type jwksDoc struct {
	Keys []struct {
		Kty, Crv, X, Kid, Alg, Use string
	} `json:"keys"`
}

func (e *env) jwks(t *testing.T, p project) jwksDoc {
	t.Helper()
	r := e.rest(t, "GET", "/.well-known/jwks.json?apikey="+p.pk, "", "", "")
	if r.status != 200 || r.header.Get("Cache-Control") != "public, max-age=300" {
		t.Fatalf("jwks: %d %v %s", r.status, r.header, r.body)
	}
	var d jwksDoc
	if err := json.Unmarshal([]byte(r.body), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRotation rotates a project's key: old tokens stay valid until they
// expire, new ones carry the new kid, and the JWKS publishes both until the
// old key's tokens are all expired.
func TestRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	old := e.signUp(e.a, "rot@example.com")
	h, _ := parts(t, old.GetAccessToken())
	oldKID := h["kid"].(string)
	d := e.jwks(t, e.a)
	if len(d.Keys) != 1 || d.Keys[0].Kid != oldKID || d.Keys[0].Kty != "OKP" || d.Keys[0].Crv != "Ed25519" || d.Keys[0].Alg != "EdDSA" || d.Keys[0].Use != "sig" {
		t.Fatalf("jwks before rotation: %+v", d)
	}
	if x, _ := base64.RawURLEncoding.DecodeString(d.Keys[0].X); len(x) != ed25519.PublicKeySize {
		t.Fatalf("x is not an Ed25519 public key: %q", d.Keys[0].X)
	}
	if _, err := e.admin.RotateSigningKey(ctx, req(&dataplanev1.RotateSigningKeyRequest{}, e.a.pk, "")); err == nil {
		t.Fatal("a publishable key rotated the signing key")
	}
	if _, err := e.admin.RotateSigningKey(ctx, req(&dataplanev1.RotateSigningKeyRequest{}, e.a.sk, old.GetAccessToken())); err == nil {
		t.Fatal("a secret key acting as a user rotated the signing key")
	}
	rot, err := e.admin.RotateSigningKey(ctx, req(&dataplanev1.RotateSigningKeyRequest{}, e.a.sk, ""))
	if err != nil {
		t.Fatal(err)
	}
	newKID := rot.Msg.GetKey().GetKid()
	if newKID == oldKID || !rot.Msg.GetKey().GetCurrent() || rot.Msg.GetKey().GetAlg() != "EdDSA" {
		t.Fatalf("rotated key %v", rot.Msg.GetKey())
	}
	e.clock.Advance(time.Minute)
	if _, err := e.whoami(e.a, old.GetAccessToken()); err != nil {
		t.Fatalf("a token of the old key after rotation: %v", err)
	}
	fresh, err := e.refresh(e.a, old.GetRefreshToken())
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := parts(t, fresh.GetAccessToken()); h["kid"] != newKID {
		t.Fatalf("new token's kid %v, want %s", h["kid"], newKID)
	}
	if _, err := e.whoami(e.a, fresh.GetAccessToken()); err != nil {
		t.Fatal(err)
	}
	d = e.jwks(t, e.a)
	if len(d.Keys) != 2 || d.Keys[0].Kid != newKID || d.Keys[1].Kid != oldKID {
		t.Fatalf("jwks after rotation: %+v", d)
	}
	keys, err := e.admin.ListSigningKeys(ctx, req(&dataplanev1.ListSigningKeysRequest{}, e.a.sk, ""))
	if err != nil || len(keys.Msg.GetKeys()) != 2 || !keys.Msg.GetKeys()[0].GetCurrent() || keys.Msg.GetKeys()[1].GetRetiredAt() == nil {
		t.Fatalf("keys after rotation: %v, %v", keys, err)
	}
	// Once every token of the old key has expired, it is no longer
	// published.
	e.clock.Advance(31 * time.Minute)
	e.svc.TenantChanged(ctx, e.a.ref) // drop the node's key cache rather than wait a minute
	if d := e.jwks(t, e.a); len(d.Keys) != 1 || d.Keys[0].Kid != newKID {
		t.Fatalf("jwks after the old key's tokens expired: %+v", d)
	}
	// The other project's keys are its own.
	if d := e.jwks(t, e.b); len(d.Keys) != 1 || d.Keys[0].Kid == newKID || d.Keys[0].Kid == oldKID {
		t.Fatalf("project b's jwks: %+v", d)
	}
	r := e.rest(t, "GET", "/.well-known/jwks.json?apikey="+e.a.sk, "", "", "")
	if r.status != 400 || !strings.Contains(r.body, "secret key must never travel in a URL") {
		t.Errorf("secret key in the jwks URL: %d %s", r.status, r.body)
	}
	if r := e.rest(t, "GET", "/.well-known/jwks.json", "", "", ""); r.status != 401 {
		t.Errorf("jwks without a key: %d %s", r.status, r.body)
	}
}

// answer is an HTTP response with its body read.
type answer struct {
	status int
	header http.Header
	body   string
}

// rest sends a REST request with the key in apikey and bearer as the
// user's token; a body starting with "form:" is sent form-encoded.
func (e *env) rest(t *testing.T, method, path, key, bearer, body string) answer {
	t.Helper()
	var rd io.Reader
	ct := "application/json"
	if f, ok := strings.CutPrefix(body, "form:"); ok {
		body, ct = f, "application/x-www-form-urlencoded"
	}
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequestWithContext(t.Context(), method, e.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		r.Header.Set("Content-Type", ct)
	}
	if key != "" {
		r.Header.Set("apikey", key)
	}
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := e.http.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{status: res.StatusCode, header: res.Header, body: string(b)}
}
