package accounts_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sovereign-backend/sovereign/controlplane/accounts"
	"github.com/sovereign-backend/sovereign/controlplane/authn"
	"github.com/sovereign-backend/sovereign/controlplane/mail"
	"github.com/sovereign-backend/sovereign/controlplane/migrations"
	"github.com/sovereign-backend/sovereign/internal/migrate"
	"github.com/sovereign-backend/sovereign/internal/ratelimit"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	controlplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/controlplane/v1/controlplanev1connect"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var quiet = slog.New(slog.DiscardHandler)

// clock is a fake clock shared by the service and its limiter.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is one account service on its own database, served over HTTP with the
// authentication interceptor, as the control plane mounts it.
type env struct {
	t      *testing.T
	pool   *pgxpool.Pool
	svc    *accounts.Service
	box    *mail.DevMailbox
	clock  *clock
	client controlplanev1connect.AccountServiceClient
	url    string
}

// cheapArgon2 keeps the many hashes of these tests fast; TestPasswordHash
// covers the default parameters.
var cheapArgon2 = accounts.Argon2Params{Memory: 1024, Time: 1, Threads: 1}

func newEnv(t *testing.T, tweak func(*accounts.Config)) *env {
	t.Helper()
	ctx := context.Background()
	pool := testenv.Pool(t)
	if _, err := migrate.Up(ctx, pool, migrate.Config{Schema: "controlplane", FS: migrations.FS}); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	box, err := mail.NewDevMailbox(mail.DevMailboxConfig{Pool: pool, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: time.Now().UTC().Truncate(time.Second)}
	generous := ratelimit.Limit{Rate: 1000, Per: time.Minute}
	cfg := accounts.Config{
		Pool:           pool,
		Mailer:         box,
		Limiter:        ratelimit.NewMemory(ratelimit.MemoryConfig{Now: c.Now}),
		Argon2:         cheapArgon2,
		Logger:         quiet,
		LoginPerEmail:  generous,
		LoginPerIP:     generous,
		SignupPerIP:    generous,
		MailPerAddress: generous,
		Now:            c.Now,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	svc, err := accounts.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	icpt, err := authn.NewInterceptor(authn.InterceptorConfig{Authenticator: svc, Skip: authn.PublicProcedures()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(controlplanev1connect.NewAccountServiceHandler(accounts.NewHandler(svc), connect.WithInterceptors(icpt)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{
		t: t, pool: pool, svc: svc, box: box, clock: c, url: srv.URL,
		client: controlplanev1connect.NewAccountServiceClient(srv.Client(), srv.URL),
	}
}

// req wraps msg, with a bearer credential when tok is not empty.
func req[T any](msg *T, tok string) *connect.Request[T] {
	r := connect.NewRequest(msg)
	if tok != "" {
		r.Header().Set("Authorization", "Bearer "+tok)
	}
	return r
}

const goodPassword = "correct horse battery"

// signup creates an account and returns its session.
func (e *env) signup(email string) *controlplanev1.Session {
	e.t.Helper()
	resp, err := e.client.Signup(context.Background(), req(&controlplanev1.SignupRequest{Email: email, Password: goodPassword}, ""))
	if err != nil {
		e.t.Fatalf("signup %s: %v", email, err)
	}
	return resp.Msg.GetSession()
}

func (e *env) login(email, password string) (*controlplanev1.Session, error) {
	resp, err := e.client.Login(context.Background(), req(&controlplanev1.LoginRequest{Email: email, Password: password}, ""))
	if err != nil {
		return nil, err
	}
	return resp.Msg.GetSession(), nil
}

func (e *env) whoami(tok string) (*controlplanev1.WhoAmIResponse, error) {
	resp, err := e.client.WhoAmI(context.Background(), req(&controlplanev1.WhoAmIRequest{}, tok))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

var mailToken = regexp.MustCompile(`sov_mt_[0-9A-Za-z]{38}`)

// mails returns the kept mails to addr, newest first.
func (e *env) mails(addr string) []mail.Mail {
	e.t.Helper()
	m, err := e.box.MailList(context.Background(), mail.MailListParams{To: addr, Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// lastToken returns the token in the newest mail to addr whose subject
// contains subject.
func (e *env) lastToken(addr, subject string) string {
	e.t.Helper()
	for _, m := range e.mails(addr) {
		if strings.Contains(m.Subject, subject) {
			tok := mailToken.FindString(m.Body)
			if tok == "" {
				e.t.Fatalf("mail %q carries no token:\n%s", m.Subject, m.Body)
			}
			return tok
		}
	}
	e.t.Fatalf("no mail to %s about %q", addr, subject)
	return ""
}

func (e *env) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// wantErr fails t unless err is a Connect error with code whose message
// contains every fragment.
func wantErr(t *testing.T, err error, code connect.Code, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a Connect error", err)
	}
	if ce.Code() != code {
		t.Fatalf("code %s (%q), want %s", ce.Code(), ce.Message(), code)
	}
	for _, f := range fragments {
		if !strings.Contains(ce.Message(), f) {
			t.Fatalf("message %q does not contain %q", ce.Message(), f)
		}
	}
}

func wantOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

type accountsConfig = accounts.Config

// limit allows n requests a minute, all at once.
func limit(n int) ratelimit.Limit { return ratelimit.Limit{Rate: n, Per: time.Minute, Burst: n} }
