// Package accounts is the control plane's account service: the developers
// who buy the service sign up, log in, keep sessions alive with rotating
// refresh tokens, verify their email, reset their password and make personal
// access tokens for the CLI and CI.
//
// Secrets handled here are never stored: passwords as argon2id hashes,
// tokens (internal/token) as SHA-256. The domain (this file, password.go,
// store.go) knows no transport; handler.go maps it to Connect.
//
// Sessions. Login starts a family: one session with an access token
// (sov_at_, AccessTTL) and a refresh token (sov_rt_, RefreshTTL). Refresh
// marks the session rotated and adds a child session to the family; the old
// refresh token stops working, and the old access token lives until its own
// short expiry. A rotated session's refresh token presented again means it
// was copied: every session of the family is revoked. Logout revokes the
// caller's family too (the whole login, including access tokens issued
// before its last refresh). ResetPassword revokes every session of the
// account but keeps its personal access tokens: a reset usually follows a
// forgotten password, not a leak, and breaking every CI job with it would
// push users to avoid resets; RevokeToken ends a leaked token.
package accounts

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/netip"
	"runtime"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sovereign-backend/sovereign/controlplane/authn"
	cpmail "github.com/sovereign-backend/sovereign/controlplane/mail"
	"github.com/sovereign-backend/sovereign/internal/ratelimit"
	"github.com/sovereign-backend/sovereign/internal/token"
)

// Config configures New.
type Config struct {
	// Pool is the control plane's database, migrated (controlplane/migrations).
	// Required.
	Pool *pgxpool.Pool
	// Mailer sends verification and reset mails. Required.
	Mailer cpmail.Mailer
	// Limiter throttles login, signup and mail requests. Default: an
	// in-process ratelimit.Memory (right for one node; give a
	// ratelimit.Valkey when several nodes serve the control plane).
	Limiter ratelimit.Limiter
	// Logger for warnings (mail not sent, limiter down). Never receives a
	// secret. Default slog.Default().
	Logger *slog.Logger
	// AppURL is the base URL of the web console, used for links in mails
	// (<AppURL>/verify-email?token=…, <AppURL>/reset-password?token=…).
	// Empty: mails carry the token alone.
	AppURL string

	// Argon2 are the cost parameters for new password hashes. Default
	// DefaultArgon2 (OWASP: 19 MiB, 2 passes, 1 thread).
	Argon2 Argon2Params
	// HashConcurrency bounds how many password hashes run at once; others
	// wait (as long as their context allows). Default 2×GOMAXPROCS.
	HashConcurrency int

	// AccessTTL is an access token's lifetime. Default 15 minutes.
	AccessTTL time.Duration
	// RefreshTTL is a refresh token's lifetime, renewed by each refresh.
	// Default 30 days.
	RefreshTTL time.Duration
	// VerifyTTL is an email verification token's lifetime. Default 24 hours.
	VerifyTTL time.Duration
	// ResetTTL is a password reset token's lifetime. Default 1 hour.
	ResetTTL time.Duration
	// MaxTokenTTL is the longest lifetime a personal access token may ask
	// for (tokens may also never expire). Default 365 days.
	MaxTokenTTL time.Duration
	// TouchEvery is how stale a personal access token's last_used_at must
	// be before a use rewrites it, to spare a write per request. Default 1
	// minute.
	TouchEvery time.Duration

	// LoginPerEmail throttles logins per email address, whether or not it
	// has an account. Default 10 per minute, burst 10.
	LoginPerEmail ratelimit.Limit
	// LoginPerIP throttles logins per client IP (IPv6 per /64). Default 50
	// per minute, burst 50.
	LoginPerIP ratelimit.Limit
	// SignupPerIP throttles signups per client IP. Default 20 per hour,
	// burst 10.
	SignupPerIP ratelimit.Limit
	// MailPerAddress throttles verification and reset mails per address.
	// Default 5 per hour, burst 5.
	MailPerAddress ratelimit.Limit

	// Now is the clock. Default time.Now; tests move a fake one.
	Now func() time.Time
}

// Service is the account service. It is safe for concurrent use.
type Service struct {
	cfg    Config
	store  *store
	hasher *hasher
	log    *slog.Logger
	// dummyHash is verified against when a login names no account, so that
	// an unknown email costs the same time as a wrong password.
	dummyHash string
}

// New checks cfg, fills its defaults and returns the service.
func New(cfg Config) (*Service, error) {
	if cfg.Pool == nil {
		return nil, errors.New("accounts: a database pool is required")
	}
	if cfg.Mailer == nil {
		return nil, errors.New("accounts: a mailer is required")
	}
	if cfg.Limiter == nil {
		cfg.Limiter = ratelimit.NewMemory(ratelimit.MemoryConfig{})
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.AppURL = strings.TrimRight(cfg.AppURL, "/")
	cfg.Argon2 = cmp.Or(cfg.Argon2, DefaultArgon2)
	cfg.HashConcurrency = cmp.Or(cfg.HashConcurrency, 2*runtime.GOMAXPROCS(0))
	cfg.AccessTTL = cmp.Or(cfg.AccessTTL, 15*time.Minute)
	cfg.RefreshTTL = cmp.Or(cfg.RefreshTTL, 30*24*time.Hour)
	cfg.VerifyTTL = cmp.Or(cfg.VerifyTTL, 24*time.Hour)
	cfg.ResetTTL = cmp.Or(cfg.ResetTTL, time.Hour)
	cfg.MaxTokenTTL = cmp.Or(cfg.MaxTokenTTL, 365*24*time.Hour)
	cfg.TouchEvery = cmp.Or(cfg.TouchEvery, time.Minute)
	cfg.LoginPerEmail = cmp.Or(cfg.LoginPerEmail, ratelimit.Limit{Rate: 10, Per: time.Minute, Burst: 10})
	cfg.LoginPerIP = cmp.Or(cfg.LoginPerIP, ratelimit.Limit{Rate: 50, Per: time.Minute, Burst: 50})
	cfg.SignupPerIP = cmp.Or(cfg.SignupPerIP, ratelimit.Limit{Rate: 20, Per: time.Hour, Burst: 10})
	cfg.MailPerAddress = cmp.Or(cfg.MailPerAddress, ratelimit.Limit{Rate: 5, Per: time.Hour, Burst: 5})
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	for name, l := range map[string]ratelimit.Limit{
		"LoginPerEmail": cfg.LoginPerEmail, "LoginPerIP": cfg.LoginPerIP,
		"SignupPerIP": cfg.SignupPerIP, "MailPerAddress": cfg.MailPerAddress,
	} {
		if err := l.Validate(); err != nil {
			return nil, fmt.Errorf("accounts: %s: %w", name, err)
		}
	}
	if cfg.Argon2.Memory < 8 || cfg.Argon2.Time < 1 || cfg.Argon2.Threads < 1 {
		return nil, fmt.Errorf("accounts: invalid argon2 parameters %+v", cfg.Argon2)
	}
	s := &Service{
		cfg:    cfg,
		store:  newStore(cfg.Pool),
		hasher: newHasher(cfg.Argon2, cfg.HashConcurrency),
		log:    cfg.Logger,
	}
	dummy, err := s.hasher.Hash(context.Background(), token.New(token.MailToken))
	if err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	s.dummyHash = dummy
	return s, nil
}

// Account is a developer's account.
type Account struct {
	// ID is a UUID.
	ID string
	// Email is lowercased.
	Email         string
	EmailVerified bool
	CreatedAt     time.Time
}

// Session is what a login or refresh gives. The tokens are secrets, given
// to the caller once.
type Session struct {
	AccessToken      string
	AccessExpiresAt  time.Time
	RefreshToken     string
	RefreshExpiresAt time.Time
	Account          Account
}

// PersonalAccessToken describes a token; never its secret.
type PersonalAccessToken struct {
	ID string
	// Name is unique among the account's live tokens.
	Name string
	// Prefix is the token's first characters (sov_pat_XXXX).
	Prefix    string
	CreatedAt time.Time
	// ExpiresAt is zero when the token does not expire.
	ExpiresAt time.Time
	// LastUsedAt is zero when the token was never used; it is updated at
	// most once per Config.TouchEvery.
	LastUsedAt time.Time
	// RevokedAt is zero while the token is not revoked.
	RevokedAt time.Time
}

// Errors the handler maps to codes. Credential problems (malformed, unknown,
// expired, revoked or used tokens) are *authn.CredentialError.
var (
	// ErrEmailTaken: the email already has an account.
	ErrEmailTaken = errors.New("an account with this email already exists")
	// ErrWrongCredentials is the one answer for an unknown email and a
	// wrong password.
	ErrWrongCredentials = errors.New("email or password is wrong")
	// ErrRefreshReuse: a refresh token was used twice; its login is over.
	ErrRefreshReuse = errors.New("refresh token reuse detected; all sessions of this login were signed out")
	// ErrTokenNotFound: the caller has no personal access token with that id.
	ErrTokenNotFound = errors.New("personal access token not found")
	// ErrTokenNameTaken: a live token of the caller has that name.
	ErrTokenNameTaken = errors.New("name: a live personal access token with this name exists; revoke it or choose another name")
	// ErrAlreadyVerified: the caller's email is verified already.
	ErrAlreadyVerified = errors.New("the email address is already verified")
	// ErrNotSession: the call needs a session, and the caller used a
	// personal access token.
	ErrNotSession = errors.New("logout ends a session, and this call was made with a personal access token; revoke the token with RevokeToken instead")
	// ErrMailNotSent: the mail could not be handed to the mail server.
	ErrMailNotSent = errors.New("the mail could not be sent; try again later")
)

// InputError is a request field that is not acceptable.
type InputError struct {
	Field  string
	Reason string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Reason }

// ThrottledError says a caller went over a rate limit. Its message is the
// same whichever key (account or IP) tripped, so it reveals nothing about
// whether an account exists.
type ThrottledError struct {
	// What was throttled, e.g. "login attempts".
	What       string
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	secs := int64((e.RetryAfter + time.Second - 1) / time.Second)
	return fmt.Sprintf("too many %s; try again in %ds", e.What, max(secs, 1))
}

func credErr(reason string) error { return &authn.CredentialError{Reason: reason} }

// Credential reasons.
const (
	reasonMalformed   = "malformed token"
	reasonUnknown     = "token not recognised"
	reasonExpired     = "token expired"
	reasonRevoked     = "token revoked"
	reasonUsed        = "token already used"
	reasonRefreshKind = "a refresh token is not a credential: exchange it with Refresh for an access token"
	reasonKeyKind     = "a project API key does not work on the control plane: send an access token (sov_at_…) or a personal access token (sov_pat_…)"
)

func (s *Service) now() time.Time { return s.cfg.Now() }

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

// clientKey is the rate-limit key for a client IP: the address, or its /64
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

// throttle counts a request against each key and fails with ThrottledError
// when any is over its limit. A limiter that fails (Valkey down) lets the
// request through with a warning: locking every developer out is worse than
// a short window without throttling, and argon2's cost and the hashing
// semaphore still bound guessing.
func (s *Service) throttle(ctx context.Context, what string, checks ...limitCheck) error {
	for _, c := range checks {
		r, err := s.cfg.Limiter.Allow(ctx, c.key, c.limit)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.log.WarnContext(ctx, "rate limiter unavailable; request not throttled", "what", what, "err", err.Error())
			continue
		}
		if !r.Allowed {
			return &ThrottledError{What: what, RetryAfter: r.RetryAfter}
		}
	}
	return nil
}

type limitCheck struct {
	key   string
	limit ratelimit.Limit
}

// SignupParams is a signup request.
type SignupParams struct {
	Email    string
	Password string
	// ClientIP is the caller's address, for throttling.
	ClientIP string
}

// Signup creates an account, signs it in and mails a verification token.
// Nothing is written when it fails. A mail that cannot be sent does not fail
// the signup (RequestEmailVerification sends another).
func (s *Service) Signup(ctx context.Context, p SignupParams) (Session, error) {
	email, err := normalizeEmail(p.Email)
	if err != nil {
		return Session{}, err
	}
	if err := checkPassword(p.Password, email); err != nil {
		return Session{}, err
	}
	if err := s.throttle(ctx, "signups", limitCheck{"signup:ip:" + clientKey(p.ClientIP), s.cfg.SignupPerIP}); err != nil {
		return Session{}, err
	}
	hash, err := s.hasher.Hash(ctx, p.Password)
	if err != nil {
		return Session{}, fmt.Errorf("signup: %w", err)
	}
	now := s.now()
	verifyToken := token.New(token.MailToken)
	var sess Session
	err = s.store.inTx(ctx, func(tx *store) error {
		a, err := tx.AccountInsert(ctx, accountInsertParams{Email: email, PasswordHash: hash, Now: now})
		if err != nil {
			return err
		}
		if sess, _, err = tx.newSession(ctx, a.Account, "", "", now, s.cfg); err != nil {
			return err
		}
		return tx.MailTokenInsert(ctx, mailTokenInsertParams{
			Hash: token.Hash(verifyToken), Purpose: purposeVerifyEmail, AccountID: a.ID, Email: email,
			ExpiresAt: now.Add(s.cfg.VerifyTTL), Now: now,
		})
	})
	if err != nil {
		if errors.Is(err, ErrEmailTaken) {
			return Session{}, err
		}
		return Session{}, fmt.Errorf("signup: %w", err)
	}
	if err := s.cfg.Mailer.Send(ctx, s.verificationMail(email, verifyToken)); err != nil {
		s.log.WarnContext(ctx, "verification mail not sent", "account_id", sess.Account.ID, "err", err.Error())
	}
	return sess, nil
}

// newSession records a session for a (starting a family when familyID is
// empty) and returns it with its id.
func (s *store) newSession(ctx context.Context, a Account, familyID, parentID string, now time.Time, cfg Config) (Session, string, error) {
	sess := Session{
		AccessToken:      token.New(token.AccessToken),
		AccessExpiresAt:  now.Add(cfg.AccessTTL),
		RefreshToken:     token.New(token.RefreshToken),
		RefreshExpiresAt: now.Add(cfg.RefreshTTL),
		Account:          a,
	}
	id, err := s.SessionInsert(ctx, sessionInsertParams{
		AccountID: a.ID, FamilyID: familyID, ParentID: parentID,
		AccessHash: token.Hash(sess.AccessToken), AccessExpiresAt: sess.AccessExpiresAt,
		RefreshHash: token.Hash(sess.RefreshToken), RefreshExpiresAt: sess.RefreshExpiresAt,
		Now: now,
	})
	return sess, id, err
}

// LoginParams is a login request.
type LoginParams struct {
	Email    string
	Password string
	// ClientIP is the caller's address, for throttling.
	ClientIP string
}

// Login exchanges email and password for a new session (a new family). An
// unknown email and a wrong password both give ErrWrongCredentials after the
// same work (one argon2id verification).
func (s *Service) Login(ctx context.Context, p LoginParams) (Session, error) {
	email := strings.ToLower(strings.TrimSpace(p.Email))
	if err := s.throttle(ctx, "login attempts",
		limitCheck{"login:ip:" + clientKey(p.ClientIP), s.cfg.LoginPerIP},
		limitCheck{"login:email:" + emailKey(email), s.cfg.LoginPerEmail},
	); err != nil {
		return Session{}, err
	}
	if utf8.RuneCountInString(p.Password) > maxPasswordLen {
		return Session{}, ErrWrongCredentials
	}
	a, err := s.store.AccountGetByEmail(ctx, email)
	found := err == nil
	if err != nil && !errors.Is(err, errNoRows) {
		return Session{}, fmt.Errorf("login: %w", err)
	}
	hash := s.dummyHash
	if found {
		hash = a.PasswordHash
	}
	ok, err := s.hasher.Verify(ctx, p.Password, hash)
	if err != nil {
		return Session{}, fmt.Errorf("login: %w", err)
	}
	if !found || !ok {
		return Session{}, ErrWrongCredentials
	}
	sess, _, err := s.store.newSession(ctx, a.Account, "", "", s.now(), s.cfg)
	if err != nil {
		return Session{}, fmt.Errorf("login: %w", err)
	}
	return sess, nil
}

// Refresh exchanges a refresh token for a new session of the same family.
// A refresh token presented a second time revokes the family and gives
// ErrRefreshReuse.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (Session, error) {
	if token.Check(refreshToken, token.RefreshToken) != nil {
		return Session{}, credErr(reasonMalformed)
	}
	now := s.now()
	var (
		sess      Session
		reuse     bool
		accountID string
	)
	err := s.store.inTx(ctx, func(tx *store) error {
		row, err := tx.SessionLockByRefreshHash(ctx, token.Hash(refreshToken))
		switch {
		case errors.Is(err, errNoRows):
			return credErr(reasonUnknown)
		case err != nil:
			return err
		case row.RevokedAt != nil:
			return credErr(reasonRevoked)
		case row.RotatedAt != nil:
			// Committed, unlike an error, so the revocation stands.
			reuse, accountID = true, row.Account.ID
			_, err := tx.SessionRevoke(ctx, sessionRevokeParams{FamilyID: row.FamilyID, Reason: "refresh_reuse", Now: now})
			return err
		case !row.RefreshExpiresAt.After(now):
			return credErr(reasonExpired)
		}
		if err := tx.SessionMarkRotated(ctx, row.ID, now); err != nil {
			return err
		}
		sess, _, err = tx.newSession(ctx, row.Account, row.FamilyID, row.ID, now, s.cfg)
		return err
	})
	var ce *authn.CredentialError
	switch {
	case errors.As(err, &ce):
		return Session{}, err
	case err != nil:
		return Session{}, fmt.Errorf("refresh: %w", err)
	case reuse:
		s.log.WarnContext(ctx, "refresh token reused; login signed out", "account_id", accountID)
		return Session{}, ErrRefreshReuse
	}
	return sess, nil
}

// Logout revokes the caller's login: the session behind its access token and
// every other session of the same family.
func (s *Service) Logout(ctx context.Context, p authn.Principal) error {
	if p.Credential != authn.CredentialSession || p.SessionID == "" {
		return ErrNotSession
	}
	if _, err := s.store.SessionRevoke(ctx, sessionRevokeParams{SessionID: p.SessionID, Reason: "logout", Now: s.now()}); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// WhoAmI returns the caller's account as it is now.
func (s *Service) WhoAmI(ctx context.Context, p authn.Principal) (Account, error) {
	a, err := s.store.AccountGetByID(ctx, p.AccountID)
	if errors.Is(err, errNoRows) {
		return Account{}, credErr(reasonUnknown)
	}
	if err != nil {
		return Account{}, fmt.Errorf("whoami: %w", err)
	}
	return a.Account, nil
}

// Authenticate turns a bearer credential (an access token or a personal
// access token) into a Principal. Malformed tokens are refused before any
// database look-up. Problems with the credential are *authn.CredentialError
// with the reason; other errors are the database's.
func (s *Service) Authenticate(ctx context.Context, bearer string) (authn.Principal, error) {
	kind := token.KindOf(bearer, token.AccessToken, token.PersonalAccessToken, token.RefreshToken, token.SecretKey, token.PublishableKey)
	switch kind {
	case token.RefreshToken:
		return authn.Principal{}, credErr(reasonRefreshKind)
	case token.SecretKey, token.PublishableKey:
		return authn.Principal{}, credErr(reasonKeyKind)
	case "":
		return authn.Principal{}, credErr(reasonMalformed)
	}
	if token.Check(bearer, kind) != nil {
		return authn.Principal{}, credErr(reasonMalformed)
	}
	now := s.now()
	if kind == token.AccessToken {
		row, err := s.store.SessionGetByAccessHash(ctx, token.Hash(bearer))
		switch {
		case errors.Is(err, errNoRows):
			return authn.Principal{}, credErr(reasonUnknown)
		case err != nil:
			return authn.Principal{}, fmt.Errorf("authenticate: %w", err)
		case row.RevokedAt != nil:
			return authn.Principal{}, credErr(reasonRevoked)
		case !row.AccessExpiresAt.After(now):
			return authn.Principal{}, credErr(reasonExpired)
		}
		return principal(row.Account, authn.CredentialSession, row.ID, ""), nil
	}
	row, err := s.store.PATGetByHash(ctx, token.Hash(bearer))
	switch {
	case errors.Is(err, errNoRows):
		return authn.Principal{}, credErr(reasonUnknown)
	case err != nil:
		return authn.Principal{}, fmt.Errorf("authenticate: %w", err)
	case !row.RevokedAt.IsZero():
		return authn.Principal{}, credErr(reasonRevoked)
	case !row.ExpiresAt.IsZero() && !row.ExpiresAt.After(now):
		return authn.Principal{}, credErr(reasonExpired)
	}
	if row.LastUsedAt.IsZero() || now.Sub(row.LastUsedAt) >= s.cfg.TouchEvery {
		if err := s.store.PATTouch(ctx, row.ID, now); err != nil {
			// Bookkeeping only: the credential is good.
			s.log.WarnContext(ctx, "personal access token use not recorded", "token_id", row.ID, "err", err.Error())
		}
	}
	return principal(row.Account, authn.CredentialPAT, "", row.ID), nil
}

func principal(a Account, credential, sessionID, tokenID string) authn.Principal {
	return authn.Principal{
		AccountID: a.ID, Email: a.Email, EmailVerified: a.EmailVerified,
		Credential: credential, SessionID: sessionID, TokenID: tokenID,
	}
}

// RequestEmailVerification mails the caller a new verification token.
func (s *Service) RequestEmailVerification(ctx context.Context, p authn.Principal) error {
	a, err := s.WhoAmI(ctx, p)
	if err != nil {
		return err
	}
	if a.EmailVerified {
		return ErrAlreadyVerified
	}
	if err := s.throttle(ctx, "mails", limitCheck{"mail:" + emailKey(a.Email), s.cfg.MailPerAddress}); err != nil {
		return err
	}
	now := s.now()
	tok := token.New(token.MailToken)
	if err := s.store.MailTokenInsert(ctx, mailTokenInsertParams{
		Hash: token.Hash(tok), Purpose: purposeVerifyEmail, AccountID: a.ID, Email: a.Email,
		ExpiresAt: now.Add(s.cfg.VerifyTTL), Now: now,
	}); err != nil {
		return fmt.Errorf("request email verification: %w", err)
	}
	if err := s.cfg.Mailer.Send(ctx, s.verificationMail(a.Email, tok)); err != nil {
		s.log.WarnContext(ctx, "verification mail not sent", "account_id", a.ID, "err", err.Error())
		return ErrMailNotSent
	}
	return nil
}

// VerifyEmail consumes a verification token and marks its account's email
// verified.
func (s *Service) VerifyEmail(ctx context.Context, tok string) (Account, error) {
	if token.Check(tok, token.MailToken) != nil {
		return Account{}, credErr(reasonMalformed)
	}
	now := s.now()
	var a accountRow
	err := s.store.inTx(ctx, func(tx *store) error {
		row, err := tx.MailTokenGet(ctx, mailTokenGetParams{Hash: token.Hash(tok), Purpose: purposeVerifyEmail, Lock: true})
		if err != nil {
			return err
		}
		if err := mailTokenProblem(row, now); err != nil {
			return err
		}
		if err := tx.MailTokenUse(ctx, mailTokenUseParams{Hash: token.Hash(tok), Now: now}); err != nil {
			return err
		}
		a, err = tx.AccountMarkVerified(ctx, row.AccountID, now)
		return err
	})
	if err != nil {
		return Account{}, mailTokenErr("verify email", err)
	}
	return a.Account, nil
}

// mailTokenProblem says why a mail token cannot be used, or nil.
func mailTokenProblem(row mailTokenRow, now time.Time) error {
	switch {
	case row.UsedAt != nil:
		return credErr(reasonUsed)
	case !row.ExpiresAt.After(now):
		return credErr(reasonExpired)
	case row.Email != row.AccountEmail:
		// The account's address changed since the mail was sent.
		return credErr(reasonUnknown)
	}
	return nil
}

func mailTokenErr(op string, err error) error {
	var ce *authn.CredentialError
	var ie *InputError
	switch {
	case errors.Is(err, errNoRows):
		return credErr(reasonUnknown)
	case errors.As(err, &ce), errors.As(err, &ie):
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

// RequestPasswordResetParams is a password reset request.
type RequestPasswordResetParams struct {
	Email string
	// ClientIP is the caller's address, for throttling.
	ClientIP string
}

// RequestPasswordReset mails a reset token when the email has an account,
// and answers the same (nil) when it has none. It is throttled per address
// whether or not the address has an account.
func (s *Service) RequestPasswordReset(ctx context.Context, p RequestPasswordResetParams) error {
	email, err := normalizeEmail(p.Email)
	if err != nil {
		return err
	}
	if err := s.throttle(ctx, "mails",
		limitCheck{"reset:ip:" + clientKey(p.ClientIP), s.cfg.LoginPerIP},
		limitCheck{"mail:" + emailKey(email), s.cfg.MailPerAddress},
	); err != nil {
		return err
	}
	a, err := s.store.AccountGetByEmail(ctx, email)
	if errors.Is(err, errNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("request password reset: %w", err)
	}
	now := s.now()
	tok := token.New(token.MailToken)
	if err := s.store.MailTokenInsert(ctx, mailTokenInsertParams{
		Hash: token.Hash(tok), Purpose: purposeResetPassword, AccountID: a.ID, Email: email,
		ExpiresAt: now.Add(s.cfg.ResetTTL), Now: now,
	}); err != nil {
		return fmt.Errorf("request password reset: %w", err)
	}
	if err := s.cfg.Mailer.Send(ctx, s.resetMail(email, tok)); err != nil {
		// Not returned: an error only for existing accounts would tell
		// which addresses have one.
		s.log.WarnContext(ctx, "password reset mail not sent", "account_id", a.ID, "err", err.Error())
	}
	return nil
}

// ResetPassword consumes a reset token, sets the new password, marks the
// email verified (the token proves the mailbox), uses up the account's other
// reset tokens and revokes every session of the account. Personal access
// tokens are kept (see the package comment). A weak password leaves the
// token unused.
func (s *Service) ResetPassword(ctx context.Context, tok, newPassword string) error {
	if token.Check(tok, token.MailToken) != nil {
		return credErr(reasonMalformed)
	}
	hashTok := token.Hash(tok)
	// Check and hash outside the transaction: hashing takes tens of
	// milliseconds and must not hold a connection and a row lock.
	row, err := s.store.MailTokenGet(ctx, mailTokenGetParams{Hash: hashTok, Purpose: purposeResetPassword})
	if err == nil {
		err = mailTokenProblem(row, s.now())
	}
	if err != nil {
		return mailTokenErr("reset password", err)
	}
	if err := checkPassword(newPassword, row.AccountEmail); err != nil {
		return err
	}
	hash, err := s.hasher.Hash(ctx, newPassword)
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	now := s.now()
	err = s.store.inTx(ctx, func(tx *store) error {
		row, err := tx.MailTokenGet(ctx, mailTokenGetParams{Hash: hashTok, Purpose: purposeResetPassword, Lock: true})
		if err != nil {
			return err
		}
		if err := mailTokenProblem(row, now); err != nil {
			return err
		}
		if err := tx.MailTokenUse(ctx, mailTokenUseParams{AccountID: row.AccountID, Purpose: purposeResetPassword, Now: now}); err != nil {
			return err
		}
		if err := tx.AccountSetPassword(ctx, accountSetPasswordParams{ID: row.AccountID, PasswordHash: hash, Verified: true, Now: now}); err != nil {
			return err
		}
		_, err = tx.SessionRevoke(ctx, sessionRevokeParams{AccountID: row.AccountID, Reason: "password_reset", Now: now})
		return err
	})
	if err != nil {
		return mailTokenErr("reset password", err)
	}
	return nil
}

// CreateTokenParams is a personal access token request.
type CreateTokenParams struct {
	// Name is 1 to 64 characters, unique among the caller's live tokens.
	Name string
	// TTL is the token's lifetime; 0 means it does not expire.
	TTL time.Duration
}

// CreateToken makes a personal access token for the caller and returns it
// with its secret, which is not kept.
func (s *Service) CreateToken(ctx context.Context, p authn.Principal, params CreateTokenParams) (PersonalAccessToken, string, error) {
	name := strings.TrimSpace(params.Name)
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return PersonalAccessToken{}, "", &InputError{Field: "name", Reason: "required (1 to 64 characters)"}
	case n > 64:
		return PersonalAccessToken{}, "", &InputError{Field: "name", Reason: "too long: at most 64 characters"}
	case !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl):
		return PersonalAccessToken{}, "", &InputError{Field: "name", Reason: "must not contain control characters"}
	}
	if params.TTL < 0 {
		return PersonalAccessToken{}, "", &InputError{Field: "ttl_seconds", Reason: "must not be negative (0 means no expiry)"}
	}
	if params.TTL > s.cfg.MaxTokenTTL {
		return PersonalAccessToken{}, "", &InputError{Field: "ttl_seconds", Reason: fmt.Sprintf("at most %d (%s); 0 means no expiry", int64(s.cfg.MaxTokenTTL/time.Second), s.cfg.MaxTokenTTL)}
	}
	now := s.now()
	secret := token.New(token.PersonalAccessToken)
	var exp time.Time
	if params.TTL > 0 {
		exp = now.Add(params.TTL)
	}
	var t PersonalAccessToken
	err := s.store.inTx(ctx, func(tx *store) error {
		if err := tx.AccountLock(ctx, p.AccountID); err != nil {
			return err
		}
		taken, err := tx.PATLiveNameExists(ctx, p.AccountID, name, now)
		if err != nil {
			return err
		}
		if taken {
			return ErrTokenNameTaken
		}
		t, err = tx.PATInsert(ctx, patInsertParams{
			AccountID: p.AccountID, Name: name, Hash: token.Hash(secret),
			Prefix: token.Display(secret, token.PersonalAccessToken), ExpiresAt: exp, Now: now,
		})
		return err
	})
	switch {
	case errors.Is(err, ErrTokenNameTaken):
		return PersonalAccessToken{}, "", err
	case errors.Is(err, errNoRows):
		return PersonalAccessToken{}, "", credErr(reasonUnknown)
	case err != nil:
		return PersonalAccessToken{}, "", fmt.Errorf("create token: %w", err)
	}
	return t, secret, nil
}

// ListTokens lists the caller's personal access tokens, newest first,
// including revoked and expired ones.
func (s *Service) ListTokens(ctx context.Context, p authn.Principal) ([]PersonalAccessToken, error) {
	return s.store.PATListByAccount(ctx, p.AccountID)
}

// RevokeToken revokes one of the caller's personal access tokens. An id that
// is not one of the caller's tokens, including another account's, gives
// ErrTokenNotFound. Revoking a revoked token succeeds.
func (s *Service) RevokeToken(ctx context.Context, p authn.Principal, id string) error {
	if _, err := uuid.Parse(id); err != nil {
		return ErrTokenNotFound
	}
	err := s.store.PATRevoke(ctx, patRevokeParams{AccountID: p.AccountID, ID: id, Now: s.now()})
	if errors.Is(err, errNoRows) {
		return ErrTokenNotFound
	}
	return err
}

func (s *Service) verificationMail(email, tok string) cpmail.Message {
	var b strings.Builder
	b.WriteString("Hello,\n\nPlease confirm that " + email + " is your address. ")
	if s.cfg.AppURL != "" {
		b.WriteString("Open this link within " + hours(s.cfg.VerifyTTL) + ":\n\n  " + s.cfg.AppURL + "/verify-email?token=" + tok + "\n\nor use this ")
	} else {
		b.WriteString("Use this ")
	}
	b.WriteString("verification token (it works once, for " + hours(s.cfg.VerifyTTL) + "):\n\n  " + tok + "\n\n")
	b.WriteString("If you did not sign up for Sovereign, ignore this mail.\n")
	return cpmail.Message{To: email, Subject: "Verify your email address for Sovereign", Body: b.String()}
}

func (s *Service) resetMail(email, tok string) cpmail.Message {
	var b strings.Builder
	b.WriteString("Hello,\n\nSomeone asked to reset the password of the Sovereign account " + email + ". ")
	if s.cfg.AppURL != "" {
		b.WriteString("To choose a new password, open this link within " + hours(s.cfg.ResetTTL) + ":\n\n  " + s.cfg.AppURL + "/reset-password?token=" + tok + "\n\nor use this ")
	} else {
		b.WriteString("To choose a new password, use this ")
	}
	b.WriteString("reset token (it works once, for " + hours(s.cfg.ResetTTL) + "):\n\n  " + tok + "\n\n")
	b.WriteString("Resetting the password signs out every session; personal access tokens keep working.\n")
	b.WriteString("If you did not ask for this, ignore this mail: your password stays as it is.\n")
	return cpmail.Message{To: email, Subject: "Reset your Sovereign password", Body: b.String()}
}

func hours(d time.Duration) string {
	h := int(d / time.Hour)
	if h == 1 {
		return "1 hour"
	}
	if h >= 1 {
		return fmt.Sprintf("%d hours", h)
	}
	return d.String()
}
