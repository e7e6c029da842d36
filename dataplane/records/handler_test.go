package records_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/keyauth"
	"github.com/sovereign-backend/sovereign/dataplane/records"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
)

// scenario is one call of the RecordService: what it sends (setting up the
// records it needs first), the code it must get (0 for success), fragments
// the error message must hold, and a check of the answer and side effects.
type scenario struct {
	name  string
	call  func(t *testing.T, e *env) (proto.Message, error)
	code  connect.Code
	msg   []string
	check func(t *testing.T, e *env, res proto.Message)
}

// create makes a record in tenant e.ref directly through the service.
func (e *env) create(t *testing.T, collection string, rec map[string]any) records.Record {
	t.Helper()
	r, err := e.svc.Create(t.Context(), identity(e.ref), records.CreateParams{Collection: collection, Record: rec})
	if err != nil {
		t.Fatalf("create %s: %v", collection, err)
	}
	return r
}

func (e *env) author(t *testing.T) string {
	t.Helper()
	return e.create(t, "authors", map[string]any{"name": "ann"})["id"].(string)
}

func (e *env) post(t *testing.T, extra map[string]any) records.Record {
	t.Helper()
	rec := map[string]any{"title": "hello"}
	for k, v := range extra {
		rec[k] = v
	}
	return e.create(t, "posts", rec)
}

func fields(res proto.Message) map[string]any {
	switch r := res.(type) {
	case *dataplanev1.CreateRecordResponse:
		return r.GetRecord().AsMap()
	case *dataplanev1.GetRecordResponse:
		return r.GetRecord().AsMap()
	case *dataplanev1.UpdateRecordResponse:
		return r.GetRecord().AsMap()
	case *dataplanev1.ReplaceRecordResponse:
		return r.GetRecord().AsMap()
	case *dataplanev1.UpsertRecordResponse:
		return r.GetRecord().AsMap()
	}
	return nil
}

func want(t *testing.T, got map[string]any, key string, v any) {
	t.Helper()
	if fmt.Sprint(got[key]) != fmt.Sprint(v) {
		t.Errorf("%s = %#v, want %#v (record %v)", key, got[key], v, got)
	}
}

func TestRecordService(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *records.Config) { c.MaxRecordBytes = 4096 })
	e.standard(e.ref)
	e.collection(e.ref, schema.Collection{Name: "comments", Fields: []schema.Field{
		{Name: "body", Type: schema.Text},
		{Name: "post", Type: schema.Relation, Collection: "posts", Required: true},
	}})
	missing := uuid.Must(uuid.NewV7()).String()

	create := func(coll string, rec map[string]any) func(t *testing.T, e *env) (proto.Message, error) {
		return func(t *testing.T, e *env) (proto.Message, error) {
			res, err := e.client.CreateRecord(t.Context(), req(e.ref, &dataplanev1.CreateRecordRequest{Collection: coll, Record: mustStruct(t, rec)}))
			if err != nil {
				return nil, err
			}
			return res.Msg, nil
		}
	}
	update := func(t *testing.T, e *env, id string, patch map[string]any, version int64) (proto.Message, error) {
		res, err := e.client.UpdateRecord(t.Context(), req(e.ref, &dataplanev1.UpdateRecordRequest{Collection: "posts", Id: id, Patch: mustStruct(t, patch), ExpectedVersion: version}))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	}
	get := func(t *testing.T, e *env, m *dataplanev1.GetRecordRequest) (proto.Message, error) {
		res, err := e.client.GetRecord(t.Context(), req(e.ref, m))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	}

	scenarios := []scenario{
		// CreateRecord.
		{name: "create/every type", call: func(t *testing.T, e *env) (proto.Message, error) {
			return create("posts", map[string]any{
				"title": "t", "n": 42, "score": 2.5, "published": true, "at": "2025-01-31T12:00:00.123456789+02:00",
				"meta": map[string]any{"k": []any{1, "x"}}, "author": e.author(t), "emb": []any{1, 2, 3.5}, "attachment": "a.png",
			})(t, e)
		}, check: func(t *testing.T, e *env, res proto.Message) {
			r := fields(res)
			want(t, r, "title", "t")
			want(t, r, "n", 42)
			want(t, r, "score", 2.5)
			want(t, r, "published", true)
			want(t, r, "at", "2025-01-31T10:00:00.123456Z")
			want(t, r, "meta", map[string]any{"k": []any{1, "x"}})
			want(t, r, "emb", []any{1, 2, 3.5})
			want(t, r, "attachment", "a.png")
			want(t, r, "status", "draft")
			want(t, r, "slug", nil)
			want(t, r, "version", 1)
			if _, err := uuid.Parse(r["id"].(string)); err != nil {
				t.Errorf("id %v: %v", r["id"], err)
			}
			if ca := r["created_at"].(string); len(ca) != len("2006-01-02T15:04:05.000000Z") || !strings.HasSuffix(ca, "Z") || ca != r["updated_at"] {
				t.Errorf("created_at %q, updated_at %q", ca, r["updated_at"])
			}
		}},
		{name: "create/given id, system fields ignored", call: create("posts", map[string]any{
			"id": "0190f3c4-8a0b-7cde-8f00-0123456789ab", "title": "x", "version": 7, "created_at": "2000-01-01T00:00:00Z", "expand": map[string]any{},
		}), check: func(t *testing.T, e *env, res proto.Message) {
			r := fields(res)
			want(t, r, "id", "0190f3c4-8a0b-7cde-8f00-0123456789ab")
			want(t, r, "version", 1)
			if strings.HasPrefix(r["created_at"].(string), "2000") {
				t.Errorf("created_at taken from input: %v", r["created_at"])
			}
		}},
		{name: "create/id taken", call: func(t *testing.T, e *env) (proto.Message, error) {
			return create("posts", map[string]any{"id": e.post(t, nil)["id"], "title": "x"})(t, e)
		}, code: connect.CodeAlreadyExists, msg: []string{"id:"}},
		{name: "create/unique field taken", call: func(t *testing.T, e *env) (proto.Message, error) {
			e.post(t, map[string]any{"slug": "dup"})
			return create("posts", map[string]any{"title": "x", "slug": "dup"})(t, e)
		}, code: connect.CodeAlreadyExists, msg: []string{"slug"}},
		{name: "create/unknown field", call: create("posts", map[string]any{"title": "x", "nope": 1}), code: connect.CodeInvalidArgument, msg: []string{`nope: unknown field`}},
		{name: "create/integer as string", call: create("posts", map[string]any{"title": "x", "n": "x"}), code: connect.CodeInvalidArgument, msg: []string{`n: want integer, got string "x"`}},
		{name: "create/fractional integer", call: create("posts", map[string]any{"title": "x", "n": 1.5}), code: connect.CodeInvalidArgument, msg: []string{`n: want integer, got number 1.5`}},
		{name: "create/integer over 2^53-1", call: create("posts", map[string]any{"title": "x", "n": 9007199254740992.0}), code: connect.CodeInvalidArgument, msg: []string{"n: integer out of range", "2^53"}},
		{name: "create/largest safe integer", call: create("posts", map[string]any{"title": "x", "n": -9007199254740991.0}), check: func(t *testing.T, e *env, res proto.Message) {
			want(t, fields(res), "n", -9007199254740991.0)
		}},
		{name: "create/number as bool", call: create("posts", map[string]any{"title": "x", "score": true}), code: connect.CodeInvalidArgument, msg: []string{"score: want number, got boolean true"}},
		{name: "create/boolean as number", call: create("posts", map[string]any{"title": "x", "published": 1}), code: connect.CodeInvalidArgument, msg: []string{"published: want boolean, got number 1"}},
		{name: "create/timestamp not RFC 3339", call: create("posts", map[string]any{"title": "x", "at": "yesterday"}), code: connect.CodeInvalidArgument, msg: []string{"at: want an RFC 3339 timestamp"}},
		{name: "create/relation not a UUID", call: create("posts", map[string]any{"title": "x", "author": "bob"}), code: connect.CodeInvalidArgument, msg: []string{`author: want a record id (UUID), got string "bob"`}},
		{name: "create/relation to a missing record", call: create("posts", map[string]any{"title": "x", "author": missing}), code: connect.CodeInvalidArgument, msg: []string{`author: no record with this id in collection "authors"`}},
		{name: "create/vector of the wrong length", call: create("posts", map[string]any{"title": "x", "emb": []any{1, 2}}), code: connect.CodeInvalidArgument, msg: []string{"emb: want 3 numbers, got 2"}},
		{name: "create/text with NUL", call: create("posts", map[string]any{"title": "a\x00b"}), code: connect.CodeInvalidArgument, msg: []string{"title: text cannot contain the NUL"}},
		{name: "create/json with NUL", call: create("posts", map[string]any{"title": "a", "meta": map[string]any{"k": "\x00"}}), code: connect.CodeInvalidArgument, msg: []string{"meta: JSON cannot contain the NUL"}},
		{name: "create/required missing", call: create("posts", map[string]any{"n": 1}), code: connect.CodeInvalidArgument, msg: []string{"title: required"}},
		{name: "create/required null", call: create("posts", map[string]any{"title": nil}), code: connect.CodeInvalidArgument, msg: []string{"title: required, cannot be null"}},
		{name: "create/bad id", call: create("posts", map[string]any{"title": "x", "id": "123"}), code: connect.CodeInvalidArgument, msg: []string{`id: want a UUID, got string "123"`}},
		{name: "create/over the size limit", call: create("posts", map[string]any{"title": strings.Repeat("x", 5000)}), code: connect.CodeResourceExhausted, msg: []string{"over the limit of 4096 bytes"}},
		{name: "create/unknown collection", call: create("nope", map[string]any{"title": "x"}), code: connect.CodeNotFound, msg: []string{`collection "nope" not found`}},
		{name: "create/invalid collection name", call: create("No Such!", map[string]any{}), code: connect.CodeInvalidArgument, msg: []string{"collection:"}},
		{name: "create/no collection", call: create("", map[string]any{}), code: connect.CodeInvalidArgument, msg: []string{"collection: required"}},

		// GetRecord.
		{name: "get/all fields", call: func(t *testing.T, e *env) (proto.Message, error) {
			p := e.post(t, map[string]any{"n": 3})
			return get(t, e, &dataplanev1.GetRecordRequest{Collection: "posts", Id: p["id"].(string)})
		}, check: func(t *testing.T, e *env, res proto.Message) {
			r := fields(res)
			want(t, r, "title", "hello")
			want(t, r, "n", 3)
			want(t, r, "version", 1)
			if _, ok := r["score"]; !ok {
				t.Errorf("null field score missing from %v", r)
			}
		}},
		{name: "get/fields and expand", call: func(t *testing.T, e *env) (proto.Message, error) {
			p := e.post(t, map[string]any{"n": 3, "author": e.author(t)})
			return get(t, e, &dataplanev1.GetRecordRequest{Collection: "posts", Id: p["id"].(string), Fields: []string{"n", "created_at"}, Expand: []string{"author"}})
		}, check: func(t *testing.T, e *env, res proto.Message) {
			r := fields(res)
			want(t, r, "n", 3)
			for _, k := range []string{"title", "author", "score"} {
				if _, ok := r[k]; ok {
					t.Errorf("%s returned though not selected: %v", k, r)
				}
			}
			for _, k := range []string{"id", "created_at", "updated_at", "version"} {
				if _, ok := r[k]; !ok {
					t.Errorf("system field %s missing: %v", k, r)
				}
			}
			a, _ := r["expand"].(map[string]any)["author"].(map[string]any)
			want(t, a, "name", "ann")
		}},
		{name: "get/expand of a null relation", call: func(t *testing.T, e *env) (proto.Message, error) {
			p := e.post(t, nil)
			return get(t, e, &dataplanev1.GetRecordRequest{Collection: "posts", Id: p["id"].(string), Expand: []string{"author"}})
		}, check: func(t *testing.T, e *env, res proto.Message) {
			ex := fields(res)["expand"].(map[string]any)
			if v, ok := ex["author"]; !ok || v != nil {
				t.Errorf("expand = %v, want author: null", ex)
			}
		}},
		{name: "get/unknown field", call: func(t *testing.T, e *env) (proto.Message, error) {
			return get(t, e, &dataplanev1.GetRecordRequest{Collection: "posts", Id: missing, Fields: []string{"nope"}})
		}, code: connect.CodeInvalidArgument, msg: []string{`fields: unknown field "nope"`}},
		{name: "get/expand of a non-relation", call: func(t *testing.T, e *env) (proto.Message, error) {
			return get(t, e, &dataplanev1.GetRecordRequest{Collection: "posts", Id: missing, Expand: []string{"n"}})
		}, code: connect.CodeInvalidArgument, msg: []string{`expand: field "n" is a integer, not a relation`}},
		{name: "get/bad id", call: func(t *testing.T, e *env) (proto.Message, error) {
			return get(t, e, &dataplanev1.GetRecordRequest{Collection: "posts", Id: "x"})
		}, code: connect.CodeInvalidArgument, msg: []string{"id: want a record id (UUID)"}},
		{name: "get/not found", call: func(t *testing.T, e *env) (proto.Message, error) {
			return get(t, e, &dataplanev1.GetRecordRequest{Collection: "posts", Id: missing})
		}, code: connect.CodeNotFound, msg: []string{"record " + missing + ` not found in collection "posts"`}},
		{name: "get/unknown collection", call: func(t *testing.T, e *env) (proto.Message, error) {
			return get(t, e, &dataplanev1.GetRecordRequest{Collection: "nope", Id: missing})
		}, code: connect.CodeNotFound, msg: []string{`collection "nope" not found`}},

		// UpdateRecord.
		{name: "update/partial", call: func(t *testing.T, e *env) (proto.Message, error) {
			p := e.post(t, map[string]any{"n": 1, "score": 1.5})
			return update(t, e, p["id"].(string), map[string]any{"n": 2, "score": nil}, 0)
		}, check: func(t *testing.T, e *env, res proto.Message) {
			r := fields(res)
			want(t, r, "title", "hello")
			want(t, r, "n", 2)
			want(t, r, "score", nil)
			want(t, r, "version", 2)
			if r["updated_at"].(string) < r["created_at"].(string) {
				t.Errorf("updated_at %v before created_at %v", r["updated_at"], r["created_at"])
			}
		}},
		{name: "update/expected version matches", call: func(t *testing.T, e *env) (proto.Message, error) {
			p := e.post(t, nil)
			return update(t, e, p["id"].(string), map[string]any{"n": 5}, 1)
		}, check: func(t *testing.T, e *env, res proto.Message) { want(t, fields(res), "version", 2) }},
		{name: "update/version conflict", call: func(t *testing.T, e *env) (proto.Message, error) {
			p := e.post(t, nil)
			if _, err := update(t, e, p["id"].(string), map[string]any{"n": 5}, 1); err != nil {
				t.Fatal(err)
			}
			return update(t, e, p["id"].(string), map[string]any{"n": 6}, 1)
		}, code: connect.CodeAborted, msg: []string{"version conflict: the record is at version 2, you sent 1; fetch it and retry"}},
		{name: "update/not found", call: func(t *testing.T, e *env) (proto.Message, error) {
			return update(t, e, missing, map[string]any{"n": 5}, 1)
		}, code: connect.CodeNotFound, msg: []string{missing}},
		{name: "update/required to null", call: func(t *testing.T, e *env) (proto.Message, error) {
			return update(t, e, e.post(t, nil)["id"].(string), map[string]any{"title": nil}, 0)
		}, code: connect.CodeInvalidArgument, msg: []string{"title: required, cannot be null"}},
		{name: "update/another id", call: func(t *testing.T, e *env) (proto.Message, error) {
			return update(t, e, e.post(t, nil)["id"].(string), map[string]any{"id": missing}, 0)
		}, code: connect.CodeInvalidArgument, msg: []string{"id: the record's id"}},
		{name: "update/wrong type", call: func(t *testing.T, e *env) (proto.Message, error) {
			return update(t, e, e.post(t, nil)["id"].(string), map[string]any{"at": 5}, 0)
		}, code: connect.CodeInvalidArgument, msg: []string{"at: want timestamp"}},
		{name: "update/negative expected version", call: func(t *testing.T, e *env) (proto.Message, error) {
			return update(t, e, e.post(t, nil)["id"].(string), map[string]any{}, -1)
		}, code: connect.CodeInvalidArgument, msg: []string{"expected_version"}},

		// ReplaceRecord.
		{name: "replace/unset fields become default or null", call: func(t *testing.T, e *env) (proto.Message, error) {
			p := e.post(t, map[string]any{"n": 1, "status": "live"})
			res, err := e.client.ReplaceRecord(t.Context(), req(e.ref, &dataplanev1.ReplaceRecordRequest{Collection: "posts", Id: p["id"].(string), Record: mustStruct(t, map[string]any{"title": "new"}), ExpectedVersion: 1}))
			if err != nil {
				return nil, err
			}
			return res.Msg, nil
		}, check: func(t *testing.T, e *env, res proto.Message) {
			r := fields(res)
			want(t, r, "title", "new")
			want(t, r, "n", nil)
			want(t, r, "status", "draft")
			want(t, r, "version", 2)
		}},
		{name: "replace/required missing", call: func(t *testing.T, e *env) (proto.Message, error) {
			_, err := e.client.ReplaceRecord(t.Context(), req(e.ref, &dataplanev1.ReplaceRecordRequest{Collection: "posts", Id: e.post(t, nil)["id"].(string), Record: mustStruct(t, map[string]any{"n": 1})}))
			return nil, err
		}, code: connect.CodeInvalidArgument, msg: []string{"title: required"}},
		{name: "replace/version conflict", call: func(t *testing.T, e *env) (proto.Message, error) {
			_, err := e.client.ReplaceRecord(t.Context(), req(e.ref, &dataplanev1.ReplaceRecordRequest{Collection: "posts", Id: e.post(t, nil)["id"].(string), Record: mustStruct(t, map[string]any{"title": "x"}), ExpectedVersion: 3}))
			return nil, err
		}, code: connect.CodeAborted, msg: []string{"at version 1, you sent 3"}},

		// DeleteRecord.
		{name: "delete/then gone", call: func(t *testing.T, e *env) (proto.Message, error) {
			id := e.post(t, nil)["id"].(string)
			if _, err := e.client.DeleteRecord(t.Context(), req(e.ref, &dataplanev1.DeleteRecordRequest{Collection: "posts", Id: id, ExpectedVersion: 1})); err != nil {
				return nil, err
			}
			return get(t, e, &dataplanev1.GetRecordRequest{Collection: "posts", Id: id})
		}, code: connect.CodeNotFound},
		{name: "delete/version conflict", call: func(t *testing.T, e *env) (proto.Message, error) {
			_, err := e.client.DeleteRecord(t.Context(), req(e.ref, &dataplanev1.DeleteRecordRequest{Collection: "posts", Id: e.post(t, nil)["id"].(string), ExpectedVersion: 2}))
			return nil, err
		}, code: connect.CodeAborted, msg: []string{"at version 1, you sent 2"}},
		{name: "delete/not found", call: func(t *testing.T, e *env) (proto.Message, error) {
			_, err := e.client.DeleteRecord(t.Context(), req(e.ref, &dataplanev1.DeleteRecordRequest{Collection: "posts", Id: missing}))
			return nil, err
		}, code: connect.CodeNotFound, msg: []string{missing}},
		{name: "delete/referenced by a required relation", call: func(t *testing.T, e *env) (proto.Message, error) {
			id := e.post(t, nil)["id"].(string)
			e.create(t, "comments", map[string]any{"post": id})
			_, err := e.client.DeleteRecord(t.Context(), req(e.ref, &dataplanev1.DeleteRecordRequest{Collection: "posts", Id: id}))
			return nil, err
		}, code: connect.CodeFailedPrecondition, msg: []string{`referenced by records of collection "comments"`}},
		{name: "delete/a relation's target clears it", call: func(t *testing.T, e *env) (proto.Message, error) {
			a := e.author(t)
			p := e.post(t, map[string]any{"author": a})
			if _, err := e.client.DeleteRecord(t.Context(), req(e.ref, &dataplanev1.DeleteRecordRequest{Collection: "authors", Id: a})); err != nil {
				return nil, err
			}
			return get(t, e, &dataplanev1.GetRecordRequest{Collection: "posts", Id: p["id"].(string)})
		}, check: func(t *testing.T, e *env, res proto.Message) { want(t, fields(res), "author", nil) }},

		// UpsertRecord.
		{name: "upsert/inserts", call: func(t *testing.T, e *env) (proto.Message, error) {
			res, err := e.client.UpsertRecord(t.Context(), req(e.ref, &dataplanev1.UpsertRecordRequest{Collection: "posts", Record: mustStruct(t, map[string]any{"id": uuid.Must(uuid.NewV7()).String(), "title": "u"})}))
			if err != nil {
				return nil, err
			}
			return res.Msg, nil
		}, check: func(t *testing.T, e *env, res proto.Message) {
			if !res.(*dataplanev1.UpsertRecordResponse).GetCreated() {
				t.Error("created = false")
			}
			want(t, fields(res), "version", 1)
		}},
		{name: "upsert/replaces by id", call: func(t *testing.T, e *env) (proto.Message, error) {
			p := e.post(t, map[string]any{"n": 9})
			res, err := e.client.UpsertRecord(t.Context(), req(e.ref, &dataplanev1.UpsertRecordRequest{Collection: "posts", Record: mustStruct(t, map[string]any{"id": p["id"], "title": "u"})}))
			if err != nil {
				return nil, err
			}
			return res.Msg, nil
		}, check: func(t *testing.T, e *env, res proto.Message) {
			if res.(*dataplanev1.UpsertRecordResponse).GetCreated() {
				t.Error("created = true")
			}
			r := fields(res)
			want(t, r, "version", 2)
			want(t, r, "title", "u")
			want(t, r, "n", nil)
		}},
		{name: "upsert/on a unique field", call: func(t *testing.T, e *env) (proto.Message, error) {
			p := e.post(t, map[string]any{"slug": "on-conflict", "n": 1})
			res, err := e.client.UpsertRecord(t.Context(), req(e.ref, &dataplanev1.UpsertRecordRequest{Collection: "posts", OnConflict: "slug", Record: mustStruct(t, map[string]any{"slug": "on-conflict", "title": "again", "n": 2})}))
			if err != nil {
				return nil, err
			}
			if got := res.Msg.GetRecord().AsMap()["id"]; got != p["id"] {
				t.Errorf("upsert on slug hit %v, want %v", got, p["id"])
			}
			return res.Msg, nil
		}, check: func(t *testing.T, e *env, res proto.Message) {
			want(t, fields(res), "n", 2)
			want(t, fields(res), "version", 2)
		}},
		{name: "upsert/without id or on_conflict", call: func(t *testing.T, e *env) (proto.Message, error) {
			_, err := e.client.UpsertRecord(t.Context(), req(e.ref, &dataplanev1.UpsertRecordRequest{Collection: "posts", Record: mustStruct(t, map[string]any{"title": "u"})}))
			return nil, err
		}, code: connect.CodeInvalidArgument, msg: []string{"id: required for an upsert without on_conflict"}},
		{name: "upsert/on a field that is not unique", call: func(t *testing.T, e *env) (proto.Message, error) {
			_, err := e.client.UpsertRecord(t.Context(), req(e.ref, &dataplanev1.UpsertRecordRequest{Collection: "posts", OnConflict: "n", Record: mustStruct(t, map[string]any{"title": "u", "n": 1})}))
			return nil, err
		}, code: connect.CodeInvalidArgument, msg: []string{`on_conflict: field "n" is not unique`}},
		{name: "upsert/on an unknown field", call: func(t *testing.T, e *env) (proto.Message, error) {
			_, err := e.client.UpsertRecord(t.Context(), req(e.ref, &dataplanev1.UpsertRecordRequest{Collection: "posts", OnConflict: "nope", Record: mustStruct(t, map[string]any{"title": "u"})}))
			return nil, err
		}, code: connect.CodeInvalidArgument, msg: []string{`on_conflict: unknown field "nope"`}},
		{name: "upsert/on_conflict value missing", call: func(t *testing.T, e *env) (proto.Message, error) {
			_, err := e.client.UpsertRecord(t.Context(), req(e.ref, &dataplanev1.UpsertRecordRequest{Collection: "posts", OnConflict: "slug", Record: mustStruct(t, map[string]any{"title": "u"})}))
			return nil, err
		}, code: connect.CodeInvalidArgument, msg: []string{"slug: required to match on it"}},

		// Callers.
		{name: "auth/no key", call: func(t *testing.T, e *env) (proto.Message, error) {
			_, err := e.client.GetRecord(t.Context(), connect.NewRequest(&dataplanev1.GetRecordRequest{Collection: "posts", Id: missing}))
			return nil, err
		}, code: connect.CodeUnauthenticated},
		{name: "auth/publishable key", call: func(t *testing.T, e *env) (proto.Message, error) {
			r := req(e.ref, &dataplanev1.CreateRecordRequest{Collection: "posts", Record: mustStruct(t, map[string]any{"title": "x"})})
			r.Header().Set(kindHeader, "publishable")
			_, err := e.client.CreateRecord(t.Context(), r)
			return nil, err
		}, code: connect.CodePermissionDenied, msg: []string{"access rules are not set yet"}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			res, err := sc.call(t, e)
			if got := codeOf(err); got != sc.code {
				t.Fatalf("code = %v (%v), want %v", got, err, sc.code)
			}
			for _, m := range sc.msg {
				if !strings.Contains(messageOf(err), m) {
					t.Errorf("message %q does not contain %q", messageOf(err), m)
				}
			}
			if sc.check != nil {
				sc.check(t, e, res)
			}
		})
	}
}

// Handler errors wrap the Service's *Error, so in-process callers (the REST
// face) can tell a record over the size limit from a rate limit.
func TestHandlerErrorsWrapKinds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *records.Config) { c.MaxRecordBytes = 64 })
	e.standard(e.ref)
	h := records.NewHandler(e.svc, nil)
	ctx := keyauth.NewContext(t.Context(), apikeys.Identity{TenantRef: e.ref, KeyID: "k", Kind: apikeys.KindSecret})
	_, err := h.CreateRecord(ctx, connect.NewRequest(&dataplanev1.CreateRecordRequest{Collection: "posts",
		Record: mustStruct(t, map[string]any{"title": strings.Repeat("x", 100)})}))
	if codeOf(err) != connect.CodeResourceExhausted || !errors.Is(err, records.ErrTooLarge) {
		t.Fatalf("err = %v, want ResourceExhausted matching ErrTooLarge", err)
	}
	_, err = h.GetRecord(ctx, connect.NewRequest(&dataplanev1.GetRecordRequest{Collection: "posts", Id: uuid.Must(uuid.NewV7()).String()}))
	if !errors.Is(err, records.ErrNotFound) || codeOf(err) != connect.CodeNotFound {
		t.Fatalf("err = %v, want NotFound matching ErrNotFound", err)
	}
}
