package rest

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/auth"
	"github.com/sovereign-backend/sovereign/dataplane/keyauth"
	"github.com/sovereign-backend/sovereign/dataplane/tenants"
	"github.com/sovereign-backend/sovereign/internal/rpcerr"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// MaxAuthBodyBytes caps the body of an auth route: 64 KiB, far more than
// an email, a password and a token need.
const MaxAuthBodyBytes = 64 << 10

// CallbackPath is where OAuth providers send the browser back. Register
// CallbackURL(ref) as <public URL>/v1/auth/callback?ref=<ref>: the provider
// cannot send the app's key, so the callback takes the project from ref (or
// from an apikey, in the header or the query, when there is one).
const CallbackPath = "/v1/auth/callback"

// JWKSMaxAge is how long clients and proxies may cache a project's JWKS. A
// rotated key signs tokens at once, so a verifier that sees an unknown kid
// should fetch the set again; the old key stays in the set long after this.
const JWKSMaxAge = 5 * time.Minute

// AuthConfig configures the REST face of end-user auth.
type AuthConfig struct {
	// Auth serves the routes; the data plane's AuthService handler
	// (auth.NewHandler). Required.
	Auth dataplanev1connect.AuthServiceHandler
	// Service verifies users' access tokens and serves the JWKS. Required.
	Service *auth.Service
	// Keys authenticates the project API key (*apikeys.Keys). Required.
	Keys keyauth.Authenticator
}

// RegisterAuth mounts the auth routes on mux:
//
//	POST /v1/auth/signup          SignUp, body {"email", "password"} → {"session": {...}}
//	POST /v1/auth/token           Token, body {"grant_type": "password"|"refresh_token"|"anonymous", "email",
//	                              "password", "refresh_token"} as JSON or form-encoded (OAuth2 style; "username"
//	                              is taken for email; grant_type may also be a query parameter)
//	                              → {"session": {...}, "mfa_required": b}
//	POST /v1/auth/logout          SignOut; ?scope=all or body {"scope": "all"} → 204
//	GET  /v1/auth/user            GetUser → {"user": {...}}
//	PUT  /v1/auth/user            UpdateUser, body {"email", "password"} → {"user": {...}}
//	POST /v1/auth/recover         Recover, body {"email"} → {}
//	POST /v1/auth/verify          Verify, body {"type", "token", "new_password"} → {"user": {...}}
//	POST /v1/auth/mfa/enroll      MfaEnroll → {"secret", "uri", "recovery_codes"}
//	POST /v1/auth/mfa/verify      MfaVerify, body {"code"} → {"session": {...}}
//	GET  /v1/auth/authorize       Authorize; ?provider=&redirect_to= → 302 to the provider
//	GET  /v1/auth/callback        Callback; ?code=&state=[&ref=] → 302 to redirect_to with the session in the URL
//	                              fragment (access_token, token_type, expires_in, expires_at, refresh_token)
//	GET  /.well-known/jwks.json   the project's JSON Web Key Set (Cache-Control: public, max-age=300)
//
// The project's key comes in the apikey header (or, when the Bearer is not
// a user's token, as `Authorization: Bearer`); the GET routes a browser is
// sent to (authorize, callback, jwks) also take a publishable key as the
// apikey query parameter; a secret key is never accepted in a URL. A
// signed-in user's access token goes in `Authorization: Bearer`. Errors are
// as on the other REST routes.
func RegisterAuth(mux *http.ServeMux, cfg AuthConfig) error {
	if cfg.Auth == nil || cfg.Service == nil || cfg.Keys == nil {
		return errors.New("rest: AuthConfig.Auth, AuthConfig.Service and AuthConfig.Keys are required")
	}
	a := &authAPI{cfg: cfg, out: &API{}, probe: http.NewServeMux()}
	routes := []struct {
		pattern  string
		queryKey bool
		fn       func(w http.ResponseWriter, r *http.Request) error
	}{
		{"POST /v1/auth/signup", false, a.signup},
		{"POST /v1/auth/token", false, a.token},
		{"POST /v1/auth/logout", false, a.logout},
		{"GET /v1/auth/user", false, a.getUser},
		{"PUT /v1/auth/user", false, a.updateUser},
		{"POST /v1/auth/recover", false, a.recover},
		{"POST /v1/auth/verify", false, a.verify},
		{"POST /v1/auth/mfa/enroll", false, a.mfaEnroll},
		{"POST /v1/auth/mfa/verify", false, a.mfaVerify},
		{"GET /v1/auth/authorize", true, a.authorize},
		{"GET /v1/auth/callback", true, a.callback},
		{"GET /.well-known/jwks.json", true, a.jwks},
	}
	for _, rt := range routes {
		mux.Handle(rt.pattern, a.wrap(rt.queryKey, rt.fn))
		a.probe.Handle(rt.pattern, http.NotFoundHandler())
	}
	mux.HandleFunc("/v1/auth/", a.unmatched)
	return nil
}

type authAPI struct {
	cfg   AuthConfig
	out   *API
	probe *http.ServeMux
}

// wrap authenticates the project's key and the user's token, records the
// client's address for throttling, and answers fn's error.
func (a *authAPI) wrap(queryKey bool, fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, err := a.authenticate(r, queryKey)
		if err == nil {
			if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
				ctx = auth.WithClientIP(ctx, host)
			}
			err = fn(w, r.WithContext(ctx))
		}
		if err != nil {
			a.out.writeError(w, r, err)
		}
	})
}

func (a *authAPI) authenticate(r *http.Request, queryKey bool) (context.Context, error) {
	ctx := r.Context()
	h := r.Header
	fromQuery := false
	if keyauth.KeyFromHeader(h) == "" && queryKey {
		if k := r.URL.Query().Get(keyauth.Header); k != "" {
			h = h.Clone()
			h.Set(keyauth.Header, k)
			fromQuery = true
		}
	}
	key := keyauth.KeyFromHeader(h)
	if key == "" && r.URL.Path == CallbackPath {
		// The provider sends the browser back without the app's key: the
		// redirect_uri names the project, and the single-use state, made
		// by Authorize with the key, is what authenticates the callback.
		if ref := r.URL.Query().Get("ref"); tenants.ValidRef(ref) {
			return keyauth.NewContext(ctx, apikeys.Identity{TenantRef: ref, Kind: apikeys.KindPublishable}), nil
		}
	}
	if key == "" {
		return ctx, rpcerr.New(connect.CodeUnauthenticated, keyauth.MissingKeyMessage)
	}
	if h.Get(keyauth.Header) == "" && auth.IsJWT(key) {
		return ctx, rpcerr.New(connect.CodeUnauthenticated, "a user's access token needs the project key beside it: send the key in the apikey header")
	}
	id, err := a.cfg.Keys.Authenticate(ctx, key)
	if err != nil {
		return ctx, keyauth.Error(ctx, err)
	}
	if fromQuery && id.Kind != apikeys.KindPublishable {
		return ctx, rpcerr.New(connect.CodeInvalidArgument, "apikey: a secret key must never travel in a URL; use the publishable key, or the apikey header")
	}
	ctx = keyauth.NewContext(ctx, id)
	return a.cfg.Service.AuthenticateUser(ctx, h)
}

func (a *authAPI) unmatched(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range probeMethods {
		p := r.Clone(r.Context())
		p.Method = m
		if _, pattern := a.probe.Handler(p); pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		a.out.writeError(w, r, &httpError{status: http.StatusNotFound, code: connect.CodeNotFound,
			msg: "no such route: " + r.URL.Path + " (the auth routes are /v1/auth/signup, token, logout, user, recover, verify, mfa/enroll, mfa/verify, authorize and callback)"})
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	a.out.writeError(w, r, &httpError{status: http.StatusMethodNotAllowed, code: connect.CodeUnimplemented,
		msg: "method " + r.Method + " is not allowed on " + r.URL.Path + "; use " + strings.Join(allow, ", ")})
}

// readOptional decodes a JSON body into msg when there is one.
func readOptional(w http.ResponseWriter, r *http.Request, msg proto.Message) error {
	if r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
		return nil
	}
	return readBody(w, r, MaxAuthBodyBytes, msg)
}

func (a *authAPI) signup(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, nil); err != nil {
		return err
	}
	req := &dataplanev1.SignUpRequest{}
	if err := readBody(w, r, MaxAuthBodyBytes, req); err != nil {
		return err
	}
	res, err := call(w, r, a.cfg.Auth.SignUp, req)
	if err != nil {
		return err
	}
	a.out.writeProto(w, r, http.StatusOK, res)
	return nil
}

// token takes JSON or, as OAuth2 clients send it, a form.
func (a *authAPI) token(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, []string{"grant_type"}); err != nil {
		return err
	}
	req := &dataplanev1.TokenRequest{}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/x-www-form-urlencoded" {
		if r.ContentLength > MaxAuthBodyBytes {
			return tooLarge(MaxAuthBodyBytes)
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxAuthBodyBytes)
		if err := r.ParseForm(); err != nil {
			if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
				return tooLarge(mbe.Limit)
			}
			return invalid("invalid form body: %v", err)
		}
		f := r.PostForm
		for name := range f {
			switch name {
			case "grant_type", "email", "username", "password", "refresh_token":
			default:
				return invalid("unknown form field %q: use grant_type, email (or username), password, refresh_token", name)
			}
		}
		req.GrantType = f.Get("grant_type")
		req.Email = cmpOr(f.Get("email"), f.Get("username"))
		req.Password = f.Get("password")
		req.RefreshToken = f.Get("refresh_token")
	} else if err := readBody(w, r, MaxAuthBodyBytes, req); err != nil {
		return err
	}
	if q := r.URL.Query().Get("grant_type"); q != "" {
		if req.GrantType != "" && req.GrantType != q {
			return invalid("grant_type is %q in the query and %q in the body; give one", q, req.GrantType)
		}
		req.GrantType = q
	}
	res, err := call(w, r, a.cfg.Auth.Token, req)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	a.out.writeProto(w, r, http.StatusOK, res)
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (a *authAPI) logout(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, []string{"scope"}); err != nil {
		return err
	}
	req := &dataplanev1.SignOutRequest{}
	if err := readOptional(w, r, req); err != nil {
		return err
	}
	if q := r.URL.Query().Get("scope"); q != "" {
		req.Scope = q
	}
	if _, err := call(w, r, a.cfg.Auth.SignOut, req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *authAPI) getUser(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, nil); err != nil {
		return err
	}
	res, err := call(w, r, a.cfg.Auth.GetUser, &dataplanev1.GetUserRequest{})
	if err != nil {
		return err
	}
	a.out.writeProto(w, r, http.StatusOK, res)
	return nil
}

func (a *authAPI) updateUser(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, nil); err != nil {
		return err
	}
	req := &dataplanev1.UpdateUserRequest{}
	if err := readBody(w, r, MaxAuthBodyBytes, req); err != nil {
		return err
	}
	res, err := call(w, r, a.cfg.Auth.UpdateUser, req)
	if err != nil {
		return err
	}
	a.out.writeProto(w, r, http.StatusOK, res)
	return nil
}

func (a *authAPI) recover(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, nil); err != nil {
		return err
	}
	req := &dataplanev1.RecoverRequest{}
	if err := readBody(w, r, MaxAuthBodyBytes, req); err != nil {
		return err
	}
	res, err := call(w, r, a.cfg.Auth.Recover, req)
	if err != nil {
		return err
	}
	a.out.writeProto(w, r, http.StatusOK, res)
	return nil
}

func (a *authAPI) verify(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, nil); err != nil {
		return err
	}
	req := &dataplanev1.VerifyRequest{}
	if err := readBody(w, r, MaxAuthBodyBytes, req); err != nil {
		return err
	}
	res, err := call(w, r, a.cfg.Auth.Verify, req)
	if err != nil {
		return err
	}
	a.out.writeProto(w, r, http.StatusOK, res)
	return nil
}

func (a *authAPI) mfaEnroll(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, nil); err != nil {
		return err
	}
	req := &dataplanev1.MfaEnrollRequest{}
	if err := readOptional(w, r, req); err != nil {
		return err
	}
	res, err := call(w, r, a.cfg.Auth.MfaEnroll, req)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	a.out.writeProto(w, r, http.StatusOK, res)
	return nil
}

func (a *authAPI) mfaVerify(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, nil); err != nil {
		return err
	}
	req := &dataplanev1.MfaVerifyRequest{}
	if err := readBody(w, r, MaxAuthBodyBytes, req); err != nil {
		return err
	}
	res, err := call(w, r, a.cfg.Auth.MfaVerify, req)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	a.out.writeProto(w, r, http.StatusOK, res)
	return nil
}

func (a *authAPI) authorize(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, []string{"provider", "redirect_to", "apikey"}); err != nil {
		return err
	}
	q := r.URL.Query()
	res, err := call(w, r, a.cfg.Auth.Authorize, &dataplanev1.AuthorizeRequest{Provider: q.Get("provider"), RedirectTo: q.Get("redirect_to")})
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, res.GetUrl(), http.StatusFound)
	return nil
}

func (a *authAPI) callback(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		// The provider refused (the user cancelled, or a misconfiguration).
		msg := "the identity provider refused the sign-in: " + e
		if d := q.Get("error_description"); d != "" {
			msg += ": " + d
		}
		return rpcerr.New(connect.CodeUnauthenticated, msg)
	}
	res, err := call(w, r, a.cfg.Auth.Callback, &dataplanev1.CallbackRequest{Code: q.Get("code"), State: q.Get("state")})
	if err != nil {
		return err
	}
	target, err := url.Parse(res.GetRedirectTo())
	if err != nil || res.GetRedirectTo() == "" {
		return fmt.Errorf("callback: unusable redirect_to %q", res.GetRedirectTo())
	}
	s := res.GetSession()
	frag := url.Values{}
	frag.Set("access_token", s.GetAccessToken())
	frag.Set("token_type", "bearer")
	exp := s.GetAccessExpiresAt().AsTime()
	frag.Set("expires_in", strconv.FormatInt(int64(time.Until(exp).Round(time.Second)/time.Second), 10))
	frag.Set("expires_at", strconv.FormatInt(exp.Unix(), 10))
	frag.Set("refresh_token", s.GetRefreshToken())
	// The fragment never reaches a server: not the app's, not a proxy's
	// logs, not a Referer.
	target.Fragment = ""
	target.RawFragment = ""
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, target.String()+"#"+frag.Encode(), http.StatusFound)
	return nil
}

func (a *authAPI) jwks(w http.ResponseWriter, r *http.Request) error {
	if err := checkQuery(r, []string{"apikey"}); err != nil {
		return err
	}
	k, ok := keyauth.FromContext(r.Context())
	if !ok {
		return rpcerr.New(connect.CodeUnauthenticated, keyauth.MissingKeyMessage)
	}
	b, err := a.cfg.Service.JWKS(r.Context(), k.TenantRef)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(JWKSMaxAge/time.Second)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}
