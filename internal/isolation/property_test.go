package isolation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/isolation"
	"github.com/sovereign-backend/sovereign/internal/token"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// SeedEnv overrides the property tests' random seed, to replay a failure.
const SeedEnv = "SOVEREIGN_ISOLATION_SEED"

// The cross-tenant property test: 10,000 random requests over REST,
// Connect and straight SQL (a handler that forgot the rules), with random
// credentials, half of the id-based ones aimed at other tenants' records.
// No answer and no log line may hold another tenant's marker, nor one of
// its own tenant's that the rules hide from the caller; other tenants' ids
// answer NotFound (or exactly what a never-used id answers); a user's
// token with another project's key is refused (Unauthenticated); writes
// reach only the rows the rules allow.
func TestCrossTenantProperty(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	seed := propertySeed(t)
	res := w.run(t, seed, 10000, genOptions{})
	res.report(t, seed)
	if len(res.violations) > 0 {
		t.Fatalf("%d violations (seed %d; replay with %s=%d)", res.count, seed, SeedEnv, seed)
	}
	// The test is only worth something if callers did see data.
	if res.sawOwn < 1000 {
		t.Fatalf("only %d answers held data the caller may see: the requests do not reach the data", res.sawOwn)
	}
}

func propertySeed(t *testing.T) uint64 {
	t.Helper()
	if s := os.Getenv(SeedEnv); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", SeedEnv, s, err)
		}
		return seed
	}
	return uint64(time.Now().UnixNano())
}

// cred is a request's credentials: a key (of tenant Key, of Kind
// secret, publishable or bogus (well-formed, unknown), or none) and an
// optional user's access token (TokT's user TokU).
type cred struct {
	Key  int    `json:"key"`
	Kind string `json:"kind"`
	TokT int    `json:"tok_t"`
	TokU int    `json:"tok_u"`
}

// idRef names a record: a seed record (Tenant, Coll, K) or a random id.
type idRef struct {
	Kind   string `json:"kind"` // own, foreign, random
	Tenant int    `json:"tenant,omitempty"`
	Coll   string `json:"coll,omitempty"`
	K      int    `json:"k,omitempty"`
	Random string `json:"random,omitempty"`
}

// request is one generated request; its JSON is what a failure prints.
type request struct {
	N         int      `json:"n"`
	Transport string   `json:"transport"` // rest, connect, sql
	Op        string   `json:"op"`
	Cred      cred     `json:"cred"`
	Coll      string   `json:"coll,omitempty"`
	ID        *idRef   `json:"id,omitempty"`
	Filter    string   `json:"filter,omitempty"`
	Record    any      `json:"record,omitempty"`
	Code      int64    `json:"code,omitempty"`
	Email     string   `json:"email,omitempty"`
	Password  string   `json:"-"`
	Refresh   string   `json:"-"`
	Other     int      `json:"other,omitempty"` // sql select-other: the other tenant
	Owner     string   `json:"owner,omitempty"` // sql insert: the new row's owner
	Echo      []string `json:"-"`
}

func (r request) String() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// viewer is who a request speaks for, as the platform should see it.
type viewer struct {
	valid   bool
	tenant  int
	service bool
	uid     string
}

func (w *world) viewerOf(c cred) viewer {
	if c.Key < 0 || (c.Kind != "secret" && c.Kind != "publishable") {
		return viewer{tenant: -1}
	}
	if c.TokT >= 0 {
		if c.TokT != c.Key {
			return viewer{tenant: -1}
		}
		return viewer{valid: true, tenant: c.Key, uid: w.tenants[c.Key].users[c.TokU].id}
	}
	return viewer{valid: true, tenant: c.Key, service: c.Kind == "secret"}
}

// genOptions steer the generator.
type genOptions struct {
	// focus, when set, makes most requests use tenant focus-1's keys on
	// collection focusColl, half of them through SQL.
	focus     int
	focusColl string
}

var httpOps = []struct {
	op     string
	weight int
}{
	{"query", 24}, {"get", 18}, {"update", 8}, {"replace", 6}, {"delete", 6}, {"create", 6}, {"create_delete", 3},
	{"upsert", 3}, {"getuser", 8}, {"signin", 1}, {"refresh", 5}, {"signout", 3}, {"collections", 5},
}

var sqlOps = []string{"select", "select", "select", "select_other", "update", "delete", "insert", "insert"}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// generate makes n requests from seed. Requests name tenants, users and
// seed records by index, so the same seed gives the same requests on any
// run.
func (w *world) generate(seed uint64, n int, o genOptions) []request {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	total := 0
	for _, op := range httpOps {
		total += op.weight
	}
	out := make([]request, 0, n)
	for i := range n {
		req := request{N: i}
		sqlShare := 25
		if o.focus > 0 {
			sqlShare = 50
		}
		switch x := r.IntN(100); {
		case x < sqlShare:
			req.Transport = "sql"
		case x < sqlShare+(100-sqlShare)/2:
			req.Transport = "rest"
		default:
			req.Transport = "connect"
		}
		req.Coll = pick(r, collections).name
		if o.focus > 0 && r.IntN(10) < 8 {
			req.Coll = o.focusColl
		}
		if req.Transport == "sql" {
			w.genSQL(r, &req, o)
		} else {
			x := r.IntN(total)
			for _, op := range httpOps {
				if x < op.weight {
					req.Op = op.op
					break
				}
				x -= op.weight
			}
			w.genHTTP(r, &req, o)
		}
		out = append(out, req)
	}
	return out
}

func (w *world) keyTenant(r *rand.Rand, o genOptions) int {
	if o.focus > 0 && r.IntN(10) < 8 {
		return o.focus - 1
	}
	return r.IntN(len(w.tenants))
}

func (w *world) genSQL(r *rand.Rand, req *request, o genOptions) {
	k := w.keyTenant(r, o)
	req.Op = pick(r, sqlOps)
	req.Cred = cred{Key: k, Kind: "publishable", TokT: -1}
	switch x := r.IntN(100); {
	case x < 20:
		req.Cred.Kind = "secret"
	case x < 40:
	default:
		req.Cred.TokT, req.Cred.TokU = k, r.IntN(worldUsers)
	}
	tn := w.tenants[k]
	switch req.Op {
	case "select_other":
		req.Other = (k + 1 + r.IntN(len(w.tenants)-1)) % len(w.tenants)
	case "insert":
		owners := []string{""}
		for _, u := range tn.users {
			owners = append(owners, u.id)
		}
		req.Owner = pick(r, owners)
		req.Record = recordOf(tn.markers[[2]string{req.Coll, req.Owner}], req.Owner, 99)
	}
}

func (w *world) genHTTP(r *rand.Rand, req *request, o genOptions) {
	k := w.keyTenant(r, o)
	c := cred{Key: k, TokT: -1}
	switch x := r.IntN(100); {
	case x < 25:
		c.Kind = "secret"
	case x < 90:
		c.Kind = "publishable"
	case x < 95:
		c.Kind = "bogus"
	default:
		c.Key, c.Kind = -1, ""
	}
	if c.Key >= 0 && r.IntN(100) < 60 {
		c.TokT, c.TokU = c.Key, r.IntN(worldUsers)
		if r.IntN(100) < 20 {
			c.TokT = w.other(r, c.Key)
		}
	}
	switch req.Op {
	case "signin", "refresh":
		// No user token; the key identifies the project.
		c.TokT = -1
		if c.Key >= 0 {
			c.Kind = "publishable"
		}
	case "signout":
		// Only with another project's user: signing a session of the
		// world out would end it for the rest of the run.
		if c.Key < 0 {
			c.Key, c.Kind = r.IntN(len(w.tenants)), "publishable"
		}
		c.TokT, c.TokU = w.other(r, c.Key), r.IntN(worldUsers)
	}
	req.Cred = c
	v := w.viewerOf(c)
	keyT := max(c.Key, 0)
	switch req.Op {
	case "query":
		req.Filter, req.Echo = w.genFilter(r)
	case "get", "update", "replace":
		req.ID = w.genID(r, keyT, req.Coll)
		req.Code = int64(r.IntN(1000))
	case "delete":
		// The seed records stay (the end check counts them): deletes aim
		// at other tenants' records and never-used ids; create_delete
		// deletes the caller's own.
		req.ID = w.genID(r, keyT, req.Coll)
		if req.ID.Kind == "own" {
			req.ID = &idRef{Kind: "random", Random: randomUUID(r)}
		}
	case "signin":
		t := keyT
		if r.IntN(2) == 0 {
			t = w.other(r, keyT)
		}
		u := w.tenants[t].users[r.IntN(worldUsers)]
		req.Email, req.Password = u.email, u.password
		req.Echo = []string{u.email}
		req.Other = t
	case "refresh":
		t := w.other(r, keyT)
		req.Other = t
		req.Refresh = w.tenants[t].users[r.IntN(worldUsers)].refresh
	}
	switch req.Op {
	case "replace", "create", "create_delete", "upsert":
		owner := ""
		switch {
		case v.uid != "":
			owner = v.uid
		case v.service:
			owner = pick(r, append([]string{""}, w.userIDs(keyT)...))
		}
		m := w.tenants[keyT].markers[[2]string{req.Coll, owner}]
		req.Record = recordOf(m, owner, r.IntN(1000))
		req.Echo = append(req.Echo, m)
		if req.Op == "upsert" {
			req.ID = &idRef{Kind: "random", Random: randomUUID(r)}
		}
	}
}

func (w *world) other(r *rand.Rand, t int) int {
	return (t + 1 + r.IntN(len(w.tenants)-1)) % len(w.tenants)
}

func (w *world) userIDs(t int) []string {
	var ids []string
	for _, u := range w.tenants[t].users {
		ids = append(ids, u.id)
	}
	return ids
}

// genID: half the ids are other tenants' records, a third the tenant's
// own, the rest never used.
func (w *world) genID(r *rand.Rand, keyT int, coll string) *idRef {
	switch x := r.IntN(100); {
	case x < 50:
		t := w.other(r, keyT)
		return &idRef{Kind: "foreign", Tenant: t, Coll: pick(r, collections).name, K: r.IntN(len(w.tenants[t].seed[coll]))}
	case x < 85:
		return &idRef{Kind: "own", Tenant: keyT, Coll: coll, K: r.IntN(len(w.tenants[keyT].seed[coll]))}
	}
	return &idRef{Kind: "random", Random: randomUUID(r)}
}

func (w *world) resolve(id *idRef) string {
	if id.Kind == "random" {
		return id.Random
	}
	return w.tenants[id.Tenant].seed[id.Coll][id.K]
}

// genFilter makes a filter, often about other tenants' data: their
// markers (without the "mark" that would make the filter itself hold one),
// their users' ids, their records' ids and exact titles (which the answer
// may echo).
func (w *world) genFilter(r *rand.Rand) (string, []string) {
	t := w.tenants[r.IntN(len(w.tenants))]
	coll := pick(r, collections).name
	owners := append([]string{""}, w.userIDs(t.i)...)
	owner := pick(r, owners)
	m := t.markers[[2]string{coll, owner}]
	switch r.IntN(9) {
	case 0:
		return "", nil
	case 1:
		return fmt.Sprintf("owner == %q", owner), nil
	case 2:
		return fmt.Sprintf("title.contains(%q)", m[4:]), nil
	case 3:
		return fmt.Sprintf("body.endsWith(%q) || code >= 0", m[4:]+"."), nil
	case 4:
		return fmt.Sprintf("code == %d", r.IntN(seedPerOwner)), nil
	case 5:
		return `title.startsWith("mark") && owner != ""`, nil
	case 6:
		k := r.IntN(len(t.seed[coll]))
		return fmt.Sprintf("id == %q", t.seed[coll][k]), nil
	case 7:
		title := fmt.Sprintf("%s title %d", m, r.IntN(seedPerOwner))
		return fmt.Sprintf("title == %q", title), []string{title}
	}
	return fmt.Sprintf("title.matches(%q)", "^mark"+m[4:8]), nil
}

// outcome is what a request got: its code (0 for success), the text of
// the answer (body or error, with headers), and for SQL requests what the
// statement reached.
type outcome struct {
	code      connect.Code
	text      string
	probeCode connect.Code // the same request on a never-used id
	probed    bool
	// body is a REST answer's body.
	body []byte
	// SQL: the owners of the rows an UPDATE or DELETE reached, whether an
	// INSERT went in, and the statement's SQLSTATE when it failed.
	affected []string
	inserted bool
	sqlState string
	// skip: the request could not be judged (a deadlock between test
	// statements, say); reason says why.
	skip string
}

// violation is a broken promise, with the request that shows it.
type violation struct {
	req  request
	what string
}

func (v violation) String() string { return fmt.Sprintf("request %s: %s", v.req, v.what) }

// check judges one request's outcome; it is the property, shared by the
// property test and the test that shows it can fail.
func (w *world) check(req request, o outcome) (vs []violation, sawOwn bool) {
	if o.skip != "" {
		return nil, false
	}
	add := func(format string, args ...any) { vs = append(vs, violation{req, fmt.Sprintf(format, args...)}) }
	v := w.viewerOf(req.Cred)
	all := w.markers.Find(o.text, req.Echo, func(isolation.Principal) bool { return false })
	for _, f := range all {
		switch {
		case !v.valid:
			add("an answer to refused credentials holds %s: %q", f.Owner, f.Context)
		case f.Owner.Tenant != w.tenants[v.tenant].ref:
			add("CROSS-TENANT LEAK: the answer holds data of %s: %q", f.Owner, f.Context)
		case !mayRead(f.Owner.Collection, f.Owner.Owner, v.uid, v.service):
			add("the answer holds data of %s that the rules hide from this caller: %q", f.Owner, f.Context)
		default:
			sawOwn = true
		}
	}
	if req.Transport == "sql" {
		return append(vs, w.checkSQL(req, v, o)...), sawOwn
	}
	if !v.valid {
		if o.code != connect.CodeUnauthenticated {
			add("refused credentials answered %v, want unauthenticated: %.300s", codeName(o.code), o.text)
		}
		return vs, sawOwn
	}
	if req.ID != nil && req.ID.Kind == "foreign" {
		switch {
		case o.code == 0:
			add("another tenant's id answered success: %.300s", o.text)
		case o.code == connect.CodeNotFound:
		case v.service:
			add("another tenant's id answered %v to the service role, want not_found", codeName(o.code))
		case !o.probed || o.code != o.probeCode:
			add("another tenant's id answered %v but a never-used id answers %v: the answer tells the id exists", codeName(o.code), codeName(o.probeCode))
		}
	}
	switch req.Op {
	case "signin":
		if req.Other != v.tenant && o.code == 0 {
			add("signed in with the email and password of tenant %d's user", req.Other)
		}
	case "refresh":
		if o.code == 0 {
			add("refreshed tenant %d's session with tenant %d's key", req.Other, v.tenant)
		}
	case "getuser":
		if (v.uid == "") != (o.code != 0) && o.code != connect.CodeResourceExhausted {
			add("get user with uid %q answered %v", v.uid, codeName(o.code))
		}
	}
	return vs, sawOwn
}

func (w *world) checkSQL(req request, v viewer, o outcome) []violation {
	var vs []violation
	add := func(format string, args ...any) { vs = append(vs, violation{req, fmt.Sprintf(format, args...)}) }
	switch req.Op {
	case "select":
		if o.sqlState != "" {
			add("the statement failed (%s): %.300s", o.sqlState, o.text)
		}
	case "select_other":
		if o.sqlState == "" {
			add("read another tenant's table: %.300s", o.text)
		}
	case "update", "delete":
		if o.sqlState != "" {
			add("%s failed (%s), the row-level security let it reach rows it may not change: %.300s", req.Op, o.sqlState, o.text)
		}
		for _, owner := range o.affected {
			if !mayWrite(req.Op, req.Coll, owner, v.uid, v.service) {
				add("%s reached a row of %q that the rules forbid (uid %q, service %v)", req.Op, owner, v.uid, v.service)
				break
			}
		}
	case "insert":
		if o.inserted && !mayWrite("create", req.Coll, req.Owner, v.uid, v.service) {
			add("inserted a row of owner %q that the rules forbid (uid %q, service %v)", req.Owner, v.uid, v.service)
		}
	}
	return vs
}

func codeName(c connect.Code) string {
	if c == 0 {
		return "success"
	}
	return c.String()
}

// result is a run's verdict.
type result struct {
	violations []violation // the first ones
	count      int
	sawOwn     int
	skipped    int
	codes      map[string]int
}

func (res *result) report(t *testing.T, seed uint64) {
	t.Helper()
	t.Logf("seed %d (replay with %s=%d): %d violations, %d answers with the caller's own data, %d unjudged", seed, SeedEnv, seed, res.count, res.sawOwn, res.skipped)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range res.codes {
			if !yield(k) {
				return
			}
		}
	})
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, res.codes[k])
	}
	t.Logf("answers:%s", b.String())
	for _, v := range res.violations {
		t.Errorf("seed %d: %s", seed, v)
	}
}

// run sends n requests generated from seed, 8 at a time, and returns what
// check, the log check and the end checks found.
func (w *world) run(t *testing.T, seed uint64, n int, o genOptions) *result {
	t.Helper()
	reqs := w.generate(seed, n, o)
	logFrom := w.logs.Len()
	res := &result{codes: map[string]int{}}
	var mu sync.Mutex
	record := func(vs []violation) {
		mu.Lock()
		defer mu.Unlock()
		res.count += len(vs)
		for _, v := range vs {
			if len(res.violations) < 40 {
				res.violations = append(res.violations, v)
			}
		}
	}
	prefix := fmt.Sprintf("iso-%x-", seed&0xffffffff)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(reqs) {
					return
				}
				req := reqs[i]
				o := w.execute(t.Context(), prefix, req)
				vs, own := w.check(req, o)
				record(vs)
				mu.Lock()
				if own {
					res.sawOwn++
				}
				if o.skip != "" {
					res.skipped++
				}
				res.codes[req.Transport+":"+req.Op+":"+codeName(o.code)]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	record(w.checkLogs(prefix, reqs, logFrom))
	record(w.checkEnd(t))
	return res
}

// checkLogs reads the platform's log lines: a line of a request (by its
// request id) may hold only the data of the request's own tenant (the
// operator's logs may show any of its rows) and what the request sent; a
// line of no known request (background work) at most one tenant's data.
func (w *world) checkLogs(prefix string, reqs []request, from int) []violation {
	var vs []violation
	for _, line := range w.logs.Lines(from) {
		var rec struct {
			RequestID string `json:"request_id"`
		}
		_ = json.Unmarshal(line, &rec)
		n, ok := strings.CutPrefix(rec.RequestID, prefix)
		i, err := strconv.Atoi(strings.TrimSuffix(n, "p"))
		if !ok || err != nil || i >= len(reqs) {
			found := w.markers.Find(string(line), nil, func(isolation.Principal) bool { return false })
			for _, f := range found[min(1, len(found)):] {
				if f.Owner.Tenant != found[0].Owner.Tenant {
					vs = append(vs, violation{request{N: -1, Op: "log line"}, fmt.Sprintf("a log line outside any request mixes data of %s and %s: %.400s", found[0].Owner, f.Owner, line)})
					break
				}
			}
			continue
		}
		req := reqs[i]
		tenant := -1
		if req.Cred.Key >= 0 && (req.Cred.Kind == "secret" || req.Cred.Kind == "publishable") {
			tenant = req.Cred.Key
		}
		for _, f := range w.markers.Find(string(line), req.Echo, func(p isolation.Principal) bool {
			return tenant >= 0 && p.Tenant == w.tenants[tenant].ref
		}) {
			vs = append(vs, violation{req, fmt.Sprintf("log line holds data of %s: %q", f.Owner, f.Context)})
		}
	}
	return vs
}

// checkEnd checks that no request changed another tenant's world: every
// seed record is still there, and every user's session still works.
func (w *world) checkEnd(t *testing.T) []violation {
	ctx := t.Context()
	var vs []violation
	end := request{N: -1, Op: "end check"}
	for _, tn := range w.tenants {
		for coll, ids := range tn.seed {
			var n int
			if err := w.admin.QueryRow(ctx, "SELECT count(*) FROM "+tenantdb.Table(tn.ref, coll)+" WHERE id = ANY($1::uuid[])", ids).Scan(&n); err != nil {
				vs = append(vs, violation{end, fmt.Sprintf("count seed records: %v", err)})
			} else if n != len(ids) {
				vs = append(vs, violation{end, fmt.Sprintf("tenant %s: %d of the %d seed records of %s are gone; no request deletes them but other tenants' and rolled-back SQL", tn.ref, len(ids)-n, len(ids), coll)})
			}
		}
		for _, u := range tn.users {
			req := connect.NewRequest(&dataplanev1.GetUserRequest{})
			req.Header().Set("apikey", tn.publishable)
			req.Header().Set("Authorization", "Bearer "+u.access)
			res, err := w.auth.GetUser(ctx, req)
			if err != nil || res.Msg.GetUser().GetId() != u.id {
				vs = append(vs, violation{end, fmt.Sprintf("tenant %s: user %s's session no longer works after the run: %v", tn.ref, u.id, err)})
			}
		}
	}
	return vs
}

// execute sends req and returns its outcome; for a foreign id that did not
// answer NotFound it also sends the same request with a never-used id.
func (w *world) execute(ctx context.Context, prefix string, req request) outcome {
	rid := prefix + strconv.Itoa(req.N)
	if req.Transport == "sql" {
		return w.executeSQL(ctx, req)
	}
	id := ""
	if req.ID != nil {
		id = w.resolve(req.ID)
	}
	o := w.send(ctx, rid, req, id)
	if req.ID != nil && req.ID.Kind == "foreign" && o.code != connect.CodeNotFound && o.code != 0 {
		p := w.send(ctx, rid+"p", req, randomUUID(rand.New(rand.NewPCG(uint64(req.N), 1))))
		o.probeCode, o.probed = p.code, true
	}
	return o
}

func (w *world) credHeaders(h http.Header, c cred, rid string) {
	h.Set("X-Request-Id", rid)
	switch {
	case c.Kind == "bogus":
		h.Set("apikey", token.New("sov_pk_"))
	case c.Key >= 0 && c.Kind == "secret":
		h.Set("apikey", w.tenants[c.Key].secret)
	case c.Key >= 0:
		h.Set("apikey", w.tenants[c.Key].publishable)
	}
	if c.TokT >= 0 {
		h.Set("Authorization", "Bearer "+w.tenants[c.TokT].users[c.TokU].access)
	}
}

func (w *world) send(ctx context.Context, rid string, req request, id string) outcome {
	if req.Transport == "rest" {
		return w.sendREST(ctx, rid, req, id)
	}
	return w.sendConnect(ctx, rid, req, id)
}

func (w *world) sendREST(ctx context.Context, rid string, req request, id string) outcome {
	method, path := http.MethodGet, ""
	recs := "/v1/collections/" + req.Coll + "/records"
	var body any
	switch req.Op {
	case "query":
		path = recs + "?" + url.Values{"filter": {req.Filter}, "limit": {"100"}}.Encode()
	case "get":
		path = recs + "/" + id
	case "update":
		method, path, body = http.MethodPatch, recs+"/"+id, map[string]any{"code": req.Code}
	case "replace":
		method, path, body = http.MethodPut, recs+"/"+id, req.Record
	case "delete":
		method, path = http.MethodDelete, recs+"/"+id
	case "create", "create_delete":
		method, path, body = http.MethodPost, recs, req.Record
	case "upsert":
		method, path, body = http.MethodPut, recs+"/"+id+"?upsert=true", req.Record
	case "getuser":
		path = "/v1/auth/user"
	case "signin":
		method, path, body = http.MethodPost, "/v1/auth/token", map[string]any{"grant_type": "password", "email": req.Email, "password": req.Password}
	case "refresh":
		method, path, body = http.MethodPost, "/v1/auth/token", map[string]any{"grant_type": "refresh_token", "refresh_token": req.Refresh}
	case "signout":
		method, path = http.MethodPost, "/v1/auth/logout"
	case "collections":
		path = "/v1/collections"
	}
	o := w.doREST(ctx, rid, req.Cred, method, path, body)
	if req.Op == "create_delete" && o.code == 0 {
		var rec struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(o.body, &rec)
		d := w.doREST(ctx, rid, req.Cred, http.MethodDelete, recs+"/"+rec.ID, nil)
		d.text = o.text + "\n" + d.text
		return d
	}
	return o
}

func (w *world) doREST(ctx context.Context, rid string, c cred, method, path string, body any) outcome {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return outcome{skip: err.Error()}
		}
		rd = bytes.NewReader(b)
	}
	hr, err := http.NewRequestWithContext(ctx, method, w.p.DataURL+path, rd)
	if err != nil {
		return outcome{skip: err.Error()}
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	w.credHeaders(hr.Header, c, rid)
	resp, err := w.client.Do(hr)
	if err != nil {
		return outcome{skip: "transport: " + err.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return outcome{skip: "read body: " + err.Error()}
	}
	var head strings.Builder
	fmt.Fprintf(&head, "%d\n", resp.StatusCode)
	_ = resp.Header.Write(&head)
	o := outcome{text: head.String() + "\n\n" + string(b), body: b}
	if resp.StatusCode >= 400 {
		var e struct {
			Code string `json:"code"`
		}
		o.code = connect.CodeUnknown
		if json.Unmarshal(b, &e) == nil {
			var c connect.Code
			if c.UnmarshalText([]byte(e.Code)) == nil {
				o.code = c
			}
		}
	}
	return o
}

func (w *world) sendConnect(ctx context.Context, rid string, req request, id string) outcome {
	st := func(m any) *structpb.Struct {
		rec, _ := m.(map[string]any)
		s, err := structpb.NewStruct(normalise(rec))
		if err != nil {
			return nil
		}
		return s
	}
	var (
		msg  proto.Message
		head http.Header
		err  error
	)
	call := func(r interface{ Header() http.Header }) { w.credHeaders(r.Header(), req.Cred, rid) }
	switch req.Op {
	case "query":
		r := connect.NewRequest(&dataplanev1.QueryRecordsRequest{Collection: req.Coll, Filter: req.Filter, Limit: 100})
		call(r)
		res, e := w.records.QueryRecords(ctx, r)
		msg, head, err = msgOf(res, e)
	case "get":
		r := connect.NewRequest(&dataplanev1.GetRecordRequest{Collection: req.Coll, Id: id})
		call(r)
		res, e := w.records.GetRecord(ctx, r)
		msg, head, err = msgOf(res, e)
	case "update":
		r := connect.NewRequest(&dataplanev1.UpdateRecordRequest{Collection: req.Coll, Id: id, Patch: st(map[string]any{"code": req.Code})})
		call(r)
		res, e := w.records.UpdateRecord(ctx, r)
		msg, head, err = msgOf(res, e)
	case "replace":
		r := connect.NewRequest(&dataplanev1.ReplaceRecordRequest{Collection: req.Coll, Id: id, Record: st(req.Record)})
		call(r)
		res, e := w.records.ReplaceRecord(ctx, r)
		msg, head, err = msgOf(res, e)
	case "delete":
		r := connect.NewRequest(&dataplanev1.DeleteRecordRequest{Collection: req.Coll, Id: id})
		call(r)
		res, e := w.records.DeleteRecord(ctx, r)
		msg, head, err = msgOf(res, e)
	case "create", "create_delete":
		r := connect.NewRequest(&dataplanev1.CreateRecordRequest{Collection: req.Coll, Record: st(req.Record)})
		call(r)
		res, e := w.records.CreateRecord(ctx, r)
		msg, head, err = msgOf(res, e)
		if e == nil && req.Op == "create_delete" {
			d := connect.NewRequest(&dataplanev1.DeleteRecordRequest{Collection: req.Coll, Id: res.Msg.GetRecord().GetFields()["id"].GetStringValue()})
			call(d)
			_, err = w.records.DeleteRecord(ctx, d)
		}
	case "upsert":
		rec := st(req.Record)
		if rec != nil {
			rec.Fields["id"] = structpb.NewStringValue(id)
		}
		r := connect.NewRequest(&dataplanev1.UpsertRecordRequest{Collection: req.Coll, Record: rec})
		call(r)
		res, e := w.records.UpsertRecord(ctx, r)
		msg, head, err = msgOf(res, e)
	case "getuser":
		r := connect.NewRequest(&dataplanev1.GetUserRequest{})
		call(r)
		res, e := w.auth.GetUser(ctx, r)
		msg, head, err = msgOf(res, e)
	case "signin":
		r := connect.NewRequest(&dataplanev1.TokenRequest{GrantType: "password", Email: req.Email, Password: req.Password})
		call(r)
		res, e := w.auth.Token(ctx, r)
		msg, head, err = msgOf(res, e)
	case "refresh":
		r := connect.NewRequest(&dataplanev1.TokenRequest{GrantType: "refresh_token", RefreshToken: req.Refresh})
		call(r)
		res, e := w.auth.Token(ctx, r)
		msg, head, err = msgOf(res, e)
	case "signout":
		r := connect.NewRequest(&dataplanev1.SignOutRequest{})
		call(r)
		res, e := w.auth.SignOut(ctx, r)
		msg, head, err = msgOf(res, e)
	case "collections":
		r := connect.NewRequest(&dataplanev1.ListCollectionsRequest{})
		call(r)
		res, e := connectClient(w, dataplanev1connect.NewCollectionServiceClient).ListCollections(ctx, r)
		msg, head, err = msgOf(res, e)
	}
	var text strings.Builder
	_ = head.Write(&text)
	if msg != nil {
		b, _ := protojson.Marshal(msg)
		text.Write(b)
	}
	o := outcome{}
	if err != nil {
		o.code = connect.CodeOf(err)
		text.WriteString("\n" + err.Error())
		var ce *connect.Error
		if errors.As(err, &ce) {
			_ = ce.Meta().Write(&text)
			for _, d := range ce.Details() {
				text.Write(d.Bytes())
			}
		}
		if o.code == connect.CodeUnavailable || o.code == connect.CodeUnknown && !errors.As(err, &ce) {
			o.skip = "transport: " + err.Error()
		}
	}
	o.text = text.String()
	return o
}

// msgOf unpacks a Connect response.
func msgOf[T any](res *connect.Response[T], err error) (proto.Message, http.Header, error) {
	if err != nil || res == nil {
		return nil, http.Header{}, err
	}
	m, _ := any(res.Msg).(proto.Message)
	return m, res.Header(), nil
}

// executeSQL runs req as a data-plane handler would that forgot the
// rules: statements on the tenant's tables as the caller's identity,
// through tenantdb, with nothing but row-level security between the
// caller and the rows. UPDATE and DELETE have no WHERE clause and no
// RETURNING (only the UPDATE and DELETE policies decide what they reach);
// the test then looks, as the service role inside the same transaction, at
// which rows they reached. Everything is rolled back.
func (w *world) executeSQL(ctx context.Context, req request) outcome {
	v := w.viewerOf(req.Cred)
	tn := w.tenants[v.tenant]
	id := tenantdb.Identity{TenantRef: tn.ref, Role: tenantdb.RoleAnon, KeyID: "isolation"}
	switch {
	case v.service:
		id.Role = tenantdb.RoleService
	case v.uid != "":
		id.Role, id.UserID, id.AuthRole, id.AAL = tenantdb.RoleAuthenticated, v.uid, tenantdb.RoleAuthenticated, "aal1"
	}
	tbl := tenantdb.Table(tn.ref, req.Coll)
	asService := func(q tenantdb.Querier) error {
		_, err := q.Exec(ctx, "SELECT set_config('sovereign.role', 'service', true)")
		return err
	}
	asCaller := func(q tenantdb.Querier) error {
		_, err := q.Exec(ctx, "SELECT set_config('sovereign.role', $1, true)", id.Role)
		return err
	}
	var o outcome
	errRollback := errors.New("rollback")
	var err error
	switch req.Op {
	case "select", "select_other":
		if req.Op == "select_other" {
			tbl = tenantdb.Table(w.tenants[req.Other].ref, req.Coll)
		}
		err = w.db.Read(ctx, id, func(rows pgx.Rows) error {
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					return err
				}
				o.text += s
			}
			return rows.Err()
		}, "SELECT coalesce(json_agg(x)::text, '') FROM "+tbl+" AS x")
	case "update":
		mark := fmt.Sprintf("touched %d", req.N)
		err = w.db.Tx(ctx, id, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
			if _, err := q.Exec(ctx, "UPDATE "+tbl+" SET body = $1", mark); err != nil {
				return err
			}
			if err := asService(q); err != nil {
				return err
			}
			rows, err := q.Query(ctx, "SELECT owner FROM "+tbl+" WHERE body = $1", mark)
			if err != nil {
				return err
			}
			o.affected, err = pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			return errRollback
		})
	case "delete":
		err = w.db.Tx(ctx, id, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
			if err := asService(q); err != nil {
				return err
			}
			// Locked, so that only this transaction can delete them.
			before, err := ownersByID(ctx, q, "SELECT id::text, coalesce(owner, '') FROM "+tbl+" FOR UPDATE")
			if err != nil {
				return err
			}
			if err := asCaller(q); err != nil {
				return err
			}
			if _, err := q.Exec(ctx, "DELETE FROM "+tbl); err != nil {
				return err
			}
			if err := asService(q); err != nil {
				return err
			}
			after, err := ownersByID(ctx, q, "SELECT id::text, coalesce(owner, '') FROM "+tbl)
			if err != nil {
				return err
			}
			for id, owner := range before {
				if _, ok := after[id]; !ok {
					o.affected = append(o.affected, owner)
				}
			}
			return errRollback
		})
	case "insert":
		rec := req.Record.(map[string]any)
		tags, _ := json.Marshal(rec["tags"])
		err = w.db.Tx(ctx, id, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
			if _, err := q.Exec(ctx, "INSERT INTO "+tbl+" (id, owner, title, body, tags, code) VALUES (gen_random_uuid(), $1, $2, $3, $4, $5)",
				rec["owner"], rec["title"], rec["body"], string(tags), rec["code"]); err != nil {
				return err
			}
			o.inserted = true
			return errRollback
		})
	}
	if err != nil && !errors.Is(err, errRollback) {
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			o.skip = err.Error()
			return o
		}
		switch pe.Code {
		case "40P01", "40001", "55P03": // deadlock, serialization, lock timeout among the test's own statements
			o.skip = err.Error()
		}
		o.sqlState = pe.Code
		o.text += err.Error()
		o.code = connect.CodeUnknown
	}
	return o
}

func ownersByID(ctx context.Context, q tenantdb.Querier, sql string) (map[string]string, error) {
	rows, err := q.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	var id, owner string
	_, err = pgx.ForEachRow(rows, []any{&id, &owner}, func() error {
		out[id] = owner
		return nil
	})
	return out, err
}
