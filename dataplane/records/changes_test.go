package records_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sovereign-backend/sovereign/dataplane/records"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
)

// A change captured by the trigger converts to the same Record that Get
// returns, and encodes to the same JSON the API answers.
func TestChangeRowConversion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.standard(e.ref)
	ctx := t.Context()
	id := identity(e.ref)
	author, err := e.svc.Create(ctx, id, records.CreateParams{Collection: "authors", Record: map[string]any{"name": "Ann"}})
	if err != nil {
		t.Fatal(err)
	}
	created, err := e.svc.Create(ctx, id, records.CreateParams{Collection: "posts", Record: map[string]any{
		"title": "it's \"quoted\" ü", "n": 9007199254740991.0, "score": 0.1, "published": true,
		"at": "2024-05-01T10:00:00.123456789+02:00", "meta": map[string]any{"a": []any{1.5, "x", nil, true}},
		"author": author["id"], "emb": []any{0.25, -1.0, 3.0e10}, "attachment": "f.png", "slug": "s",
	}})
	if err != nil {
		t.Fatal(err)
	}
	updated, err := e.svc.Update(ctx, id, records.UpdateParams{Collection: "posts", ID: created["id"].(string), Patch: map[string]any{"score": nil, "n": -3.0}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.schema.Get(ctx, id, "posts")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := e.pool.Query(ctx, "SELECT op, record, old FROM "+tenantdb.Table(e.ref, schema.ChangesTable)+" WHERE collection = 'posts' ORDER BY pos")
	if err != nil {
		t.Fatal(err)
	}
	type change struct {
		op       string
		rec, old []byte
	}
	var changes []change
	for rows.Next() {
		var ch change
		if err := rows.Scan(&ch.op, &ch.rec, &ch.old); err != nil {
			t.Fatal(err)
		}
		changes = append(changes, ch)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(changes) != 2 || changes[0].op != "insert" || changes[1].op != "update" {
		t.Fatalf("captured %d changes: %+v", len(changes), changes)
	}
	check := func(raw []byte, want records.Record) {
		t.Helper()
		got, err := records.FromRowJSON(c, raw)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("FromRowJSON:\n got  %#v\n want %#v", got, want)
		}
		js, err := records.MarshalRecord(got)
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.client.GetRecord(ctx, req(e.ref, &dataplanev1.GetRecordRequest{Collection: "posts", Id: want["id"].(string)}))
		if err != nil {
			t.Fatal(err)
		}
		api, err := protojson.Marshal(res.Msg.GetRecord())
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if err := json.Unmarshal(js, &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(api, &b); err != nil {
			t.Fatal(err)
		}
		if want["version"] == res.Msg.GetRecord().GetFields()["version"].GetNumberValue() && !reflect.DeepEqual(a, b) {
			t.Errorf("MarshalRecord:\n got  %s\n api  %s", js, api)
		}
	}
	check(changes[0].rec, created)
	check(changes[1].old, created)
	check(changes[1].rec, updated)
	// The REST form of the current record equals the API's.
	js, err := records.MarshalRecord(updated)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.client.GetRecord(ctx, req(e.ref, &dataplanev1.GetRecordRequest{Collection: "posts", Id: updated["id"].(string)}))
	if err != nil {
		t.Fatal(err)
	}
	api, _ := protojson.Marshal(res.Msg.GetRecord())
	var a, b any
	_ = json.Unmarshal(js, &a)
	_ = json.Unmarshal(api, &b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("MarshalRecord:\n got  %s\n api  %s", js, api)
	}
}

// Every write path reports the collections it wrote after the commit.
func TestOnChange(t *testing.T) {
	t.Parallel()
	type call struct {
		ref   string
		colls []string
	}
	var calls []call
	e := newEnv(t, func(c *records.Config) {
		c.OnChange = func(ref string, colls ...string) { calls = append(calls, call{ref, colls}) }
	})
	e.standard(e.ref)
	ctx := t.Context()
	id := identity(e.ref)
	a, err := e.svc.Create(ctx, id, records.CreateParams{Collection: "authors", Record: map[string]any{"name": "A"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Batch(ctx, id, []records.Op{
		{Create: &records.CreateParams{Collection: "posts", Record: map[string]any{"title": "x"}}},
		{Update: &records.UpdateParams{Collection: "authors", ID: a["id"].(string), Patch: map[string]any{"name": "B"}}},
		{Create: &records.CreateParams{Collection: "posts", Record: map[string]any{"title": "y"}}},
	}); err != nil {
		t.Fatal(err)
	}
	// A failed write reports nothing.
	if _, err := e.svc.Create(ctx, id, records.CreateParams{Collection: "posts", Record: map[string]any{}}); err == nil {
		t.Fatal("create without the required title succeeded")
	}
	if err := e.svc.Delete(ctx, id, records.DeleteParams{Collection: "authors", ID: a["id"].(string)}); err != nil {
		t.Fatal(err)
	}
	want := []call{{e.ref, []string{"authors"}}, {e.ref, []string{"posts", "authors"}}, {e.ref, []string{"authors"}}}
	if !reflect.DeepEqual(calls, want) {
		t.Fatalf("OnChange calls %v, want %v", calls, want)
	}
}
