// Package cptest is the control plane's test harness: a fresh database with
// every control-plane migration, accounts, a test authentication
// interceptor standing in for the real one, and a fake of a region's
// data-plane AdminService (the other plane's API, which the control plane's
// unit tests may not import). Only tests import it.
package cptest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sovereign-backend/sovereign/controlplane/authn"
	"github.com/sovereign-backend/sovereign/controlplane/mail"
	"github.com/sovereign-backend/sovereign/controlplane/migrations"
	"github.com/sovereign-backend/sovereign/internal/migrate"
	"github.com/sovereign-backend/sovereign/internal/testenv"
)

// DB returns a pool on a fresh database with every control-plane migration
// applied.
func DB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool := testenv.Pool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := migrate.Up(ctx, pool, migrate.Config{Schema: "controlplane", FS: migrations.FS}); err != nil {
		t.Fatalf("cptest: migrate: %v", err)
	}
	return pool
}

// User is a test account.
type User struct {
	ID    string
	Email string
}

// Account inserts an account with email (lowercased) and returns it. Its
// password hash is a placeholder: tests sign it in with As.
func Account(t testing.TB, pool *pgxpool.Pool, email string) User {
	t.Helper()
	email = strings.ToLower(email)
	var id string
	err := pool.QueryRow(context.Background(), `
INSERT INTO controlplane.accounts (email, password_hash)
VALUES ($1, '$argon2id$v=19$m=65536,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g')
RETURNING id::text`, email).Scan(&id)
	if err != nil {
		t.Fatalf("cptest: insert account %s: %v", email, err)
	}
	return User{ID: id, Email: email}
}

// header carries the test principal from client to server.
const header = "X-Cptest-Principal"

// AuthInterceptor stands in for the real authn interceptor: it turns the
// header set by As into a Principal and leaves requests without it
// unauthenticated.
func AuthInterceptor() connect.Interceptor {
	return connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if v := req.Header().Get(header); v != "" {
				id, email, _ := strings.Cut(v, " ")
				ctx = authn.WithPrincipal(ctx, authn.Principal{
					AccountID: id, Email: email, EmailVerified: true, Credential: authn.CredentialSession,
				})
			}
			return next(ctx, req)
		}
	})
}

// As is a client option that signs requests in as u (through
// AuthInterceptor).
func As(u User) connect.ClientOption {
	return connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set(header, u.ID+" "+u.Email)
			return next(ctx, req)
		}
	}))
}

// Serve starts an httptest server with the handlers mount adds (given the
// handler options to use, AuthInterceptor included) and returns its URL.
func Serve(t testing.TB, mount func(mux *http.ServeMux, opts ...connect.HandlerOption)) string {
	t.Helper()
	mux := http.NewServeMux()
	mount(mux, connect.WithInterceptors(AuthInterceptor()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// Mailbox is a mail.Mailer that keeps what it is sent.
type Mailbox struct {
	mu   sync.Mutex
	sent []mail.Message
	// Fail, when set, is returned by Send (and the mail is not kept).
	Fail error
}

// Send keeps m.
func (b *Mailbox) Send(_ context.Context, m mail.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Fail != nil {
		return b.Fail
	}
	b.sent = append(b.sent, m)
	return nil
}

// To returns the mails sent to addr.
func (b *Mailbox) To(addr string) []mail.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []mail.Message
	for _, m := range b.sent {
		if m.To == addr {
			out = append(out, m)
		}
	}
	return out
}

// Code returns err's Connect code, or 0 for nil.
func Code(err error) connect.Code {
	if err == nil {
		return 0
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code()
	}
	return connect.CodeUnknown
}

// Eventually polls cond every 20 ms until it is true, failing t with msg
// after timeout. Timeouts are generous: they bound a hang, not a speed.
func Eventually(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
