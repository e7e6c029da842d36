package mail

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DevMailboxConfig configures NewDevMailbox.
type DevMailboxConfig struct {
	// Pool is the control plane's database, with the controlplane.dev_mail
	// table. Required.
	Pool *pgxpool.Pool
	// Logger receives one line per kept mail (recipient and subject, never
	// the body, which carries secret links). Default slog.Default().
	Logger *slog.Logger
}

// DevMailbox is a Mailer that keeps mails in the database instead of sending
// them, for development and for servers without SMTP. DevMailService reads
// them back.
type DevMailbox struct {
	pool *pgxpool.Pool
	log  *slog.Logger
}

var _ Mailer = (*DevMailbox)(nil)

// NewDevMailbox returns the dev mailbox on cfg.Pool.
func NewDevMailbox(cfg DevMailboxConfig) (*DevMailbox, error) {
	if cfg.Pool == nil {
		return nil, errors.New("dev mailbox: a database pool is required")
	}
	return &DevMailbox{pool: cfg.Pool, log: cmp.Or(cfg.Logger, slog.Default())}, nil
}

// Send keeps m.
func (d *DevMailbox) Send(ctx context.Context, m Message) error {
	_, err := d.pool.Exec(ctx, `
		INSERT INTO controlplane.dev_mail (to_address, subject, body) VALUES ($1, $2, $3)`,
		strings.ToLower(strings.TrimSpace(m.To)), m.Subject, m.Body)
	if err != nil {
		return fmt.Errorf("keep mail in the dev mailbox: %w", err)
	}
	d.log.InfoContext(ctx, "mail kept in the dev mailbox", "to", m.To, "subject", m.Subject)
	return nil
}

// Mail is one kept mail.
type Mail struct {
	ID      string
	To      string
	Subject string
	Body    string
	SentAt  time.Time
}

// MailListParams selects kept mails.
type MailListParams struct {
	// To keeps only mails to this address (case-insensitive); empty for
	// all.
	To string
	// Limit is how many mails, 1 to 100.
	Limit int
}

// MailList returns kept mails, newest first.
func (d *DevMailbox) MailList(ctx context.Context, p MailListParams) ([]Mail, error) {
	rows, err := d.pool.Query(ctx, `
		SELECT id, to_address, subject, body, sent_at FROM controlplane.dev_mail
		WHERE $1 = '' OR to_address = $1
		ORDER BY id DESC LIMIT $2`, strings.ToLower(strings.TrimSpace(p.To)), p.Limit)
	if err != nil {
		return nil, fmt.Errorf("list dev mail: %w", err)
	}
	defer rows.Close()
	var out []Mail
	for rows.Next() {
		var m Mail
		var id int64
		if err := rows.Scan(&id, &m.To, &m.Subject, &m.Body, &m.SentAt); err != nil {
			return nil, fmt.Errorf("list dev mail: %w", err)
		}
		m.ID = strconv.FormatInt(id, 10)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list dev mail: %w", err)
	}
	return out, nil
}
