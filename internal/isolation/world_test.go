package isolation_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/isolation"
	"github.com/sovereign-backend/sovereign/internal/platformtest"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// The world of the cross-tenant proofs: tenants, each with end users, the
// collections below with their rules, and seed records whose every text
// field carries the marker of the record's principal.
const (
	worldTenants = 3
	worldUsers   = 2
	// seedPerOwner records per collection for each owner (the service
	// role, then each user).
	seedPerOwner = 3
	// usersScope is the Principal.Collection of users' own data (their
	// email).
	usersScope = "_users"
)

// collections of every tenant, with their rules: notes are private to
// their owner; posts have the rules of the example in issue 5 (any
// signed-in user lists them; view and update by the owner; nobody
// deletes).
var collections = []struct {
	name  string
	rules *dataplanev1.Rules
}{
	{"notes", &dataplanev1.Rules{
		List: ptr(ownRule), View: ptr(ownRule), Create: ptr(ownRule), Update: ptr(ownRule), Delete: ptr(ownRule),
	}},
	{"posts", &dataplanev1.Rules{
		List: ptr("auth.uid != ''"), View: ptr("record.owner == auth.uid"),
		Create: ptr("auth.uid != ''"), Update: ptr("record.owner == auth.uid"),
		Delete: ptr("false"),
	}},
}

// ownRule lets a signed-in user at their own records. Without the first
// test, an anonymous caller (auth.uid is "") would match every record
// whose owner is empty, as the posts' view and update rules do.
const ownRule = "auth.uid != '' && record.owner == auth.uid"

func ptr[T any](v T) *T { return &v }

// mayRead and mayWrite are the rules above in Go: may a caller (uid the
// signed-in user, "" for anon; service the secret key alone) read, or
// create, update or delete, a record of owner in coll. For reads it is
// what row-level security allows, the list rule or the view rule. Users'
// own data (usersScope) is the user's alone.
func mayRead(coll, owner, uid string, service bool) bool {
	switch {
	case service:
		return true
	case coll == "posts":
		return uid != "" || owner == uid
	}
	return uid != "" && owner == uid
}

func mayWrite(op, coll, owner, uid string, service bool) bool {
	switch {
	case service:
		return true
	case coll == "posts" && op == "create":
		return uid != ""
	case coll == "posts" && op == "delete":
		return false
	case coll == "posts":
		return owner == uid
	}
	return uid != "" && owner == uid
}

type world struct {
	p      *platformtest.Platform
	logs   *logBuffer
	client *http.Client
	// Connect clients of the data plane.
	records dataplanev1connect.RecordServiceClient
	auth    dataplanev1connect.AuthServiceClient
	// db runs the "forgetful handler" requests as the planes' login role.
	db *tenantdb.DB
	// admin is the test server's superuser on the platform's database.
	admin   *pgxpool.Pool
	tenants []*tenant
	markers isolation.Markers
}

type tenant struct {
	i                        int
	ref                      string
	secret, publishable, pid string
	users                    []*endUser
	// markers by collection and owner ("" for the service role).
	markers map[[2]string]string
	// seed record ids by collection, in creation order.
	seed map[string][]string
	// owners of the seed records, parallel to seed.
	seedOwner map[string][]string
}

type endUser struct {
	id, email, password string
	access, refresh     string
}

// logBuffer collects the platform's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Len is how many bytes were logged so far.
func (b *logBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// Lines returns the lines logged after the first from bytes.
func (b *logBuffer) Lines(from int) [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Split(bytes.TrimSpace(bytes.Clone(b.buf.Bytes()[from:])), []byte("\n"))
}

func newMarker() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "mark" + hex.EncodeToString(b)
}

// newWorld starts a platform as the unprivileged app role and fills it.
func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := t.Context()
	logs := &logBuffer{}
	p := platformtest.Start(t, platformtest.Options{AppRole: true,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	w := &world{
		p: p, logs: logs, client: client,
		records: dataplanev1connect.NewRecordServiceClient(client, p.DataURL),
		auth:    dataplanev1connect.NewAuthServiceClient(client, p.DataURL),
		admin:   adminPool(t, p.DatabaseURL),
	}
	pool, err := pgxpool.New(ctx, p.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	w.db = tenantdb.New(pool)

	mc := management(t, p)
	for i := range worldTenants {
		w.tenants = append(w.tenants, w.newTenant(t, mc, i))
	}
	return w
}

// adminPool opens a pool as the test server's superuser on the database
// of url.
func adminPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testenv.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	app, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Database = app.Database
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// management signs an operator up on the control plane and makes an
// organization.
func management(t *testing.T, p *platformtest.Platform) *sovereign.ManagementClient {
	t.Helper()
	ctx := t.Context()
	anon := sovereign.NewManagementClient(p.APIURL)
	sess, err := anon.Signup(ctx, newMarker()[4:]+"@operator.example.com", "correct-horse-battery-9")
	if err != nil {
		t.Fatalf("signup: %v", err)
	}
	return sovereign.NewManagementClient(p.APIURL, sovereign.WithToken(sess.AccessToken))
}

func (w *world) newTenant(t *testing.T, mc *sovereign.ManagementClient, i int) *tenant {
	t.Helper()
	ctx := t.Context()
	org, err := mc.CreateOrganization(ctx, fmt.Sprintf("org%d", i))
	if err != nil {
		t.Fatalf("create organization: %v", err)
	}
	pr, err := mc.CreateProject(ctx, sovereign.CreateProjectParams{OrganizationID: org.ID, Name: fmt.Sprintf("app%d", i), Region: "local"})
	if err != nil {
		t.Fatalf("create project: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if pr, err = mc.WaitProjectActive(wctx, pr.ID); err != nil {
		t.Fatalf("wait for the project: %v", err)
	}
	tn := &tenant{i: i, ref: pr.Ref, pid: pr.ID, markers: map[[2]string]string{}, seed: map[string][]string{}, seedOwner: map[string][]string{}}
	for _, kind := range []sovereign.KeyKind{sovereign.KeySecret, sovereign.KeyPublishable} {
		_, key, err := mc.CreateAPIKey(ctx, sovereign.CreateAPIKeyParams{ProjectID: pr.ID, Name: string(kind), Kind: kind})
		if err != nil {
			t.Fatalf("create key: %v", err)
		}
		if kind == sovereign.KeySecret {
			tn.secret = key
		} else {
			tn.publishable = key
		}
	}
	// End users sign up with the publishable key; their email carries
	// their own marker.
	for range worldUsers {
		m := newMarker()
		u := &endUser{email: m + "@example.com", password: "Pw-" + newMarker() + "-x9!"}
		req := connect.NewRequest(&dataplanev1.SignUpRequest{Email: u.email, Password: u.password})
		req.Header().Set("apikey", tn.publishable)
		res, err := w.auth.SignUp(ctx, req)
		if err != nil {
			t.Fatalf("tenant %d: sign up: %v", i, err)
		}
		s := res.Msg.GetSession()
		u.id, u.access, u.refresh = s.GetUser().GetId(), s.GetAccessToken(), s.GetRefreshToken()
		if u.id == "" || u.access == "" || u.refresh == "" {
			t.Fatalf("tenant %d: sign up gave session %v", i, s)
		}
		w.markers.Add(m, isolation.Principal{Tenant: tn.ref, Collection: usersScope, Owner: u.id})
		tn.users = append(tn.users, u)
	}
	owners := []string{""}
	for _, u := range tn.users {
		owners = append(owners, u.id)
	}
	cols := connectClient(w, dataplanev1connect.NewCollectionServiceClient)
	rules := connectClient(w, dataplanev1connect.NewRulesServiceClient)
	for _, c := range collections {
		req := connect.NewRequest(&dataplanev1.CreateCollectionRequest{Collection: &dataplanev1.Collection{Name: c.name, Fields: []*dataplanev1.Field{
			{Name: "owner", Type: "text"},
			{Name: "title", Type: "text"},
			{Name: "body", Type: "text"},
			{Name: "tags", Type: "json"},
			{Name: "code", Type: "integer"},
		}}})
		req.Header().Set("apikey", tn.secret)
		if _, err := cols.CreateCollection(ctx, req); err != nil {
			t.Fatalf("tenant %d: create collection %s: %v", i, c.name, err)
		}
		rreq := connect.NewRequest(&dataplanev1.SetRulesRequest{Collection: c.name, Rules: c.rules})
		rreq.Header().Set("apikey", tn.secret)
		if _, err := rules.SetRules(ctx, rreq); err != nil {
			t.Fatalf("tenant %d: set rules of %s: %v", i, c.name, err)
		}
		for _, owner := range owners {
			m := newMarker()
			w.markers.Add(m, isolation.Principal{Tenant: tn.ref, Collection: c.name, Owner: owner})
			tn.markers[[2]string{c.name, owner}] = m
			for k := range seedPerOwner {
				req := connect.NewRequest(&dataplanev1.CreateRecordRequest{Collection: c.name, Record: mustStruct(t, recordOf(m, owner, k))})
				req.Header().Set("apikey", tn.secret)
				res, err := w.records.CreateRecord(ctx, req)
				if err != nil {
					t.Fatalf("tenant %d: seed %s: %v", i, c.name, err)
				}
				tn.seed[c.name] = append(tn.seed[c.name], res.Msg.GetRecord().GetFields()["id"].GetStringValue())
				tn.seedOwner[c.name] = append(tn.seedOwner[c.name], owner)
			}
		}
	}
	return tn
}

// connectClient builds a Connect client of the data plane.
func connectClient[C any](w *world, newClient func(connect.HTTPClient, string, ...connect.ClientOption) C) C {
	return newClient(w.client, w.p.DataURL)
}

// recordOf is a record of owner whose every text field carries marker m.
func recordOf(m, owner string, k int) map[string]any {
	return map[string]any{
		"owner": owner,
		"title": fmt.Sprintf("%s title %d", m, k),
		"body":  fmt.Sprintf("the body of %d, by %s.", k, m),
		"tags":  []any{"tag", m, map[string]any{"m": m}},
		"code":  int64(k),
	}
}

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(normalise(m))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// normalise turns int64 into float64 for structpb.
func normalise(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if n, ok := v.(int64); ok {
			v = float64(n)
		}
		out[k] = v
	}
	return out
}

// policy is the text of policy name on a tenant's table, as the superuser
// sees it.
func (w *world) policy(ctx context.Context, ref, table, name string) (qual, check string, err error) {
	err = w.admin.QueryRow(ctx, `SELECT coalesce(qual, ''), coalesce(with_check, '') FROM pg_policies
		WHERE schemaname = $1 AND tablename = $2 AND policyname = $3`, tenantdb.Schema(ref), table, name).Scan(&qual, &check)
	if err == pgx.ErrNoRows {
		err = fmt.Errorf("no policy %s on %s.%s", name, tenantdb.Schema(ref), table)
	}
	return qual, check, err
}

func randomUUID(r *mathrand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
