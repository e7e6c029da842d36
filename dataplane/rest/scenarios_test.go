package rest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/records"
	"github.com/sovereign-backend/sovereign/dataplane/rest"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
	"github.com/sovereign-backend/sovereign/dataplane/schema/schemarpc"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/broker"
	"github.com/sovereign-backend/sovereign/internal/idempotency"
)

// maxRecord is the record limit of the scenarios, small enough to cross.
const maxRecord = 4096

// dataEnv is a region serving the real CollectionService and RecordService
// handlers over REST (and Connect), with a tenant, its keys, and a second
// tenant.
type dataEnv struct {
	url                  string
	secret, publishable  string
	otherTenantSecretKey string
}

func newDataEnv(t *testing.T) *dataEnv {
	t.Helper()
	r := newRegion(t)
	db := tenantdb.New(r.pool)
	st, err := schema.NewStore(schema.StoreConfig{DB: db, Broker: broker.NewMemory(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); st.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); !st.Live(); {
		if time.Now().After(deadline) {
			t.Fatal("the schema cache never subscribed to invalidations")
		}
		time.Sleep(5 * time.Millisecond)
	}
	svc, err := records.New(records.Config{DB: db, Schema: st, MaxRecordBytes: maxRecord})
	if err != nil {
		t.Fatal(err)
	}
	idem := idempotency.New(idempotency.Config{Pool: r.pool, Table: pgx.Identifier{"dataplane", "idempotency_keys"}})
	e := &dataEnv{}
	e.url = r.server(t, schemarpc.NewHandler(st), records.NewHandler(svc, idem), rest.Config{MaxRecordBytes: maxRecord, MaxBatchBytes: 64 * maxRecord})
	ref := r.tenant(t)
	e.secret = r.key(t, ref, apikeys.KindSecret)
	e.publishable = r.key(t, ref, apikeys.KindPublishable)
	e.otherTenantSecretKey = r.key(t, r.tenant(t), apikeys.KindSecret)
	return e
}

// scenario is one REST call and what must come back.
type scenario struct {
	name         string
	method, path string
	// key is the API key header; nil sends the tenant's secret key.
	key    http.Header
	header http.Header
	body   string
	status int
	// code is the error code of an error answer.
	code string
	// want are fragments of the (compact JSON) answer; a leading "!" means
	// the fragment must not be there.
	want []string
	// etag is the ETag the answer must carry ("" for none).
	etag string
	// header values the answer must carry.
	answerHeader http.Header
	// check, when set, looks further at the answer.
	check func(t *testing.T, got answer)
}

func (e *dataEnv) run(t *testing.T, sc scenario) answer {
	t.Helper()
	h := sc.key
	if h == nil {
		h = http.Header{"Apikey": {e.secret}}
	}
	h = h.Clone()
	for k, vs := range sc.header {
		h[k] = vs
	}
	got := send(t, sc.method, e.url+sc.path, h, sc.body)
	if got.status != sc.status {
		t.Fatalf("%s %s: status %d, want %d: %s", sc.method, sc.path, got.status, sc.status, got.body)
	}
	if sc.code != "" {
		if c := got.json(t)["code"]; c != sc.code {
			t.Errorf("code %v, want %s: %s", c, sc.code, got.body)
		}
	}
	for _, f := range sc.want {
		if neg, ok := strings.CutPrefix(f, "!"); ok {
			if strings.Contains(string(got.body), neg) {
				t.Errorf("answer %s has %s", got.body, neg)
			}
		} else if !strings.Contains(string(got.body), f) {
			t.Errorf("answer %s lacks %s", got.body, f)
		}
	}
	if tag := got.header.Get("ETag"); tag != sc.etag {
		t.Errorf("ETag %q, want %q", tag, sc.etag)
	}
	for k := range sc.answerHeader {
		if v := got.header.Get(k); v != sc.answerHeader.Get(k) {
			t.Errorf("header %s: %q, want %q", k, v, sc.answerHeader.Get(k))
		}
	}
	if sc.check != nil {
		sc.check(t, got)
	}
	return got
}

// Record ids the scenarios give, so that paths can name them.
const (
	ann   = "01900000-0000-7000-8000-00000000a001"
	bob   = "01900000-0000-7000-8000-00000000a002"
	post1 = "01900000-0000-7000-8000-000000000001"
	post2 = "01900000-0000-7000-8000-000000000002"
	post3 = "01900000-0000-7000-8000-000000000003"
	post9 = "01900000-0000-7000-8000-000000000009"
	nope  = "01900000-0000-7000-8000-0000000000ff"
)

// A project's life over REST against the real handlers, in order: each
// scenario sees what the ones before it did.
func TestScenarios(t *testing.T) {
	t.Parallel()
	e := newDataEnv(t)
	big := `{"title": "` + strings.Repeat("x", maxRecord) + `"}`
	for _, sc := range []scenario{
		// Collections.
		{name: "no collections yet", method: "GET", path: "/v1/collections", status: 200, want: []string{`{"collections":[]}`}},
		{name: "create authors", method: "POST", path: "/v1/collections",
			body:   `{"name": "authors", "fields": [{"name": "name", "type": "text", "required": true}, {"name": "email", "type": "text", "unique": true}]}`,
			status: 201, want: []string{`"name":"authors"`, `"unique":true`}, answerHeader: http.Header{"Location": {"/v1/collections/authors"}}},
		{name: "create posts as the issue describes it", method: "POST", path: "/v1/collections",
			body:   `{"name": "posts", "fields": [{"name": "title", "type": "text", "required": true}, {"name": "n", "type": "integer"}], "indexes": [{"fields": ["n"]}]}`,
			status: 201, want: []string{`"name":"posts"`, `{"name":"title","type":"text","required":true}`, `{"name":"n","type":"integer"}`, `"indexes":[{"name":`, `"fields":["n"]`, `"created_at":"`},
			answerHeader: http.Header{"Location": {"/v1/collections/posts"}}},
		{name: "create posts again", method: "POST", path: "/v1/collections", body: `{"name": "posts"}`, status: 409, code: "already_exists"},
		{name: "invalid collection name", method: "POST", path: "/v1/collections", body: `{"name": "Posts!"}`, status: 400, code: "invalid_argument", want: []string{`name: invalid collection name \"Posts!\"`}},
		{name: "reserved field name", method: "POST", path: "/v1/collections", body: `{"name": "things", "fields": [{"name": "id", "type": "text"}]}`,
			status: 400, code: "invalid_argument", want: []string{`fields[0].name: field name \"id\" is reserved`}},
		{name: "unknown field type", method: "POST", path: "/v1/collections", body: `{"name": "things", "fields": [{"name": "a", "type": "txt"}]}`,
			status: 400, code: "invalid_argument", want: []string{"txt"}},
		{name: "relation to an unknown collection", method: "POST", path: "/v1/collections",
			body: `{"name": "things", "fields": [{"name": "a", "type": "relation", "collection": "ghosts"}]}`, status: 404, code: "not_found"},
		{name: "malformed collection JSON", method: "POST", path: "/v1/collections", body: `{"name": "things",}`,
			status: 400, code: "invalid_argument", want: []string{"invalid JSON at line 1, column 19"}},
		{name: "describe posts", method: "GET", path: "/v1/collections/posts", status: 200, want: []string{`"name":"posts"`}},
		{name: "describe an unknown collection", method: "GET", path: "/v1/collections/ghosts", status: 404, code: "not_found"},
		{name: "alter posts", method: "PATCH", path: "/v1/collections/posts",
			body: `{"ops": [{"add_field": {"name": "author", "type": "relation", "collection": "authors"}}, {"add_field": {"name": "body", "type": "text"}},
				{"rename_field": {"from": "body", "to": "text"}}, {"set_default": {"field": "text", "default": "tbd"}}]}`,
			status: 200, want: []string{`{"name":"author","type":"relation","collection":"authors"}`, `{"name":"text","type":"text","default":"tbd"}`, `!"name":"body"`}},
		{name: "alter is all or nothing", method: "PATCH", path: "/v1/collections/posts",
			body:   `{"ops": [{"add_field": {"name": "extra", "type": "text"}}, {"drop_field": "ghost"}]}`,
			status: 400, code: "invalid_argument", want: []string{`ops[1].drop_field: collection posts has no field \"ghost\"`}},
		{name: "the failed alter left nothing", method: "GET", path: "/v1/collections/posts", status: 200, want: []string{`!"extra"`}},
		{name: "alter an unknown collection", method: "PATCH", path: "/v1/collections/ghosts", body: `{"ops": [{"drop_field": "a"}]}`, status: 404, code: "not_found"},
		{name: "list collections", method: "GET", path: "/v1/collections", status: 200, want: []string{`"name":"authors"`, `"name":"posts"`}},

		// Records.
		{name: "create ann", method: "POST", path: "/v1/collections/authors/records", body: `{"id": "` + ann + `", "name": "Ann", "email": "ann@example.com"}`,
			status: 201, etag: `"1"`, want: []string{`"id":"` + ann + `"`, `"version":1`, `"created_at":"`},
			answerHeader: http.Header{"Location": {"/v1/collections/authors/records/" + ann}}},
		{name: "create bob", method: "POST", path: "/v1/collections/authors/records", body: `{"id": "` + bob + `", "name": "Bob"}`, status: 201, etag: `"1"`},
		{name: "a unique value taken", method: "POST", path: "/v1/collections/authors/records", body: `{"name": "Ann 2", "email": "ann@example.com"}`,
			status: 409, code: "already_exists", want: []string{"email"}},
		{name: "create post1", method: "POST", path: "/v1/collections/posts/records",
			body: `{"id": "` + post1 + `", "title": "first", "n": 1, "author": "` + ann + `"}`, status: 201, etag: `"1"`, want: []string{`"text":"tbd"`}},
		{name: "create post2", method: "POST", path: "/v1/collections/posts/records", body: `{"id": "` + post2 + `", "title": "second", "n": 2, "author": "` + bob + `"}`, status: 201, etag: `"1"`},
		{name: "create post3", method: "POST", path: "/v1/collections/posts/records", body: `{"id": "` + post3 + `", "title": "third", "n": 3}`, status: 201, etag: `"1"`},
		{name: "the id is taken", method: "POST", path: "/v1/collections/posts/records", body: `{"id": "` + post1 + `", "title": "again"}`, status: 409, code: "already_exists"},
		{name: "unknown field", method: "POST", path: "/v1/collections/posts/records", body: `{"title": "x", "color": "red"}`,
			status: 400, code: "invalid_argument", want: []string{`color: unknown field of collection \"posts\"`}},
		{name: "wrong type", method: "POST", path: "/v1/collections/posts/records", body: `{"title": "x", "n": "many"}`,
			status: 400, code: "invalid_argument", want: []string{`n: want integer, got string \"many\"`}},
		{name: "missing required field", method: "POST", path: "/v1/collections/posts/records", body: `{"n": 4}`,
			status: 400, code: "invalid_argument", want: []string{"title: required"}},
		{name: "relation to a record that is not there", method: "POST", path: "/v1/collections/posts/records", body: `{"title": "x", "author": "` + nope + `"}`,
			status: 400, code: "invalid_argument", want: []string{`author: no record with this id in collection \"authors\"`}},
		{name: "unknown collection", method: "POST", path: "/v1/collections/ghosts/records", body: `{"a": 1}`, status: 404, code: "not_found"},
		{name: "malformed record JSON", method: "POST", path: "/v1/collections/posts/records", body: "{\"title\": \"x\"\n\"n\": 1}",
			status: 400, code: "invalid_argument", want: []string{"invalid JSON at line 2, column 1"}},
		{name: "record body over the limit", method: "POST", path: "/v1/collections/posts/records", body: big,
			status: 413, code: "resource_exhausted", want: []string{"the limit is 4096 bytes"}},
		{name: "get post1", method: "GET", path: "/v1/collections/posts/records/" + post1, status: 200, etag: `"1"`,
			want: []string{`"title":"first"`, `"n":1`, `"version":1`}},
		{name: "get with fields and expand", method: "GET", path: "/v1/collections/posts/records/" + post1 + "?fields=title,author&expand=author", status: 200, etag: `"1"`,
			want: []string{`"title":"first"`, `"expand":{"author":{`, `"name":"Ann"`, `!"n":1`}},
		{name: "an id that is not a UUID", method: "GET", path: "/v1/collections/posts/records/not-a-uuid", status: 400, code: "invalid_argument", want: []string{"id: want a record id (UUID)"}},
		{name: "get an unknown record", method: "GET", path: "/v1/collections/posts/records/" + nope, status: 404, code: "not_found", want: []string{"record " + nope + " not found"}},
		{name: "get a record of an unknown collection", method: "GET", path: "/v1/collections/ghosts/records/" + post1, status: 404, code: "not_found"},

		// Versions.
		{name: "update at version 1", method: "PATCH", path: "/v1/collections/posts/records/" + post1, header: http.Header{"If-Match": {`"1"`}},
			body: `{"n": 10}`, status: 200, etag: `"2"`, want: []string{`"n":10`, `"title":"first"`}},
		{name: "update at a stale version", method: "PATCH", path: "/v1/collections/posts/records/" + post1, header: http.Header{"If-Match": {`"1"`}},
			body: `{"n": 11}`, status: 409, code: "aborted", want: []string{"version"}},
		{name: "update without If-Match", method: "PATCH", path: "/v1/collections/posts/records/" + post1, body: `{"text": null}`,
			status: 200, etag: `"3"`, want: []string{`"text":null`}},
		{name: "replace at version 3", method: "PUT", path: "/v1/collections/posts/records/" + post1, header: http.Header{"If-Match": {"3"}},
			body: `{"title": "first, again"}`, status: 200, etag: `"4"`, want: []string{`"title":"first, again"`, `"n":null`}},
		{name: "replace at a stale version", method: "PUT", path: "/v1/collections/posts/records/" + post1, header: http.Header{"If-Match": {"3"}},
			body: `{"title": "lost"}`, status: 409, code: "aborted"},
		{name: "replace an unknown record", method: "PUT", path: "/v1/collections/posts/records/" + nope, body: `{"title": "x"}`, status: 404, code: "not_found"},
		{name: "replace with the required field missing", method: "PUT", path: "/v1/collections/posts/records/" + post1, body: `{"n": 1}`,
			status: 400, code: "invalid_argument", want: []string{"title"}},
		{name: "upsert creates", method: "PUT", path: "/v1/collections/posts/records/" + post9 + "?upsert=true", body: `{"title": "ninth", "n": 9}`,
			status: 201, etag: `"1"`, want: []string{`"id":"` + post9 + `"`}},
		{name: "upsert replaces", method: "PUT", path: "/v1/collections/posts/records/" + post9 + "?upsert=true", body: `{"title": "ninth, again", "n": 9}`,
			status: 200, etag: `"2"`, want: []string{`"title":"ninth, again"`}},

		// Queries.
		{name: "query with filter, sort, limit and count", method: "GET",
			path:   "/v1/collections/posts/records?filter=n+%3E%3D+2&sort=-n&limit=2&count=exact&fields=title,n",
			status: 200, want: []string{`{"records":[{`, `"title":"ninth, again"`, `"title":"third"`, `!"second"`, `"total":3`, `"total_estimated":false`, `"next_cursor":"`},
			check: func(t *testing.T, got answer) {
				var page struct {
					Records    []map[string]any `json:"records"`
					NextCursor string           `json:"next_cursor"`
				}
				if err := json.Unmarshal(got.body, &page); err != nil || len(page.Records) != 2 || page.NextCursor == "" {
					t.Fatalf("page %s: %v", got.body, err)
				}
				next := send(t, "GET", e.url+"/v1/collections/posts/records?filter=n+%3E%3D+2&sort=-n&limit=2&fields=title,n&cursor="+page.NextCursor,
					http.Header{"Apikey": {e.secret}}, "")
				if next.status != 200 || !strings.Contains(string(next.body), `"title":"second"`) || !strings.Contains(string(next.body), `"next_cursor":""`) ||
					strings.Contains(string(next.body), `"total"`) {
					t.Errorf("next page: %d %s", next.status, next.body)
				}
			}},
		{name: "query with a relation expanded", method: "GET", path: "/v1/collections/posts/records?filter=title+%3D%3D+%22second%22&expand=author",
			status: 200, want: []string{`"name":"Bob"`, `!"total"`}},
		{name: "estimated count", method: "GET", path: "/v1/collections/posts/records?count=estimated&limit=1", status: 200, want: []string{`"total":`, `"total_estimated":true`}},
		{name: "malformed filter", method: "GET", path: "/v1/collections/posts/records?filter=n+%3E%3E+1", status: 400, code: "invalid_argument", want: []string{"filter: line 1, column 4: syntax error", `unexpected '>'`}},
		{name: "filter on an unknown field", method: "GET", path: "/v1/collections/posts/records?filter=color+%3D%3D+%22red%22", status: 400, code: "invalid_argument", want: []string{"color"}},
		{name: "sort on an unknown field", method: "GET", path: "/v1/collections/posts/records?sort=-color", status: 400, code: "invalid_argument", want: []string{`sort: unknown field \"color\"`}},
		{name: "limit over 1000", method: "GET", path: "/v1/collections/posts/records?limit=1001", status: 400, code: "invalid_argument", want: []string{"limit: must be 1 to 1000"}},
		{name: "bad cursor", method: "GET", path: "/v1/collections/posts/records?cursor=garbage", status: 400, code: "invalid_argument", want: []string{"cursor: not a cursor of this query"}},
		{name: "query an unknown collection", method: "GET", path: "/v1/collections/ghosts/records", status: 404, code: "not_found"},

		// Batches.
		{name: "batch", method: "POST", path: "/v1/batch",
			body: `{"ops": [{"create": {"collection": "authors", "record": {"name": "Cy"}}},
				{"update": {"collection": "posts", "id": "` + post2 + `", "patch": {"n": 20}, "expected_version": 1}},
				{"upsert": {"collection": "posts", "record": {"id": "` + post3 + `", "title": "third, upserted"}}},
				{"delete": {"collection": "posts", "id": "` + post9 + `"}}]}`,
			status: 200, want: []string{`{"results":[{"record":{`, `"name":"Cy"`, `"n":20`, `"title":"third, upserted"`, `"created":false}`, `{"created":false}]}`}},
		{name: "a failing batch names its operation", method: "POST", path: "/v1/batch",
			body:   `{"ops": [{"create": {"collection": "authors", "record": {"name": "Dee"}}}, {"create": {"collection": "posts", "record": {"n": 1}}}]}`,
			status: 400, code: "invalid_argument", want: []string{"ops[1]: title: required"}},
		{name: "and wrote nothing", method: "GET", path: "/v1/collections/authors/records?filter=name+%3D%3D+%22Dee%22&count=exact", status: 200, want: []string{`"total":0`}},
		{name: "empty batch", method: "POST", path: "/v1/batch", body: `{"ops": []}`, status: 400, code: "invalid_argument", want: []string{"ops: a batch needs at least one operation"}},

		// Deletes.
		{name: "delete a referenced author", method: "DELETE", path: "/v1/collections/authors/records/" + bob, status: 204},
		{name: "which clears the relation to it", method: "GET", path: "/v1/collections/posts/records/" + post2, status: 200, etag: `"2"`, want: []string{`"author":null`}},
		{name: "delete at a stale version", method: "DELETE", path: "/v1/collections/posts/records/" + post2, header: http.Header{"If-Match": {`"1"`}}, status: 409, code: "aborted"},
		{name: "delete at the current version", method: "DELETE", path: "/v1/collections/posts/records/" + post2, header: http.Header{"If-Match": {`"2"`}}, status: 204,
			check: func(t *testing.T, got answer) {
				if len(got.body) != 0 {
					t.Errorf("204 with a body: %q", got.body)
				}
			}},
		{name: "deleted", method: "GET", path: "/v1/collections/posts/records/" + post2, status: 404, code: "not_found"},
		{name: "delete again", method: "DELETE", path: "/v1/collections/posts/records/" + post2, status: 404, code: "not_found"},
		{name: "drop a collection another points at", method: "DELETE", path: "/v1/collections/authors", status: 400, code: "failed_precondition", want: []string{"posts.author"}},
		{name: "drop posts", method: "DELETE", path: "/v1/collections/posts", status: 204},
		{name: "drop authors", method: "DELETE", path: "/v1/collections/authors", status: 204},
		{name: "dropped", method: "GET", path: "/v1/collections/posts", status: 404, code: "not_found"},
		{name: "drop again", method: "DELETE", path: "/v1/collections/posts", status: 404, code: "not_found"},
		{name: "no collections left", method: "GET", path: "/v1/collections", status: 200, want: []string{`{"collections":[]}`}},
	} {
		if !t.Run(sc.name, func(t *testing.T) { e.run(t, sc) }) {
			t.FailNow() // the scenarios after it build on it
		}
	}
}

// Who may call: every route needs a key; a publishable key is refused
// until access rules exist; another project's key sees none of the data.
func TestScenariosByKey(t *testing.T) {
	t.Parallel()
	e := newDataEnv(t)
	e.run(t, scenario{method: "POST", path: "/v1/collections", body: `{"name": "posts", "fields": [{"name": "title", "type": "text"}]}`, status: 201})
	e.run(t, scenario{method: "POST", path: "/v1/collections/posts/records", body: `{"id": "` + post1 + `", "title": "mine"}`, status: 201, etag: `"1"`})

	routes := []struct{ method, path, body string }{
		{"GET", "/v1/collections", ""},
		{"POST", "/v1/collections", `{"name": "things"}`},
		{"GET", "/v1/collections/posts", ""},
		{"PATCH", "/v1/collections/posts", `{"ops": [{"drop_field": "title"}]}`},
		{"DELETE", "/v1/collections/posts", ""},
		{"GET", "/v1/collections/posts/records", ""},
		{"POST", "/v1/collections/posts/records", `{"title": "x"}`},
		{"GET", "/v1/collections/posts/records/" + post1, ""},
		{"PATCH", "/v1/collections/posts/records/" + post1, `{"title": "x"}`},
		{"PUT", "/v1/collections/posts/records/" + post1, `{"title": "x"}`},
		{"PUT", "/v1/collections/posts/records/" + post1 + "?upsert=true", `{"title": "x"}`},
		{"DELETE", "/v1/collections/posts/records/" + post1, ""},
		{"POST", "/v1/batch", `{"ops": [{"delete": {"collection": "posts", "id": "` + post1 + `"}}]}`},
	}
	for _, rt := range routes {
		t.Run("no key/"+rt.method+" "+rt.path, func(t *testing.T) {
			e.run(t, scenario{method: rt.method, path: rt.path, key: http.Header{}, body: rt.body, status: 401, code: "unauthenticated",
				want: []string{"missing API key: send it in the apikey header or Authorization: Bearer"}})
		})
		t.Run("publishable key/"+rt.method+" "+rt.path, func(t *testing.T) {
			// Records wait for access rules; collections need the secret
			// key always.
			want := "access rules are not set yet"
			if !strings.Contains(rt.path, "/records") && rt.path != "/v1/batch" {
				want = "secret key"
			}
			e.run(t, scenario{method: rt.method, path: rt.path, key: http.Header{"Authorization": {"Bearer " + e.publishable}}, body: rt.body,
				status: 403, code: "permission_denied", want: []string{want}})
		})
	}
	other := http.Header{"Apikey": {e.otherTenantSecretKey}}
	for _, sc := range []scenario{
		{name: "another project has no posts", method: "GET", path: "/v1/collections/posts", key: other, status: 404, code: "not_found"},
		{name: "nor the record", method: "GET", path: "/v1/collections/posts/records/" + post1, key: other, status: 404, code: "not_found"},
		{name: "nor can it write it", method: "PATCH", path: "/v1/collections/posts/records/" + post1, key: other, body: `{"title": "theirs"}`, status: 404, code: "not_found"},
		{name: "its own posts are its own", method: "POST", path: "/v1/collections", key: other, body: `{"name": "posts", "fields": [{"name": "title", "type": "text"}]}`, status: 201},
		{name: "and empty", method: "GET", path: "/v1/collections/posts/records?count=exact", key: other, status: 200, want: []string{`"records":[]`, `"total":0`}},
		{name: "the owner's record is untouched", method: "GET", path: "/v1/collections/posts/records/" + post1, status: 200, etag: `"1"`, want: []string{`"title":"mine"`}},
	} {
		t.Run(sc.name, func(t *testing.T) { e.run(t, sc) })
	}
}

// A write with an Idempotency-Key runs once: the retry gets the first
// answer, marked Idempotent-Replayed, and the same key with another body is
// refused.
func TestIdempotencyKeyOverREST(t *testing.T) {
	t.Parallel()
	e := newDataEnv(t)
	e.run(t, scenario{method: "POST", path: "/v1/collections", body: `{"name": "posts", "fields": [{"name": "title", "type": "text"}]}`, status: 201})
	key := http.Header{"Idempotency-Key": {"create-post-1"}}
	first := e.run(t, scenario{method: "POST", path: "/v1/collections/posts/records", header: key, body: `{"title": "once"}`, status: 201, etag: `"1"`,
		answerHeader: http.Header{"Idempotent-Replayed": {""}}})
	again := e.run(t, scenario{method: "POST", path: "/v1/collections/posts/records", header: key, body: `{"title": "once"}`, status: 201, etag: `"1"`,
		answerHeader: http.Header{"Idempotent-Replayed": {"true"}}})
	if first.json(t)["id"] != again.json(t)["id"] {
		t.Errorf("the retry made another record: %s, then %s", first.body, again.body)
	}
	e.run(t, scenario{method: "POST", path: "/v1/collections/posts/records", header: key, body: `{"title": "another"}`, status: 400, code: "invalid_argument",
		want: []string{"Idempotency-Key was already used with a different request"}})
	e.run(t, scenario{method: "GET", path: "/v1/collections/posts/records?count=exact", status: 200, want: []string{`"total":1`}})
	e.run(t, scenario{method: "POST", path: "/v1/collections/posts/records", header: http.Header{"Idempotency-Key": {"has spaces"}}, body: `{"title": "x"}`,
		status: 400, code: "invalid_argument", want: []string{"Idempotency-Key must be"}})
}

// Clients that all read version 1 and update with If-Match: "1" at once:
// exactly one wins, every other gets 409 aborted, and the record is at
// version 2 with the winner's value.
func TestConcurrentUpdatesWithIfMatch(t *testing.T) {
	t.Parallel()
	e := newDataEnv(t)
	e.run(t, scenario{method: "POST", path: "/v1/collections", body: `{"name": "posts", "fields": [{"name": "n", "type": "integer"}]}`, status: 201})
	e.run(t, scenario{method: "POST", path: "/v1/collections/posts/records", body: `{"id": "` + post1 + `", "n": 0}`, status: 201, etag: `"1"`})
	const clients = 8
	statuses := make([]int, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			got, err := trySend(t.Context(), "PATCH", e.url+"/v1/collections/posts/records/"+post1,
				http.Header{"Apikey": {e.secret}, "If-Match": {`"1"`}}, fmt.Sprintf(`{"n": %d}`, i+1))
			if err != nil {
				t.Errorf("client %d: %v", i, err)
			}
			statuses[i] = got.status
		})
	}
	wg.Wait()
	winner := -1
	for i, s := range statuses {
		switch {
		case s == 200 && winner == -1:
			winner = i
		case s != 409:
			t.Errorf("client %d: status %d; statuses %v", i, s, statuses)
		}
	}
	if winner == -1 {
		t.Fatalf("no client won: %v", statuses)
	}
	e.run(t, scenario{method: "GET", path: "/v1/collections/posts/records/" + post1, status: 200, etag: `"2"`, want: []string{fmt.Sprintf(`"n":%d`, winner+1)}})
}
