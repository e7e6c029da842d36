package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/dataplane/caller"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// MFAEnrollment is what MfaEnroll shows once.
type MFAEnrollment struct {
	Secret        string
	URI           string
	RecoveryCodes []string
}

// MFAEnroll starts TOTP enrolment for the signed-in user.
func (s *Service) MFAEnroll(ctx context.Context, ref string, cu caller.User) (MFAEnrollment, error) {
	if s.cfg.MFA == nil {
		return MFAEnrollment{}, ErrMFAUnavailable
	}
	var e MFAEnrollment
	err := s.tx(ctx, ref, func(q tenantdb.Querier) error {
		u, err := s.userByID(ctx, q, ref, cu.ID, true)
		if err != nil {
			return err
		}
		if u.Disabled {
			return ErrUserDisabled
		}
		on, err := s.cfg.MFA.Enabled(ctx, q, u.ID)
		if err != nil {
			return err
		}
		if on && cu.AAL != AAL2 {
			// Replacing an active factor needs the factor.
			return ErrMFARequired
		}
		label := cmpOr(u.Email, u.ID)
		e.Secret, e.URI, e.RecoveryCodes, err = s.cfg.MFA.Enroll(ctx, q, u.ID, label, s.cfg.MFAIssuer)
		return err
	})
	if err != nil {
		return MFAEnrollment{}, wrapUnlessDomain("mfa enroll", err)
	}
	return e, nil
}

// ErrWrongCode is a TOTP or recovery code that does not check out.
var ErrWrongCode = errors.New("invalid code")

// MFAVerify checks a TOTP or recovery code of the signed-in user and answers
// a session at aal2 in the same session (family): a new refresh token at
// aal2 joins it, and the session is marked aal2. Five failures in a row
// throttle further tries (the MFA implementation decides).
func (s *Service) MFAVerify(ctx context.Context, ref string, cu caller.User, code string, clientIP string) (Session, error) {
	if s.cfg.MFA == nil {
		return Session{}, ErrMFAUnavailable
	}
	code = strings.TrimSpace(code)
	if code == "" {
		return Session{}, &InputError{Field: "code", Reason: "required: a six-digit code or a recovery code"}
	}
	if err := s.throttle(ctx, ref, "sign-in attempts", limitCheck{"mfa:ip:" + clientKey(clientIP), s.cfg.SignInPerIP}); err != nil {
		return Session{}, err
	}
	var (
		u     userRow
		ns    newSession
		wrong bool
	)
	err := s.tx(ctx, ref, func(q tenantdb.Querier) error {
		var err error
		if u, err = s.userByID(ctx, q, ref, cu.ID, true); err != nil {
			return err
		}
		if u.Disabled {
			return ErrUserDisabled
		}
		ok, err := s.cfg.MFA.Verify(ctx, q, u.ID, code)
		if err != nil {
			return err
		}
		if !ok {
			// Committed: the implementation counts failures.
			wrong = true
			return nil
		}
		var exp time.Time
		if err := q.QueryRow(ctx, "UPDATE "+table(ref, sessionsTable)+" SET aal = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING expires_at", cu.SessionID, AAL2).Scan(&exp); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return credErr(ReasonSessionEnded)
			}
			return err
		}
		if _, err := q.Exec(ctx, "UPDATE "+table(ref, usersTable)+" SET mfa_enabled = true WHERE id = $1", u.ID); err != nil {
			return err
		}
		u.MFAEnabled = true
		ns = newSession{id: cu.SessionID, aal: AAL2}
		ns.refresh, ns.refreshExp, _, err = s.addRefresh(ctx, q, ref, cu.SessionID, 0, AAL2, exp)
		return err
	})
	if err != nil {
		return Session{}, wrapUnlessDomain("mfa verify", err)
	}
	if wrong {
		return Session{}, ErrWrongCode
	}
	return s.finish(ctx, ref, u.User, ns)
}

// Authorize starts OAuth sign-in with provider and returns the URL to send
// the browser to.
func (s *Service) Authorize(ctx context.Context, ref, provider, redirectTo string) (string, error) {
	if s.cfg.OAuth == nil {
		return "", ErrOAuthUnavailable
	}
	if provider == "" {
		return "", &InputError{Field: "provider", Reason: "required: the name of a configured provider"}
	}
	var url string
	err := s.tx(ctx, ref, func(q tenantdb.Querier) error {
		var err error
		url, err = s.cfg.OAuth.AuthorizeURL(ctx, q, ref, provider, redirectTo)
		return err
	})
	if err != nil {
		return "", wrapUnlessDomain("authorize", err)
	}
	return url, nil
}

// Callback completes OAuth sign-in: it finds the user linked to the
// provider's subject, or links the user whose email matches when the
// provider vouches for it (email_verified), or makes a new user; and starts
// a session. It returns the session and the redirect_to given to Authorize.
func (s *Service) Callback(ctx context.Context, ref, code, state string) (Session, string, error) {
	if s.cfg.OAuth == nil {
		return Session{}, "", ErrOAuthUnavailable
	}
	if code == "" {
		return Session{}, "", &InputError{Field: "code", Reason: "required"}
	}
	if state == "" {
		return Session{}, "", &InputError{Field: "state", Reason: "required"}
	}
	var (
		u          userRow
		ns         newSession
		redirectTo string
		claimed    bool
	)
	err := s.tx(ctx, ref, func(q tenantdb.Querier) error {
		id, rt, err := s.cfg.OAuth.Exchange(ctx, q, ref, code, state)
		if err != nil {
			return err
		}
		redirectTo = rt
		if id.Provider == "" || id.Subject == "" {
			return errors.New("oauth exchange returned no provider or subject")
		}
		if u, claimed, err = s.linkIdentity(ctx, q, ref, id); err != nil {
			return err
		}
		if u.Disabled {
			return ErrUserDisabled
		}
		ns, err = s.startSession(ctx, q, ref, u.ID, AAL1)
		return err
	})
	if err != nil {
		return Session{}, "", wrapUnlessDomain("oauth callback", err)
	}
	if claimed {
		s.announce(ctx, invalidation{Tenant: ref, Sessions: true})
	}
	u.LastSignInAt = s.now()
	sess, err := s.finish(ctx, ref, u.User, ns)
	return sess, redirectTo, err
}

// linkIdentity finds or makes the user of an OAuth identity.
// claimed says an unverified user with the provider's verified address was
// taken over (its password dropped and sessions revoked).
func (s *Service) linkIdentity(ctx context.Context, q tenantdb.Querier, ref string, id OAuthIdentity) (u userRow, claimed bool, err error) {
	var userID string
	err = q.QueryRow(ctx, "SELECT user_id::text FROM "+table(ref, identitiesTable)+" WHERE provider = $1 AND subject = $2", id.Provider, id.Subject).Scan(&userID)
	if err == nil {
		u, err = s.userByID(ctx, q, ref, userID, false)
		return u, false, err
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return userRow{}, false, err
	}
	email := ""
	if id.Email != "" {
		if e, err := normalizeEmail(id.Email); err == nil {
			email = e
		}
	}
	found := false
	if email != "" && id.EmailVerified {
		if u, found, err = s.userByEmail(ctx, q, ref, email); err != nil {
			return userRow{}, false, err
		}
	}
	if !found {
		// An unverified address is not claimed: another user may own it,
		// or may sign up with it later.
		ins := userInsert{Verified: id.EmailVerified}
		if id.EmailVerified {
			ins.Email = email
		}
		if u, err = s.insertUser(ctx, q, ref, ins); err != nil {
			return userRow{}, false, err
		}
	} else if !u.EmailVerified {
		// The provider proved the mailbox; a password set by whoever
		// signed up with it unverified cannot be trusted.
		if _, err := q.Exec(ctx, "UPDATE "+table(ref, usersTable)+" SET email_verified_at = $2, password_hash = NULL, updated_at = $2 WHERE id = $1", u.ID, s.now()); err != nil {
			return userRow{}, false, err
		}
		if _, err := s.revokeSessions(ctx, q, ref, u.ID, "", "oauth_claimed"); err != nil {
			return userRow{}, false, err
		}
		claimed = true
	}
	if _, err := q.Exec(ctx, "INSERT INTO "+table(ref, identitiesTable)+" (provider, subject, user_id, email, created_at) VALUES ($1, $2, $3, $4, $5)",
		id.Provider, id.Subject, u.ID, nullable(email), s.now()); err != nil {
		return userRow{}, false, fmt.Errorf("link identity: %w", err)
	}
	u, err = s.userByID(ctx, q, ref, u.ID, false)
	return u, claimed, err
}
