package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/dataplane/caller"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/mail"
	"github.com/sovereign-backend/sovereign/internal/passwords"
	"github.com/sovereign-backend/sovereign/internal/token"
)

// Mail token purposes (VerifyRequest.type).
const (
	PurposeSignup   = "signup"
	PurposeRecovery = "recovery"
)

// SignUpParams is a sign-up.
type SignUpParams struct {
	Email    string
	Password string
	// ClientIP is the caller's address, for throttling.
	ClientIP string
}

// SignUp creates a user with email and password, signs them in and mails a
// verification token. Nothing is written when it fails; a mail that cannot
// be sent does not fail the sign-up.
func (s *Service) SignUp(ctx context.Context, ref string, p SignUpParams) (Session, error) {
	email, err := normalizeEmail(p.Email)
	if err != nil {
		return Session{}, err
	}
	if err := checkPassword(p.Password, email); err != nil {
		return Session{}, err
	}
	if err := s.throttle(ctx, ref, "sign-ups",
		limitCheck{"signup:ip:" + clientKey(p.ClientIP), s.cfg.SignUpPerIP},
		limitCheck{"signup:email:" + emailKey(email), s.cfg.SignUpPerEmail}); err != nil {
		return Session{}, err
	}
	hash, err := s.hasher.Hash(ctx, p.Password)
	if err != nil {
		return Session{}, fmt.Errorf("sign up: %w", err)
	}
	var (
		u   userRow
		ns  newSession
		tok = token.New(token.MailToken)
	)
	err = s.tx(ctx, ref, func(q tenantdb.Querier) error {
		var err error
		if u, err = s.insertUser(ctx, q, ref, userInsert{Email: email, PasswordHash: hash}); err != nil {
			return err
		}
		if err := s.insertMailToken(ctx, q, ref, tok, PurposeSignup, u.ID, email, s.cfg.VerifyTTL); err != nil {
			return err
		}
		ns, err = s.startSession(ctx, q, ref, u.ID, AAL1)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrEmailTaken) {
			return Session{}, err
		}
		return Session{}, fmt.Errorf("sign up: %w", err)
	}
	s.sendMail(ctx, ref, u.ID, s.verificationMail(email, tok))
	return s.finish(ctx, ref, u.User, ns)
}

func (s *Service) insertMailToken(ctx context.Context, q tenantdb.Querier, ref, tok, purpose, userID, email string, ttl time.Duration) error {
	now := s.now()
	_, err := q.Exec(ctx, "INSERT INTO "+table(ref, mailTokensTable)+" (hash, purpose, user_id, email, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
		token.Hash(tok), purpose, userID, email, now, now.Add(ttl))
	if err != nil {
		return fmt.Errorf("record mail token: %w", err)
	}
	return nil
}

// sendMail sends m and logs a failure: the caller's answer must not depend
// on whether the mail went out (Recover would tell which addresses exist).
func (s *Service) sendMail(ctx context.Context, ref, userID string, m mail.Message) {
	if err := s.cfg.Mailer.Send(ctx, ref, m); err != nil {
		s.log.WarnContext(ctx, "auth: mail not sent", "tenant", ref, "user_id", userID, "subject", m.Subject, "err", err.Error())
	}
}

// SignInParams is a password sign-in.
type SignInParams struct {
	Email    string
	Password string
	// ClientIP is the caller's address, for throttling.
	ClientIP string
}

// SignInPassword exchanges email and password for a new session. An unknown
// email and a wrong password both give ErrWrongCredentials after the same
// work (one argon2id verification). mfaRequired says the user has MFA and
// the session is aal1.
func (s *Service) SignInPassword(ctx context.Context, ref string, p SignInParams) (sess Session, mfaRequired bool, err error) {
	email := strings.ToLower(strings.TrimSpace(p.Email))
	if email == "" {
		return Session{}, false, &InputError{Field: "email", Reason: "required"}
	}
	if p.Password == "" {
		return Session{}, false, &InputError{Field: "password", Reason: "required"}
	}
	if err := s.throttle(ctx, ref, "sign-in attempts",
		limitCheck{"signin:ip:" + clientKey(p.ClientIP), s.cfg.SignInPerIP},
		limitCheck{"signin:email:" + emailKey(email), s.cfg.SignInPerEmail}); err != nil {
		return Session{}, false, err
	}
	if utf8.RuneCountInString(p.Password) > passwords.MaxLen || len(email) > 254 {
		return Session{}, false, ErrWrongCredentials
	}
	if err := s.ensureTables(ctx, ref); err != nil {
		return Session{}, false, err
	}
	var (
		u     userRow
		found bool
	)
	err = s.db.Tx(ctx, service(ref), tenantdb.TxOptions{ReadOnly: true}, func(q tenantdb.Querier) error {
		var err error
		u, found, err = s.userByEmail(ctx, q, ref, email)
		return err
	})
	if err != nil {
		return Session{}, false, fmt.Errorf("sign in: %w", err)
	}
	hash := s.dummyHash
	if found && u.PasswordHash != "" {
		hash = u.PasswordHash
	}
	ok, err := s.hasher.Verify(ctx, p.Password, hash)
	if err != nil {
		return Session{}, false, fmt.Errorf("sign in: %w", err)
	}
	if !found || u.PasswordHash == "" || !ok {
		return Session{}, false, ErrWrongCredentials
	}
	if u.Disabled {
		return Session{}, false, ErrUserDisabled
	}
	var ns newSession
	err = s.tx(ctx, ref, func(q tenantdb.Querier) error {
		if s.cfg.MFA != nil {
			if mfaRequired, err = s.cfg.MFA.Enabled(ctx, q, u.ID); err != nil {
				return fmt.Errorf("mfa enabled: %w", err)
			}
		}
		var err error
		ns, err = s.startSession(ctx, q, ref, u.ID, AAL1)
		return err
	})
	if err != nil {
		return Session{}, false, fmt.Errorf("sign in: %w", err)
	}
	u.LastSignInAt = s.now()
	sess, err = s.finish(ctx, ref, u.User, ns)
	return sess, mfaRequired, err
}

// SignInAnonymous makes an anonymous user (no email, no password) and signs
// them in. It is throttled like a sign-up, per client IP.
func (s *Service) SignInAnonymous(ctx context.Context, ref, clientIP string) (Session, error) {
	if err := s.throttle(ctx, ref, "sign-ups", limitCheck{"signup:ip:" + clientKey(clientIP), s.cfg.SignUpPerIP}); err != nil {
		return Session{}, err
	}
	var (
		u  userRow
		ns newSession
	)
	err := s.tx(ctx, ref, func(q tenantdb.Querier) error {
		var err error
		if u, err = s.insertUser(ctx, q, ref, userInsert{Anonymous: true}); err != nil {
			return err
		}
		ns, err = s.startSession(ctx, q, ref, u.ID, AAL1)
		return err
	})
	if err != nil {
		return Session{}, fmt.Errorf("anonymous sign-in: %w", err)
	}
	u.LastSignInAt = s.now()
	return s.finish(ctx, ref, u.User, ns)
}

// Refresh exchanges a refresh token for the next one of its family and a new
// access token. A token presented again within RefreshGrace of its rotation
// answers the same child; later, the whole session is revoked and the
// answer is ErrRefreshReuse.
func (s *Service) Refresh(ctx context.Context, ref, refreshToken string) (Session, error) {
	if token.Check(refreshToken, token.RefreshToken) != nil {
		return Session{}, credErr("invalid refresh token")
	}
	var (
		u     userRow
		ns    newSession
		reuse bool
	)
	err := s.tx(ctx, ref, func(q tenantdb.Querier) error {
		var (
			id, parent       int64
			sid, aal         string
			rtExp, sessExp   time.Time
			rotated, revoked *time.Time
			child            []byte
			parentID         *int64
		)
		err := q.QueryRow(ctx, "SELECT r.id, r.parent_id, r.session_id::text, r.aal, r.expires_at, r.rotated_at, r.child_token, s.expires_at, s.revoked_at, s.user_id::text FROM "+
			table(ref, refreshTable)+" r JOIN "+table(ref, sessionsTable)+" s ON s.id = r.session_id WHERE r.hash = $1 FOR UPDATE OF r",
			token.Hash(refreshToken)).Scan(&id, &parentID, &sid, &aal, &rtExp, &rotated, &child, &sessExp, &revoked, &u.ID)
		if errors.Is(err, pgx.ErrNoRows) {
			return credErr("invalid refresh token")
		}
		if err != nil {
			return err
		}
		if parentID != nil {
			parent = *parentID
		}
		now := s.now()
		if u, err = s.userByID(ctx, q, ref, u.ID, false); err != nil {
			return err
		}
		switch {
		case revoked != nil:
			return credErr("session ended: sign in again")
		case u.Disabled:
			return ErrUserDisabled
		case !now.Before(sessExp):
			return credErr("session expired: sign in again")
		case rotated != nil:
			if child != nil && now.Sub(*rotated) <= s.cfg.RefreshGrace {
				tok, err := open(s.graceKey, child, graceAAD(ref, id))
				if err != nil {
					return fmt.Errorf("open kept refresh token: %w", err)
				}
				var exp time.Time
				if err := q.QueryRow(ctx, "SELECT expires_at FROM "+table(ref, refreshTable)+" WHERE hash = $1", token.Hash(string(tok))).Scan(&exp); err != nil {
					return fmt.Errorf("read kept refresh token: %w", err)
				}
				ns = newSession{id: sid, refresh: string(tok), refreshExp: exp, aal: aal}
				return nil
			}
			// Committed, unlike an error, so the revocation stands.
			reuse = true
			_, err := q.Exec(ctx, "UPDATE "+table(ref, sessionsTable)+" SET revoked_at = $2, revoke_reason = 'refresh_reuse' WHERE id = $1 AND revoked_at IS NULL", sid, now)
			return err
		case !now.Before(rtExp):
			return credErr("refresh token expired: sign in again")
		}
		tok, exp, _, err := s.addRefresh(ctx, q, ref, sid, id, aal, sessExp)
		if err != nil {
			return err
		}
		var kept []byte
		if s.cfg.RefreshGrace > 0 {
			kept = seal(s.graceKey, []byte(tok), graceAAD(ref, id))
		}
		if _, err := q.Exec(ctx, "UPDATE "+table(ref, refreshTable)+" SET rotated_at = $2, child_token = $3 WHERE id = $1", id, now, kept); err != nil {
			return err
		}
		// The parent's kept token is this one, now used up.
		if parent != 0 {
			if _, err := q.Exec(ctx, "UPDATE "+table(ref, refreshTable)+" SET child_token = NULL WHERE id = $1", parent); err != nil {
				return err
			}
		}
		if _, err := q.Exec(ctx, "UPDATE "+table(ref, sessionsTable)+" SET refreshed_at = $2 WHERE id = $1", sid, now); err != nil {
			return err
		}
		ns = newSession{id: sid, refresh: tok, refreshExp: exp, aal: aal}
		return nil
	})
	var ce *CredentialError
	switch {
	case errors.As(err, &ce), errors.Is(err, ErrUserDisabled):
		return Session{}, err
	case err != nil:
		return Session{}, fmt.Errorf("refresh: %w", err)
	case reuse:
		s.log.WarnContext(ctx, "auth: refresh token reused after its grace window; session revoked", "tenant", ref, "user_id", u.ID)
		s.announce(ctx, invalidation{Tenant: ref, Sessions: true})
		return Session{}, ErrRefreshReuse
	}
	return s.finish(ctx, ref, u.User, ns)
}

// SignOut ends the caller's session, or with all every session of theirs.
func (s *Service) SignOut(ctx context.Context, ref string, u caller.User, all bool) error {
	sid := u.SessionID
	if all {
		sid = ""
	}
	err := s.tx(ctx, ref, func(q tenantdb.Querier) error {
		reason := "sign_out"
		if all {
			reason = "sign_out_all"
		}
		_, err := s.revokeSessions(ctx, q, ref, u.ID, sid, reason)
		return err
	})
	if err != nil {
		return fmt.Errorf("sign out: %w", err)
	}
	s.announce(ctx, invalidation{Tenant: ref, Sessions: true})
	return nil
}

// GetUser returns user id as it is now.
func (s *Service) GetUser(ctx context.Context, ref, id string) (User, error) {
	if err := s.ensureTables(ctx, ref); err != nil {
		return User{}, err
	}
	var u userRow
	err := s.db.Tx(ctx, service(ref), tenantdb.TxOptions{ReadOnly: true}, func(q tenantdb.Querier) error {
		var err error
		u, err = s.userByID(ctx, q, ref, id, false)
		return err
	})
	if err != nil {
		return User{}, wrapUnlessDomain("get user", err)
	}
	return u.User, nil
}

// UpdateUserParams changes the signed-in user's own account.
type UpdateUserParams struct {
	// Email, when not empty, becomes the user's (unverified) address, and a
	// verification mail goes to it.
	Email string
	// Password, when not empty, becomes the user's password.
	Password string
}

// UpdateUser sets the caller's email and password. This is how an
// anonymous user becomes a real account, keeping their id: both are then
// needed (unless the account already has a password). A user with MFA needs
// an aal2 session.
func (s *Service) UpdateUser(ctx context.Context, ref string, cu caller.User, p UpdateUserParams) (User, error) {
	if p.Email == "" && p.Password == "" {
		return User{}, &InputError{Field: "email", Reason: "give an email, a password or both"}
	}
	var email string
	if p.Email != "" {
		var err error
		if email, err = normalizeEmail(p.Email); err != nil {
			return User{}, err
		}
	}
	current, err := s.GetUser(ctx, ref, cu.ID)
	if err != nil {
		return User{}, err
	}
	ruleEmail := cmpOr(email, current.Email)
	var hash string
	if p.Password != "" {
		if err := checkPassword(p.Password, ruleEmail); err != nil {
			return User{}, err
		}
		if hash, err = s.hasher.Hash(ctx, p.Password); err != nil {
			return User{}, fmt.Errorf("update user: %w", err)
		}
	}
	tok := token.New(token.MailToken)
	mailTo := ""
	var u userRow
	err = s.tx(ctx, ref, func(q tenantdb.Querier) error {
		var err error
		if u, err = s.userByID(ctx, q, ref, cu.ID, true); err != nil {
			return err
		}
		if u.Disabled {
			return ErrUserDisabled
		}
		if s.cfg.MFA != nil && cu.AAL != AAL2 {
			on, err := s.cfg.MFA.Enabled(ctx, q, u.ID)
			if err != nil {
				return fmt.Errorf("mfa enabled: %w", err)
			}
			if on {
				return ErrMFARequired
			}
		}
		if u.Anonymous {
			if cmpOr(email, u.Email) == "" {
				return &InputError{Field: "email", Reason: "required to turn an anonymous user into an account"}
			}
			if hash == "" && u.PasswordHash == "" {
				return &InputError{Field: "password", Reason: "required to turn an anonymous user into an account"}
			}
		}
		now := s.now()
		if email != "" && email != u.Email {
			_, err := q.Exec(ctx, "UPDATE "+table(ref, usersTable)+" SET email = $2, email_verified_at = NULL, updated_at = $3 WHERE id = $1", u.ID, email, now)
			if isUniqueViolation(err) {
				return ErrEmailTaken
			}
			if err != nil {
				return err
			}
			if err := s.insertMailToken(ctx, q, ref, tok, PurposeSignup, u.ID, email, s.cfg.VerifyTTL); err != nil {
				return err
			}
			mailTo = email
		}
		if hash != "" {
			if _, err := q.Exec(ctx, "UPDATE "+table(ref, usersTable)+" SET password_hash = $2, updated_at = $3 WHERE id = $1", u.ID, hash, now); err != nil {
				return err
			}
		}
		if _, err := q.Exec(ctx, "UPDATE "+table(ref, usersTable)+" SET anonymous = (email IS NULL OR password_hash IS NULL) AND anonymous WHERE id = $1", u.ID); err != nil {
			return err
		}
		u, err = s.userByID(ctx, q, ref, u.ID, false)
		return err
	})
	if err != nil {
		return User{}, wrapUnlessDomain("update user", err)
	}
	if mailTo != "" {
		s.sendMail(ctx, ref, u.ID, s.verificationMail(mailTo, tok))
	}
	return u.User, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// RecoverParams is a password reset request.
type RecoverParams struct {
	Email string
	// ClientIP is the caller's address, for throttling.
	ClientIP string
}

// Recover mails a password reset token when the email has a user, and
// answers the same (nil) when it has none. It is throttled per address and
// IP whether or not the address has a user.
func (s *Service) Recover(ctx context.Context, ref string, p RecoverParams) error {
	email, err := normalizeEmail(p.Email)
	if err != nil {
		return err
	}
	if err := s.throttle(ctx, ref, "mails",
		limitCheck{"recover:ip:" + clientKey(p.ClientIP), s.cfg.SignInPerIP},
		limitCheck{"mail:" + emailKey(email), s.cfg.MailPerAddress}); err != nil {
		return err
	}
	tok := token.New(token.MailToken)
	var (
		u     userRow
		found bool
	)
	err = s.tx(ctx, ref, func(q tenantdb.Querier) error {
		var err error
		if u, found, err = s.userByEmail(ctx, q, ref, email); err != nil || !found || u.Disabled {
			return err
		}
		return s.insertMailToken(ctx, q, ref, tok, PurposeRecovery, u.ID, email, s.cfg.RecoveryTTL)
	})
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	if found && !u.Disabled {
		s.sendMail(ctx, ref, u.ID, s.recoveryMail(email, tok))
	}
	return nil
}

// VerifyParams consumes a mailed token.
type VerifyParams struct {
	// Type is PurposeSignup or PurposeRecovery.
	Type  string
	Token string
	// NewPassword is for PurposeRecovery.
	NewPassword string
}

// Verify consumes a single-use mailed token: "signup" marks the email
// verified; "recovery" sets NewPassword, marks the email verified (the token
// proves the mailbox), uses up the user's other reset tokens and signs out
// every session. A weak password leaves the token unused.
func (s *Service) Verify(ctx context.Context, ref string, p VerifyParams) (User, error) {
	switch p.Type {
	case PurposeSignup, PurposeRecovery:
	case "":
		return User{}, &InputError{Field: "type", Reason: `required: "signup" or "recovery"`}
	default:
		return User{}, &InputError{Field: "type", Reason: fmt.Sprintf(`must be "signup" or "recovery", got %q`, p.Type)}
	}
	if p.Token == "" {
		return User{}, &InputError{Field: "token", Reason: "required"}
	}
	if token.Check(p.Token, token.MailToken) != nil {
		return User{}, credErr("invalid token")
	}
	var hash string
	if p.Type == PurposeRecovery {
		if p.NewPassword == "" {
			return User{}, &InputError{Field: "new_password", Reason: "required for a recovery token"}
		}
		// Check and hash outside the transaction: hashing takes tens of
		// milliseconds and must not hold a connection and a row lock.
		email, err := s.mailTokenEmail(ctx, ref, p.Token, p.Type)
		if err != nil {
			return User{}, err
		}
		if err := checkPassword(p.NewPassword, email); err != nil {
			var ie *InputError
			if errors.As(err, &ie) {
				ie.Field = "new_password"
			}
			return User{}, err
		}
		if hash, err = s.hasher.Hash(ctx, p.NewPassword); err != nil {
			return User{}, fmt.Errorf("verify: %w", err)
		}
	}
	var u userRow
	err := s.tx(ctx, ref, func(q tenantdb.Querier) error {
		var (
			userID, email string
			expires       time.Time
			used          *time.Time
		)
		err := q.QueryRow(ctx, "SELECT user_id::text, email, expires_at, used_at FROM "+table(ref, mailTokensTable)+" WHERE hash = $1 AND purpose = $2 FOR UPDATE",
			token.Hash(p.Token), p.Type).Scan(&userID, &email, &expires, &used)
		if errors.Is(err, pgx.ErrNoRows) {
			return credErr("invalid token")
		}
		if err != nil {
			return err
		}
		now := s.now()
		if used != nil {
			return credErr("token already used")
		}
		if !now.Before(expires) {
			return credErr("token expired")
		}
		if u, err = s.userByID(ctx, q, ref, userID, true); err != nil {
			return err
		}
		if u.Email != email {
			// The user's address changed since the mail was sent.
			return credErr("invalid token")
		}
		if u.Disabled {
			return ErrUserDisabled
		}
		if _, err := q.Exec(ctx, "UPDATE "+table(ref, mailTokensTable)+" SET used_at = $3 WHERE used_at IS NULL AND (hash = $1 OR (purpose = 'recovery' AND $2::text = 'recovery' AND user_id = $4))",
			token.Hash(p.Token), p.Type, now, userID); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, "UPDATE "+table(ref, usersTable)+" SET email_verified_at = coalesce(email_verified_at, $2), updated_at = $2 WHERE id = $1", userID, now); err != nil {
			return err
		}
		if p.Type == PurposeRecovery {
			if _, err := q.Exec(ctx, "UPDATE "+table(ref, usersTable)+" SET password_hash = $2 WHERE id = $1", userID, hash); err != nil {
				return err
			}
			if _, err := s.revokeSessions(ctx, q, ref, userID, "", "password_reset"); err != nil {
				return err
			}
		}
		u, err = s.userByID(ctx, q, ref, userID, false)
		return err
	})
	if err != nil {
		return User{}, wrapUnlessDomain("verify", err)
	}
	if p.Type == PurposeRecovery {
		s.announce(ctx, invalidation{Tenant: ref, Sessions: true})
	}
	return u.User, nil
}

// mailTokenEmail reads the address a usable mail token was sent to.
func (s *Service) mailTokenEmail(ctx context.Context, ref, tok, purpose string) (string, error) {
	if err := s.ensureTables(ctx, ref); err != nil {
		return "", err
	}
	var email string
	err := s.db.Tx(ctx, service(ref), tenantdb.TxOptions{ReadOnly: true}, func(q tenantdb.Querier) error {
		var (
			expires time.Time
			used    *time.Time
		)
		err := q.QueryRow(ctx, "SELECT email, expires_at, used_at FROM "+table(ref, mailTokensTable)+" WHERE hash = $1 AND purpose = $2",
			token.Hash(tok), purpose).Scan(&email, &expires, &used)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return credErr("invalid token")
		case err != nil:
			return err
		case used != nil:
			return credErr("token already used")
		case !s.now().Before(expires):
			return credErr("token expired")
		}
		return nil
	})
	if err != nil {
		return "", wrapUnlessDomain("verify", err)
	}
	return email, nil
}

// wrapUnlessDomain adds context to internal errors and leaves the ones a
// caller acts on as they are, so their messages stay fit for the client.
func wrapUnlessDomain(op string, err error) error {
	var (
		ie *InputError
		ce *CredentialError
	)
	switch {
	case errors.As(err, &ie), errors.As(err, &ce), errors.Is(err, ErrNotFound), errors.Is(err, ErrEmailTaken),
		errors.Is(err, ErrUserDisabled), errors.Is(err, ErrMFARequired), errors.Is(err, ErrThrottled),
		errors.Is(err, ErrMFAUnavailable), errors.Is(err, ErrOAuthUnavailable), errors.Is(err, ErrFactorState),
		errors.Is(err, ErrProviderFailed), errors.Is(err, ErrWrongCode):
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

func (s *Service) verificationMail(email, tok string) mail.Message {
	return mail.Message{To: email, Subject: "Confirm your email address", Body: "Hello,\n\nPlease confirm that " + email +
		" is your address with this verification token (it works once, for " + hours(s.cfg.VerifyTTL) + "):\n\n  " + tok +
		"\n\nIf you did not sign up, ignore this mail.\n"}
}

func (s *Service) recoveryMail(email, tok string) mail.Message {
	return mail.Message{To: email, Subject: "Reset your password", Body: "Hello,\n\nSomeone asked to reset the password of " + email +
		". To choose a new one, use this reset token (it works once, for " + hours(s.cfg.RecoveryTTL) + "):\n\n  " + tok +
		"\n\nResetting the password signs out every session. If you did not ask for this, ignore this mail: your password stays as it is.\n"}
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
