package isolation_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sovereign-backend/sovereign/dataplane/migrations"
	"github.com/sovereign-backend/sovereign/dataplane/records"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/dataplane/tenants"
	"github.com/sovereign-backend/sovereign/internal/broker"
	"github.com/sovereign-backend/sovereign/internal/isolation"
	"github.com/sovereign-backend/sovereign/internal/migrate"
	"github.com/sovereign-backend/sovereign/internal/platformtest"
	"github.com/sovereign-backend/sovereign/internal/testenv"
)

// poolEnv is a region database with two provisioned tenants, each with a
// collection "notes" holding a few records, served by a pool of one
// connection as the unprivileged app role.
type poolEnv struct {
	pool  *pgxpool.Pool
	db    *tenantdb.DB
	svc   *records.Service
	admin *pgx.Conn // superuser on the same database, outside the pool
	refs  [2]string
	ids   [2][]string // record ids per tenant
}

func newPoolEnv(t *testing.T) *poolEnv {
	t.Helper()
	ctx := t.Context()
	url, _ := platformtest.AppDatabase(t)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	quiet := slog.New(slog.DiscardHandler)
	if _, err := migrate.Up(ctx, pool, migrate.Config{Schema: "dataplane", FS: migrations.FS, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	ts, err := tenants.New(tenants.Config{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	db := tenantdb.New(pool)
	st, err := schema.NewStore(schema.StoreConfig{DB: db, Broker: broker.NewMemory(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := records.New(records.Config{DB: db, Schema: st})
	if err != nil {
		t.Fatal(err)
	}
	e := &poolEnv{pool: pool, db: db, svc: svc, admin: adminConn(t, url)}
	for i := range e.refs {
		e.refs[i] = newRef()
		if _, err := ts.Provision(ctx, tenants.ProvisionParams{Ref: e.refs[i]}); err != nil {
			t.Fatal(err)
		}
		svcID := tenantdb.Identity{TenantRef: e.refs[i], Role: tenantdb.RoleService}
		if _, err := st.Create(ctx, svcID, schema.Collection{Name: "notes", Fields: []schema.Field{
			{Name: "owner", Type: schema.Text}, {Name: "title", Type: schema.Text},
		}}); err != nil {
			t.Fatal(err)
		}
		for n := range 5 {
			rec, err := svc.Create(ctx, svcID, records.CreateParams{Collection: "notes", Record: map[string]any{"title": fmt.Sprintf("note %d", n)}})
			if err != nil {
				t.Fatal(err)
			}
			e.ids[i] = append(e.ids[i], rec["id"].(string))
		}
	}
	return e
}

// adminConn connects as the test server's superuser to the database of
// url, and closes the connection when the test ends.
func adminConn(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(testenv.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	app, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = app.Database
	conn, err := pgx.ConnectConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func newRef() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 12)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

// One pool connection, requests alternating between two tenants through
// tenantdb (Tx and Read) and the records service, a fifth of them
// cancelled in the middle of their transaction: after each, the
// connection the pool hands out next (the same one, or its replacement
// when the pool discarded it) is back at the session of a fresh
// connection: the login role, the default search_path, no sovereign.*
// setting, no open transaction.
func TestPoolContamination(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t)
	ctx := t.Context()
	baseline := e.session(t)
	if baseline.Role != "none" || baseline.CurrentUser != baseline.SessionUser {
		t.Fatalf("a fresh connection already runs as %q (role %q)", baseline.CurrentUser, baseline.Role)
	}
	e.checkDetectsDirt(t, baseline)
	const requests = 600
	var cancelled, failed int
	for n := range requests {
		i := n % 2
		id := tenantdb.Identity{TenantRef: e.refs[i], Role: []string{tenantdb.RoleService, tenantdb.RoleAnon, tenantdb.RoleAuthenticated}[n%3],
			UserID: fmt.Sprintf("user-%d", n), KeyID: fmt.Sprintf("key-%d", n), AuthRole: "editor", AAL: "aal1", Claims: `{"n": 1}`}
		cancel := n%5 == 0 // 20%
		kind := (n / 2) % 6
		if kind >= 4 {
			// The records service refuses callers other than the service
			// role on a collection without rules before any transaction.
			id.Role = tenantdb.RoleService
		}
		err := e.request(ctx, kind, id, e.ids[i][n%len(e.ids[i])], cancel)
		switch {
		case cancel && err == nil:
			t.Fatalf("request %d (kind %d, tenant %s) was to be cancelled in its transaction but succeeded", n, kind, id.TenantRef)
		case cancel:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("request %d (kind %d) was cancelled in its transaction but failed otherwise: %v", n, kind, err)
			}
			cancelled++
		case err != nil:
			failed++
			if id.Role == tenantdb.RoleService {
				t.Fatalf("request %d (kind %d) as the service role: %v", n, kind, err)
			}
		}
		if d := e.session(t).Differences(baseline); d != nil {
			t.Fatalf("after request %d (kind %d, tenant %s, role %s, cancelled %v, error %v) the pool's connection is not clean:\n%v",
				n, kind, id.TenantRef, id.Role, cancel, err, d)
		}
		if total := e.pool.Stat().TotalConns(); total > 1 {
			t.Fatalf("the pool holds %d connections, want at most 1", total)
		}
	}
	t.Logf("%d requests, %d cancelled mid-transaction, %d refused by row-level security or rules", requests, cancelled, failed)
	if cancelled < requests/5 {
		t.Fatalf("only %d requests were cancelled", cancelled)
	}
}

// session acquires the pool's connection and reads its session.
func (e *poolEnv) session(t *testing.T) isolation.Session {
	t.Helper()
	// Generous: after a cancelled request the pool closes the old
	// connection and dials a new one, which on a loaded machine (CI runs
	// many packages at once) can take seconds. A hang still fails.
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	defer conn.Release()
	s, err := isolation.ReadSession(ctx, conn.Conn(), "sovereign.extra")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var errStop = errors.New("stop")

// request runs one request of kind for id on record rec. With cancel, it
// cancels the request's context while its transaction is open: after the
// first statement, or while a statement waits (pg_sleep, or a row lock
// that the superuser connection holds).
func (e *poolEnv) request(ctx context.Context, kind int, id tenantdb.Identity, rec string, cancel bool) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	tbl := tenantdb.Table(id.TenantRef, "notes")
	switch kind {
	case 0: // Tx: a read, then (cancelled) a second statement
		return e.db.Tx(ctx, id, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
			var n int
			if err := q.QueryRow(ctx, "SELECT count(*) FROM "+tbl).Scan(&n); err != nil {
				return err
			}
			if cancel {
				stop()
			}
			_, err := q.Exec(ctx, "UPDATE "+tbl+" SET title = title WHERE id = $1", rec)
			return err
		})
	case 1: // Tx: a statement that waits, cancelled while it runs
		return e.db.Tx(ctx, id, tenantdb.TxOptions{ReadOnly: true}, func(q tenantdb.Querier) error {
			if cancel {
				time.AfterFunc(20*time.Millisecond, stop)
				_, err := q.Exec(ctx, "SELECT pg_sleep(5)")
				return err
			}
			_, err := q.Exec(ctx, "SELECT pg_sleep(0.001)")
			return err
		})
	case 2: // Read, cancelled while its query sleeps
		sql := "SELECT id::text FROM " + tbl
		if cancel {
			time.AfterFunc(20*time.Millisecond, stop)
			// The sleep must not depend on the table: under row-level
			// security an anon caller sees no rows, and a join with an
			// empty side may never call pg_sleep.
			sql = "SELECT 'x' FROM pg_sleep(5) UNION ALL SELECT id::text FROM " + tbl
		}
		return e.db.Read(ctx, id, func(rows pgx.Rows) error {
			for rows.Next() {
			}
			return rows.Err()
		}, sql)
	case 3: // Tx that fails on its own after the first statement
		err := e.db.Tx(ctx, id, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
			if _, err := q.Exec(ctx, "SELECT set_config('sovereign.extra', 'x', false)"); err != nil {
				return err
			}
			if cancel {
				stop()
				_, err := q.Exec(ctx, "SELECT 1")
				return err
			}
			return errStop
		})
		if errors.Is(err, errStop) {
			err = nil
		}
		return err
	case 4: // records: an update that waits for a row lock held elsewhere
		if cancel {
			actx := context.WithoutCancel(ctx)
			tx, err := e.admin.Begin(actx)
			if err != nil {
				return fmt.Errorf("admin begin: %w", err)
			}
			defer tx.Rollback(actx) //nolint:errcheck // only releases the lock
			if _, err := tx.Exec(actx, "SELECT 1 FROM "+tbl+" WHERE id = $1 FOR UPDATE", rec); err != nil {
				return fmt.Errorf("admin lock: %w", err)
			}
			time.AfterFunc(30*time.Millisecond, stop)
		}
		_, err := e.svc.Update(ctx, id, records.UpdateParams{Collection: "notes", ID: rec, Patch: map[string]any{"title": "changed"}})
		return err
	default: // records: a query, cancelled at once or after a random moment
		if cancel {
			// The query itself is quick; make sure the context does end
			// inside: its statements wait for a lock on the table.
			actx := context.WithoutCancel(ctx)
			tx, err := e.admin.Begin(actx)
			if err != nil {
				return fmt.Errorf("admin begin: %w", err)
			}
			defer tx.Rollback(actx) //nolint:errcheck // only releases the lock
			if _, err := tx.Exec(actx, "LOCK TABLE "+tbl+" IN ACCESS EXCLUSIVE MODE"); err != nil {
				return fmt.Errorf("admin lock: %w", err)
			}
			time.AfterFunc(time.Duration(10+rand.IntN(20))*time.Millisecond, stop)
		}
		_, err := e.svc.Query(ctx, id, records.QueryParams{Collection: "notes", Filter: `title != ""`, Limit: 10})
		return err
	}
}

// checkDetectsDirt shows that the comparison sees a connection left inside
// a tenant transaction.
func (e *poolEnv) checkDetectsDirt(t *testing.T, baseline isolation.Session) {
	t.Helper()
	ctx := t.Context()
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	schema := tenantdb.Schema(e.refs[0])
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SELECT set_config('role', $1, true), set_config('search_path', $1, true),
		set_config('sovereign.role', 'service', true)`, schema); err != nil {
		t.Fatal(err)
	}
	s, err := isolation.ReadSession(ctx, conn.Conn())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if d := s.Differences(baseline); len(d) < 5 {
		t.Fatalf("inside a tenant transaction the session differs from the baseline only by %q", d)
	}
}
