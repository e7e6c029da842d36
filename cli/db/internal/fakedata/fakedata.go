// Package fakedata is an in-memory data plane for the `sov db` unit tests:
// collections, their history, and records with versions, cursors, counts
// and all-or-nothing batches; just enough of the contract to run the
// commands and check what they print. Filters are not evaluated: a test that
// sends one sets Filter. The real data plane is tested by its own tests and
// by cli/db/dbtest.
package fakedata

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	dpv1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// Key is the secret key the fake accepts.
const Key = "sov_sk_fake"

// Platform is the fake's state.
type Platform struct {
	dataplanev1connect.UnimplementedCollectionServiceHandler
	dataplanev1connect.UnimplementedRecordServiceHandler

	// URL is the fake's base URL.
	URL string
	// Now is the clock records and changes are stamped with.
	Now func() time.Time
	// Filter decides whether a record matches a query's non-empty filter,
	// or refuses the filter (InvalidArgument); nil refuses every non-empty
	// filter.
	Filter func(filter string, record map[string]any) (bool, error)

	mu          sync.Mutex
	collections map[string]*dpv1.Collection
	records     map[string][]map[string]any // collection → records in insert order
	changes     []*dpv1.SchemaChange
	n           int
	// Queries and Batches are the requests received, in order.
	Queries []*dpv1.QueryRecordsRequest
	Batches []*dpv1.BatchRequest
}

// Start serves a fake data plane until the test ends.
func Start(t interface{ Cleanup(func()) }) *Platform {
	p := &Platform{
		Now:         func() time.Time { return time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC) },
		collections: map[string]*dpv1.Collection{},
		records:     map[string][]map[string]any{},
	}
	mux := http.NewServeMux()
	interceptors := connect.WithInterceptors(keyCheck{})
	mux.Handle(dataplanev1connect.NewCollectionServiceHandler(p, interceptors))
	mux.Handle(dataplanev1connect.NewRecordServiceHandler(p, interceptors))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

type keyCheck struct{}

func (keyCheck) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Header().Get("apikey") != Key {
			return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("unknown API key"))
		}
		return next(ctx, req)
	}
}

func (keyCheck) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (keyCheck) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// Records returns a copy of a collection's records, in insert order.
func (p *Platform) Records(collection string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, r := range p.records[collection] {
		out = append(out, clone(r))
	}
	return out
}

func clone(r map[string]any) map[string]any {
	c := make(map[string]any, len(r))
	for k, v := range r {
		c[k] = v
	}
	return c
}

func notFound(format string, a ...any) error {
	return connect.NewError(connect.CodeNotFound, fmt.Errorf(format, a...))
}

func invalid(format string, a ...any) error {
	return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf(format, a...))
}

func (p *Platform) record(collection, kind, desc string) {
	p.changes = append(p.changes, &dpv1.SchemaChange{
		Id: int64(len(p.changes) + 1), At: timestamppb.New(p.Now()), Collection: collection, Kind: kind,
		Description: desc, Sql: fmt.Sprintf("-- %s %s: %s", kind, collection, desc),
	})
}

func (p *Platform) CreateCollection(_ context.Context, r *connect.Request[dpv1.CreateCollectionRequest]) (*connect.Response[dpv1.CreateCollectionResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := proto.Clone(r.Msg.GetCollection()).(*dpv1.Collection)
	if c.GetName() == "" {
		return nil, invalid("collection name: empty")
	}
	if _, ok := p.collections[c.GetName()]; ok {
		return nil, connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("collection %s exists", c.GetName()))
	}
	for _, ix := range c.GetIndexes() {
		if ix.GetName() == "" {
			ix.Name = c.GetName() + "_" + strings.Join(ix.GetFields(), "_") + "_idx"
		}
	}
	c.CreatedAt, c.UpdatedAt = timestamppb.New(p.Now()), timestamppb.New(p.Now())
	p.collections[c.GetName()] = c
	p.record(c.GetName(), "create", fmt.Sprintf("create collection %s", c.GetName()))
	return connect.NewResponse(&dpv1.CreateCollectionResponse{Collection: c}), nil
}

func (p *Platform) GetCollection(_ context.Context, r *connect.Request[dpv1.GetCollectionRequest]) (*connect.Response[dpv1.GetCollectionResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.collections[r.Msg.GetName()]
	if !ok {
		return nil, notFound("no collection %s", r.Msg.GetName())
	}
	return connect.NewResponse(&dpv1.GetCollectionResponse{Collection: c}), nil
}

func (p *Platform) ListCollections(context.Context, *connect.Request[dpv1.ListCollectionsRequest]) (*connect.Response[dpv1.ListCollectionsResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	res := &dpv1.ListCollectionsResponse{}
	for _, name := range sortedKeys(p.collections) {
		res.Collections = append(res.Collections, p.collections[name])
	}
	return connect.NewResponse(res), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (p *Platform) AlterCollection(_ context.Context, r *connect.Request[dpv1.AlterCollectionRequest]) (*connect.Response[dpv1.AlterCollectionResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old, ok := p.collections[r.Msg.GetName()]
	if !ok {
		return nil, notFound("no collection %s", r.Msg.GetName())
	}
	c := proto.Clone(old).(*dpv1.Collection)
	field := func(name string) (*dpv1.Field, error) {
		for _, f := range c.Fields {
			if f.GetName() == name {
				return f, nil
			}
		}
		return nil, notFound("no field %s in %s", name, c.GetName())
	}
	var descs []string
	for i, op := range r.Msg.GetOps() {
		var err error
		switch o := op.GetOp().(type) {
		case *dpv1.AlterOp_AddField:
			c.Fields = append(c.Fields, o.AddField)
			descs = append(descs, "add field "+o.AddField.GetName())
		case *dpv1.AlterOp_RenameField:
			var f *dpv1.Field
			if f, err = field(o.RenameField.GetFrom()); err == nil {
				f.Name = o.RenameField.GetTo()
				descs = append(descs, "rename field "+o.RenameField.GetFrom()+" to "+o.RenameField.GetTo())
			}
		case *dpv1.AlterOp_DropField:
			if _, err = field(o.DropField); err == nil {
				c.Fields = slices.DeleteFunc(c.Fields, func(f *dpv1.Field) bool { return f.GetName() == o.DropField })
				descs = append(descs, "drop field "+o.DropField)
			}
		case *dpv1.AlterOp_SetRequired:
			var f *dpv1.Field
			if f, err = field(o.SetRequired.GetField()); err == nil {
				f.Required = o.SetRequired.GetRequired()
				descs = append(descs, fmt.Sprintf("set %s required %v", f.GetName(), f.GetRequired()))
			}
		case *dpv1.AlterOp_SetUnique:
			var f *dpv1.Field
			if f, err = field(o.SetUnique.GetField()); err == nil {
				f.Unique = o.SetUnique.GetUnique()
				descs = append(descs, fmt.Sprintf("set %s unique %v", f.GetName(), f.GetUnique()))
			}
		case *dpv1.AlterOp_SetDefault:
			var f *dpv1.Field
			if f, err = field(o.SetDefault.GetField()); err == nil {
				f.Default = o.SetDefault.GetDefault()
				descs = append(descs, "set default of "+f.GetName())
			}
		case *dpv1.AlterOp_AddIndex:
			ix := o.AddIndex
			if ix.GetName() == "" {
				ix.Name = c.GetName() + "_" + strings.Join(ix.GetFields(), "_") + "_idx"
			}
			c.Indexes = append(c.Indexes, ix)
			descs = append(descs, "add index "+ix.GetName())
		case *dpv1.AlterOp_DropIndex:
			n := len(c.Indexes)
			c.Indexes = slices.DeleteFunc(c.Indexes, func(ix *dpv1.Index) bool { return ix.GetName() == o.DropIndex })
			if len(c.Indexes) == n {
				err = notFound("no index %s", o.DropIndex)
			}
			descs = append(descs, "drop index "+o.DropIndex)
		default:
			err = invalid("op %d: empty", i)
		}
		if err != nil {
			return nil, err
		}
	}
	c.UpdatedAt = timestamppb.New(p.Now())
	p.collections[c.GetName()] = c
	p.record(c.GetName(), "alter", strings.Join(descs, "; "))
	return connect.NewResponse(&dpv1.AlterCollectionResponse{Collection: c}), nil
}

func (p *Platform) DropCollection(_ context.Context, r *connect.Request[dpv1.DropCollectionRequest]) (*connect.Response[dpv1.DropCollectionResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.collections[r.Msg.GetName()]; !ok {
		return nil, notFound("no collection %s", r.Msg.GetName())
	}
	delete(p.collections, r.Msg.GetName())
	delete(p.records, r.Msg.GetName())
	p.record(r.Msg.GetName(), "drop", "drop collection "+r.Msg.GetName())
	return connect.NewResponse(&dpv1.DropCollectionResponse{}), nil
}

func (p *Platform) ListSchemaChanges(_ context.Context, r *connect.Request[dpv1.ListSchemaChangesRequest]) (*connect.Response[dpv1.ListSchemaChangesResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	limit := int(cmp.Or(r.Msg.GetLimit(), 100))
	res := &dpv1.ListSchemaChangesResponse{}
	for _, c := range p.changes {
		if c.GetId() <= r.Msg.GetAfterId() || (r.Msg.GetCollection() != "" && c.GetCollection() != r.Msg.GetCollection()) {
			continue
		}
		if len(res.Changes) == limit {
			res.NextAfterId = res.Changes[limit-1].GetId()
			break
		}
		res.Changes = append(res.Changes, c)
	}
	return connect.NewResponse(res), nil
}

// check validates rec against the collection's fields: known fields only,
// required ones present.
func check(c *dpv1.Collection, rec map[string]any, partial bool) error {
	known := map[string]*dpv1.Field{}
	for _, f := range c.GetFields() {
		known[f.GetName()] = f
	}
	for k := range rec {
		if _, ok := known[k]; !ok && k != "id" {
			return invalid("unknown field %s", k)
		}
	}
	if !partial {
		for _, f := range c.GetFields() {
			if v, ok := rec[f.GetName()]; f.GetRequired() && (!ok || v == nil) {
				return invalid("field %s is required", f.GetName())
			}
		}
	}
	return nil
}

// insert adds a record to state (the caller holds the lock).
func (p *Platform) insert(state map[string][]map[string]any, collection string, s *structpb.Struct) (map[string]any, error) {
	c, ok := p.collections[collection]
	if !ok {
		return nil, notFound("no collection %s", collection)
	}
	rec := s.AsMap()
	if err := check(c, rec, false); err != nil {
		return nil, err
	}
	id, _ := rec["id"].(string)
	if id == "" {
		p.n++
		id = fmt.Sprintf("r%05d", p.n)
	}
	for _, r := range state[collection] {
		if r["id"] == id {
			return nil, connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("record %s exists", id))
		}
	}
	for _, f := range c.GetFields() {
		if _, ok := rec[f.GetName()]; !ok && f.GetDefault() != nil {
			rec[f.GetName()] = f.GetDefault().AsInterface()
		}
	}
	now := p.Now().Format(time.RFC3339Nano)
	rec["id"], rec["created_at"], rec["updated_at"], rec["version"] = id, now, now, 1.0
	state[collection] = append(state[collection], rec)
	return clone(rec), nil
}

func find(state map[string][]map[string]any, collection, id string) (int, error) {
	for i, r := range state[collection] {
		if r["id"] == id {
			return i, nil
		}
	}
	return 0, notFound("no record %s in %s", id, collection)
}

// write changes a record (patch or replace) in state.
func (p *Platform) write(state map[string][]map[string]any, collection, id string, s *structpb.Struct, expect int64, replace bool) (map[string]any, error) {
	c, ok := p.collections[collection]
	if !ok {
		return nil, notFound("no collection %s", collection)
	}
	i, err := find(state, collection, id)
	if err != nil {
		return nil, err
	}
	old := state[collection][i]
	if v := int64(old["version"].(float64)); expect != 0 && v != expect {
		return nil, connect.NewError(connect.CodeAborted, fmt.Errorf("record %s is at version %d, not %d", id, v, expect))
	}
	in := s.AsMap()
	if err := check(c, in, !replace); err != nil {
		return nil, err
	}
	rec := clone(old)
	if replace {
		rec = map[string]any{"id": old["id"], "created_at": old["created_at"]}
	}
	for k, v := range in {
		rec[k] = v
	}
	rec["updated_at"] = p.Now().Format(time.RFC3339Nano)
	rec["version"] = old["version"].(float64) + 1
	state[collection][i] = rec
	return clone(rec), nil
}

func toStruct(m map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(m)
	if err != nil {
		panic(err) // the fake only holds what came from a Struct
	}
	return s
}

func (p *Platform) CreateRecord(_ context.Context, r *connect.Request[dpv1.CreateRecordRequest]) (*connect.Response[dpv1.CreateRecordResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rec, err := p.insert(p.records, r.Msg.GetCollection(), r.Msg.GetRecord())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&dpv1.CreateRecordResponse{Record: toStruct(rec)}), nil
}

func (p *Platform) GetRecord(_ context.Context, r *connect.Request[dpv1.GetRecordRequest]) (*connect.Response[dpv1.GetRecordResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.collections[r.Msg.GetCollection()]; !ok {
		return nil, notFound("no collection %s", r.Msg.GetCollection())
	}
	i, err := find(p.records, r.Msg.GetCollection(), r.Msg.GetId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&dpv1.GetRecordResponse{Record: toStruct(selectFields(p.records[r.Msg.GetCollection()][i], r.Msg.GetFields()))}), nil
}

func selectFields(rec map[string]any, fields []string) map[string]any {
	if len(fields) == 0 {
		return clone(rec)
	}
	out := map[string]any{}
	for k, v := range rec {
		if slices.Contains(fields, k) || slices.Contains([]string{"id", "created_at", "updated_at", "version"}, k) {
			out[k] = v
		}
	}
	return out
}

func (p *Platform) UpdateRecord(_ context.Context, r *connect.Request[dpv1.UpdateRecordRequest]) (*connect.Response[dpv1.UpdateRecordResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rec, err := p.write(p.records, r.Msg.GetCollection(), r.Msg.GetId(), r.Msg.GetPatch(), r.Msg.GetExpectedVersion(), false)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&dpv1.UpdateRecordResponse{Record: toStruct(rec)}), nil
}

func (p *Platform) ReplaceRecord(_ context.Context, r *connect.Request[dpv1.ReplaceRecordRequest]) (*connect.Response[dpv1.ReplaceRecordResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rec, err := p.write(p.records, r.Msg.GetCollection(), r.Msg.GetId(), r.Msg.GetRecord(), r.Msg.GetExpectedVersion(), true)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&dpv1.ReplaceRecordResponse{Record: toStruct(rec)}), nil
}

func (p *Platform) remove(state map[string][]map[string]any, collection, id string, expect int64) error {
	if _, ok := p.collections[collection]; !ok {
		return notFound("no collection %s", collection)
	}
	i, err := find(state, collection, id)
	if err != nil {
		return err
	}
	if v := int64(state[collection][i]["version"].(float64)); expect != 0 && v != expect {
		return connect.NewError(connect.CodeAborted, fmt.Errorf("record %s is at version %d, not %d", id, v, expect))
	}
	state[collection] = slices.Delete(state[collection], i, i+1)
	return nil
}

func (p *Platform) DeleteRecord(_ context.Context, r *connect.Request[dpv1.DeleteRecordRequest]) (*connect.Response[dpv1.DeleteRecordResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.remove(p.records, r.Msg.GetCollection(), r.Msg.GetId(), r.Msg.GetExpectedVersion()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&dpv1.DeleteRecordResponse{}), nil
}

// upsert matches on id only.
func (p *Platform) upsert(state map[string][]map[string]any, collection string, s *structpb.Struct) (map[string]any, bool, error) {
	id := s.GetFields()["id"].GetStringValue()
	if _, err := find(state, collection, id); id != "" && err == nil {
		rest := proto.Clone(s).(*structpb.Struct)
		delete(rest.Fields, "id")
		rec, err := p.write(state, collection, id, rest, 0, true)
		return rec, false, err
	}
	rec, err := p.insert(state, collection, s)
	return rec, true, err
}

func (p *Platform) UpsertRecord(_ context.Context, r *connect.Request[dpv1.UpsertRecordRequest]) (*connect.Response[dpv1.UpsertRecordResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rec, created, err := p.upsert(p.records, r.Msg.GetCollection(), r.Msg.GetRecord())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&dpv1.UpsertRecordResponse{Record: toStruct(rec), Created: created}), nil
}

func (p *Platform) QueryRecords(_ context.Context, r *connect.Request[dpv1.QueryRecordsRequest]) (*connect.Response[dpv1.QueryRecordsResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := r.Msg
	p.Queries = append(p.Queries, proto.Clone(m).(*dpv1.QueryRecordsRequest))
	if _, ok := p.collections[m.GetCollection()]; !ok {
		return nil, notFound("no collection %s", m.GetCollection())
	}
	if m.GetFilter() != "" && p.Filter == nil {
		return nil, invalid("filter: the fake evaluates no filter")
	}
	var recs []map[string]any
	for _, rec := range p.records[m.GetCollection()] {
		ok := m.GetFilter() == ""
		if !ok {
			var err error
			if ok, err = p.Filter(m.GetFilter(), rec); err != nil {
				return nil, invalid("filter: %v", err)
			}
		}
		if ok {
			recs = append(recs, rec)
		}
	}
	sortRecords(recs, m.GetSort())
	start := 0
	if c := m.GetCursor(); c != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(c, "o:"))
		if err != nil || !strings.HasPrefix(c, "o:") {
			return nil, invalid("bad cursor")
		}
		start = n
	}
	limit := int(cmp.Or(m.GetLimit(), 50))
	end := min(start+limit, len(recs))
	res := &dpv1.QueryRecordsResponse{}
	for _, rec := range recs[min(start, end):end] {
		res.Records = append(res.Records, toStruct(selectFields(rec, m.GetFields())))
	}
	if end < len(recs) {
		res.NextCursor = fmt.Sprintf("o:%d", end)
	}
	switch m.GetCount() {
	case dpv1.CountMode_COUNT_MODE_EXACT:
		res.Total = int64(len(recs))
	case dpv1.CountMode_COUNT_MODE_ESTIMATED:
		res.Total, res.TotalEstimated = int64(len(recs)), true
	}
	return connect.NewResponse(res), nil
}

func sortRecords(recs []map[string]any, sort []string) {
	keys := append(slices.Clone(sort), "id")
	slices.SortStableFunc(recs, func(a, b map[string]any) int {
		for _, k := range keys {
			desc := strings.HasPrefix(k, "-")
			k = strings.TrimPrefix(k, "-")
			c := compare(a[k], b[k])
			if desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
}

func compare(a, b any) int {
	switch a := a.(type) {
	case float64:
		if b, ok := b.(float64); ok {
			return cmp.Compare(a, b)
		}
	case string:
		if b, ok := b.(string); ok {
			return cmp.Compare(a, b)
		}
	}
	return cmp.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

func (p *Platform) Batch(_ context.Context, r *connect.Request[dpv1.BatchRequest]) (*connect.Response[dpv1.BatchResponse], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Batches = append(p.Batches, proto.Clone(r.Msg).(*dpv1.BatchRequest))
	if n := len(r.Msg.GetOps()); n == 0 || n > 1000 {
		return nil, invalid("a batch holds 1 to 1000 operations, not %d", n)
	}
	state := map[string][]map[string]any{}
	for k, v := range p.records {
		state[k] = slices.Clone(v)
	}
	n := p.n
	res := &dpv1.BatchResponse{}
	for i, op := range r.Msg.GetOps() {
		var rec map[string]any
		var created bool
		var err error
		switch o := op.GetOp().(type) {
		case *dpv1.BatchOp_Create:
			rec, err = p.insert(state, o.Create.GetCollection(), o.Create.GetRecord())
		case *dpv1.BatchOp_Update:
			rec, err = p.write(state, o.Update.GetCollection(), o.Update.GetId(), o.Update.GetPatch(), o.Update.GetExpectedVersion(), false)
		case *dpv1.BatchOp_Replace:
			rec, err = p.write(state, o.Replace.GetCollection(), o.Replace.GetId(), o.Replace.GetRecord(), o.Replace.GetExpectedVersion(), true)
		case *dpv1.BatchOp_Delete:
			err = p.remove(state, o.Delete.GetCollection(), o.Delete.GetId(), o.Delete.GetExpectedVersion())
		case *dpv1.BatchOp_Upsert:
			rec, created, err = p.upsert(state, o.Upsert.GetCollection(), o.Upsert.GetRecord())
		}
		if err != nil {
			p.n = n
			var ce *connect.Error
			if errors.As(err, &ce) {
				return nil, connect.NewError(ce.Code(), fmt.Errorf("ops[%d]: %s", i, ce.Message()))
			}
			return nil, err
		}
		br := &dpv1.BatchResult{Created: created}
		if rec != nil {
			br.Record = toStruct(rec)
		}
		res.Results = append(res.Results, br)
	}
	p.records = state
	return connect.NewResponse(res), nil
}
