package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/token"
)

// userRow is a user with what only this package sees.
type userRow struct {
	User
	PasswordHash string
}

// userColumns select a userRow from _auth_users u.
func userColumns(ref string) string {
	return `u.id::text, coalesce(u.email, ''), u.email_verified_at IS NOT NULL, u.anonymous, coalesce(u.role, ''),
	u.mfa_enabled, u.disabled_at IS NOT NULL, u.created_at, u.last_sign_in_at, coalesce(u.password_hash, ''),
	ARRAY(SELECT i.provider FROM ` + table(ref, identitiesTable) + ` i WHERE i.user_id = u.id ORDER BY i.provider)`
}

func scanUser(row pgx.Row) (userRow, error) {
	var (
		u         userRow
		lastLogin *time.Time
		oauth     []string
	)
	if err := row.Scan(&u.ID, &u.Email, &u.EmailVerified, &u.Anonymous, &u.Role, &u.MFAEnabled, &u.Disabled,
		&u.CreatedAt, &lastLogin, &u.PasswordHash, &oauth); err != nil {
		return userRow{}, err
	}
	if lastLogin != nil {
		u.LastSignInAt = *lastLogin
	}
	u.Role = roleName(u.Role)
	switch {
	case u.Anonymous:
		u.Providers = append(u.Providers, "anonymous")
	case u.PasswordHash != "":
		u.Providers = append(u.Providers, "email")
	}
	u.Providers = append(u.Providers, oauth...)
	if u.Providers == nil {
		u.Providers = []string{}
	}
	return u, nil
}

// roleName is what a stored role (NULL or "" for the default) means.
func roleName(r string) string {
	if r == "" {
		return tenantdb.RoleAuthenticated
	}
	return r
}

func (s *Service) userByID(ctx context.Context, q tenantdb.Querier, ref, id string, lock bool) (userRow, error) {
	if _, err := uuid.Parse(id); err != nil {
		return userRow{}, fmt.Errorf("user %q: %w", id, ErrNotFound)
	}
	sql := "SELECT " + userColumns(ref) + " FROM " + table(ref, usersTable) + " u WHERE u.id = $1"
	if lock {
		sql += " FOR UPDATE OF u"
	}
	u, err := scanUser(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return userRow{}, fmt.Errorf("user %s: %w", id, ErrNotFound)
	}
	return u, err
}

func (s *Service) userByEmail(ctx context.Context, q tenantdb.Querier, ref, email string) (userRow, bool, error) {
	u, err := scanUser(q.QueryRow(ctx, "SELECT "+userColumns(ref)+" FROM "+table(ref, usersTable)+" u WHERE u.email = $1", email))
	if errors.Is(err, pgx.ErrNoRows) {
		return userRow{}, false, nil
	}
	return u, err == nil, err
}

// userInsert is a new user.
type userInsert struct {
	Email        string
	Verified     bool
	PasswordHash string
	Anonymous    bool
	Role         string
}

func (s *Service) insertUser(ctx context.Context, q tenantdb.Querier, ref string, p userInsert) (userRow, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return userRow{}, err
	}
	now := s.now()
	var verified *time.Time
	if p.Verified {
		verified = &now
	}
	_, err = q.Exec(ctx, "INSERT INTO "+table(ref, usersTable)+
		" (id, email, email_verified_at, password_hash, anonymous, role, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
		id, nullable(p.Email), verified, nullable(p.PasswordHash), p.Anonymous, nullable(p.Role), now)
	if isUniqueViolation(err) {
		return userRow{}, ErrEmailTaken
	}
	if err != nil {
		return userRow{}, err
	}
	return s.userByID(ctx, q, ref, id.String(), false)
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// newSession is a session just started or refreshed, before its access
// token is signed.
type newSession struct {
	id         string
	refresh    string
	refreshExp time.Time
	aal        string
}

// startSession starts a session for u at aal with its first refresh token,
// and records the sign-in.
func (s *Service) startSession(ctx context.Context, q tenantdb.Querier, ref, userID, aal string) (newSession, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return newSession{}, err
	}
	now := s.now()
	exp := now.Add(s.cfg.SessionLifetime)
	if _, err := q.Exec(ctx, "INSERT INTO "+table(ref, sessionsTable)+" (id, user_id, aal, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
		id, userID, aal, now, exp); err != nil {
		return newSession{}, fmt.Errorf("start session: %w", err)
	}
	if _, err := q.Exec(ctx, "UPDATE "+table(ref, usersTable)+" SET last_sign_in_at = $2 WHERE id = $1", userID, now); err != nil {
		return newSession{}, fmt.Errorf("record sign-in: %w", err)
	}
	ns := newSession{id: id.String(), aal: aal}
	ns.refresh, ns.refreshExp, _, err = s.addRefresh(ctx, q, ref, ns.id, 0, aal, exp)
	return ns, err
}

// addRefresh adds a refresh token to session sid's family.
func (s *Service) addRefresh(ctx context.Context, q tenantdb.Querier, ref, sid string, parent int64, aal string, sessionExp time.Time) (string, time.Time, int64, error) {
	now := s.now()
	tok := token.New(token.RefreshToken)
	exp := now.Add(s.cfg.RefreshTTL)
	if sessionExp.Before(exp) {
		exp = sessionExp
	}
	var parentID *int64
	if parent != 0 {
		parentID = &parent
	}
	var id int64
	err := q.QueryRow(ctx, "INSERT INTO "+table(ref, refreshTable)+" (session_id, parent_id, hash, aal, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
		sid, parentID, token.Hash(tok), aal, now, exp).Scan(&id)
	if err != nil {
		return "", time.Time{}, 0, fmt.Errorf("add refresh token: %w", err)
	}
	return tok, exp, id, nil
}

// finish signs the access token of a session and returns it whole.
func (s *Service) finish(ctx context.Context, ref string, u User, ns newSession) (Session, error) {
	at, atExp, err := s.issueAccess(ctx, ref, u, ns.id, ns.aal)
	if err != nil {
		return Session{}, err
	}
	return Session{AccessToken: at, AccessExpiresAt: atExp, RefreshToken: ns.refresh, RefreshExpiresAt: ns.refreshExp, AAL: ns.aal, User: u, ID: ns.id}, nil
}

// revokeSessions revokes the live sessions of a user (all, or the one
// session sid) and returns how many.
func (s *Service) revokeSessions(ctx context.Context, q tenantdb.Querier, ref, userID, sid, reason string) (int64, error) {
	sql := "UPDATE " + table(ref, sessionsTable) + " SET revoked_at = $2, revoke_reason = $3 WHERE user_id = $1 AND revoked_at IS NULL"
	args := []any{userID, s.now(), reason}
	if sid != "" {
		sql += " AND id = $4"
		args = append(args, sid)
	}
	tag, err := q.Exec(ctx, sql, args...)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}

// graceAAD binds a kept child token to its parent row.
func graceAAD(ref string, parent int64) string {
	return "sovereign auth refresh grace\x00" + ref + "\x00" + strconv.FormatInt(parent, 10)
}
