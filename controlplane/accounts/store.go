package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// errNoRows is what store getters return when nothing matches.
var errNoRows = errors.New("no rows")

// dbtx is what the store runs statements on: the pool or a transaction.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// store holds every SQL statement of the package; all are parameterised and
// name their tables with the schema.
type store struct {
	pool *pgxpool.Pool
	db   dbtx
}

func newStore(pool *pgxpool.Pool) *store { return &store{pool: pool, db: pool} }

// inTx runs fn in one transaction; an error from fn rolls it back.
func (s *store) inTx(ctx context.Context, fn func(tx *store) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return fn(&store{pool: s.pool, db: tx})
	})
}

func isUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && (constraint == "" || pgErr.ConstraintName == constraint)
}

func noRows(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return errNoRows
	}
	return err
}

// accountRow is an account with its password hash, which never leaves the
// package.
type accountRow struct {
	Account
	PasswordHash string
}

const accountColumns = `id::text, email, email_verified_at, created_at, password_hash`

func scanAccount(row pgx.Row) (accountRow, error) {
	var a accountRow
	var verified *time.Time
	if err := row.Scan(&a.ID, &a.Email, &verified, &a.CreatedAt, &a.PasswordHash); err != nil {
		return a, noRows(err)
	}
	a.EmailVerified = verified != nil
	return a, nil
}

type accountInsertParams struct {
	Email        string
	PasswordHash string
	Now          time.Time
}

// AccountInsert creates an account; ErrEmailTaken when the email has one.
func (s *store) AccountInsert(ctx context.Context, p accountInsertParams) (accountRow, error) {
	a, err := scanAccount(s.db.QueryRow(ctx, `
		INSERT INTO controlplane.accounts (email, password_hash, created_at, updated_at)
		VALUES ($1, $2, $3, $3)
		RETURNING `+accountColumns, p.Email, p.PasswordHash, p.Now))
	if isUniqueViolation(err, "accounts_email_key") {
		return a, ErrEmailTaken
	}
	if err != nil {
		return a, fmt.Errorf("insert account: %w", err)
	}
	return a, nil
}

func (s *store) AccountGetByEmail(ctx context.Context, email string) (accountRow, error) {
	return scanAccount(s.db.QueryRow(ctx, `SELECT `+accountColumns+` FROM controlplane.accounts WHERE email = $1`, email))
}

func (s *store) AccountGetByID(ctx context.Context, id string) (accountRow, error) {
	return scanAccount(s.db.QueryRow(ctx, `SELECT `+accountColumns+` FROM controlplane.accounts WHERE id = $1`, id))
}

// AccountLock locks the account's row until the transaction ends, to
// serialise checks that no constraint can express (live token names).
func (s *store) AccountLock(ctx context.Context, id string) error {
	var one int
	err := s.db.QueryRow(ctx, `SELECT 1 FROM controlplane.accounts WHERE id = $1 FOR NO KEY UPDATE`, id).Scan(&one)
	return noRows(err)
}

type accountSetPasswordParams struct {
	ID           string
	PasswordHash string
	// Verified marks the email verified too (a reset proves the mailbox).
	Verified bool
	Now      time.Time
}

func (s *store) AccountSetPassword(ctx context.Context, p accountSetPasswordParams) error {
	_, err := s.db.Exec(ctx, `
		UPDATE controlplane.accounts
		SET password_hash = $2, updated_at = $3,
		    email_verified_at = CASE WHEN $4 THEN coalesce(email_verified_at, $3) ELSE email_verified_at END
		WHERE id = $1`, p.ID, p.PasswordHash, p.Now, p.Verified)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return nil
}

// AccountMarkVerified sets email_verified_at unless it is set already.
func (s *store) AccountMarkVerified(ctx context.Context, id string, now time.Time) (accountRow, error) {
	a, err := scanAccount(s.db.QueryRow(ctx, `
		UPDATE controlplane.accounts
		SET email_verified_at = coalesce(email_verified_at, $2), updated_at = $2
		WHERE id = $1
		RETURNING `+accountColumns, id, now))
	if err != nil {
		return a, fmt.Errorf("mark email verified: %w", err)
	}
	return a, nil
}

type sessionInsertParams struct {
	AccountID string
	// FamilyID and ParentID are empty for a login: the session starts its
	// own family.
	FamilyID         string
	ParentID         string
	AccessHash       string
	AccessExpiresAt  time.Time
	RefreshHash      string
	RefreshExpiresAt time.Time
	Now              time.Time
}

// SessionInsert records a session and returns its id.
func (s *store) SessionInsert(ctx context.Context, p sessionInsertParams) (string, error) {
	id := uuid.NewString()
	family := p.FamilyID
	if family == "" {
		family = id
	}
	var parent *string
	if p.ParentID != "" {
		parent = &p.ParentID
	}
	_, err := s.db.Exec(ctx, `
		INSERT INTO controlplane.sessions
		  (id, account_id, family_id, parent_id, access_token_hash, access_expires_at,
		   refresh_token_hash, refresh_expires_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		id, p.AccountID, family, parent, p.AccessHash, p.AccessExpiresAt, p.RefreshHash, p.RefreshExpiresAt, p.Now)
	if err != nil {
		return "", fmt.Errorf("insert session: %w", err)
	}
	return id, nil
}

// sessionRow is a session with its account.
type sessionRow struct {
	ID               string
	FamilyID         string
	AccessExpiresAt  time.Time
	RefreshExpiresAt time.Time
	RotatedAt        *time.Time
	RevokedAt        *time.Time
	Account          Account
}

const sessionColumns = `s.id::text, s.family_id::text, s.access_expires_at, s.refresh_expires_at, s.rotated_at, s.revoked_at,
	a.id::text, a.email, a.email_verified_at, a.created_at`

func scanSession(row pgx.Row) (sessionRow, error) {
	var r sessionRow
	var verified *time.Time
	err := row.Scan(&r.ID, &r.FamilyID, &r.AccessExpiresAt, &r.RefreshExpiresAt, &r.RotatedAt, &r.RevokedAt,
		&r.Account.ID, &r.Account.Email, &verified, &r.Account.CreatedAt)
	if err != nil {
		return r, noRows(err)
	}
	r.Account.EmailVerified = verified != nil
	return r, nil
}

func (s *store) SessionGetByAccessHash(ctx context.Context, hash string) (sessionRow, error) {
	return scanSession(s.db.QueryRow(ctx, `
		SELECT `+sessionColumns+`
		FROM controlplane.sessions s JOIN controlplane.accounts a ON a.id = s.account_id
		WHERE s.access_token_hash = $1`, hash))
}

// SessionLockByRefreshHash finds a session by its refresh token and locks
// it, so that concurrent refreshes with one token are serialised and all
// but the first see it rotated.
func (s *store) SessionLockByRefreshHash(ctx context.Context, hash string) (sessionRow, error) {
	return scanSession(s.db.QueryRow(ctx, `
		SELECT `+sessionColumns+`
		FROM controlplane.sessions s JOIN controlplane.accounts a ON a.id = s.account_id
		WHERE s.refresh_token_hash = $1
		FOR NO KEY UPDATE OF s`, hash))
}

func (s *store) SessionMarkRotated(ctx context.Context, id string, now time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE controlplane.sessions SET rotated_at = $2 WHERE id = $1`, id, now)
	if err != nil {
		return fmt.Errorf("mark session rotated: %w", err)
	}
	return nil
}

type sessionRevokeParams struct {
	// Exactly one of FamilyID, SessionID (its family) and AccountID (all
	// of the account's sessions) is set.
	FamilyID  string
	SessionID string
	AccountID string
	Reason    string
	Now       time.Time
}

// SessionRevoke revokes the live sessions of a family or of an account and
// returns how many it revoked.
func (s *store) SessionRevoke(ctx context.Context, p sessionRevokeParams) (int64, error) {
	var tag pgconn.CommandTag
	var err error
	switch {
	case p.FamilyID != "":
		tag, err = s.db.Exec(ctx, `
			UPDATE controlplane.sessions SET revoked_at = $2, revoke_reason = $3
			WHERE family_id = $1 AND revoked_at IS NULL`, p.FamilyID, p.Now, p.Reason)
	case p.SessionID != "":
		tag, err = s.db.Exec(ctx, `
			UPDATE controlplane.sessions SET revoked_at = $2, revoke_reason = $3
			WHERE family_id = (SELECT family_id FROM controlplane.sessions WHERE id = $1) AND revoked_at IS NULL`,
			p.SessionID, p.Now, p.Reason)
	case p.AccountID != "":
		tag, err = s.db.Exec(ctx, `
			UPDATE controlplane.sessions SET revoked_at = $2, revoke_reason = $3
			WHERE account_id = $1 AND revoked_at IS NULL`, p.AccountID, p.Now, p.Reason)
	default:
		return 0, errors.New("revoke sessions: no family, session or account given")
	}
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}

type patInsertParams struct {
	AccountID string
	Name      string
	Hash      string
	Prefix    string
	ExpiresAt time.Time // zero: never
	Now       time.Time
}

const patColumns = `id::text, name, prefix, created_at, expires_at, last_used_at, revoked_at`

func scanPAT(row pgx.Row) (PersonalAccessToken, error) {
	var t PersonalAccessToken
	var exp, used, revoked *time.Time
	if err := row.Scan(&t.ID, &t.Name, &t.Prefix, &t.CreatedAt, &exp, &used, &revoked); err != nil {
		return t, noRows(err)
	}
	t.ExpiresAt, t.LastUsedAt, t.RevokedAt = deref(exp), deref(used), deref(revoked)
	return t, nil
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (s *store) PATInsert(ctx context.Context, p patInsertParams) (PersonalAccessToken, error) {
	t, err := scanPAT(s.db.QueryRow(ctx, `
		INSERT INTO controlplane.personal_access_tokens (account_id, name, token_hash, prefix, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING `+patColumns, p.AccountID, p.Name, p.Hash, p.Prefix, p.Now, nullTime(p.ExpiresAt)))
	if err != nil {
		return t, fmt.Errorf("insert personal access token: %w", err)
	}
	return t, nil
}

// PATLiveNameExists reports whether the account has a token named name that
// is neither revoked nor expired at now.
func (s *store) PATLiveNameExists(ctx context.Context, accountID, name string, now time.Time) (bool, error) {
	var exists bool
	err := s.db.QueryRow(ctx, `
		SELECT EXISTS (
		  SELECT 1 FROM controlplane.personal_access_tokens
		  WHERE account_id = $1 AND name = $2 AND revoked_at IS NULL
		    AND (expires_at IS NULL OR expires_at > $3))`, accountID, name, now).Scan(&exists)
	if err != nil {
		return false, fmt.Errorf("check token name: %w", err)
	}
	return exists, nil
}

// patRow is a token with its account, for authentication.
type patRow struct {
	PersonalAccessToken
	Account Account
}

func (s *store) PATGetByHash(ctx context.Context, hash string) (patRow, error) {
	var r patRow
	var exp, used, revoked, verified *time.Time
	err := s.db.QueryRow(ctx, `
		SELECT t.id::text, t.name, t.prefix, t.created_at, t.expires_at, t.last_used_at, t.revoked_at,
		       a.id::text, a.email, a.email_verified_at, a.created_at
		FROM controlplane.personal_access_tokens t JOIN controlplane.accounts a ON a.id = t.account_id
		WHERE t.token_hash = $1`, hash).Scan(
		&r.ID, &r.Name, &r.Prefix, &r.CreatedAt, &exp, &used, &revoked,
		&r.Account.ID, &r.Account.Email, &verified, &r.Account.CreatedAt)
	if err != nil {
		return r, noRows(err)
	}
	r.ExpiresAt, r.LastUsedAt, r.RevokedAt = deref(exp), deref(used), deref(revoked)
	r.Account.EmailVerified = verified != nil
	return r, nil
}

func (s *store) PATListByAccount(ctx context.Context, accountID string) ([]PersonalAccessToken, error) {
	rows, err := s.db.Query(ctx, `
		SELECT `+patColumns+` FROM controlplane.personal_access_tokens
		WHERE account_id = $1 ORDER BY created_at DESC, id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("list personal access tokens: %w", err)
	}
	defer rows.Close()
	var out []PersonalAccessToken
	for rows.Next() {
		t, err := scanPAT(rows)
		if err != nil {
			return nil, fmt.Errorf("list personal access tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list personal access tokens: %w", err)
	}
	return out, nil
}

type patRevokeParams struct {
	AccountID string
	ID        string
	Now       time.Time
}

// PATRevoke revokes one of the account's tokens (keeping the first
// revocation time); errNoRows when the account has no such token.
func (s *store) PATRevoke(ctx context.Context, p patRevokeParams) error {
	tag, err := s.db.Exec(ctx, `
		UPDATE controlplane.personal_access_tokens SET revoked_at = coalesce(revoked_at, $3)
		WHERE id = $1 AND account_id = $2`, p.ID, p.AccountID, p.Now)
	if err != nil {
		return fmt.Errorf("revoke personal access token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return errNoRows
	}
	return nil
}

// PATTouch records a use of the token.
func (s *store) PATTouch(ctx context.Context, id string, now time.Time) error {
	_, err := s.db.Exec(ctx, `
		UPDATE controlplane.personal_access_tokens SET last_used_at = $2
		WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)`, id, now)
	if err != nil {
		return fmt.Errorf("record token use: %w", err)
	}
	return nil
}

// Mail token purposes.
const (
	purposeVerifyEmail   = "verify_email"
	purposeResetPassword = "reset_password"
)

type mailTokenInsertParams struct {
	Hash      string
	Purpose   string
	AccountID string
	Email     string
	ExpiresAt time.Time
	Now       time.Time
}

func (s *store) MailTokenInsert(ctx context.Context, p mailTokenInsertParams) error {
	_, err := s.db.Exec(ctx, `
		INSERT INTO controlplane.mail_tokens (token_hash, purpose, account_id, email, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, p.Hash, p.Purpose, p.AccountID, p.Email, p.Now, p.ExpiresAt)
	if err != nil {
		return fmt.Errorf("insert mail token: %w", err)
	}
	return nil
}

type mailTokenRow struct {
	AccountID    string
	Email        string // the address the token was sent to
	AccountEmail string // the account's address now
	ExpiresAt    time.Time
	UsedAt       *time.Time
}

type mailTokenGetParams struct {
	Hash    string
	Purpose string
	// Lock locks the row until the transaction ends.
	Lock bool
}

func (s *store) MailTokenGet(ctx context.Context, p mailTokenGetParams) (mailTokenRow, error) {
	q := `
		SELECT t.account_id::text, t.email, a.email, t.expires_at, t.used_at
		FROM controlplane.mail_tokens t JOIN controlplane.accounts a ON a.id = t.account_id
		WHERE t.token_hash = $1 AND t.purpose = $2`
	if p.Lock {
		q += ` FOR UPDATE OF t`
	}
	var r mailTokenRow
	err := s.db.QueryRow(ctx, q, p.Hash, p.Purpose).Scan(&r.AccountID, &r.Email, &r.AccountEmail, &r.ExpiresAt, &r.UsedAt)
	return r, noRows(err)
}

type mailTokenUseParams struct {
	// Hash names one token; when empty, every unused token of AccountID
	// with Purpose is used up.
	Hash      string
	AccountID string
	Purpose   string
	Now       time.Time
}

func (s *store) MailTokenUse(ctx context.Context, p mailTokenUseParams) error {
	var err error
	if p.Hash != "" {
		_, err = s.db.Exec(ctx, `UPDATE controlplane.mail_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL`, p.Hash, p.Now)
	} else {
		_, err = s.db.Exec(ctx, `
			UPDATE controlplane.mail_tokens SET used_at = $3
			WHERE account_id = $1 AND purpose = $2 AND used_at IS NULL`, p.AccountID, p.Purpose, p.Now)
	}
	if err != nil {
		return fmt.Errorf("use mail token: %w", err)
	}
	return nil
}
