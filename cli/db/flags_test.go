package db

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/collections/alter"
	"github.com/sovereign-backend/sovereign/cli/db/collections/create"
	"github.com/sovereign-backend/sovereign/cli/db/export"
	"github.com/sovereign-backend/sovereign/cli/db/history"
	"github.com/sovereign-backend/sovereign/cli/db/importcmd"
	"github.com/sovereign-backend/sovereign/cli/db/query"
	"github.com/sovereign-backend/sovereign/cli/db/records/delete"
	"github.com/sovereign-backend/sovereign/cli/db/records/insert"
	"github.com/sovereign-backend/sovereign/cli/db/records/update"
	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// These tests check each command's flags and arguments with runF: what
// reaches the run function, and what is refused as a usage error (exit
// code 2) before anything is sent.

// parse runs cmd with args and stdin (a terminal when inTTY) and returns
// its error.
func parse(cmd *cobra.Command, stdin string, args ...string) error {
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	return cmd.Execute()
}

func testFactory(stdin string, inTTY bool) *factory.Factory {
	return &factory.Factory{IO: &factory.IOStreams{In: strings.NewReader(stdin), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}, InTTY: inTTY}}
}

// wantArgsError checks that a wrong number of arguments is refused (the
// root command makes such errors usage errors).
func wantArgsError(t *testing.T, name string, err error) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), "arg(s)") {
		t.Errorf("%s: err %v, want an argument count error", name, err)
	}
}

func wantUsage(t *testing.T, name string, err error) {
	t.Helper()
	if err == nil || factory.ExitCode(err) != factory.ExitUsage {
		t.Errorf("%s: err %v, want a usage error", name, err)
	}
}

func TestInsertFlags(t *testing.T) {
	t.Parallel()
	var got *insert.Options
	runF := func(_ context.Context, o *insert.Options) error { got = o; return nil }

	if err := parse(insert.NewCmdInsert(testFactory("", true), runF), "", "posts", `{"a": 1}`, `{"b": 12345678901234567890}`); err != nil {
		t.Fatal(err)
	}
	if got.Collection != "posts" || len(got.Records) != 2 || got.Records[1]["b"].(interface{ String() string }).String() != "12345678901234567890" {
		t.Errorf("records %v: numbers must keep their digits", got.Records)
	}
	if err := parse(insert.NewCmdInsert(testFactory("{\"a\": 1}\n{\"a\": 2}\n{\"a\": 3}", false), runF), "", "posts", "--json"); err != nil {
		t.Fatal(err)
	}
	if len(got.Records) != 3 || !got.JSON {
		t.Errorf("from stdin: %+v", got)
	}
	wantUsage(t, "no record and stdin a terminal", parse(insert.NewCmdInsert(testFactory("", true), runF), "", "posts"))
	wantUsage(t, "empty stdin", parse(insert.NewCmdInsert(testFactory("", false), runF), "", "posts"))
	wantUsage(t, "not an object", parse(insert.NewCmdInsert(testFactory("", true), runF), "", "posts", `[1]`))
	wantUsage(t, "two values in one argument", parse(insert.NewCmdInsert(testFactory("", true), runF), "", "posts", `{} {}`))
	wantArgsError(t, "no collection", parse(insert.NewCmdInsert(testFactory("", true), runF), ""))
}

func TestUpdateAndDeleteFlags(t *testing.T) {
	t.Parallel()
	var got *update.Options
	runF := func(_ context.Context, o *update.Options) error { got = o; return nil }
	if err := parse(update.NewCmdUpdate(testFactory("", true), runF), "", "posts", "r1", `{"n": null}`, "--expect-version", "3", "--replace"); err != nil {
		t.Fatal(err)
	}
	if got.ID != "r1" || got.ExpectVersion != 3 || !got.Replace || len(got.Patch) != 1 {
		t.Errorf("options %+v", got)
	}
	if err := parse(update.NewCmdUpdate(testFactory(`{"n": 2}`, false), runF), "", "posts", "r1"); err != nil || got.Patch["n"] == nil {
		t.Errorf("patch from stdin: %v %v", got.Patch, err)
	}
	wantUsage(t, "two objects on stdin", parse(update.NewCmdUpdate(testFactory(`{} {}`, false), runF), "", "posts", "r1"))
	wantUsage(t, "negative version", parse(update.NewCmdUpdate(testFactory("", true), runF), "", "posts", "r1", "{}", "--expect-version", "-1"))
	wantArgsError(t, "no id", parse(update.NewCmdUpdate(testFactory("", true), runF), "", "posts"))

	var del *delete.Options
	delF := func(_ context.Context, o *delete.Options) error { del = o; return nil }
	if err := parse(delete.NewCmdDelete(testFactory("", true), delF), "", "posts", "r1", "r2", "-y"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(del.IDs, []string{"r1", "r2"}) || !del.Yes {
		t.Errorf("delete options %+v", del)
	}
	wantUsage(t, "expect-version with two ids", parse(delete.NewCmdDelete(testFactory("", true), delF), "", "posts", "r1", "r2", "--expect-version", "2"))
	many := []string{"posts"}
	for range sovereign.MaxBatchOps + 1 {
		many = append(many, "r")
	}
	wantUsage(t, "over a batch of ids", parse(delete.NewCmdDelete(testFactory("", true), delF), "", many...))
}

func TestQueryExportImportHistoryFlags(t *testing.T) {
	t.Parallel()
	var q *query.Options
	qF := func(_ context.Context, o *query.Options) error { q = o; return nil }
	if err := parse(query.NewCmdQuery(testFactory("", true), qF), "", "posts", "n > 5", "--sort", "-created_at,title", "--sort", "n",
		"--limit", "10", "--fields", "title", "--expand", "author", "--json"); err != nil {
		t.Fatal(err)
	}
	if q.Collection != "posts" || q.Filter != "n > 5" || !slices.Equal(q.Sort, []string{"-created_at", "title", "n"}) || q.Limit != 10 ||
		!slices.Equal(q.Fields, []string{"title"}) || !slices.Equal(q.Expand, []string{"author"}) || !q.JSON {
		t.Errorf("query options %+v", q.Query)
	}
	if err := parse(query.NewCmdQuery(testFactory("", true), qF), "", "posts"); err != nil || q.Filter != "" || q.Limit != 50 {
		t.Errorf("query without a filter: %+v %v", q.Query, err)
	}
	wantArgsError(t, "query without a collection", parse(query.NewCmdQuery(testFactory("", true), qF), ""))

	var ex *export.Options
	if err := parse(export.NewCmdExport(testFactory("", true), func(_ context.Context, o *export.Options) error { ex = o; return nil }),
		"", "posts", "--filter", "n > 1", "--sort", "-n"); err != nil {
		t.Fatal(err)
	}
	if ex.Collection != "posts" || ex.Filter != "n > 1" || !slices.Equal(ex.Sort, []string{"-n"}) || ex.ErrTTY {
		t.Errorf("export options %+v", ex)
	}

	var im *importcmd.Options
	imF := func(_ context.Context, o *importcmd.Options) error { im = o; return nil }
	if err := parse(importcmd.NewCmdImport(testFactory("", true), imF), "", "posts", "posts.ndjson", "--upsert", "--batch-size", "10"); err != nil {
		t.Fatal(err)
	}
	if im.File != "posts.ndjson" || !im.Upsert || im.BatchSize != 10 {
		t.Errorf("import options %+v", im)
	}
	if err := parse(importcmd.NewCmdImport(testFactory("", false), imF), "", "posts"); err != nil || im.BatchSize != 1000 || im.File != "" {
		t.Errorf("import from stdin: %+v %v", im, err)
	}
	wantUsage(t, "import from a terminal", parse(importcmd.NewCmdImport(testFactory("", true), imF), "", "posts"))
	wantUsage(t, "batch size 0", parse(importcmd.NewCmdImport(testFactory("", false), imF), "", "posts", "--batch-size", "0"))

	var h *history.Options
	if err := parse(history.NewCmdHistory(testFactory("", true), func(_ context.Context, o *history.Options) error { h = o; return nil }),
		"", "posts", "--sql"); err != nil {
		t.Fatal(err)
	}
	if h.Collection != "posts" || !h.SQL {
		t.Errorf("history options %+v", h)
	}
}

func TestCollectionCreateAndAlterFlags(t *testing.T) {
	t.Parallel()
	var c *create.Options
	if err := parse(create.NewCmdCreate(testFactory("", true), func(_ context.Context, o *create.Options) error { c = o; return nil }),
		"", "posts", "--field", "title:text:required:unique", "--field", `status:text:default="a:b"`, "--field", "emb:vector(3)",
		"--field", "author:relation(users)", "--index", "title,status:unique:name=by_title"); err != nil {
		t.Fatal(err)
	}
	want := sovereign.CollectionSpec{Name: "posts", Fields: []sovereign.Field{
		{Name: "title", Type: "text", Required: true, Unique: true},
		{Name: "status", Type: "text", Default: "a:b"},
		{Name: "emb", Type: "vector", Dimensions: 3},
		{Name: "author", Type: "relation", Collection: "users"},
	}, Indexes: []sovereign.Index{{Name: "by_title", Fields: []string{"title", "status"}, Unique: true}}}
	if !specEqual(c.Spec, want) {
		t.Errorf("spec %+v\nwant %+v", c.Spec, want)
	}

	// NAME over --file makes a copy: the indexes the platform named after
	// the original are left for it to name after the copy; others keep
	// their names.
	file := `{"name": "posts", "fields": [{"name": "n", "type": "integer"}],
		"indexes": [{"name": "posts_n_idx", "fields": ["n"]}, {"name": "by_n", "fields": ["n"]}]}`
	createF := func(_ context.Context, o *create.Options) error { c = o; return nil }
	if err := parse(create.NewCmdCreate(testFactory(file, false), createF), "", "copy", "--file", "-"); err != nil {
		t.Fatal(err)
	}
	if c.Spec.Name != "copy" || len(c.Spec.Indexes) != 2 || c.Spec.Indexes[0].Name != "" || c.Spec.Indexes[1].Name != "by_n" {
		t.Errorf("copy %+v", c.Spec)
	}
	if err := parse(create.NewCmdCreate(testFactory(file, false), createF), "", "posts", "--file", "-"); err != nil {
		t.Fatal(err)
	}
	if c.Spec.Name != "posts" || c.Spec.Indexes[0].Name != "posts_n_idx" {
		t.Errorf("under its own name %+v", c.Spec)
	}

	var a *alter.Options
	if err := parse(alter.NewCmdAlter(testFactory("", true), func(_ context.Context, o *alter.Options) error { a = o; return nil }),
		"", "posts", "--drop-index", "x", "--add-field", "v:integer", "--rename-field", "a=b", "--drop-index", "y", "--set-default", "n=5"); err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(a.Changes))
	for i, ch := range a.Changes {
		got[i] = ch.Flag + " " + ch.Value
	}
	if w := []string{"drop-index x", "add-field v:integer", "rename-field a=b", "drop-index y", "set-default n=5"}; !slices.Equal(got, w) || len(a.Ops) != 5 {
		t.Errorf("changes %q (%d ops), want %q", got, len(a.Ops), w)
	}
}

func specEqual(a, b sovereign.CollectionSpec) bool {
	if a.Name != b.Name || len(a.Fields) != len(b.Fields) || len(a.Indexes) != len(b.Indexes) {
		return false
	}
	for i := range a.Fields {
		x, y := a.Fields[i], b.Fields[i]
		if x.Name != y.Name || x.Type != y.Type || x.Required != y.Required || x.Unique != y.Unique || x.Default != y.Default ||
			x.Collection != y.Collection || x.Dimensions != y.Dimensions {
			return false
		}
	}
	for i := range a.Indexes {
		x, y := a.Indexes[i], b.Indexes[i]
		if x.Name != y.Name || x.Unique != y.Unique || !slices.Equal(x.Fields, y.Fields) {
			return false
		}
	}
	return true
}
