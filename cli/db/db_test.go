package db

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sovereign-backend/sovereign/cli/db/export"
	"github.com/sovereign-backend/sovereign/cli/db/importcmd"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/internal/clitestenv"
	"github.com/sovereign-backend/sovereign/internal/platformtest"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	dpv1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// These tests run `sov db` against the real platform (internal/platformtest:
// both planes in process on a fresh database) with a project and secret key
// made through the SDK, and check what the commands send and print: on a
// terminal, in a pipe, and with --json. cli/db/dbtest runs the `sov` binary
// the same way.

func TestMain(m *testing.M) { testenv.Main(m) }

type env struct {
	t *testing.T
	// dataURL is the data plane's base URL; key the project's secret key.
	dataURL, key string
	// now is the CLI's clock, for relative times on a terminal.
	now time.Time
	// sent holds the queries and batches the commands sent.
	sent *sent
}

// newEnv starts a platform for the test and makes a project on it.
func newEnv(t *testing.T) *env {
	t.Helper()
	p := platformtest.Start(t, platformtest.Options{})
	return &env{t: t, dataURL: p.DataURL, key: clitestenv.SecretKey(t, p.APIURL, "shop"), now: time.Now(), sent: &sent{}}
}

// client is an SDK client of the project, for reading back what the
// commands did.
func (e *env) client() *sovereign.Client {
	return sovereign.NewClient(e.dataURL, sovereign.WithAPIKey(e.key))
}

// records returns a collection's records in the platform's default order
// (by id: creation order for ids the platform made).
func (e *env) records(collection string) []sovereign.Record {
	e.t.Helper()
	recs, err := sovereign.Collect(sovereign.Collection[sovereign.Record](e.client(), collection).Query(e.t.Context(), sovereign.Query{}))
	if err != nil {
		e.t.Fatalf("read %s back: %v", collection, err)
	}
	return recs
}

// collection returns a collection as the platform has it.
func (e *env) collection(name string) *sovereign.CollectionSpec {
	e.t.Helper()
	c, err := e.client().Collections().Get(e.t.Context(), name)
	if err != nil {
		e.t.Fatalf("read collection %s back: %v", name, err)
	}
	return c
}

// sent is an http.RoundTripper that keeps the queries and batches the
// commands send to the data plane, decoded, on their way to it.
type sent struct {
	mu      sync.Mutex
	queries []*dpv1.QueryRecordsRequest
	batches []*dpv1.BatchRequest
}

func (s *sent) RoundTrip(r *http.Request) (*http.Response, error) {
	var msg proto.Message
	switch {
	case strings.HasSuffix(r.URL.Path, dataplanev1connect.RecordServiceQueryRecordsProcedure):
		msg = &dpv1.QueryRecordsRequest{}
	case strings.HasSuffix(r.URL.Path, dataplanev1connect.RecordServiceBatchProcedure):
		msg = &dpv1.BatchRequest{}
	}
	if msg != nil && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/proto" {
			return nil, fmt.Errorf("sent: %s request in %s, want application/proto", r.URL.Path, ct)
		}
		if err := proto.Unmarshal(body, msg); err != nil {
			return nil, fmt.Errorf("sent: decode %s: %w", r.URL.Path, err)
		}
		s.mu.Lock()
		switch m := msg.(type) {
		case *dpv1.QueryRecordsRequest:
			s.queries = append(s.queries, m)
		case *dpv1.BatchRequest:
			s.batches = append(s.batches, m)
		}
		s.mu.Unlock()
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	return http.DefaultTransport.RoundTrip(r)
}

// Queries returns the queries sent so far, in order.
func (s *sent) Queries() []*dpv1.QueryRecordsRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.queries)
}

// Batches returns the batches sent so far, in order.
func (s *sent) Batches() []*dpv1.BatchRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.batches)
}

func (e *env) factory(stdin string, tty bool) (*factory.Factory, *bytes.Buffer, *bytes.Buffer) {
	out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
	return &factory.Factory{
		IO:     &factory.IOStreams{In: strings.NewReader(stdin), Out: out, ErrOut: errOut, OutTTY: tty, InTTY: false},
		APIURL: "http://127.0.0.1:1", DataURL: e.dataURL, Now: func() time.Time { return e.now },
		ClientOptions: []sovereign.Option{sovereign.WithRetries(0), sovereign.WithHTTPClient(&http.Client{Transport: e.sent})},
	}, out, errOut
}

// run runs `sov db --key <the project's> args…` with stdin, as on a
// terminal when tty, and returns stdout, stderr and the error.
func (e *env) run(stdin string, tty bool, args ...string) (string, string, error) {
	e.t.Helper()
	f, out, errOut := e.factory(stdin, tty)
	cmd := NewCmdDB(f)
	cmd.SetArgs(append([]string{"--key", e.key}, args...))
	cmd.SetIn(f.IO.In)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// ok runs like run and fails the test on an error.
func (e *env) ok(stdin string, tty bool, args ...string) string {
	e.t.Helper()
	out, errOut, err := e.run(stdin, tty, args...)
	if err != nil {
		e.t.Fatalf("sov db %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func (e *env) posts() {
	e.t.Helper()
	e.ok("", false, "collections", "create", "posts", "--field", "title:text:required", "--field", "n:integer:default=0",
		"--field", "due:timestamp", "--index", "n")
}

// rfc3339 is how a pipe prints a time.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// recordAt is a time field of a record.
func recordAt(t *testing.T, r sovereign.Record, field string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(r[field]))
	if err != nil {
		t.Fatalf("%s of %v: %v", field, r, err)
	}
	return at
}

func TestNoKey(t *testing.T) {
	e := newEnv(t)
	t.Setenv("SOV_KEY", "")
	f, _, _ := e.factory("", false)
	cmd := NewCmdDB(f)
	cmd.SetArgs([]string{"collections", "list"})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	if err == nil || factory.ExitCode(err) != factory.ExitAuth || !strings.Contains(err.Error(), "--key or set SOV_KEY") {
		t.Fatalf("err %v (exit %d)", err, factory.ExitCode(err))
	}

	// SOV_KEY works when --key is not given; a wrong key is the platform's
	// Unauthenticated.
	t.Setenv("SOV_KEY", e.key)
	f, out, _ := e.factory("", false)
	cmd = NewCmdDB(f)
	cmd.SetArgs([]string{"collections", "list"})
	if err := cmd.Execute(); err != nil || out.String() != "" {
		t.Fatalf("with SOV_KEY: %v %q", err, out.String())
	}
	_, _, err = e.run("", false, "--key", "sov_sk_wrong", "collections", "list")
	if !sovereign.IsUnauthenticated(err) || factory.ExitCode(err) != factory.ExitAuth {
		t.Errorf("wrong key: %v", err)
	}
}

func TestCollections(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// What posts.author relates to ("users" is reserved for end users).
	e.ok("", false, "collections", "create", "people", "--field", "name:text")
	if out := e.ok("", false, "collections", "create", "posts", "--field", "title:text:required",
		"--field", "n:integer:default=0", "--field", "author:relation(people)", "--index", "title,n:unique"); out != "posts\n" {
		t.Errorf("create in a pipe printed %q", out)
	}
	out := e.ok("", true, "collections", "create", "tags", "--field", "name:text:unique")
	if out != "✓ Created collection tags (1 field, 0 indexes)\n" {
		t.Errorf("create on a terminal printed %q", out)
	}
	_, _, err := e.run("", false, "collections", "create", "posts", "--field", "x:text")
	if !sovereign.IsAlreadyExists(err) {
		t.Errorf("create twice: %v", err)
	}

	posts, tags, people := e.collection("posts"), e.collection("tags"), e.collection("people")
	e.now = tags.CreatedAt.Add(2 * time.Hour)
	want := fmt.Sprintf("people\t1\t0\t%s\t%s\nposts\t3\t1\t%s\t%s\ntags\t1\t0\t%s\t%s\n",
		rfc3339(people.CreatedAt), rfc3339(people.UpdatedAt), rfc3339(posts.CreatedAt), rfc3339(posts.UpdatedAt),
		rfc3339(tags.CreatedAt), rfc3339(tags.UpdatedAt))
	if out := e.ok("", false, "collections", "list"); out != want {
		t.Errorf("list in a pipe:\n%s\nwant\n%s", out, want)
	}
	want = "NAME    FIELDS  INDEXES  CREATED      UPDATED\npeople  1       0        2 hours ago  2 hours ago\n" +
		"posts   3       1        2 hours ago  2 hours ago\ntags    1       0        2 hours ago  2 hours ago\n"
	if out := e.ok("", true, "collections", "list"); out != want {
		t.Errorf("list on a terminal:\n%s\nwant\n%s", out, want)
	}

	want = "title\ttext\ttrue\tfalse\t\nn\tinteger\tfalse\tfalse\t0\nauthor\trelation(people)\tfalse\tfalse\t\nindex\tposts_title_n_idx\ttitle,n\ttrue\n"
	if out := e.ok("", false, "collections", "describe", "posts"); out != want {
		t.Errorf("describe in a pipe:\n%s\nwant\n%s", out, want)
	}
	want = `posts  (created 2 hours ago, updated 2 hours ago)

FIELD   TYPE              REQUIRED  UNIQUE  DEFAULT
title   text              yes               
n       integer                             0
author  relation(people)                    

INDEX              FIELDS   UNIQUE
posts_title_n_idx  title,n  yes
`
	if out := e.ok("", true, "collections", "describe", "posts"); out != want {
		t.Errorf("describe on a terminal:\n%s\nwant\n%s", out, want)
	}

	// --json is what create --file takes back.
	js := e.ok("", false, "collections", "describe", "posts", "--json")
	var spec sovereign.CollectionSpec
	if err := json.Unmarshal([]byte(js), &spec); err != nil || spec.Name != "posts" || len(spec.Fields) != 3 {
		t.Fatalf("describe --json: %v\n%s", err, js)
	}
	if out := e.ok(js, false, "collections", "create", "posts_copy", "--file", "-"); out != "posts_copy\n" {
		t.Errorf("create --file -: %q", out)
	}
	var copySpec sovereign.CollectionSpec
	copyJS := e.ok("", false, "collections", "describe", "posts_copy", "--json")
	if err := json.Unmarshal([]byte(strings.ReplaceAll(copyJS, "posts_copy", "posts")), &copySpec); err != nil {
		t.Fatalf("describe --json of the copy: %v\n%s", err, copyJS)
	}
	// Only the times differ.
	spec.CreatedAt, spec.UpdatedAt, copySpec.CreatedAt, copySpec.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(copySpec, spec) {
		t.Errorf("the copy differs:\n%s\nfrom\n%s", copyJS, js)
	}

	// Changes apply in the order given, across flags.
	e.ok("", false, "collections", "alter", "posts", "--add-field", "views:integer:default=0", "--rename-field", "n=count",
		"--set-required", "views", "--add-index", "views:name=by_views", "--drop-index", "posts_title_n_idx",
		"--set-default", `title="untitled"`, "--drop-field", "author")
	out = e.ok("", false, "collections", "describe", "posts")
	want = "title\ttext\ttrue\tfalse\t\"untitled\"\ncount\tinteger\tfalse\tfalse\t0\nviews\tinteger\ttrue\tfalse\t0\nindex\tby_views\tviews\tfalse\n"
	if out != want {
		t.Errorf("after alter:\n%s\nwant\n%s", out, want)
	}

	if _, _, err := e.run("", false, "collections", "drop", "tags"); err == nil || factory.ExitCode(err) != factory.ExitUsage ||
		!strings.Contains(err.Error(), "--yes") {
		t.Errorf("drop without --yes in a pipe: %v", err)
	}
	if out := e.ok("", true, "collections", "drop", "tags", "--yes"); out != "✓ Dropped collection tags\n" {
		t.Errorf("drop printed %q", out)
	}
	_, _, err = e.run("", false, "collections", "describe", "tags")
	if factory.ExitCode(err) != factory.ExitNotFound {
		t.Errorf("describe a dropped collection: %v", err)
	}
}

func TestCollectionFlagsAreChecked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, args := range [][]string{
		{"collections", "create", "posts", "--field", "title"},
		{"collections", "create", "posts", "--field", "title:string"},
		{"collections", "create", "posts", "--field", "a:relation"},
		{"collections", "create", "posts", "--field", "v:vector(x)"},
		{"collections", "create", "posts", "--field", "n:integer:sometimes"},
		{"collections", "create", "posts", "--field", "n:integer:default=zero"},
		{"collections", "create", "posts", "--index", "n:clustered"},
		{"collections", "create", "--field", "n:integer"},
		{"collections", "create", "posts", "--file", "-", "--field", "n:integer"},
		{"collections", "alter", "posts"},
		{"collections", "alter", "posts", "--rename-field", "n"},
		{"collections", "alter", "posts", "--set-default", "n=null"},
		{"collections", "alter", "posts", "--set-default", "n"},
	} {
		_, _, err := e.run("", false, args...)
		if err == nil || factory.ExitCode(err) != factory.ExitUsage {
			t.Errorf("%q: err %v, want a usage error", args, err)
		}
	}
	if out := e.ok("", false, "history"); out != "" {
		t.Errorf("something was changed:\n%s", out)
	}
}

var idVersion = regexp.MustCompile(`^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\t(\d+)\n$`)

func TestRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.posts()

	out := e.ok("", false, "records", "insert", "posts", `{"title": "hello", "n": 1}`)
	m := idVersion.FindStringSubmatch(out)
	if m == nil || m[2] != "1" {
		t.Fatalf("insert in a pipe printed %q", out)
	}
	id := m[1]
	// NDJSON on stdin: one record a line, inserted in order.
	out = e.ok("{\"title\": \"a\"}\n{\"title\": \"b\", \"n\": 9007199254740991}\n", false, "records", "insert", "posts")
	if lines := strings.SplitAfter(out, "\n"); len(lines) != 3 || !idVersion.MatchString(lines[0]) || !idVersion.MatchString(lines[1]) {
		t.Errorf("insert from stdin printed %q", out)
	}
	// One pretty object spanning lines is one record.
	out = e.ok("{\n  \"title\": \"pretty\"\n}\n", true, "records", "insert", "posts")
	if m := regexp.MustCompile(`^✓ Inserted record ([0-9a-f-]{36}) in posts \(version 1\)\n$`).FindStringSubmatch(out); m == nil {
		t.Errorf("insert on a terminal printed %q", out)
	}
	if got := e.records("posts"); len(got) != 4 || got[1]["title"] != "a" || got[2]["n"] != 9007199254740991.0 || got[3]["title"] != "pretty" {
		t.Errorf("records %v", got)
	}

	// The SDK refuses integers it cannot carry exactly, before sending.
	_, _, err := e.run("", false, "records", "insert", "posts", `{"title": "big", "n": 9007199254740993}`)
	if !sovereign.IsInvalidArgument(err) || !strings.Contains(err.Error(), "field n") {
		t.Errorf("huge integer: %v", err)
	}
	_, _, err = e.run("", false, "records", "insert", "posts", `{"title": 1`)
	if factory.ExitCode(err) != factory.ExitUsage {
		t.Errorf("bad JSON: %v", err)
	}
	_, _, err = e.run("", false, "records", "insert", "posts", `{"nope": 1}`)
	if !sovereign.IsInvalidArgument(err) || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown field: %v", err)
	}

	hello := e.records("posts")[0]
	created := rfc3339(recordAt(t, hello, "created_at"))
	e.now = recordAt(t, hello, "created_at").Add(10 * time.Minute)
	if out := e.ok("", false, "records", "get", "posts", id); out != id+"\thello\t1\t\t"+created+"\t"+created+"\t1\n" {
		t.Errorf("get in a pipe: %q", out)
	}
	want := fmt.Sprintf(`id          %s
title       hello
n           1
due         -
created_at  10 minutes ago
updated_at  10 minutes ago
version     1
`, id)
	if out := e.ok("", true, "records", "get", "posts", id); out != want {
		t.Errorf("get on a terminal:\n%s\nwant\n%s", out, want)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(e.ok("", false, "records", "get", "posts", id, "--json")), &rec); err != nil || rec["title"] != "hello" || rec["version"] != 1.0 {
		t.Errorf("get --json: %v %v", rec, err)
	}

	// Update with the version read; again with the same version conflicts.
	if out := e.ok("", false, "records", "update", "posts", id, `{"n": 2}`, "--expect-version", "1"); out != id+"\t2\n" {
		t.Errorf("update printed %q", out)
	}
	_, _, err = e.run("", false, "records", "update", "posts", id, `{"n": 3}`, "--expect-version", "1")
	if !sovereign.IsConflict(err) {
		t.Errorf("stale update: %v", err)
	}
	if out := e.ok(`{"title": "replaced"}`, true, "records", "update", "posts", id, "--replace"); out != "✓ Replaced record "+id+" in posts (version 3)\n" {
		t.Errorf("replace printed %q", out)
	}
	// A replaced record keeps only what was sent, and the defaults.
	got := e.records("posts")[0]
	if got.ID() != id || got["title"] != "replaced" || got["n"] != 0.0 || got["due"] != nil {
		t.Errorf("after replace: %v", got)
	}

	_, _, err = e.run("", false, "records", "delete", "posts", id)
	if factory.ExitCode(err) != factory.ExitUsage {
		t.Errorf("delete without --yes in a pipe: %v", err)
	}
	if out := e.ok("", true, "records", "delete", "posts", id, "--yes"); out != "✓ Deleted record "+id+" from posts\n" {
		t.Errorf("delete printed %q", out)
	}
	_, _, err = e.run("", false, "records", "get", "posts", id)
	if factory.ExitCode(err) != factory.ExitNotFound {
		t.Errorf("get a deleted record: %v (exit %d)", err, factory.ExitCode(err))
	}
	// Several ids go in one batch: all or none.
	ids := []string{}
	for _, r := range e.records("posts") {
		ids = append(ids, r.ID())
	}
	_, _, err = e.run("", false, append([]string{"records", "delete", "posts", "--yes", "00000000-0000-7000-8000-000000000000"}, ids...)...)
	if left := e.records("posts"); !sovereign.IsNotFound(err) || len(left) != len(ids) {
		t.Errorf("a batch with an unknown id: %v, %d records left", err, len(left))
	}
	e.ok("", false, append([]string{"records", "delete", "posts", "--yes"}, ids...)...)
	if n := len(e.records("posts")); n != 0 {
		t.Errorf("%d records left", n)
	}
}

func TestQueryAndList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.posts()
	for i, title := range []string{"apple", "banana", "avocado", "cherry"} {
		e.ok("", false, "records", "insert", "posts", fmt.Sprintf(`{"title": %q, "n": %d}`, title, i+1))
	}
	recs := e.records("posts")
	row := func(r sovereign.Record, fields ...string) string {
		var b strings.Builder
		b.WriteString(r.ID())
		for _, f := range fields {
			fmt.Fprintf(&b, "\t%v", r[f])
		}
		fmt.Fprintf(&b, "\t%s\t%s\t%d\n", rfc3339(recordAt(t, r, "created_at")), rfc3339(recordAt(t, r, "updated_at")), r.Version())
		return b.String()
	}

	out := e.ok("", false, "query", "posts", `title.startsWith("a")`, "--sort", "-n", "--fields", "title")
	if want := row(recs[2], "title") + row(recs[0], "title"); out != want {
		t.Errorf("query in a pipe:\n%s\nwant\n%s", out, want)
	}
	queries := e.sent.Queries()
	q := queries[len(queries)-1]
	if q.GetFilter() != `title.startsWith("a")` || strings.Join(q.GetSort(), ",") != "-n" || strings.Join(q.GetFields(), ",") != "title" ||
		q.GetLimit() != shared50+1 {
		t.Errorf("query sent %v", q)
	}

	if out := e.ok("", false, "query", "posts", `title.startsWith("a")`, "--count"); out != "2\n" {
		t.Errorf("--count printed %q", out)
	}

	// --limit cuts the list; a terminal is told on stderr.
	e.now = recordAt(t, recs[1], "created_at").Add(5 * time.Minute)
	out, errOut, err := e.run("", true, "records", "list", "posts", "--limit", "2", "--fields", "title,n")
	if err != nil {
		t.Fatal(err)
	}
	want := "ID                                    TITLE   N  CREATED_AT     UPDATED_AT     VERSION\n" +
		recs[0].ID() + "  apple   1  5 minutes ago  5 minutes ago  1\n" +
		recs[1].ID() + "  banana  2  5 minutes ago  5 minutes ago  1\n"
	if out != want || !strings.Contains(errOut, "Showing the first 2 records") {
		t.Errorf("list on a terminal:\n%s\nwant\n%s\nstderr %q", out, want, errOut)
	}
	var all []map[string]any
	if err := json.Unmarshal([]byte(e.ok("", false, "records", "list", "posts", "--limit", "0", "--json")), &all); err != nil || len(all) != 4 {
		t.Errorf("list --json: %d records, %v", len(all), err)
	}
	queries = e.sent.Queries()
	if q := queries[len(queries)-1]; q.GetLimit() != 100 {
		t.Errorf("--limit 0 fetched pages of %d", q.GetLimit())
	}

	// The platform's errors come back as they are: an unknown collection is
	// exit code 4, a filter it refuses is InvalidArgument with the place at
	// fault.
	if _, _, err := e.run("", false, "query", "nope", "n > 1"); factory.ExitCode(err) != factory.ExitNotFound {
		t.Errorf("unknown collection: %v", err)
	}
	if _, _, err := e.run("", false, "query", "posts", "n >"); !sovereign.IsInvalidArgument(err) || !strings.Contains(err.Error(), "line 1, column 4") {
		t.Errorf("bad filter: %v", err)
	}
	if _, _, err := e.run("", false, "query", "posts", "nope == 1"); !sovereign.IsInvalidArgument(err) || !strings.Contains(err.Error(), `unknown field "nope"`) {
		t.Errorf("a filter on an unknown field: %v", err)
	}
	if _, _, err := e.run("", false, "query", "posts", "--limit", "-1"); factory.ExitCode(err) != factory.ExitUsage {
		t.Errorf("negative limit: %v", err)
	}
}

// shared50 is the default --limit.
const shared50 = 50

func TestExportStreamsEveryRecordAndImportReadsThemBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.posts()
	var in strings.Builder
	for i := range 2500 {
		fmt.Fprintf(&in, `{"title": "t%d", "n": %d}`+"\n", i, i)
		if i == 1000 {
			in.WriteString("\n   \n") // blank lines are skipped
		}
	}
	if out := e.ok(in.String(), false, "import", "posts", "--json"); out != "{\n  \"collection\": \"posts\",\n  \"imported\": 2500,\n  \"batches\": 3\n}\n" {
		t.Errorf("import --json printed %q", out)
	}
	if b := e.sent.Batches(); len(b) != 3 || len(b[0].GetOps()) != 1000 || len(b[2].GetOps()) != 500 {
		t.Fatalf("%d batches", len(b))
	}

	queries := len(e.sent.Queries())
	out := e.ok("", false, "export", "posts")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2500 {
		t.Fatalf("exported %d lines", len(lines))
	}
	var last map[string]any
	if err := json.Unmarshal([]byte(lines[2499]), &last); err != nil || last["title"] != "t2499" || last["n"] != 2499.0 || last["id"] == nil || last["version"] != 1.0 {
		t.Errorf("last line %s: %v", lines[2499], err)
	}
	if pages := e.sent.Queries()[queries:]; len(pages) != 3 || pages[0].GetLimit() != 1000 || pages[1].GetCursor() == "" {
		t.Errorf("export fetched %d pages: %v", len(pages), pages)
	}

	// Into another collection, keeping the ids; again with --upsert.
	e.ok("", false, "collections", "create", "copy", "--field", "title:text:required", "--field", "n:integer", "--field", "due:timestamp")
	e.ok(out, false, "import", "copy", "--batch-size", "700")
	e.ok(out, false, "import", "copy", "--upsert")
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	got := e.records("copy")
	if len(got) != 2500 || got[0].ID() != first["id"] || got[2499].ID() != last["id"] || got[2499].Version() != 2 {
		t.Errorf("copy: %d records, last %v", len(got), got[len(got)-1])
	}
	// Without --upsert, the same ids are refused: the first batch fails at
	// its first line and nothing is imported.
	_, _, err := e.run(out, false, "import", "copy")
	if !sovereign.IsAlreadyExists(err) || !strings.Contains(err.Error(), "line 1:") || !strings.Contains(err.Error(), "0 records before line 1 are imported") {
		t.Errorf("import twice: %v", err)
	}
}

func TestImportStopsAtTheFirstFailingBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.posts()
	var in strings.Builder
	for i := range 25 {
		if i == 17 {
			in.WriteString(`{"title": "bad", "nope": 1}` + "\n")
			continue
		}
		fmt.Fprintf(&in, `{"title": "t%d"}`+"\n", i)
	}
	file := filepath.Join(t.TempDir(), "posts.ndjson")
	if err := os.WriteFile(file, []byte(in.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.run("", false, "import", "posts", file, "--batch-size", "10")
	// The line replaces the platform's "ops[7]: " (the index in the batch).
	want := `line 18: sovereign: invalid_argument: nope: unknown field of collection "posts" (the batch of lines 11-20 was not imported); 10 records before line 11 are imported`
	if !sovereign.IsInvalidArgument(err) || err.Error() != want {
		t.Errorf("err:\n%v\nwant\n%s", err, want)
	}
	if n := len(e.records("posts")); n != 10 {
		t.Errorf("%d records imported, want the first batch's 10", n)
	}

	_, _, err = e.run("{\"title\": \"a\"}\n{\"title\": \"b\"}\n[1, 2]\n", false, "import", "posts")
	if err == nil || !strings.HasPrefix(err.Error(), "line 3: not a JSON object") || !strings.Contains(err.Error(), "nothing from line 1 on is imported, 0 records before it are") {
		t.Errorf("a line that is not an object: %v", err)
	}
	if _, _, err := e.run("", false, "import", "posts", "--batch-size", "1001"); factory.ExitCode(err) != factory.ExitUsage {
		t.Errorf("--batch-size 1001: %v", err)
	}
}

func TestProgressIsDrawnOnAStderrTerminalOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.posts()
	var in strings.Builder
	for i := range 1500 {
		fmt.Fprintf(&in, `{"title": "t%d"}`+"\n", i)
	}
	file := filepath.Join(t.TempDir(), "posts.ndjson")
	if err := os.WriteFile(file, []byte(in.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	client := func() (*sovereign.Client, error) {
		return e.client(), nil
	}

	f, out, errOut := e.factory("", false)
	err := importcmd.Run(t.Context(), &importcmd.Options{IO: f.IO, Client: client, ErrTTY: true, Collection: "posts", File: file, BatchSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 || !strings.Contains(errOut.String(), "Importing into posts [") || !strings.Contains(errOut.String(), "MiB") && !strings.Contains(errOut.String(), "KiB") ||
		!strings.HasSuffix(errOut.String(), "✓ Imported 1,500 records into posts\n") {
		t.Errorf("import: stdout %q\nstderr %q", out, errOut)
	}

	f, out, errOut = e.factory("", false)
	if err := export.Run(t.Context(), &export.Options{IO: f.IO, Client: client, ErrTTY: true, Collection: "posts"}); err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), "\n") != 1500 || strings.Contains(out.String(), "Exporting") {
		t.Errorf("export wrote %d lines to stdout, or progress", strings.Count(out.String(), "\n"))
	}
	if !strings.Contains(errOut.String(), "Exporting posts [") || !strings.Contains(errOut.String(), "/1,500 records") ||
		!strings.HasSuffix(errOut.String(), "✓ Exported 1,500 records from posts\n") {
		t.Errorf("export stderr %q", errOut)
	}

	// Not a terminal: stderr stays empty.
	_, errText, err := e.run("", false, "export", "posts")
	if err != nil || errText != "" {
		t.Errorf("export in a pipe: %v, stderr %q", err, errText)
	}
}

func TestHistory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.posts()
	e.ok("", false, "collections", "create", "tags", "--field", "name:text")
	e.ok("", false, "collections", "alter", "posts", "--add-field", "views:integer")
	changes, err := sovereign.Collect(e.client().Collections().History(t.Context(), ""))
	if err != nil || len(changes) != 3 {
		t.Fatalf("history: %d changes, %v", len(changes), err)
	}
	at := func(i int) string { return rfc3339(changes[i].At) }

	createPosts := "create collection posts with fields title (text, required), n (integer, default 0), due (timestamp); index posts_n_idx on (n)"
	createTags := "create collection tags with fields name (text)"
	want := "1\t" + at(0) + "\tposts\tcreate\t" + createPosts + "\n" +
		"2\t" + at(1) + "\ttags\tcreate\t" + createTags + "\n" +
		"3\t" + at(2) + "\tposts\talter\tadd field views (integer)\n"
	if out := e.ok("", false, "history"); out != want {
		t.Errorf("history:\n%s\nwant\n%s", out, want)
	}
	if out := e.ok("", false, "history", "tags"); out != "2\t"+at(1)+"\ttags\tcreate\t"+createTags+"\n" {
		t.Errorf("history tags: %q", out)
	}

	// --sql: each change of the collection, a comment that says which, then
	// its DDL (on the project's schema), every statement ended.
	p, err := e.client().CurrentProject(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	table := `"t_` + p.Ref + `"."posts"`
	out := e.ok("", false, "history", "posts", "--sql")
	var comments []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "--") {
			comments = append(comments, l)
		}
	}
	wantComments := []string{
		"-- Schema history of collection posts, oldest first (sov db history --sql).",
		"-- #1 " + at(0) + " create posts: " + createPosts,
		"-- #3 " + at(2) + " alter posts: add field views (integer)",
	}
	if !slices.Equal(comments, wantComments) || !strings.Contains(out, "\nCREATE TABLE "+table+" (\n") ||
		!strings.HasSuffix(out, "\n\n-- #3 "+at(2)+" alter posts: add field views (integer)\nALTER TABLE "+table+` ADD COLUMN "views" bigint;`+"\n") ||
		strings.Contains(out, "tags") || strings.Contains(out, ")\n\n") {
		t.Errorf("history --sql:\n%s\nwant the comments\n%s", out, strings.Join(wantComments, "\n"))
	}

	var got []sovereign.SchemaChange
	if err := json.Unmarshal([]byte(e.ok("", false, "history", "--json")), &got); err != nil || len(got) != 3 || got[2].Kind != "alter" ||
		got[2].Description != "add field views (integer)" || !strings.Contains(got[2].SQL, "ALTER TABLE") {
		t.Errorf("history --json: %v %v", got, err)
	}
	if _, _, err := e.run("", false, "history", "--sql", "--json"); factory.ExitCode(err) != factory.ExitUsage {
		t.Errorf("--sql --json: %v", err)
	}
}
