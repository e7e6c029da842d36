// Package mfa keeps end users' second factors: TOTP (RFC 6238) with
// single-use recovery codes.
//
// Every call takes a tenantdb.Querier: a transaction that runs as the
// tenant's role with the service identity. The package keeps its rows in
// two tables of the tenant's schema, created on first use:
// "t_<ref>"."_auth_mfa_factors" (one TOTP factor per user) and
// "t_<ref>"."_auth_recovery_codes". Both have row-level security enabled
// and forced, with one policy that admits only the service role.
//
// # TOTP
//
// Codes are RFC 6238 with SHA-1, 6 digits and 30-second steps, as every
// authenticator app expects. Verify accepts the codes of steps t−1, t and
// t+1 (t is the current step), and of those only a step later than the
// last one accepted for the factor: a code is good once, and after a code
// has been used no earlier one is. The 20-byte secret is stored sealed with
// AES-256-GCM under a key derived (HKDF-SHA256) from Config.SecretKey and
// bound to the tenant and user; losing or changing SecretKey makes every
// stored factor unusable (Verify fails with an internal error), so it must
// be kept like any other master key.
//
// A factor is pending after Enroll and becomes active with its first
// accepted code; only an active factor makes Enabled true. Enroll while a
// factor is active is ErrAlreadyEnrolled: to change devices, Disable first
// (after the caller has checked the user's identity at aal2); Enroll over a
// pending factor replaces it.
//
// # Recovery codes
//
// Enroll returns 10 recovery codes of 10 base32 characters (50 bits each),
// shown as XXXXX-XXXXX. Verify takes one in place of a TOTP code once the
// factor is active; each works once. They are stored as HMAC-SHA256 under
// another key derived from Config.SecretKey, never in plain text.
//
// # Throttling
//
// After Config.MaxFailures consecutive failed verifications (wrong,
// malformed or replayed codes, TOTP or recovery) the factor refuses every
// code, good or bad, with ErrThrottled for Config.Lockout. A success resets
// the count.
//
// # Transactions
//
// Verify records its outcome (the step used, the failure count, a used
// recovery code) through q. The caller must commit the transaction whatever
// ok is; rolling back after a failed code would undo the failure count and
// with it the throttling. Verify locks the factor's row, so concurrent
// verifications of one user take turns and a code cannot be used twice by
// racing.
package mfa

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// TOTP parameters. They are what authenticator apps assume when a URI
// leaves them out, and the URI states them anyway.
const (
	// Period is the length of a TOTP step.
	Period = 30 * time.Second
	// Digits is the length of a TOTP code.
	Digits = 6
	// Skew is how many steps before and after the current one are
	// accepted.
	Skew = 1
	// SecretSize is the TOTP secret's length in bytes (160 bits, as RFC
	// 4226 recommends for HMAC-SHA1).
	SecretSize = 20
	// RecoveryCodes is how many recovery codes Enroll makes.
	RecoveryCodes = 10
	// recoveryLen is a recovery code's length in base32 characters.
	recoveryLen = 10
)

// Defaults of Config.
const (
	DefaultMaxFailures = 5
	DefaultLockout     = 5 * time.Minute
)

// Limits on input.
const (
	// MaxUserIDLen is the longest user id, in bytes.
	MaxUserIDLen = 128
	// MaxLabelLen is the longest account label or issuer, in bytes.
	MaxLabelLen = 128
	// maxCodeLen bounds what Verify looks at; longer input is a failure.
	maxCodeLen = 32
)

// Errors a caller maps to its protocol's codes.
var (
	// ErrThrottled means the factor refuses codes for now after too many
	// failures (ResourceExhausted).
	ErrThrottled = errors.New("mfa: too many failed attempts; try again later")
	// ErrAlreadyEnrolled means the user has an active factor; Disable it
	// first (FailedPrecondition).
	ErrAlreadyEnrolled = errors.New("mfa: already enrolled")
	// ErrNotEnrolled means the user has no factor to verify
	// (FailedPrecondition).
	ErrNotEnrolled = errors.New("mfa: not enrolled")
	// ErrInvalidArgument wraps a message about a bad user id, account label
	// or issuer (InvalidArgument).
	ErrInvalidArgument = errors.New("mfa: invalid argument")
)

// Config configures a Service.
type Config struct {
	// SecretKey is the master key from which the keys that seal TOTP
	// secrets and hash recovery codes are derived; at least MinKeyLen (32)
	// random bytes. It may be shared with other packages (each derives its
	// own keys). Required.
	SecretKey []byte
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// MaxFailures is how many consecutive failed verifications start a
	// lockout. Default DefaultMaxFailures (5).
	MaxFailures int
	// Lockout is how long a factor refuses codes after MaxFailures
	// failures. Default DefaultLockout (5 minutes).
	Lockout time.Duration
}

// Service enrols and verifies second factors. It is safe for concurrent
// use and holds no connections of its own.
type Service struct {
	keys        *keys
	now         func() time.Time
	maxFailures int
	lockout     time.Duration
}

// New returns a Service for cfg.
func New(cfg Config) (*Service, error) {
	k, err := deriveKeys(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	if cfg.MaxFailures < 0 || cfg.Lockout < 0 {
		return nil, errors.New("mfa: MaxFailures and Lockout must not be negative")
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Service{
		keys:        k,
		now:         now,
		maxFailures: cmp.Or(cfg.MaxFailures, DefaultMaxFailures),
		lockout:     cmp.Or(cfg.Lockout, DefaultLockout),
	}, nil
}

func invalid(msg string) error { return fmt.Errorf("%w: %s", ErrInvalidArgument, msg) }

func checkUserID(userID string) error {
	if userID == "" || len(userID) > MaxUserIDLen {
		return invalid(fmt.Sprintf("user id must be 1 to %d bytes", MaxUserIDLen))
	}
	return nil
}

// checkLabel checks an issuer or account label. Neither may hold a colon:
// the otpauth URI's label is "issuer:account", and apps split it there.
func checkLabel(what, s string) error {
	if strings.TrimSpace(s) == "" || len(s) > MaxLabelLen {
		return invalid(fmt.Sprintf("%s must be 1 to %d bytes", what, MaxLabelLen))
	}
	if strings.ContainsAny(s, ":\x00") {
		return invalid(what + " must not contain ':'")
	}
	return nil
}

// Enroll gives userID a new pending TOTP factor and recovery codes, and
// returns the secret (base32, no padding, for typing in by hand), the
// otpauth:// URI for a QR code (labelled issuer:accountLabel, with issuer
// and the algorithm, digits and period as parameters) and the recovery
// codes. The factor becomes active with the first code Verify accepts.
// A pending factor is replaced; an active one is ErrAlreadyEnrolled.
func (s *Service) Enroll(ctx context.Context, q tenantdb.Querier, userID, accountLabel, issuer string) (secret, uri string, recoveryCodes []string, err error) {
	if err := checkUserID(userID); err != nil {
		return "", "", nil, err
	}
	if err := checkLabel("account label", accountLabel); err != nil {
		return "", "", nil, err
	}
	if err := checkLabel("issuer", issuer); err != nil {
		return "", "", nil, err
	}
	tx, _, err := begin(ctx, q, true)
	if err != nil {
		return "", "", nil, err
	}
	raw := make([]byte, SecretSize)
	_, _ = rand.Read(raw)
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: accountLabel, Secret: raw,
		Period: uint(Period / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", "", nil, fmt.Errorf("mfa: otpauth uri: %w", err)
	}
	now := s.now()
	var replaced bool
	err = q.QueryRow(ctx, `INSERT INTO `+tx.factors+` AS f (user_id, secret, created_at) VALUES ($1, $2, $3)
ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at,
    last_step = NULL, failures = 0, locked_until = NULL
  WHERE NOT f.active
RETURNING true`, userID, s.keys.seal(raw, tx.ref, userID), now).Scan(&replaced)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", nil, ErrAlreadyEnrolled
	}
	if err != nil {
		return "", "", nil, fmt.Errorf("mfa: store factor: %w", err)
	}
	codes := make([]string, RecoveryCodes)
	hashes := make([][]byte, RecoveryCodes)
	for i := range codes {
		c := newRecoveryCode()
		codes[i] = c[:recoveryLen/2] + "-" + c[recoveryLen/2:]
		hashes[i] = s.keys.recoveryHash(userID, c)
	}
	if _, err := q.Exec(ctx, `DELETE FROM `+tx.codes+` WHERE user_id = $1`, userID); err != nil {
		return "", "", nil, fmt.Errorf("mfa: replace recovery codes: %w", err)
	}
	if _, err := q.Exec(ctx, `INSERT INTO `+tx.codes+` (user_id, code_hash) SELECT $1, h FROM unnest($2::bytea[]) AS h`,
		userID, hashes); err != nil {
		return "", "", nil, fmt.Errorf("mfa: store recovery codes: %w", err)
	}
	return key.Secret(), key.URL(), codes, nil
}

const base32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// newRecoveryCode returns recoveryLen random base32 characters.
func newRecoveryCode() string {
	b := make([]byte, recoveryLen)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = base32Alphabet[b[i]&31] // 256 is a multiple of 32: uniform
	}
	return string(b)
}

// Enabled reports whether userID has an active factor: whether sign-in
// must ask for a second factor. It writes nothing and works in a
// read-only transaction.
func (s *Service) Enabled(ctx context.Context, q tenantdb.Querier, userID string) (bool, error) {
	tx, exists, err := begin(ctx, q, false)
	if err != nil || !exists {
		return false, err
	}
	var active bool
	err = q.QueryRow(ctx, `SELECT active FROM `+tx.factors+` WHERE user_id = $1`, userID).Scan(&active)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mfa: read factor: %w", err)
	}
	return active, nil
}

// Disable removes userID's factor, pending or active, and its recovery
// codes. Removing none is not an error, so deleting a user may call it
// unconditionally.
func (s *Service) Disable(ctx context.Context, q tenantdb.Querier, userID string) error {
	tx, exists, err := begin(ctx, q, false)
	if err != nil || !exists {
		return err
	}
	if _, err := q.Exec(ctx, `DELETE FROM `+tx.factors+` WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("mfa: delete factor: %w", err)
	}
	return nil
}

// Verify checks code for userID: a TOTP code (6 digits, spaces ignored) or,
// once the factor is active, an unused recovery code (case, spaces and
// dashes ignored). It returns true when the code is accepted and activates
// a pending factor; false for a wrong, malformed, replayed or used code;
// ErrThrottled during a lockout (even for a good code); ErrNotEnrolled
// without a factor. Commit q's transaction whatever ok is (see the package
// documentation).
func (s *Service) Verify(ctx context.Context, q tenantdb.Querier, userID, code string) (ok bool, err error) {
	if err := checkUserID(userID); err != nil {
		return false, err
	}
	tx, exists, err := begin(ctx, q, false)
	if err != nil {
		return false, err
	}
	if !exists {
		return false, ErrNotEnrolled
	}
	f, found, err := tx.loadForUpdate(userID)
	if err != nil {
		return false, err
	}
	if !found {
		return false, ErrNotEnrolled
	}
	now := s.now()
	if f.lockedUntil != nil && now.Before(*f.lockedUntil) {
		return false, ErrThrottled
	}
	var accepted bool
	var step *int64
	if len(code) <= maxCodeLen {
		if totpCode, isTOTP := normaliseTOTP(code); isTOTP {
			raw, err := s.keys.open(f.secret, tx.ref, userID)
			if err != nil {
				return false, err
			}
			if st, matched := matchStep(raw, totpCode, now, f.lastStep); matched {
				accepted, step = true, &st
			}
		} else if rc, isRecovery := normaliseRecovery(code); isRecovery && f.active {
			tag, err := q.Exec(ctx, `UPDATE `+tx.codes+` SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL`,
				userID, s.keys.recoveryHash(userID, rc), now)
			if err != nil {
				return false, fmt.Errorf("mfa: use recovery code: %w", err)
			}
			accepted = tag.RowsAffected() == 1
		}
	}
	if accepted {
		if _, err := q.Exec(ctx, `UPDATE `+tx.factors+` SET failures = 0, locked_until = NULL,
    last_step = coalesce($2, last_step), active = true, activated_at = coalesce(activated_at, $3)
  WHERE user_id = $1`, userID, step, now); err != nil {
			return false, fmt.Errorf("mfa: record success: %w", err)
		}
		return true, nil
	}
	failures := f.failures + 1
	var lockedUntil *time.Time
	if failures >= s.maxFailures {
		until := now.Add(s.lockout)
		failures, lockedUntil = 0, &until
	}
	if _, err := q.Exec(ctx, `UPDATE `+tx.factors+` SET failures = $2, locked_until = $3 WHERE user_id = $1`,
		userID, failures, lockedUntil); err != nil {
		return false, fmt.Errorf("mfa: record failure: %w", err)
	}
	return false, nil
}

// normaliseTOTP returns code without spaces when that is Digits ASCII
// digits.
func normaliseTOTP(code string) (string, bool) {
	c := strings.ReplaceAll(code, " ", "")
	if len(c) != Digits {
		return "", false
	}
	for i := range len(c) {
		if c[i] < '0' || c[i] > '9' {
			return "", false
		}
	}
	return c, true
}

// normaliseRecovery returns code upper-cased without spaces and dashes
// when that is recoveryLen base32 characters.
func normaliseRecovery(code string) (string, bool) {
	c := strings.ToUpper(strings.NewReplacer(" ", "", "-", "").Replace(code))
	if len(c) != recoveryLen {
		return "", false
	}
	for i := range len(c) {
		if !strings.ContainsRune(base32Alphabet, rune(c[i])) {
			return "", false
		}
	}
	return c, true
}

// step is the TOTP time step of t: whole periods since the Unix epoch.
func step(t time.Time) int64 { return t.Unix() / int64(Period/time.Second) }

// matchStep returns the first step in [t−Skew, t+Skew] after the last
// step used (nil: none) whose code is code, comparing every candidate in
// constant time.
func matchStep(secret []byte, code string, now time.Time, last *int64) (int64, bool) {
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
	cur := step(now)
	var found int64
	var matched bool
	for st := cur - Skew; st <= cur+Skew; st++ {
		if st < 0 || (last != nil && st <= *last) {
			continue
		}
		want, err := hotp.GenerateCodeCustom(b32, uint64(st), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !matched {
			found, matched = st, true
		}
	}
	return found, matched
}
