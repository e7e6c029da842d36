package records_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sovereign-backend/sovereign/dataplane/records"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/idempotency"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
)

// Two clients update one record with the same expected version at once:
// exactly one wins, the other gets a conflict.
func TestConcurrentUpdatesOneWins(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.standard(e.ref)
	for round := range 10 {
		id := e.post(t, nil)["id"].(string)
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  = make([]error, 2)
		)
		for c := range 2 {
			wg.Go(func() {
				<-start
				_, errs[c] = e.client.UpdateRecord(t.Context(), req(e.ref, &dataplanev1.UpdateRecordRequest{
					Collection: "posts", Id: id, ExpectedVersion: 1,
					Patch: mustStruct(t, map[string]any{"n": c}),
				}))
			})
		}
		close(start)
		wg.Wait()
		ok, conflicts := 0, 0
		for _, err := range errs {
			switch codeOf(err) {
			case 0:
				ok++
			case connect.CodeAborted:
				conflicts++
				if !strings.Contains(messageOf(err), "the record is at version 2, you sent 1") {
					t.Errorf("round %d: conflict message %q", round, messageOf(err))
				}
			default:
				t.Errorf("round %d: unexpected error %v", round, err)
			}
		}
		if ok != 1 || conflicts != 1 {
			t.Fatalf("round %d: %d succeeded and %d conflicted, want 1 and 1", round, ok, conflicts)
		}
		got, err := e.client.GetRecord(t.Context(), req(e.ref, &dataplanev1.GetRecordRequest{Collection: "posts", Id: id}))
		if err != nil {
			t.Fatal(err)
		}
		if v := got.Msg.GetRecord().AsMap()["version"]; v != 2.0 {
			t.Fatalf("round %d: version %v, want 2", round, v)
		}
	}
}

func createOp(t *testing.T, coll string, rec map[string]any) *dataplanev1.BatchOp {
	return &dataplanev1.BatchOp{Op: &dataplanev1.BatchOp_Create{Create: &dataplanev1.CreateRecordRequest{Collection: coll, Record: mustStruct(t, rec)}}}
}

func TestBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.standard(e.ref)
	batch := func(t *testing.T, ops ...*dataplanev1.BatchOp) (*dataplanev1.BatchResponse, error) {
		res, err := e.client.Batch(t.Context(), req(e.ref, &dataplanev1.BatchRequest{Ops: ops}))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	}

	t.Run("every kind of op", func(t *testing.T) {
		t.Parallel()
		upd := e.post(t, map[string]any{"n": 1})["id"].(string)
		rep := e.post(t, map[string]any{"n": 1})["id"].(string)
		del := e.post(t, nil)["id"].(string)
		newID := uuid.Must(uuid.NewV7()).String()
		res, err := batch(t,
			createOp(t, "posts", map[string]any{"title": "b0", "id": newID}),
			&dataplanev1.BatchOp{Op: &dataplanev1.BatchOp_Update{Update: &dataplanev1.UpdateRecordRequest{Collection: "posts", Id: upd, Patch: mustStruct(t, map[string]any{"n": 2}), ExpectedVersion: 1}}},
			&dataplanev1.BatchOp{Op: &dataplanev1.BatchOp_Replace{Replace: &dataplanev1.ReplaceRecordRequest{Collection: "posts", Id: rep, Record: mustStruct(t, map[string]any{"title": "r"})}}},
			&dataplanev1.BatchOp{Op: &dataplanev1.BatchOp_Delete{Delete: &dataplanev1.DeleteRecordRequest{Collection: "posts", Id: del}}},
			&dataplanev1.BatchOp{Op: &dataplanev1.BatchOp_Upsert{Upsert: &dataplanev1.UpsertRecordRequest{Collection: "posts", Record: mustStruct(t, map[string]any{"id": newID, "title": "b0 again"})}}},
			createOp(t, "authors", map[string]any{"name": "in a batch"}),
		)
		if err != nil {
			t.Fatal(err)
		}
		r := res.GetResults()
		if len(r) != 6 {
			t.Fatalf("%d results, want 6", len(r))
		}
		want(t, r[0].GetRecord().AsMap(), "id", newID)
		want(t, r[1].GetRecord().AsMap(), "n", 2)
		want(t, r[1].GetRecord().AsMap(), "version", 2)
		want(t, r[2].GetRecord().AsMap(), "n", nil)
		if r[3].GetRecord() != nil {
			t.Errorf("delete result has a record: %v", r[3])
		}
		if r[4].GetCreated() {
			t.Error("upsert of a record created earlier in the batch says created")
		}
		want(t, r[4].GetRecord().AsMap(), "version", 2)
		want(t, r[5].GetRecord().AsMap(), "name", "in a batch")
	})

	t.Run("all or nothing", func(t *testing.T) {
		t.Parallel()
		e.collection(e.ref, schema.Collection{Name: "bulk", Fields: []schema.Field{{Name: "n", Type: schema.Integer}}})
		dup := uuid.Must(uuid.NewV7()).String()
		ops := make([]*dataplanev1.BatchOp, 501)
		for i := range 500 {
			ops[i] = createOp(t, "bulk", map[string]any{"n": i})
		}
		ops[0] = createOp(t, "bulk", map[string]any{"id": dup, "n": 0})
		ops[500] = createOp(t, "bulk", map[string]any{"id": dup, "n": 500})
		_, err := batch(t, ops...)
		if codeOf(err) != connect.CodeAlreadyExists || !strings.HasPrefix(messageOf(err), "ops[500]: id:") {
			t.Fatalf("err = %v, want AlreadyExists for ops[500]", err)
		}
		if n := e.count(e.ref, "bulk"); n != 0 {
			t.Fatalf("%d records of the failed batch are visible", n)
		}
		// The same batch without the duplicate commits all of it.
		ops[500] = createOp(t, "bulk", map[string]any{"n": 500})
		if _, err := batch(t, ops...); err != nil {
			t.Fatal(err)
		}
		if n := e.count(e.ref, "bulk"); n != 501 {
			t.Fatalf("%d records, want 501", n)
		}
	})

	id := e.post(t, nil)["id"].(string)
	for _, sc := range []struct {
		name string
		ops  func(t *testing.T) []*dataplanev1.BatchOp
		code connect.Code
		msg  string
	}{
		{"no ops", func(t *testing.T) []*dataplanev1.BatchOp { return nil }, connect.CodeInvalidArgument, "ops: a batch needs at least one operation"},
		{"1001 ops", func(t *testing.T) []*dataplanev1.BatchOp {
			ops := make([]*dataplanev1.BatchOp, 1001)
			for i := range ops {
				ops[i] = createOp(t, "posts", map[string]any{"title": "x"})
			}
			return ops
		}, connect.CodeInvalidArgument, "ops: 1001 operations, over the limit of 1000"},
		{"bad value in op 7", func(t *testing.T) []*dataplanev1.BatchOp {
			ops := make([]*dataplanev1.BatchOp, 8)
			for i := range ops {
				ops[i] = createOp(t, "posts", map[string]any{"title": "x"})
			}
			ops[7] = createOp(t, "posts", map[string]any{"title": "x", "n": "x"})
			return ops
		}, connect.CodeInvalidArgument, `ops[7]: n: want integer, got string "x"`},
		{"empty op", func(t *testing.T) []*dataplanev1.BatchOp {
			return []*dataplanev1.BatchOp{{}}
		}, connect.CodeInvalidArgument, "ops[0]: op: no operation set"},
		{"version conflict", func(t *testing.T) []*dataplanev1.BatchOp {
			u := func(v int64) *dataplanev1.BatchOp {
				return &dataplanev1.BatchOp{Op: &dataplanev1.BatchOp_Update{Update: &dataplanev1.UpdateRecordRequest{Collection: "posts", Id: id, Patch: mustStruct(t, map[string]any{"n": v}), ExpectedVersion: v}}}
			}
			return []*dataplanev1.BatchOp{u(1), u(1)}
		}, connect.CodeAborted, "ops[1]: version conflict: the record is at version 2, you sent 1"},
		{"missing record before a failure", func(t *testing.T) []*dataplanev1.BatchOp {
			return []*dataplanev1.BatchOp{
				{Op: &dataplanev1.BatchOp_Delete{Delete: &dataplanev1.DeleteRecordRequest{Collection: "posts", Id: uuid.Must(uuid.NewV7()).String()}}},
				createOp(t, "posts", map[string]any{"title": "x", "id": id}),
			}
		}, connect.CodeNotFound, "ops[0]: record"},
		{"unknown collection", func(t *testing.T) []*dataplanev1.BatchOp {
			return []*dataplanev1.BatchOp{createOp(t, "posts", map[string]any{"title": "x"}), createOp(t, "nope", map[string]any{})}
		}, connect.CodeNotFound, `ops[1]: collection "nope" not found`},
	} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			_, err := batch(t, sc.ops(t)...)
			if codeOf(err) != sc.code || !strings.Contains(messageOf(err), sc.msg) {
				t.Fatalf("err = %v, want %v with %q", err, sc.code, sc.msg)
			}
		})
	}
	// The conflict scenario above rolled back its first update too.
	got, err := e.svc.Get(t.Context(), identity(e.ref), records.GetParams{Collection: "posts", ID: id})
	if err != nil {
		t.Fatal(err)
	}
	if got["version"] != int64(1) {
		t.Errorf("version %v after failed batches, want 1", got["version"])
	}
}

func TestIdempotentCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.standard(e.ref)
	send := func(title, key string) (*connect.Response[dataplanev1.CreateRecordResponse], error) {
		r := req(e.ref, &dataplanev1.CreateRecordRequest{Collection: "posts", Record: mustStruct(t, map[string]any{"title": title})})
		r.Header().Set(idempotency.Header, key)
		return e.client.CreateRecord(t.Context(), r)
	}
	first, err := send("once", "key-1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := send("once", "key-1")
	if err != nil {
		t.Fatal(err)
	}
	if a, b := first.Msg.GetRecord().AsMap()["id"], again.Msg.GetRecord().AsMap()["id"]; a != b {
		t.Fatalf("retry made record %v, first was %v", b, a)
	}
	if again.Header().Get("Idempotent-Replayed") != "true" {
		t.Error("retry not marked as replayed")
	}
	if n := e.count(e.ref, "posts"); n != 1 {
		t.Fatalf("%d records, want 1", n)
	}
	if _, err := send("other body", "key-1"); codeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("same key, other body: %v, want InvalidArgument", err)
	}
	// A failed write keeps nothing: its retry runs again.
	if _, err := send(strings.Repeat("x", 2<<20), "key-2"); codeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("oversized: %v", err)
	}
	if _, err := send("fits", "key-2"); err != nil {
		t.Fatal(err)
	}
	if n := e.count(e.ref, "posts"); n != 2 {
		t.Fatalf("%d records, want 2", n)
	}
	// Another tenant's identical key is its own.
	other := e.other
	e.standard(other)
	r := req(other, &dataplanev1.CreateRecordRequest{Collection: "posts", Record: mustStruct(t, map[string]any{"title": "once"})})
	r.Header().Set(idempotency.Header, "key-1")
	res, err := e.client.CreateRecord(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if res.Header().Get("Idempotent-Replayed") != "" || e.count(other, "posts") != 1 {
		t.Fatal("another tenant's key replayed this tenant's answer")
	}
}

// Tenant A's key never reaches tenant B's records: B's tables are in B's
// schema, which A's role cannot use, and every name resolves in A's.
func TestCrossTenantIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.ref
	b := e.other
	e.collection(b, schema.Collection{Name: "secrets", Fields: []schema.Field{{Name: "v", Type: schema.Text}}})
	e.standard(a)
	e.standard(b)
	bSecret, err := e.svc.Create(t.Context(), identity(b), records.CreateParams{Collection: "secrets", Record: map[string]any{"v": "b's"}})
	if err != nil {
		t.Fatal(err)
	}
	bPost, err := e.svc.Create(t.Context(), identity(b), records.CreateParams{Collection: "posts", Record: map[string]any{"title": "b's post"}})
	if err != nil {
		t.Fatal(err)
	}
	e.post(t, map[string]any{"title": "a's post"})

	sid, pid := bSecret["id"].(string), bPost["id"].(string)
	for _, sc := range []struct {
		name string
		call func() error
		code connect.Code
	}{
		{"get B's collection", func() error {
			_, err := e.client.GetRecord(t.Context(), req(a, &dataplanev1.GetRecordRequest{Collection: "secrets", Id: sid}))
			return err
		}, connect.CodeNotFound},
		{"query B's collection", func() error {
			_, err := e.client.QueryRecords(t.Context(), req(a, &dataplanev1.QueryRecordsRequest{Collection: "secrets"}))
			return err
		}, connect.CodeNotFound},
		{"update B's collection", func() error {
			_, err := e.client.UpdateRecord(t.Context(), req(a, &dataplanev1.UpdateRecordRequest{Collection: "secrets", Id: sid, Patch: mustStruct(t, map[string]any{"v": "x"})}))
			return err
		}, connect.CodeNotFound},
		{"delete B's collection", func() error {
			_, err := e.client.DeleteRecord(t.Context(), req(a, &dataplanev1.DeleteRecordRequest{Collection: "secrets", Id: sid}))
			return err
		}, connect.CodeNotFound},
		{"get B's record from A's posts", func() error {
			_, err := e.client.GetRecord(t.Context(), req(a, &dataplanev1.GetRecordRequest{Collection: "posts", Id: pid}))
			return err
		}, connect.CodeNotFound},
		{"update B's record through A's posts", func() error {
			_, err := e.client.UpdateRecord(t.Context(), req(a, &dataplanev1.UpdateRecordRequest{Collection: "posts", Id: pid, Patch: mustStruct(t, map[string]any{"n": 1})}))
			return err
		}, connect.CodeNotFound},
		{"relate to B's record", func() error {
			_, err := e.client.CreateRecord(t.Context(), req(a, &dataplanev1.CreateRecordRequest{Collection: "posts", Record: mustStruct(t, map[string]any{"title": "x", "author": pid})}))
			return err
		}, connect.CodeInvalidArgument},
	} {
		t.Run(sc.name, func(t *testing.T) {
			err := sc.call()
			if codeOf(err) != sc.code {
				t.Fatalf("err = %v, want %v", err, sc.code)
			}
			if strings.Contains(messageOf(err), "b's") {
				t.Fatalf("message leaks B's data: %v", err)
			}
		})
	}
	res, err := e.client.QueryRecords(t.Context(), req(a, &dataplanev1.QueryRecordsRequest{Collection: "posts"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Msg.GetRecords()) != 1 || res.Msg.GetRecords()[0].AsMap()["title"] != "a's post" {
		t.Fatalf("A's query saw %v", res.Msg.GetRecords())
	}
	// Even a statement naming B's table, run as A's role, is refused by the
	// database itself.
	err = e.db.Read(t.Context(), identity(a), func(rows pgx.Rows) error {
		for rows.Next() {
			t.Error("A's role read a row of B's table")
		}
		return rows.Err()
	}, `SELECT "v" FROM `+tenantdb.Table(b, "secrets"))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" {
		t.Fatalf("reading B's table as A: %v, want insufficient_privilege", err)
	}
	if _, err := e.svc.Get(t.Context(), identity(a), records.GetParams{Collection: "secrets", ID: sid}); !errors.Is(err, records.ErrNotFound) {
		t.Fatalf("service Get as A: %v", err)
	}
}
