package db

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sovereign-backend/sovereign/cli/db/export"
	"github.com/sovereign-backend/sovereign/cli/db/importcmd"
	"github.com/sovereign-backend/sovereign/cli/db/internal/fakedata"
	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// These tests run `sov db` against the in-memory data plane of fakedata and
// check what the commands send and print: on a terminal, in a pipe, and
// with --json. cli/db/dbtest runs them against the real platform.

type env struct {
	t   *testing.T
	fp  *fakedata.Platform
	now time.Time
}

func newEnv(t *testing.T) *env {
	return &env{t: t, fp: fakedata.Start(t), now: time.Date(2024, 1, 2, 3, 9, 5, 0, time.UTC)}
}

func (e *env) factory(stdin string, tty bool) (*factory.Factory, *bytes.Buffer, *bytes.Buffer) {
	out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
	return &factory.Factory{
		IO:     &factory.IOStreams{In: strings.NewReader(stdin), Out: out, ErrOut: errOut, OutTTY: tty, InTTY: false},
		APIURL: "http://127.0.0.1:1", DataURL: e.fp.URL, Now: func() time.Time { return e.now },
		ClientOptions: []sovereign.Option{sovereign.WithRetries(0)},
	}, out, errOut
}

// run runs `sov db --key <the fake's> args…` with stdin, as on a terminal
// when tty, and returns stdout, stderr and the error.
func (e *env) run(stdin string, tty bool, args ...string) (string, string, error) {
	e.t.Helper()
	f, out, errOut := e.factory(stdin, tty)
	cmd := NewCmdDB(f)
	cmd.SetArgs(append([]string{"--key", fakedata.Key}, args...))
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
	t.Setenv("SOV_KEY", fakedata.Key)
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
	if out := e.ok("", false, "collections", "create", "posts", "--field", "title:text:required",
		"--field", "n:integer:default=0", "--field", "author:relation(users)", "--index", "title,n:unique"); out != "posts\n" {
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

	e.now = e.now.Add(2 * time.Hour)
	if out := e.ok("", false, "collections", "list"); out != "posts\t3\t1\t2024-01-02T03:04:05Z\t2024-01-02T03:04:05Z\ntags\t1\t0\t2024-01-02T03:04:05Z\t2024-01-02T03:04:05Z\n" {
		t.Errorf("list in a pipe:\n%s", out)
	}
	want := "NAME   FIELDS  INDEXES  CREATED      UPDATED\nposts  3       1        2 hours ago  2 hours ago\ntags   1       0        2 hours ago  2 hours ago\n"
	if out := e.ok("", true, "collections", "list"); out != want {
		t.Errorf("list on a terminal:\n%s\nwant\n%s", out, want)
	}

	want = "title\ttext\ttrue\tfalse\t\nn\tinteger\tfalse\tfalse\t0\nauthor\trelation(users)\tfalse\tfalse\t\nindex\tposts_title_n_idx\ttitle,n\ttrue\n"
	if out := e.ok("", false, "collections", "describe", "posts"); out != want {
		t.Errorf("describe in a pipe:\n%s\nwant\n%s", out, want)
	}
	want = `posts  (created 2 hours ago, updated 2 hours ago)

FIELD   TYPE             REQUIRED  UNIQUE  DEFAULT
title   text             yes               
n       integer                            0
author  relation(users)                    

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
	copyJS := e.ok("", false, "collections", "describe", "posts_copy", "--json")
	if strings.ReplaceAll(copyJS, "posts_copy", "posts") != js {
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
	if len(e.fp.Records("posts")) != 0 {
		t.Error("something was written")
	}
}

var idVersion = regexp.MustCompile(`^(r\d{5})\t(\d+)\n$`)

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
	if strings.Count(out, "\n") != 2 {
		t.Errorf("insert from stdin printed %q", out)
	}
	// One pretty object spanning lines is one record.
	if out := e.ok("{\n  \"title\": \"pretty\"\n}\n", true, "records", "insert", "posts"); !strings.HasPrefix(out, "✓ Inserted record r") ||
		!strings.HasSuffix(out, " in posts (version 1)\n") {
		t.Errorf("insert on a terminal printed %q", out)
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

	e.now = e.now.Add(5 * time.Minute)
	if out := e.ok("", false, "records", "get", "posts", id); out != id+"\thello\t1\t\t2024-01-02T03:04:05Z\t2024-01-02T03:04:05Z\t1\n" {
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
	got := e.fp.Records("posts")[0]
	if got["title"] != "replaced" || got["n"] != nil {
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
	for _, r := range e.fp.Records("posts") {
		ids = append(ids, r["id"].(string))
	}
	_, _, err = e.run("", false, append([]string{"records", "delete", "posts", "--yes", "r99999"}, ids...)...)
	if !sovereign.IsNotFound(err) || len(e.fp.Records("posts")) != len(ids) {
		t.Errorf("a batch with an unknown id: %v, %d records left", err, len(e.fp.Records("posts")))
	}
	e.ok("", false, append([]string{"records", "delete", "posts", "--yes"}, ids...)...)
	if n := len(e.fp.Records("posts")); n != 0 {
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
	e.fp.Filter = func(filter string, r map[string]any) (bool, error) {
		if filter != `title.startsWith("a")` {
			return false, fmt.Errorf("1:%d: Syntax error", len(filter))
		}
		return strings.HasPrefix(r["title"].(string), "a"), nil
	}

	out := e.ok("", false, "query", "posts", `title.startsWith("a")`, "--sort", "-n", "--fields", "title")
	want := "r00003\tavocado\t2024-01-02T03:04:05Z\t2024-01-02T03:04:05Z\t1\nr00001\tapple\t2024-01-02T03:04:05Z\t2024-01-02T03:04:05Z\t1\n"
	if out != want {
		t.Errorf("query in a pipe:\n%s\nwant\n%s", out, want)
	}
	q := e.fp.Queries[len(e.fp.Queries)-1]
	if q.GetFilter() != `title.startsWith("a")` || strings.Join(q.GetSort(), ",") != "-n" || strings.Join(q.GetFields(), ",") != "title" ||
		q.GetLimit() != shared50+1 {
		t.Errorf("query sent %v", q)
	}

	if out := e.ok("", false, "query", "posts", `title.startsWith("a")`, "--count"); out != "2\n" {
		t.Errorf("--count printed %q", out)
	}

	// --limit cuts the list; a terminal is told on stderr.
	out, errOut, err := e.run("", true, "records", "list", "posts", "--limit", "2", "--fields", "title,n")
	if err != nil {
		t.Fatal(err)
	}
	want = "ID      TITLE   N  CREATED_AT     UPDATED_AT     VERSION\nr00001  apple   1  5 minutes ago  5 minutes ago  1\nr00002  banana  2  5 minutes ago  5 minutes ago  1\n"
	if out != want || !strings.Contains(errOut, "Showing the first 2 records") {
		t.Errorf("list on a terminal:\n%s\nwant\n%s\nstderr %q", out, want, errOut)
	}
	var recs []map[string]any
	if err := json.Unmarshal([]byte(e.ok("", false, "records", "list", "posts", "--limit", "0", "--json")), &recs); err != nil || len(recs) != 4 {
		t.Errorf("list --json: %d records, %v", len(recs), err)
	}
	if q := e.fp.Queries[len(e.fp.Queries)-1]; q.GetLimit() != 100 {
		t.Errorf("--limit 0 fetched pages of %d", q.GetLimit())
	}

	// The platform's errors come back as they are: an unknown collection is
	// exit code 4, a filter it refuses is InvalidArgument.
	if _, _, err := e.run("", false, "query", "nope", "n > 1"); factory.ExitCode(err) != factory.ExitNotFound {
		t.Errorf("unknown collection: %v", err)
	}
	if _, _, err := e.run("", false, "query", "posts", "n >"); !sovereign.IsInvalidArgument(err) || !strings.Contains(err.Error(), "1:3") {
		t.Errorf("bad filter: %v", err)
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
	if n := len(e.fp.Batches); n != 3 || len(e.fp.Batches[0].GetOps()) != 1000 || len(e.fp.Batches[2].GetOps()) != 500 {
		t.Fatalf("%d batches", n)
	}

	queries := len(e.fp.Queries)
	out := e.ok("", false, "export", "posts")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2500 {
		t.Fatalf("exported %d lines", len(lines))
	}
	var last map[string]any
	if err := json.Unmarshal([]byte(lines[2499]), &last); err != nil || last["title"] != "t2499" || last["n"] != 2499.0 || last["id"] == nil || last["version"] != 1.0 {
		t.Errorf("last line %s: %v", lines[2499], err)
	}
	if pages := e.fp.Queries[queries:]; len(pages) != 3 || pages[0].GetLimit() != 1000 || pages[1].GetCursor() == "" {
		t.Errorf("export fetched %d pages: %v", len(pages), pages)
	}

	// Into another collection, keeping the ids; again with --upsert.
	e.ok("", false, "collections", "create", "copy", "--field", "title:text:required", "--field", "n:integer")
	e.ok(out, false, "import", "copy", "--batch-size", "700")
	e.ok(out, false, "import", "copy", "--upsert")
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	got := e.fp.Records("copy")
	if len(got) != 2500 || got[0]["id"] != first["id"] || got[2499]["id"] != last["id"] || got[2499]["version"] != 2.0 {
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
	want := "line 18: sovereign: invalid_argument: ops[7]: unknown field nope (the batch of lines 11-20 was not imported); 10 records before line 11 are imported"
	if err == nil || err.Error() != want {
		t.Errorf("err:\n%v\nwant\n%s", err, want)
	}
	if n := len(e.fp.Records("posts")); n != 10 {
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
		return sovereign.NewClient(e.fp.URL, sovereign.WithAPIKey(fakedata.Key)), nil
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

	want := "1\t2024-01-02T03:04:05Z\tposts\tcreate\tcreate collection posts\n" +
		"2\t2024-01-02T03:04:05Z\ttags\tcreate\tcreate collection tags\n" +
		"3\t2024-01-02T03:04:05Z\tposts\talter\tadd field views\n"
	if out := e.ok("", false, "history"); out != want {
		t.Errorf("history:\n%s\nwant\n%s", out, want)
	}
	if out := e.ok("", false, "history", "tags"); out != "2\t2024-01-02T03:04:05Z\ttags\tcreate\tcreate collection tags\n" {
		t.Errorf("history tags: %q", out)
	}
	want = `-- Schema history of collection posts, oldest first (sov db history --sql).

-- #1 2024-01-02T03:04:05Z create posts: create collection posts
-- create posts: create collection posts;

-- #3 2024-01-02T03:04:05Z alter posts: add field views
-- alter posts: add field views;
`
	if out := e.ok("", false, "history", "posts", "--sql"); out != want {
		t.Errorf("history --sql:\n%s\nwant\n%s", out, want)
	}
	var changes []sovereign.SchemaChange
	if err := json.Unmarshal([]byte(e.ok("", false, "history", "--json")), &changes); err != nil || len(changes) != 3 || changes[2].Kind != "alter" {
		t.Errorf("history --json: %v %v", changes, err)
	}
	if _, _, err := e.run("", false, "history", "--sql", "--json"); factory.ExitCode(err) != factory.ExitUsage {
		t.Errorf("--sql --json: %v", err)
	}
}
