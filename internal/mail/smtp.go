package mail

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"time"
)

// SMTPConfig configures NewSMTP.
type SMTPConfig struct {
	// Host is the SMTP server's name (also the name its TLS certificate
	// must carry). Required.
	Host string
	// Port is the server's port. 465 means TLS from the first byte
	// (SMTPS); any other port starts in plain text and upgrades with
	// STARTTLS when the server offers it. Default 587.
	Port int
	// Username and Password authenticate with AUTH PLAIN; empty Username
	// means no authentication. net/smtp refuses to send them over a
	// connection that is not encrypted, except to localhost.
	Username string
	Password string
	// From is the sender address, e.g. "Sovereign <no-reply@example.com>".
	// Required.
	From string
	// HelloName is the name sent in EHLO. Default "localhost".
	HelloName string
	// Timeout bounds one whole delivery (connect, TLS, dialogue) when the
	// context allows longer. Default 30 seconds.
	Timeout time.Duration
	// TLS is the TLS configuration for STARTTLS and port 465; ServerName
	// defaults to Host. Nil means the system roots.
	TLS *tls.Config
}

// SMTP is a Mailer that hands mails to an SMTP server.
type SMTP struct {
	cfg  SMTPConfig
	from *mail.Address
}

var _ Mailer = (*SMTP)(nil)

// NewSMTP checks cfg and returns the mailer. It does not connect: each Send
// opens its own connection.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" {
		return nil, errors.New("smtp: a host is required")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp: sender address %q: %w", cfg.From, err)
	}
	cfg.Port = cmp.Or(cfg.Port, 587)
	cfg.HelloName = cmp.Or(cfg.HelloName, "localhost")
	cfg.Timeout = cmp.Or(cfg.Timeout, 30*time.Second)
	if cfg.TLS == nil {
		cfg.TLS = &tls.Config{}
	} else {
		cfg.TLS = cfg.TLS.Clone()
	}
	cfg.TLS.ServerName = cmp.Or(cfg.TLS.ServerName, cfg.Host)
	cfg.TLS.MinVersion = max(cfg.TLS.MinVersion, tls.VersionTLS12)
	return &SMTP{cfg: cfg, from: from}, nil
}

// Send delivers m. It gives up when ctx ends or Timeout passes.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("smtp: recipient: %w", err)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return errors.New("smtp: subject contains a line break")
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp: connect to %s: %w", addr, err)
	}
	// net/smtp knows no contexts: the deadline bounds the whole dialogue and
	// closing the connection interrupts it when ctx ends first.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if s.cfg.Port == 465 {
		conn = tls.Client(conn, s.cfg.TLS)
	}
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: greeting from %s: %w", addr, err)
	}
	defer c.Close()
	if err := s.deliver(c, to.Address, m); err != nil {
		return fmt.Errorf("smtp: send via %s: %w", addr, err)
	}
	return nil
}

func (s *SMTP) deliver(c *smtp.Client, to string, m Message) error {
	if err := c.Hello(s.cfg.HelloName); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok && s.cfg.Port != 465 {
		if err := c.StartTLS(s.cfg.TLS); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if s.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(s.compose(to, m)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// compose renders m as an RFC 5322 message: UTF-8 plain text, quoted-printable,
// the subject encoded when it is not ASCII.
func (s *SMTP) compose(to string, m Message) []byte {
	var b strings.Builder
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	domain := s.from.Address[strings.LastIndexByte(s.from.Address, '@')+1:]
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", s.from.String())
	hdr("To", to)
	hdr("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	hdr("Date", time.Now().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+hex.EncodeToString(id)+"@"+domain+">")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(strings.ReplaceAll(m.Body, "\n", "\r\n")))
	_ = qp.Close()
	return []byte(b.String())
}
