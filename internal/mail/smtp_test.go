package mail_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"mime/quotedprintable"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sovereign-backend/sovereign/internal/mail"
)

// fakeSMTP is a minimal SMTP server for the mailer's tests (a third party
// we cannot run here): EHLO, optional STARTTLS, AUTH PLAIN, one mail per
// connection. It records what it received.
type fakeSMTP struct {
	ln  net.Listener
	tls *tls.Config // nil: STARTTLS not offered

	mu       sync.Mutex
	got      []received
	sessions sync.WaitGroup
}

type received struct {
	from, to, data string
	tlsBeforeAuth  bool
	auth           string // decoded AUTH PLAIN
}

func startFakeSMTP(t *testing.T, tlsCfg *tls.Config) *fakeSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeSMTP{ln: ln, tls: tlsCfg}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.sessions.Add(1)
			go func() {
				defer s.sessions.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.sessions.Wait() })
	return s
}

func (s *fakeSMTP) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *fakeSMTP) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

func (s *fakeSMTP) serve(c net.Conn) {
	defer func() { c.Close() }()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(c)
	var r received
	isTLS := false
	_ = tp.PrintfLine("220 fake ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			lines := []string{"250-fake"}
			if s.tls != nil && !isTLS {
				lines = append(lines, "250-STARTTLS")
			}
			lines = append(lines, "250 AUTH PLAIN")
			_ = tp.PrintfLine("%s", strings.Join(lines, "\r\n"))
		case "STARTTLS":
			_ = tp.PrintfLine("220 go ahead")
			tc := tls.Server(c, s.tls)
			if tc.Handshake() != nil {
				return
			}
			c, isTLS = tc, true
			tp = textproto.NewConn(c)
		case "AUTH":
			raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(arg, "PLAIN "))
			r.auth, r.tlsBeforeAuth = string(raw), isTLS
			_ = tp.PrintfLine("235 ok")
		case "MAIL":
			r.from = arg
			_ = tp.PrintfLine("250 ok")
		case "RCPT":
			r.to = arg
			_ = tp.PrintfLine("250 ok")
		case "DATA":
			_ = tp.PrintfLine("354 go ahead")
			data, err := io.ReadAll(tp.DotReader())
			if err != nil {
				return
			}
			r.data = string(data)
			s.mu.Lock()
			s.got = append(s.got, r)
			s.mu.Unlock()
			_ = tp.PrintfLine("250 queued")
		case "QUIT":
			_ = tp.PrintfLine("221 bye")
			return
		default:
			_ = tp.PrintfLine("502 unknown")
		}
	}
}

// selfSigned returns a server config with a certificate for 127.0.0.1 and a
// pool that trusts it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

func TestSMTP(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	msg := mail.Message{To: "ada@example.com", Subject: "Vérifiez", Body: "Hello,\n\ntoken sov_mt_x\n"}

	t.Run("plain, no auth", func(t *testing.T) {
		t.Parallel()
		srv := startFakeSMTP(t, nil)
		m, err := mail.NewSMTP(mail.SMTPConfig{Host: "127.0.0.1", Port: srv.port(), From: "Sovereign <no-reply@sovereign.test>"})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Send(ctx, msg); err != nil {
			t.Fatal(err)
		}
		got := srv.received()
		if len(got) != 1 {
			t.Fatalf("%d mails received", len(got))
		}
		r := got[0]
		if r.from != "FROM:<no-reply@sovereign.test>" || r.to != "TO:<ada@example.com>" || r.auth != "" {
			t.Fatalf("envelope %+v", r)
		}
		head, body, _ := strings.Cut(r.data, "\n\n")
		for _, h := range []string{"From: \"Sovereign\" <no-reply@sovereign.test>", "To: ada@example.com", "Subject: =?utf-8?q?V=C3=A9rifiez?=", "Content-Type: text/plain; charset=utf-8", "Message-ID: <"} {
			if !strings.Contains(head, h) {
				t.Fatalf("headers lack %q:\n%s", h, head)
			}
		}
		decoded, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(decoded), "token sov_mt_x") {
			t.Fatalf("body %q", decoded)
		}
	})

	t.Run("STARTTLS before AUTH", func(t *testing.T) {
		t.Parallel()
		serverTLS, roots := selfSigned(t)
		srv := startFakeSMTP(t, serverTLS)
		m, err := mail.NewSMTP(mail.SMTPConfig{
			Host: "127.0.0.1", Port: srv.port(), From: "no-reply@sovereign.test",
			Username: "user", Password: "pass", TLS: &tls.Config{RootCAs: roots},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Send(ctx, msg); err != nil {
			t.Fatal(err)
		}
		got := srv.received()
		if len(got) != 1 || !got[0].tlsBeforeAuth || got[0].auth != "\x00user\x00pass" {
			t.Fatalf("received %+v", got)
		}
	})

	t.Run("untrusted certificate", func(t *testing.T) {
		t.Parallel()
		serverTLS, _ := selfSigned(t)
		srv := startFakeSMTP(t, serverTLS)
		m, _ := mail.NewSMTP(mail.SMTPConfig{Host: "127.0.0.1", Port: srv.port(), From: "no-reply@sovereign.test", Username: "u", Password: "p"})
		if err := m.Send(ctx, msg); err == nil || !strings.Contains(err.Error(), "starttls") {
			t.Fatalf("Send to an untrusted server: %v", err)
		}
		if len(srv.received()) != 0 {
			t.Fatal("mail delivered")
		}
	})

	t.Run("bad input", func(t *testing.T) {
		t.Parallel()
		srv := startFakeSMTP(t, nil)
		m, _ := mail.NewSMTP(mail.SMTPConfig{Host: "127.0.0.1", Port: srv.port(), From: "no-reply@sovereign.test"})
		for _, bad := range []mail.Message{
			{To: "ada@example.com", Subject: "hi\r\nBcc: eve@example.com", Body: "x"},
			{To: "not an address", Subject: "hi", Body: "x"},
		} {
			if err := m.Send(ctx, bad); err == nil {
				t.Fatalf("Send(%+v) succeeded", bad)
			}
		}
		if len(srv.received()) != 0 {
			t.Fatal("mail delivered")
		}
		if _, err := mail.NewSMTP(mail.SMTPConfig{From: "a@b.c"}); err == nil {
			t.Fatal("NewSMTP without host succeeded")
		}
		if _, err := mail.NewSMTP(mail.SMTPConfig{Host: "x", From: "nope"}); err == nil {
			t.Fatal("NewSMTP with a bad sender succeeded")
		}
	})

	t.Run("server gone", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		m, _ := mail.NewSMTP(mail.SMTPConfig{Host: "127.0.0.1", Port: port, From: "no-reply@sovereign.test"})
		if err := m.Send(ctx, msg); err == nil || !strings.Contains(err.Error(), "smtp: connect") {
			t.Fatalf("Send to a closed port: %v", err)
		}
	})

	t.Run("context ends", func(t *testing.T) {
		t.Parallel()
		// A server that accepts and never greets.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { _, _ = io.Copy(io.Discard, bufio.NewReader(c)); c.Close() }()
			}
		}()
		m, _ := mail.NewSMTP(mail.SMTPConfig{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, From: "no-reply@sovereign.test"})
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(50*time.Millisecond, cancel)
		if err := m.Send(cctx, msg); err == nil {
			t.Fatal("Send succeeded against a silent server")
		}
	})
}
