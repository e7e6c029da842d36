package sovereign

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// fakeData answers the data API's procedures a test sets; the others are
// unimplemented. Each hook gets the attempt number of its procedure
// (from 1) and the request.
type fakeData struct {
	dataplanev1connect.UnimplementedRecordServiceHandler
	dataplanev1connect.UnimplementedCollectionServiceHandler
	rec recorder

	mu   sync.Mutex
	msgs map[string][]proto.Message

	create  func(n int, req *dataplanev1.CreateRecordRequest) (*dataplanev1.CreateRecordResponse, error)
	get     func(n int, req *dataplanev1.GetRecordRequest) (*dataplanev1.GetRecordResponse, error)
	update  func(n int, req *dataplanev1.UpdateRecordRequest) (*dataplanev1.UpdateRecordResponse, error)
	replace func(n int, req *dataplanev1.ReplaceRecordRequest) (*dataplanev1.ReplaceRecordResponse, error)
	del     func(n int, req *dataplanev1.DeleteRecordRequest) (*dataplanev1.DeleteRecordResponse, error)
	upsert  func(n int, req *dataplanev1.UpsertRecordRequest) (*dataplanev1.UpsertRecordResponse, error)
	query   func(n int, req *dataplanev1.QueryRecordsRequest) (*dataplanev1.QueryRecordsResponse, error)
	batch   func(n int, req *dataplanev1.BatchRequest) (*dataplanev1.BatchResponse, error)

	createCollection func(n int, req *dataplanev1.CreateCollectionRequest) (*dataplanev1.CreateCollectionResponse, error)
	alterCollection  func(n int, req *dataplanev1.AlterCollectionRequest) (*dataplanev1.AlterCollectionResponse, error)
	dropCollection   func(n int, req *dataplanev1.DropCollectionRequest) (*dataplanev1.DropCollectionResponse, error)
	listChanges      func(n int, req *dataplanev1.ListSchemaChangesRequest) (*dataplanev1.ListSchemaChangesResponse, error)
}

// hook runs f (nil: unimplemented) for req, keeping its headers and message.
func hook[Req, Res any](f *fakeData, req *connect.Request[Req], h func(int, *Req) (*Res, error)) (*connect.Response[Res], error) {
	f.mu.Lock()
	if f.msgs == nil {
		f.msgs = map[string][]proto.Message{}
	}
	if m, ok := any(req.Msg).(proto.Message); ok {
		f.msgs[req.Spec().Procedure] = append(f.msgs[req.Spec().Procedure], proto.Clone(m))
	}
	f.mu.Unlock()
	var g func(int) (*Res, error)
	if h != nil {
		g = func(n int) (*Res, error) { return h(n, req.Msg) }
	}
	return handle(&f.rec, req, g)
}

func (f *fakeData) sent(proc string) []proto.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.msgs[proc]
}

func (f *fakeData) CreateRecord(_ context.Context, r *connect.Request[dataplanev1.CreateRecordRequest]) (*connect.Response[dataplanev1.CreateRecordResponse], error) {
	return hook(f, r, f.create)
}
func (f *fakeData) GetRecord(_ context.Context, r *connect.Request[dataplanev1.GetRecordRequest]) (*connect.Response[dataplanev1.GetRecordResponse], error) {
	return hook(f, r, f.get)
}
func (f *fakeData) UpdateRecord(_ context.Context, r *connect.Request[dataplanev1.UpdateRecordRequest]) (*connect.Response[dataplanev1.UpdateRecordResponse], error) {
	return hook(f, r, f.update)
}
func (f *fakeData) ReplaceRecord(_ context.Context, r *connect.Request[dataplanev1.ReplaceRecordRequest]) (*connect.Response[dataplanev1.ReplaceRecordResponse], error) {
	return hook(f, r, f.replace)
}
func (f *fakeData) DeleteRecord(_ context.Context, r *connect.Request[dataplanev1.DeleteRecordRequest]) (*connect.Response[dataplanev1.DeleteRecordResponse], error) {
	return hook(f, r, f.del)
}
func (f *fakeData) UpsertRecord(_ context.Context, r *connect.Request[dataplanev1.UpsertRecordRequest]) (*connect.Response[dataplanev1.UpsertRecordResponse], error) {
	return hook(f, r, f.upsert)
}
func (f *fakeData) QueryRecords(_ context.Context, r *connect.Request[dataplanev1.QueryRecordsRequest]) (*connect.Response[dataplanev1.QueryRecordsResponse], error) {
	return hook(f, r, f.query)
}
func (f *fakeData) Batch(_ context.Context, r *connect.Request[dataplanev1.BatchRequest]) (*connect.Response[dataplanev1.BatchResponse], error) {
	return hook(f, r, f.batch)
}
func (f *fakeData) CreateCollection(_ context.Context, r *connect.Request[dataplanev1.CreateCollectionRequest]) (*connect.Response[dataplanev1.CreateCollectionResponse], error) {
	return hook(f, r, f.createCollection)
}
func (f *fakeData) AlterCollection(_ context.Context, r *connect.Request[dataplanev1.AlterCollectionRequest]) (*connect.Response[dataplanev1.AlterCollectionResponse], error) {
	return hook(f, r, f.alterCollection)
}
func (f *fakeData) DropCollection(_ context.Context, r *connect.Request[dataplanev1.DropCollectionRequest]) (*connect.Response[dataplanev1.DropCollectionResponse], error) {
	return hook(f, r, f.dropCollection)
}
func (f *fakeData) ListSchemaChanges(_ context.Context, r *connect.Request[dataplanev1.ListSchemaChangesRequest]) (*connect.Response[dataplanev1.ListSchemaChangesResponse], error) {
	return hook(f, r, f.listChanges)
}

// serveData starts f and returns a client of it with the key sov_sk_test.
func serveData(t *testing.T, f *fakeData, opts ...Option) *Client {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(dataplanev1connect.NewRecordServiceHandler(f))
	mux.Handle(dataplanev1connect.NewCollectionServiceHandler(f))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return NewClient(srv.URL, append([]Option{WithAPIKey("sov_sk_test"), withBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)...)
}

// stored is what a fake platform answers for a written record.
func stored(t *testing.T, id string, version int, fields *structpb.Struct) *structpb.Struct {
	t.Helper()
	m := map[string]any{"id": id, "created_at": "2024-01-02T03:04:05Z", "updated_at": "2024-01-02T03:04:05Z", "version": float64(version)}
	for k, v := range fields.GetFields() {
		m[k] = v.AsInterface()
	}
	return mustStruct(t, m)
}

// flaky fails the first two attempts of every call (attempts 1-2, 4-5, …)
// with Unavailable.
func flaky(n int) error {
	if n%3 != 0 {
		return unavailable()
	}
	return nil
}

// TestEveryRecordWriteCarriesOneKeyAcrossRetries runs each write twice,
// each time failing twice before succeeding: all three attempts of a call
// send one Idempotency-Key, and the two calls send different ones.
func TestEveryRecordWriteCarriesOneKeyAcrossRetries(t *testing.T) {
	t.Parallel()
	f := &fakeData{
		create: func(n int, req *dataplanev1.CreateRecordRequest) (*dataplanev1.CreateRecordResponse, error) {
			return &dataplanev1.CreateRecordResponse{Record: stored(t, "r1", 1, req.GetRecord())}, flaky(n)
		},
		update: func(n int, req *dataplanev1.UpdateRecordRequest) (*dataplanev1.UpdateRecordResponse, error) {
			return &dataplanev1.UpdateRecordResponse{Record: stored(t, req.GetId(), 2, req.GetPatch())}, flaky(n)
		},
		replace: func(n int, req *dataplanev1.ReplaceRecordRequest) (*dataplanev1.ReplaceRecordResponse, error) {
			return &dataplanev1.ReplaceRecordResponse{Record: stored(t, req.GetId(), 3, req.GetRecord())}, flaky(n)
		},
		del: func(n int, _ *dataplanev1.DeleteRecordRequest) (*dataplanev1.DeleteRecordResponse, error) {
			return &dataplanev1.DeleteRecordResponse{}, flaky(n)
		},
		upsert: func(n int, req *dataplanev1.UpsertRecordRequest) (*dataplanev1.UpsertRecordResponse, error) {
			return &dataplanev1.UpsertRecordResponse{Record: stored(t, "r1", 1, req.GetRecord()), Created: true}, flaky(n)
		},
		batch: func(n int, req *dataplanev1.BatchRequest) (*dataplanev1.BatchResponse, error) {
			return &dataplanev1.BatchResponse{Results: make([]*dataplanev1.BatchResult, len(req.GetOps()))}, flaky(n)
		},
		createCollection: func(n int, req *dataplanev1.CreateCollectionRequest) (*dataplanev1.CreateCollectionResponse, error) {
			return &dataplanev1.CreateCollectionResponse{Collection: req.GetCollection()}, flaky(n)
		},
	}
	c := serveData(t, f)
	posts := Collection[testPost](c, "posts")
	ctx := t.Context()
	writes := map[string]func() error{
		dataplanev1connect.RecordServiceCreateRecordProcedure: func() error {
			_, err := posts.Insert(ctx, testPost{Title: "a"})
			return err
		},
		dataplanev1connect.RecordServiceUpdateRecordProcedure: func() error {
			_, err := posts.Update(ctx, "r1", map[string]any{"n": 2})
			return err
		},
		dataplanev1connect.RecordServiceReplaceRecordProcedure: func() error {
			_, err := posts.Replace(ctx, "r1", testPost{Title: "b"})
			return err
		},
		dataplanev1connect.RecordServiceDeleteRecordProcedure: func() error { return posts.Delete(ctx, "r1") },
		dataplanev1connect.RecordServiceUpsertRecordProcedure: func() error {
			_, _, err := posts.Upsert(ctx, testPost{RecordMeta: RecordMeta{ID: "r1"}})
			return err
		},
		dataplanev1connect.RecordServiceBatchProcedure: func() error {
			_, err := c.Batch().Delete("posts", "r1").Run(ctx)
			return err
		},
		dataplanev1connect.CollectionServiceCreateCollectionProcedure: func() error {
			_, err := c.Collections().Create(ctx, CollectionSpec{Name: "posts"})
			return err
		},
	}
	for proc, write := range writes {
		for range 2 {
			if err := write(); err != nil {
				t.Fatalf("%s: %v", proc, err)
			}
		}
		hs := f.rec.get(proc)
		if len(hs) != 6 {
			t.Fatalf("%s: %d attempts, want 6", proc, len(hs))
		}
		keys := make([]string, len(hs))
		for i, h := range hs {
			keys[i] = h.Get(IdempotencyKeyHeader)
			if !uuidV4.MatchString(keys[i]) {
				t.Fatalf("%s attempt %d: Idempotency-Key %q", proc, i, keys[i])
			}
			if h.Get("apikey") != "sov_sk_test" {
				t.Fatalf("%s attempt %d: apikey %q", proc, i, h.Get("apikey"))
			}
		}
		if keys[0] != keys[1] || keys[1] != keys[2] || keys[3] != keys[4] || keys[4] != keys[5] {
			t.Errorf("%s: retries of one call changed the key: %q", proc, keys)
		}
		if keys[0] == keys[3] {
			t.Errorf("%s: two calls shared the key %q", proc, keys[0])
		}
	}

	// WithIdempotencyKey chooses the key, e.g. to resume after a crash.
	if _, err := posts.Insert(WithIdempotencyKey(ctx, "import-42"), testPost{Title: "a"}); err != nil {
		t.Fatal(err)
	}
	hs := f.rec.get(dataplanev1connect.RecordServiceCreateRecordProcedure)
	if k := hs[len(hs)-1].Get(IdempotencyKeyHeader); k != "import-42" {
		t.Errorf("key %q, want import-42", k)
	}
}

func TestAlterAndDropRunOnce(t *testing.T) {
	t.Parallel()
	f := &fakeData{
		alterCollection: func(int, *dataplanev1.AlterCollectionRequest) (*dataplanev1.AlterCollectionResponse, error) {
			return nil, unavailable()
		},
		dropCollection: func(int, *dataplanev1.DropCollectionRequest) (*dataplanev1.DropCollectionResponse, error) {
			return nil, unavailable()
		},
	}
	cs := serveData(t, f).Collections()
	if _, err := cs.Alter(t.Context(), "posts", DropField("x")); codeOf(err) != CodeUnavailable {
		t.Errorf("alter: %v", err)
	}
	if err := cs.Drop(t.Context(), "posts"); codeOf(err) != CodeUnavailable {
		t.Errorf("drop: %v", err)
	}
	for _, p := range []string{dataplanev1connect.CollectionServiceAlterCollectionProcedure, dataplanev1connect.CollectionServiceDropCollectionProcedure} {
		if n := len(f.rec.get(p)); n != 1 {
			t.Errorf("%s: %d attempts, want 1", p, n)
		}
	}
}

// codeOf is err's code, 0 without one.
func codeOf(err error) Code {
	c, _ := ErrorCode(err)
	return c
}

func TestReadsAreRetriedAndSendTheirOptions(t *testing.T) {
	t.Parallel()
	f := &fakeData{get: func(n int, req *dataplanev1.GetRecordRequest) (*dataplanev1.GetRecordResponse, error) {
		if n < 3 {
			return nil, unavailable()
		}
		return &dataplanev1.GetRecordResponse{Record: stored(t, req.GetId(), 7, mustStruct(t, map[string]any{"title": "hi", "n": 5.0}))}, nil
	}}
	posts := Collection[testPost](serveData(t, f), "posts")
	p, err := posts.Get(t.Context(), "r9", WithFields("title", "n"), WithExpand("author"))
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "r9" || p.Version != 7 || p.Title != "hi" || p.N != 5 {
		t.Errorf("got %+v", p)
	}
	msgs := f.sent(dataplanev1connect.RecordServiceGetRecordProcedure)
	want := &dataplanev1.GetRecordRequest{Collection: "posts", Id: "r9", Fields: []string{"title", "n"}, Expand: []string{"author"}}
	if len(msgs) != 3 || !proto.Equal(msgs[2], want) {
		t.Errorf("sent %v, want 3 × %v", msgs, want)
	}
	for _, h := range f.rec.get(dataplanev1connect.RecordServiceGetRecordProcedure) {
		if h.Get(IdempotencyKeyHeader) != "" {
			t.Error("a read carries an idempotency key")
		}
	}
}

func TestConflictsAndOtherErrorsAreTyped(t *testing.T) {
	t.Parallel()
	f := &fakeData{
		update: func(_ int, req *dataplanev1.UpdateRecordRequest) (*dataplanev1.UpdateRecordResponse, error) {
			if req.GetExpectedVersion() != 3 {
				return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("expected_version %d", req.GetExpectedVersion()))
			}
			return nil, connect.NewError(connect.CodeAborted, errors.New("record r1 is at version 4, not 3"))
		},
		get: func(int, *dataplanev1.GetRecordRequest) (*dataplanev1.GetRecordResponse, error) {
			return nil, connect.NewError(connect.CodeNotFound, errors.New("no record r2 in posts"))
		},
		create: func(int, *dataplanev1.CreateRecordRequest) (*dataplanev1.CreateRecordResponse, error) {
			return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("field n: want an integer"))
		},
	}
	posts := Collection[testPost](serveData(t, f), "posts")
	_, err := posts.Update(t.Context(), "r1", map[string]any{"n": 1}, ExpectVersion(3))
	var e *Error
	if !IsConflict(err) || !errors.As(err, &e) || e.Code != CodeAborted || e.Message != "record r1 is at version 4, not 3" ||
		e.Procedure != dataplanev1connect.RecordServiceUpdateRecordProcedure {
		t.Errorf("update: %#v", err)
	}
	if n := len(f.rec.get(dataplanev1connect.RecordServiceUpdateRecordProcedure)); n != 1 {
		t.Errorf("a conflict was retried: %d attempts", n)
	}
	if _, err := posts.Get(t.Context(), "r2"); !IsNotFound(err) || IsConflict(err) {
		t.Errorf("get: %v", err)
	}
	if _, err := posts.Insert(t.Context(), testPost{}); !IsInvalidArgument(err) || !strings.Contains(err.Error(), "field n") {
		t.Errorf("insert: %v", err)
	}
}

func TestBadWritesAreRefusedBeforeSending(t *testing.T) {
	t.Parallel()
	f := &fakeData{}
	c := serveData(t, f)
	posts := Collection[testPost](c, "posts")
	records := Collection[Record](c, "posts")
	ctx := t.Context()
	for name, err := range map[string]error{
		"insert huge int": func() error { _, err := posts.Insert(ctx, testPost{N: 1<<53 + 1}); return err }(),
		"update no id":    func() error { _, err := posts.Update(ctx, "", map[string]any{}); return err }(),
		"update not an object": func() error {
			_, err := posts.Update(ctx, "r1", []int{1})
			return err
		}(),
		"replace no id":         func() error { _, err := posts.Replace(ctx, "", testPost{}); return err }(),
		"delete no id":          posts.Delete(ctx, ""),
		"get no id":             func() error { _, err := posts.Get(ctx, ""); return err }(),
		"upsert without a key":  func() error { _, _, err := records.Upsert(ctx, Record{"title": "x"}); return err }(),
		"bad filter":            func() error { _, err := posts.Page(ctx, Query{Filter: Where("bad name").Eq(1)}); return err }(),
		"page over the maximum": func() error { _, err := posts.Page(ctx, Query{Limit: 1001}); return err }(),
		"bad count mode":        func() error { _, err := posts.Page(ctx, Query{Count: "roughly"}); return err }(),
		"count without a mode":  func() error { _, _, err := posts.Count(ctx, Query{}, CountNone); return err }(),
		"query bad filter": func() error {
			_, err := Collect(posts.Query(ctx, Query{Filter: Not(Filter{})}))
			return err
		}(),
		"query negative limit": func() error { _, err := Collect(posts.Query(ctx, Query{Limit: -1})); return err }(),
		"alter nothing":        func() error { _, err := c.Collections().Alter(ctx, "posts"); return err }(),
		"alter bad default": func() error {
			_, err := c.Collections().Alter(ctx, "posts", SetDefault("n", uint64(1<<63+1)))
			return err
		}(),
		"create bad default": func() error {
			_, err := c.Collections().Create(ctx, CollectionSpec{Name: "p", Fields: []Field{{Name: "f", Type: FieldJSON, Default: func() {}}}})
			return err
		}(),
	} {
		if !IsInvalidArgument(err) {
			t.Errorf("%s: err %v, want InvalidArgument", name, err)
		}
	}
	if len(f.rec.headers) != 0 {
		t.Errorf("requests were sent: %v", f.rec.headers)
	}
}

// pagedRecords serves records r001…r<total>, filling each page up to the
// limit asked, with the cursor "after:<index>".
func pagedRecords(t *testing.T, total int) func(int, *dataplanev1.QueryRecordsRequest) (*dataplanev1.QueryRecordsResponse, error) {
	return func(_ int, req *dataplanev1.QueryRecordsRequest) (*dataplanev1.QueryRecordsResponse, error) {
		start := 0
		if c := req.GetCursor(); c != "" {
			n, err := strconv.Atoi(strings.TrimPrefix(c, "after:"))
			if err != nil {
				return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("bad cursor"))
			}
			start = n
		}
		limit := int(req.GetLimit())
		if limit == 0 {
			limit = 50
		}
		res := &dataplanev1.QueryRecordsResponse{}
		end := min(start+limit, total)
		for i := start; i < end; i++ {
			res.Records = append(res.Records, stored(t, fmt.Sprintf("r%03d", i+1), 1, mustStruct(t, map[string]any{"n": float64(i + 1)})))
		}
		if end < total {
			res.NextCursor = fmt.Sprintf("after:%d", end)
		}
		if req.GetCount() == dataplanev1.CountMode_COUNT_MODE_EXACT {
			res.Total = int64(total)
		}
		if req.GetCount() == dataplanev1.CountMode_COUNT_MODE_ESTIMATED {
			res.Total, res.TotalEstimated = int64(total+3), true
		}
		return res, nil
	}
}

func TestQueryPagesForTheCaller(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		q          Query
		total      int
		want       int
		wantLimits []int32
	}{
		{"all, default page size", Query{}, 250, 250, []int32{100, 100, 100}},
		{"all, page size 40", Query{PageSize: 40}, 100, 100, []int32{40, 40, 40}},
		{"limit fits a page", Query{Limit: 30}, 250, 30, []int32{30}},
		{"limit over pages", Query{Limit: 25, PageSize: 10}, 250, 25, []int32{10, 10, 5}},
		{"limit beyond the records", Query{Limit: 500}, 120, 120, []int32{500}},
		{"limit over the page maximum", Query{Limit: 2500}, 2200, 2200, []int32{100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100}},
		{"empty", Query{}, 0, 0, []int32{100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeData{query: pagedRecords(t, tc.total)}
			posts := Collection[testPost](serveData(t, f), "posts")
			q := tc.q
			q.Filter = Where("n").Gt(0)
			q.Sort = []string{"-created_at"}
			got, err := Collect(posts.Query(t.Context(), q))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Fatalf("%d records, want %d", len(got), tc.want)
			}
			for i, p := range got {
				if p.N != int64(i+1) {
					t.Fatalf("record %d is %+v: out of order or repeated", i, p)
				}
			}
			var limits []int32
			for i, m := range f.sent(dataplanev1connect.RecordServiceQueryRecordsProcedure) {
				req := m.(*dataplanev1.QueryRecordsRequest)
				limits = append(limits, req.GetLimit())
				if req.GetFilter() != "n > 0" || !slices.Equal(req.GetSort(), []string{"-created_at"}) || req.GetCollection() != "posts" {
					t.Errorf("request %d: %v", i, req)
				}
				if (i == 0) != (req.GetCursor() == "") {
					t.Errorf("request %d has cursor %q", i, req.GetCursor())
				}
			}
			if !slices.Equal(limits, tc.wantLimits) {
				t.Errorf("page limits %v, want %v", limits, tc.wantLimits)
			}
		})
	}
}

func TestQueryStopsWhenTheLoopDoes(t *testing.T) {
	t.Parallel()
	f := &fakeData{query: pagedRecords(t, 1000)}
	posts := Collection[Record](serveData(t, f), "posts")
	n := 0
	for _, err := range posts.Query(t.Context(), Query{PageSize: 10}) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 15 {
			break
		}
	}
	if got := len(f.sent(dataplanev1connect.RecordServiceQueryRecordsProcedure)); got != 2 {
		t.Errorf("%d pages fetched for 15 records of 10 a page", got)
	}
}

func TestQueryEndsWithTheError(t *testing.T) {
	t.Parallel()
	f := &fakeData{query: func(n int, req *dataplanev1.QueryRecordsRequest) (*dataplanev1.QueryRecordsResponse, error) {
		if req.GetCursor() != "" {
			return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("filter: 1:3: undeclared reference to 'x'"))
		}
		return pagedRecords(t, 100)(n, req)
	}}
	posts := Collection[testPost](serveData(t, f), "posts")
	got, err := Collect(posts.Query(t.Context(), Query{PageSize: 10}))
	if len(got) != 10 || !IsInvalidArgument(err) || !strings.Contains(err.Error(), "1:3") {
		t.Errorf("%d records, err %v", len(got), err)
	}
}

func TestPageFirstAndCount(t *testing.T) {
	t.Parallel()
	f := &fakeData{query: pagedRecords(t, 120)}
	posts := Collection[testPost](serveData(t, f), "posts")
	ctx := t.Context()
	p, err := posts.Page(ctx, Query{Limit: 50, Count: CountExact})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Records) != 50 || p.NextCursor != "after:50" || p.Total != 120 || p.TotalEstimated {
		t.Errorf("page 1: %d records, cursor %q, total %d", len(p.Records), p.NextCursor, p.Total)
	}
	p, err = posts.Page(ctx, Query{Limit: 50, Cursor: p.NextCursor})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Records) != 50 || p.Records[0].N != 51 || p.Total != 0 {
		t.Errorf("page 2: %+v", p)
	}

	first, ok, err := posts.First(ctx, Query{Count: CountExact})
	if err != nil || !ok || first.ID != "r001" {
		t.Errorf("first: %+v %v %v", first, ok, err)
	}
	n, est, err := posts.Count(ctx, Query{Filter: Where("n").Gt(0), Sort: []string{"n"}}, CountEstimated)
	if err != nil || n != 123 || !est {
		t.Errorf("count: %d %v %v", n, est, err)
	}
	msgs := f.sent(dataplanev1connect.RecordServiceQueryRecordsProcedure)
	firstReq, countReq := msgs[2].(*dataplanev1.QueryRecordsRequest), msgs[3].(*dataplanev1.QueryRecordsRequest)
	if firstReq.GetLimit() != 1 || firstReq.GetCount() != dataplanev1.CountMode_COUNT_MODE_UNSPECIFIED {
		t.Errorf("first sent %v", firstReq)
	}
	if countReq.GetLimit() != 1 || countReq.GetFilter() != "n > 0" || len(countReq.GetSort()) != 0 {
		t.Errorf("count sent %v", countReq)
	}

	empty := Collection[testPost](serveData(t, &fakeData{query: pagedRecords(t, 0)}), "posts")
	if _, ok, err := empty.First(ctx, Query{}); ok || err != nil {
		t.Errorf("first of nothing: %v %v", ok, err)
	}
}

func TestUpsertAndExpectVersionAreSent(t *testing.T) {
	t.Parallel()
	f := &fakeData{
		upsert: func(_ int, req *dataplanev1.UpsertRecordRequest) (*dataplanev1.UpsertRecordResponse, error) {
			return &dataplanev1.UpsertRecordResponse{Record: stored(t, "r5", 2, req.GetRecord()), Created: false}, nil
		},
		replace: func(_ int, req *dataplanev1.ReplaceRecordRequest) (*dataplanev1.ReplaceRecordResponse, error) {
			return &dataplanev1.ReplaceRecordResponse{Record: stored(t, req.GetId(), 8, req.GetRecord())}, nil
		},
		del: func(int, *dataplanev1.DeleteRecordRequest) (*dataplanev1.DeleteRecordResponse, error) {
			return &dataplanev1.DeleteRecordResponse{}, nil
		},
	}
	posts := Collection[testPost](serveData(t, f), "posts")
	ctx := t.Context()
	p, created, err := posts.Upsert(ctx, testPost{Title: "x", Tags: []string{"k"}}, OnConflict("title"))
	if err != nil || created || p.ID != "r5" || p.Version != 2 {
		t.Errorf("upsert: %+v %v %v", p, created, err)
	}
	up := f.sent(dataplanev1connect.RecordServiceUpsertRecordProcedure)[0].(*dataplanev1.UpsertRecordRequest)
	if up.GetOnConflict() != "title" || up.GetRecord().GetFields()["title"].GetStringValue() != "x" {
		t.Errorf("upsert sent %v", up)
	}
	old := testPost{RecordMeta: RecordMeta{ID: "r5", Version: 7}, Title: "y"}
	if _, err := posts.Replace(ctx, old.ID, old, ExpectVersion(old.Version)); err != nil {
		t.Fatal(err)
	}
	rep := f.sent(dataplanev1connect.RecordServiceReplaceRecordProcedure)[0].(*dataplanev1.ReplaceRecordRequest)
	if rep.GetExpectedVersion() != 7 || rep.GetId() != "r5" || len(rep.GetRecord().GetFields()) != 2 {
		t.Errorf("replace sent %v", rep)
	}
	if err := posts.Delete(ctx, "r5", ExpectVersion(8)); err != nil {
		t.Fatal(err)
	}
	d := f.sent(dataplanev1connect.RecordServiceDeleteRecordProcedure)[0].(*dataplanev1.DeleteRecordRequest)
	if d.GetExpectedVersion() != 8 {
		t.Errorf("delete sent %v", d)
	}
}

func TestBatch(t *testing.T) {
	t.Parallel()
	f := &fakeData{batch: func(_ int, req *dataplanev1.BatchRequest) (*dataplanev1.BatchResponse, error) {
		res := &dataplanev1.BatchResponse{}
		for i, op := range req.GetOps() {
			r := &dataplanev1.BatchResult{}
			switch o := op.GetOp().(type) {
			case *dataplanev1.BatchOp_Create:
				r.Record = stored(t, fmt.Sprintf("b%d", i), 1, o.Create.GetRecord())
			case *dataplanev1.BatchOp_Update:
				r.Record = stored(t, o.Update.GetId(), 4, o.Update.GetPatch())
			case *dataplanev1.BatchOp_Upsert:
				r.Record, r.Created = stored(t, "u1", 1, o.Upsert.GetRecord()), true
			}
			res.Results = append(res.Results, r)
		}
		return res, nil
	}}
	c := serveData(t, f)
	res, err := c.Batch().
		Create("posts", testPost{Title: "a", N: 1}).
		Update("posts", "r1", map[string]any{"n": 4}, ExpectVersion(3)).
		Delete("comments", "c1", ExpectVersion(2)).
		Upsert("tags", Record{"name": "go"}, OnConflict("name")).
		Replace("posts", "r2", testPost{Title: "b"}).
		Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 5 || res[0].Record.ID() != "b0" || res[1].Record.Version() != 4 || res[2].Record != nil || !res[3].Created {
		t.Fatalf("results %+v", res)
	}
	var p testPost
	if err := res[0].Decode(&p); err != nil || p.Title != "a" || p.N != 1 || p.ID != "b0" {
		t.Errorf("decode: %+v %v", p, err)
	}
	if err := res[2].Decode(&p); !IsInvalidArgument(err) {
		t.Errorf("decoding a delete: %v", err)
	}
	req := f.sent(dataplanev1connect.RecordServiceBatchProcedure)[0].(*dataplanev1.BatchRequest)
	if u := req.GetOps()[1].GetUpdate(); u.GetExpectedVersion() != 3 || u.GetId() != "r1" {
		t.Errorf("update op %v", u)
	}
	if d := req.GetOps()[2].GetDelete(); d.GetCollection() != "comments" || d.GetExpectedVersion() != 2 {
		t.Errorf("delete op %v", d)
	}
	if u := req.GetOps()[3].GetUpsert(); u.GetOnConflict() != "name" {
		t.Errorf("upsert op %v", u)
	}
}

func TestBatchIsCheckedBeforeSending(t *testing.T) {
	t.Parallel()
	f := &fakeData{batch: func(int, *dataplanev1.BatchRequest) (*dataplanev1.BatchResponse, error) {
		return &dataplanev1.BatchResponse{}, nil
	}}
	c := serveData(t, f)
	full := c.Batch()
	for i := range MaxBatchOps + 1 {
		full.Delete("posts", strconv.Itoa(i))
	}
	for name, tc := range map[string]struct {
		b    *Batch
		want string
	}{
		"empty":        {c.Batch(), "no operations"},
		"over 1000":    {full, "1001 operations, more than the 1000"},
		"bad record":   {c.Batch().Delete("p", "1").Create("p", Record{"n": uint64(1<<63 + 1)}), "batch operation 1: field n"},
		"upsert no id": {c.Batch().Upsert("p", Record{"a": 1}), "batch operation 0: upsert into p"},
	} {
		_, err := tc.b.Run(t.Context())
		if !IsInvalidArgument(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one saying %q", name, err, tc.want)
		}
	}
	if full.Len() != 1001 {
		t.Errorf("Len %d", full.Len())
	}
	// Exactly the maximum goes.
	atMax := c.Batch()
	for i := range MaxBatchOps {
		atMax.Delete("posts", strconv.Itoa(i))
	}
	if _, err := atMax.Run(t.Context()); err != nil {
		t.Errorf("1000 operations: %v", err)
	}
	if n := len(f.rec.get(dataplanev1connect.RecordServiceBatchProcedure)); n != 1 {
		t.Errorf("%d batches sent, want the one of 1000", n)
	}
}

func TestCollectionsAdmin(t *testing.T) {
	t.Parallel()
	at := timestamppb.New(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
	f := &fakeData{
		createCollection: func(_ int, req *dataplanev1.CreateCollectionRequest) (*dataplanev1.CreateCollectionResponse, error) {
			m := proto.Clone(req.GetCollection()).(*dataplanev1.Collection)
			m.CreatedAt, m.UpdatedAt = at, at
			return &dataplanev1.CreateCollectionResponse{Collection: m}, nil
		},
		alterCollection: func(_ int, req *dataplanev1.AlterCollectionRequest) (*dataplanev1.AlterCollectionResponse, error) {
			return &dataplanev1.AlterCollectionResponse{Collection: &dataplanev1.Collection{Name: req.GetName()}}, nil
		},
		listChanges: func(_ int, req *dataplanev1.ListSchemaChangesRequest) (*dataplanev1.ListSchemaChangesResponse, error) {
			res := &dataplanev1.ListSchemaChangesResponse{}
			for id := req.GetAfterId() + 1; id <= min(req.GetAfterId()+2, 5); id++ {
				res.Changes = append(res.Changes, &dataplanev1.SchemaChange{Id: id, At: at, Collection: req.GetCollection(), Kind: "alter", Sql: "ALTER …"})
			}
			if req.GetAfterId()+2 < 5 {
				res.NextAfterId = req.GetAfterId() + 2
			}
			return res, nil
		},
	}
	cs := serveData(t, f).Collections()
	ctx := t.Context()
	spec := CollectionSpec{
		Name: "posts",
		Fields: []Field{
			{Name: "title", Type: FieldText, Required: true},
			{Name: "n", Type: FieldInteger, Default: 0},
			{Name: "author", Type: FieldRelation, Collection: "users"},
			{Name: "embedding", Type: FieldVector, Dimensions: 3},
			{Name: "meta", Type: FieldJSON, Default: map[string]any{"a": []int{1}}},
		},
		Indexes: []Index{{Fields: []string{"n"}}, {Name: "by_title", Fields: []string{"title", "n"}, Unique: true}},
	}
	got, err := cs.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "posts" || len(got.Fields) != 5 || got.Fields[1].Default != 0.0 || got.Fields[2].Collection != "users" ||
		got.Fields[3].Dimensions != 3 || !got.CreatedAt.Equal(at.AsTime()) || len(got.Indexes) != 2 || !got.Indexes[1].Unique {
		t.Errorf("created %+v", got)
	}
	sent := f.sent(dataplanev1connect.CollectionServiceCreateCollectionProcedure)[0].(*dataplanev1.CreateCollectionRequest)
	if d := sent.GetCollection().GetFields()[4].GetDefault(); d.GetStructValue().GetFields()["a"].GetListValue().GetValues()[0].GetNumberValue() != 1 {
		t.Errorf("json default sent as %v", d)
	}
	if sent.GetCollection().GetFields()[0].GetDefault() != nil {
		t.Error("a field without a default sent one")
	}

	_, err = cs.Alter(ctx, "posts",
		AddField(Field{Name: "views", Type: FieldInteger, Default: 0}), RenameField("n", "count"), DropField("meta"),
		SetRequired("title", false), SetUnique("title", true), SetDefault("views", 1), SetDefault("views", nil),
		AddIndex(Index{Fields: []string{"views"}}), DropIndex("by_title"))
	if err != nil {
		t.Fatal(err)
	}
	alter := f.sent(dataplanev1connect.CollectionServiceAlterCollectionProcedure)[0].(*dataplanev1.AlterCollectionRequest)
	var kinds []string
	for _, op := range alter.GetOps() {
		kinds = append(kinds, fmt.Sprintf("%T", op.GetOp()))
	}
	want := []string{"*dataplanev1.AlterOp_AddField", "*dataplanev1.AlterOp_RenameField", "*dataplanev1.AlterOp_DropField",
		"*dataplanev1.AlterOp_SetRequired", "*dataplanev1.AlterOp_SetUnique", "*dataplanev1.AlterOp_SetDefault",
		"*dataplanev1.AlterOp_SetDefault", "*dataplanev1.AlterOp_AddIndex", "*dataplanev1.AlterOp_DropIndex"}
	if !slices.Equal(kinds, want) {
		t.Errorf("ops %v", kinds)
	}
	if alter.GetOps()[5].GetSetDefault().GetDefault().GetNumberValue() != 1 || alter.GetOps()[6].GetSetDefault().GetDefault() != nil ||
		alter.GetOps()[1].GetRenameField().GetTo() != "count" || !alter.GetOps()[4].GetSetUnique().GetUnique() {
		t.Errorf("ops %v", alter.GetOps())
	}

	changes, err := Collect(cs.History(ctx, "posts"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, c := range changes {
		ids = append(ids, c.ID)
	}
	if !slices.Equal(ids, []int64{1, 2, 3, 4, 5}) || changes[0].Collection != "posts" || changes[0].SQL != "ALTER …" {
		t.Errorf("history %v", changes)
	}
}
