// Package auth signs a project's own end users in and out: email and
// password accounts, anonymous users that can later become real accounts,
// email verification and password reset by single-use mailed tokens,
// sessions with short access tokens and rotating refresh tokens, MFA and
// OAuth sign-in (through the MFA and OAuth implementations it is given),
// and the administration of all of that with the project's secret key.
//
// # Storage
//
// Everything lives in the tenant's own schema, in tables whose names start
// with "_auth_" (a leading "_" is reserved for the platform): _auth_users,
// _auth_identities, _auth_sessions, _auth_refresh_tokens, _auth_mail_tokens,
// _auth_mail (the dev mailbox) and _auth_keys. They are created on the
// tenant's first auth call under a per-tenant advisory lock, owned by the
// tenant role, with row-level security forced and one policy that admits
// only the service role; all of this package's SQL runs as the service
// role. Passwords are argon2id hashes (internal/passwords); refresh and mail
// tokens (internal/token) are stored as SHA-256.
//
// # Tokens
//
// An access token is a JWT signed with EdDSA (Ed25519) by the project's
// current signing key, named by the header's kid. Its claims: iss
// "sovereign:<ref>", aud "<ref>", sub (user id), role (the user's
// tenant-defined role or "authenticated"), aal ("aal1" or "aal2"), sid
// (session id), email, is_anonymous, iat, nbf, exp (AccessTTL, 30 minutes).
// Signing keys are made on first use; the private key is stored encrypted
// (AES-256-GCM under a key derived with HKDF-SHA256 from Config.KeySecret,
// bound to the tenant and kid). RotateSigningKey makes a new key current and
// keeps the old public key published (JWKS) and accepted until the tokens it
// signed have expired (AccessTTL + Leeway), so nobody is signed out.
//
// Verification accepts only EdDSA with a kid of one of the project's
// published keys; a header that carries jku, jwk, x5u, x5c or crit is
// refused outright. iss and aud must match exactly, exp is required, and
// exp, nbf and iat are checked with Leeway (30 s). The token's session must
// still be live and its user enabled: checked on every request against a
// per-node cache that revocations clear on every node (over the broker) and
// that is only used while that invalidation feed is live, so signing out,
// "sign out everywhere" and disabling a user bite at once. The same read
// gives the user's role as it is now: what access rules see as auth.role
// follows AuthAdminService.UpdateUser at once, while the token's role claim
// (in auth.claims) stays as issued until the next refresh.
//
// A session is one sign-in: it holds a family of refresh tokens. A refresh
// token is opaque, single use and valid RefreshTTL (7 days), never past the
// session's absolute lifetime (SessionLifetime, 30 days). Refreshing marks
// the token rotated and adds one child to the family. Presenting a rotated
// token again within RefreshGrace (10 s) of its rotation answers the same
// child (its refresh token kept encrypted for that purpose), which is what a
// client that lost the answer to a network error, or that refreshed from
// two tabs at once, needs; later, it revokes the whole session: every
// refresh token of the family and every access token of the session. A
// row lock makes concurrent refreshes of one token yield one child.
//
// # Abuse
//
// Sign-in, sign-up and anonymous sign-in are throttled per project and
// client IP and (with an email) per project and account, with GCRA
// (internal/ratelimit: Valkey, or in process). An unknown email costs the
// same argon2id verification as a wrong password and gets the same answer;
// Recover answers the same whether the address has an account or not.
// Hashing is bounded by a semaphore, so a flood of sign-ins queues instead
// of exhausting the server.
package auth

import (
	"cmp"
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/netip"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/broker"
	"github.com/sovereign-backend/sovereign/internal/passwords"
	"github.com/sovereign-backend/sovereign/internal/ratelimit"
	"github.com/sovereign-backend/sovereign/internal/token"
)

// Defaults of Config.
const (
	DefaultAccessTTL       = 30 * time.Minute
	DefaultRefreshTTL      = 7 * 24 * time.Hour
	DefaultSessionLifetime = 30 * 24 * time.Hour
	DefaultRefreshGrace    = 10 * time.Second
	DefaultLeeway          = 30 * time.Second
	DefaultVerifyTTL       = 24 * time.Hour
	DefaultRecoveryTTL     = time.Hour
	DefaultSessionCacheTTL = 30 * time.Second
	DefaultKeyCacheTTL     = time.Minute
	DefaultChannel         = "dataplane.auth.invalidate"
	DefaultMFAIssuer       = "Sovereign"
)

// Config configures New.
type Config struct {
	// DB runs the tenants' transactions. Required.
	DB *tenantdb.DB
	// Broker carries cache invalidations (revoked sessions, rotated keys)
	// between the region's nodes. Required.
	Broker broker.Broker
	// KeySecret is the data plane's secret from which the key that encrypts
	// the tenants' private signing keys (and refresh tokens kept for the
	// grace window) is derived with HKDF-SHA256. At least 32 bytes; every
	// node of the region must have the same, and changing it makes existing
	// signing keys unreadable. Required.
	KeySecret []byte
	// Mailer delivers verification and reset mails. Default: the tenant's
	// dev mailbox, the _auth_mail table (TableMailbox).
	Mailer Mailer
	// Limiter throttles sign-ins, sign-ups and mails. Default an in-process
	// ratelimit.Memory (one node); give a ratelimit.Valkey when several
	// nodes serve the region.
	Limiter ratelimit.Limiter
	// MFA implements TOTP factors. Nil: MfaEnroll and MfaVerify answer
	// FailedPrecondition.
	MFA MFA
	// OAuth implements OIDC sign-in and the provider settings. Nil:
	// Authorize, Callback and the provider calls answer FailedPrecondition.
	OAuth OAuth
	// MFAIssuer names the service in authenticator apps. Default
	// "Sovereign".
	MFAIssuer string
	// Logger for warnings (mail not sent, limiter down, refresh reuse).
	// Never receives a secret. Default slog.Default().
	Logger *slog.Logger

	// Argon2 are the cost parameters of new password hashes. Default
	// passwords.Default (OWASP: 19 MiB, 2 passes, 1 thread).
	Argon2 passwords.Params
	// HashConcurrency bounds how many password hashes run at once; others
	// wait as long as their context allows. Default 2×GOMAXPROCS.
	HashConcurrency int

	// AccessTTL is an access token's lifetime. Default 30 minutes.
	AccessTTL time.Duration
	// RefreshTTL is a refresh token's lifetime. Default 7 days.
	RefreshTTL time.Duration
	// SessionLifetime is a session's absolute lifetime, however often it is
	// refreshed. Default 30 days.
	SessionLifetime time.Duration
	// RefreshGrace is how long after its rotation a refresh token may be
	// presented again and answer the same new session; after it, presenting
	// it revokes the session. Default 10 s; negative means no grace.
	RefreshGrace time.Duration
	// Leeway is the clock skew allowed when checking an access token's exp,
	// nbf and iat. Default 30 s.
	Leeway time.Duration
	// VerifyTTL is an email verification token's lifetime. Default 24 h.
	VerifyTTL time.Duration
	// RecoveryTTL is a password reset token's lifetime. Default 1 h.
	RecoveryTTL time.Duration
	// SessionCacheTTL is how long a node trusts what it read about a
	// session (live, user enabled, role) while the invalidation feed is
	// live: the bound on staleness should an invalidation be lost. Default
	// 30 s; negative disables the cache (one query per request with a user).
	SessionCacheTTL time.Duration
	// KeyCacheTTL is how long a node keeps a project's signing keys before
	// reading them again; rotations also clear it on every node. Default 1
	// minute.
	KeyCacheTTL time.Duration
	// Channel is the broker channel of invalidations; every node of a
	// region must use the same. Default DefaultChannel.
	Channel string

	// SignInPerEmail throttles password sign-ins per project and email,
	// whether or not it has an account. Default 10 per minute, burst 10.
	SignInPerEmail ratelimit.Limit
	// SignInPerIP throttles sign-ins (password, anonymous, MFA) per project
	// and client IP (IPv6 per /64). Default 60 per minute, burst 60.
	SignInPerIP ratelimit.Limit
	// SignUpPerIP throttles sign-ups (and anonymous sign-ins, which make a
	// user) per project and client IP. Default 30 per hour, burst 10.
	SignUpPerIP ratelimit.Limit
	// SignUpPerEmail throttles sign-ups per project and email. Default 5
	// per hour, burst 5.
	SignUpPerEmail ratelimit.Limit
	// MailPerAddress throttles verification and reset mails per project and
	// address. Default 5 per hour, burst 5.
	MailPerAddress ratelimit.Limit

	// Now is the clock. Default time.Now; tests move a fake one. Every
	// expiry (tokens, sessions, grace) is decided by it, not by the
	// database's clock.
	Now func() time.Time
}

// Service is the auth service of a data plane node. It is safe for
// concurrent use. Start Run in a goroutine to enable the session cache.
type Service struct {
	cfg    Config
	db     *tenantdb.DB
	hasher *passwords.Hasher
	log    *slog.Logger
	// dummyHash is verified against when a sign-in names no user, so that an
	// unknown email costs the same as a wrong password.
	dummyHash string
	// keyAEAD and graceAEAD key material, derived from KeySecret.
	keyKey, graceKey []byte
	tables           *tableSet
	keys             *keyCache
	sessions         *sessionCache
	origin           string
}

// New checks cfg, fills its defaults and returns the service.
func New(cfg Config) (*Service, error) {
	if cfg.DB == nil {
		return nil, errors.New("auth: Config.DB is required")
	}
	if cfg.Broker == nil {
		return nil, errors.New("auth: Config.Broker is required")
	}
	if len(cfg.KeySecret) < 32 {
		return nil, errors.New("auth: Config.KeySecret must be at least 32 bytes")
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	if cfg.Limiter == nil {
		cfg.Limiter = ratelimit.NewMemory(ratelimit.MemoryConfig{})
	}
	cfg.MFAIssuer = cmp.Or(cfg.MFAIssuer, DefaultMFAIssuer)
	cfg.Argon2 = cmp.Or(cfg.Argon2, passwords.Default)
	cfg.HashConcurrency = cmp.Or(cfg.HashConcurrency, 2*runtime.GOMAXPROCS(0))
	cfg.AccessTTL = cmp.Or(cfg.AccessTTL, DefaultAccessTTL)
	cfg.RefreshTTL = cmp.Or(cfg.RefreshTTL, DefaultRefreshTTL)
	cfg.SessionLifetime = cmp.Or(cfg.SessionLifetime, DefaultSessionLifetime)
	cfg.RefreshGrace = cmp.Or(cfg.RefreshGrace, DefaultRefreshGrace)
	cfg.Leeway = cmp.Or(cfg.Leeway, DefaultLeeway)
	cfg.VerifyTTL = cmp.Or(cfg.VerifyTTL, DefaultVerifyTTL)
	cfg.RecoveryTTL = cmp.Or(cfg.RecoveryTTL, DefaultRecoveryTTL)
	cfg.SessionCacheTTL = cmp.Or(cfg.SessionCacheTTL, DefaultSessionCacheTTL)
	cfg.KeyCacheTTL = cmp.Or(cfg.KeyCacheTTL, DefaultKeyCacheTTL)
	cfg.Channel = cmp.Or(cfg.Channel, DefaultChannel)
	cfg.SignInPerEmail = cmp.Or(cfg.SignInPerEmail, ratelimit.Limit{Rate: 10, Per: time.Minute, Burst: 10})
	cfg.SignInPerIP = cmp.Or(cfg.SignInPerIP, ratelimit.Limit{Rate: 60, Per: time.Minute, Burst: 60})
	cfg.SignUpPerIP = cmp.Or(cfg.SignUpPerIP, ratelimit.Limit{Rate: 30, Per: time.Hour, Burst: 10})
	cfg.SignUpPerEmail = cmp.Or(cfg.SignUpPerEmail, ratelimit.Limit{Rate: 5, Per: time.Hour, Burst: 5})
	cfg.MailPerAddress = cmp.Or(cfg.MailPerAddress, ratelimit.Limit{Rate: 5, Per: time.Hour, Burst: 5})
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	for name, l := range map[string]ratelimit.Limit{
		"SignInPerEmail": cfg.SignInPerEmail, "SignInPerIP": cfg.SignInPerIP, "SignUpPerIP": cfg.SignUpPerIP,
		"SignUpPerEmail": cfg.SignUpPerEmail, "MailPerAddress": cfg.MailPerAddress,
	} {
		if err := l.Validate(); err != nil {
			return nil, fmt.Errorf("auth: %s: %w", name, err)
		}
	}
	if err := cfg.Argon2.Validate(); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	for name, d := range map[string]time.Duration{
		"AccessTTL": cfg.AccessTTL, "RefreshTTL": cfg.RefreshTTL, "SessionLifetime": cfg.SessionLifetime,
		"Leeway": cfg.Leeway, "VerifyTTL": cfg.VerifyTTL, "RecoveryTTL": cfg.RecoveryTTL, "KeyCacheTTL": cfg.KeyCacheTTL,
	} {
		if d < 0 {
			return nil, fmt.Errorf("auth: %s must not be negative", name)
		}
	}
	s := &Service{
		cfg:      cfg,
		db:       cfg.DB,
		hasher:   passwords.NewHasher(cfg.Argon2, cfg.HashConcurrency),
		log:      cfg.Logger,
		keyKey:   derive(cfg.KeySecret, "sovereign dataplane auth: signing keys v1"),
		graceKey: derive(cfg.KeySecret, "sovereign dataplane auth: refresh grace v1"),
		tables:   newTableSet(),
		keys:     newKeyCache(),
		sessions: newSessionCache(cfg.SessionCacheTTL),
		origin:   rand.Text(),
	}
	if cfg.Mailer == nil {
		s.cfg.Mailer = &TableMailbox{DB: cfg.DB, Logger: cfg.Logger}
	}
	dummy, err := s.hasher.Hash(context.Background(), token.New(token.MailToken))
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	s.dummyHash = dummy
	return s, nil
}

func derive(secret []byte, info string) []byte {
	k, err := hkdf.Key(sha256.New, secret, nil, info, 32)
	if err != nil {
		// Only a length over 255×32 bytes fails.
		panic("auth: hkdf: " + err.Error())
	}
	return k
}

func (s *Service) now() time.Time { return s.cfg.Now() }

// service is the identity all of this package's SQL runs as.
func service(ref string) tenantdb.Identity {
	return tenantdb.Identity{TenantRef: ref, Role: tenantdb.RoleService}
}

// Issuer is the iss claim of ref's access tokens.
func Issuer(ref string) string { return "sovereign:" + ref }

// User is one of a project's end users.
type User struct {
	ID string
	// Email is lowercased; empty for an anonymous user.
	Email         string
	EmailVerified bool
	Anonymous     bool
	// Role is the tenant-defined role, or "authenticated".
	Role         string
	MFAEnabled   bool
	Disabled     bool
	CreatedAt    time.Time
	LastSignInAt time.Time
	// Providers linked to the user: "email", "anonymous", OAuth providers.
	Providers []string
}

// Session is what a sign-in or refresh gives; the tokens are secrets given
// to the caller once.
type Session struct {
	AccessToken      string
	AccessExpiresAt  time.Time
	RefreshToken     string
	RefreshExpiresAt time.Time
	// AAL is "aal1", or "aal2" after MFA.
	AAL  string
	User User
	// ID is the session's id (the access token's sid).
	ID string
}

// Authenticator assurance levels.
const (
	AAL1 = "aal1"
	AAL2 = "aal2"
)

// Errors the handlers map to codes.
var (
	// ErrEmailTaken: another user has the email.
	ErrEmailTaken = errors.New("a user with this email already exists")
	// ErrWrongCredentials is the one answer for an unknown email and a
	// wrong password.
	ErrWrongCredentials = errors.New("invalid email or password")
	// ErrUserDisabled: the user was disabled by the project.
	ErrUserDisabled = errors.New("this user is disabled")
	// ErrRefreshReuse: a rotated refresh token came back after the grace
	// window; its session is over.
	ErrRefreshReuse = errors.New("refresh token already used: the session was signed out for safety; sign in again")
	// ErrNotFound: no such user (or provider).
	ErrNotFound = errors.New("not found")
	// ErrMFAUnavailable: no MFA implementation is configured.
	ErrMFAUnavailable = errors.New("multi-factor authentication is not available on this server")
	// ErrOAuthUnavailable: no OAuth implementation is configured.
	ErrOAuthUnavailable = errors.New("OAuth sign-in is not available on this server")
	// ErrMFARequired: the user has MFA and the call needs an aal2 session.
	ErrMFARequired = errors.New("this user has multi-factor authentication: verify a code with MfaVerify first (aal2 needed)")
	// ErrThrottled may be wrapped by an MFA or OAuth implementation's error
	// to say the caller must wait; a *ThrottledError says how long.
	ErrThrottled = errors.New("too many attempts")
)

// InputError is a request field that is not acceptable. MFA and OAuth
// implementations may return it too.
type InputError struct {
	Field  string
	Reason string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Reason }

// CredentialError is a token (access, refresh, mail, OAuth state) that does
// not authenticate; Reason says why, e.g. "token expired".
type CredentialError struct{ Reason string }

func (e *CredentialError) Error() string { return e.Reason }

func credErr(reason string) error { return &CredentialError{Reason: reason} }

// ThrottledError says a caller went over a rate limit. Its message is the
// same whichever key (account or IP) tripped.
type ThrottledError struct {
	// What was throttled, e.g. "sign-in attempts".
	What       string
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	secs := int64((e.RetryAfter + time.Second - 1) / time.Second)
	return fmt.Sprintf("too many %s; try again in %ds", e.What, max(secs, 1))
}

// Is makes a ThrottledError match ErrThrottled.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// normalizeEmail validates a bare email address and lowercases it.
func normalizeEmail(raw string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(raw))
	if e == "" {
		return "", &InputError{Field: "email", Reason: "required"}
	}
	if len(e) > 254 {
		return "", &InputError{Field: "email", Reason: "too long: at most 254 characters"}
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Name != "" || a.Address != e {
		return "", &InputError{Field: "email", Reason: "not a valid email address (write it as name@example.com)"}
	}
	return e, nil
}

func checkPassword(password, email string) error {
	var we *passwords.WeakError
	if err := passwords.Check(password, email); errors.As(err, &we) {
		return &InputError{Field: "password", Reason: we.Error()}
	}
	return nil
}

// clientKey is the rate-limit key of a client IP: the address, or its /64
// for IPv6, where one host commonly holds a whole /64.
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "unknown"
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// emailKey keeps addresses out of the limiter's store.
func emailKey(email string) string { return token.Hash(email)[:32] }

type limitCheck struct {
	key   string
	limit ratelimit.Limit
}

// throttle counts a request against each key and fails with ThrottledError
// when any is over its limit. A limiter that fails (Valkey down) lets the
// request through with a warning: locking every user out is worse than a
// short window without throttling, and argon2's cost and the hashing
// semaphore still bound guessing.
func (s *Service) throttle(ctx context.Context, ref, what string, checks ...limitCheck) error {
	for _, c := range checks {
		r, err := s.cfg.Limiter.Allow(ctx, "auth:"+ref+":"+c.key, c.limit)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.log.WarnContext(ctx, "auth: rate limiter unavailable; request not throttled", "tenant", ref, "what", what, "err", err.Error())
			continue
		}
		if !r.Allowed {
			return &ThrottledError{What: what, RetryAfter: r.RetryAfter}
		}
	}
	return nil
}

// reservedRoles are roles a user cannot be given.
var reservedRoles = map[string]bool{tenantdb.RoleAnon: true, tenantdb.RoleService: true}

var rolePattern = regexp.MustCompile(`^[a-z0-9_-]{1,63}$`)

// checkRole validates a tenant-defined role; "" means "authenticated".
func checkRole(role string) (string, error) {
	if role == "" || role == tenantdb.RoleAuthenticated {
		return "", nil
	}
	if !rolePattern.MatchString(role) {
		return "", &InputError{Field: "role", Reason: fmt.Sprintf("%q is not a valid role: use lowercase letters, digits, _ and -, at most 63 characters", role)}
	}
	if reservedRoles[role] {
		return "", &InputError{Field: "role", Reason: fmt.Sprintf("%q is reserved: a user's role cannot be anon or service", role)}
	}
	return role, nil
}
