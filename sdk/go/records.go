package sovereign

import (
	"context"
	"iter"

	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// MaxPageSize is the most records one query request returns, and
// [MaxBatchOps] the most operations one batch holds.
const (
	MaxPageSize = 1000
	MaxBatchOps = 1000
)

// defaultPageSize is how many records each request of an unlimited
// [CollectionRef.Query] fetches.
const defaultPageSize = 100

// CollectionRef reads and writes the records of one collection as values of
// T: a struct whose json tags name the collection's fields (embed
// [RecordMeta] to get the system fields), or [Record] for plain JSON
// objects. Values travel as JSON: times as RFC 3339, integers within
// ±(2^53−1) ([MaxSafeInteger]; larger ones are refused before sending).
//
// A CollectionRef is cheap, holds no state but its client and name, and is
// safe for concurrent use. The collection itself is made with
// [Collections.Create].
type CollectionRef[T any] struct {
	c    *Client
	name string
}

// Collection returns the collection called name, its records read and
// written as T:
//
//	type Post struct {
//		sovereign.RecordMeta
//		Title string `json:"title"`
//		N     int64  `json:"n"`
//	}
//	posts := sovereign.Collection[Post](client, "posts")
//	p, err := posts.Insert(ctx, Post{Title: "hello", N: 1})
func Collection[T any](c *Client, name string) *CollectionRef[T] {
	return &CollectionRef[T]{c: c, name: name}
}

// Name returns the collection's name.
func (r *CollectionRef[T]) Name() string { return r.name }

// GetOption changes what [CollectionRef.Get] returns.
type GetOption func(*getOptions)

type getOptions struct{ fields, expand []string }

// WithFields makes Get return only these user fields (the system fields
// always come).
func WithFields(fields ...string) GetOption {
	return func(o *getOptions) { o.fields = append(o.fields, fields...) }
}

// WithExpand makes Get embed the records these relation fields point to,
// under the record's "expand" key: {"expand": {"author": {…}}}.
func WithExpand(fields ...string) GetOption {
	return func(o *getOptions) { o.expand = append(o.expand, fields...) }
}

// WriteOption changes how Update, Replace and Delete (and their batch
// forms) apply.
type WriteOption func(*writeOptions)

type writeOptions struct{ expectVersion int64 }

// ExpectVersion makes a write apply only while the record's version is v,
// the version it was read at; otherwise the platform refuses it with
// [CodeAborted] ([IsConflict]) and changes nothing. This turns a lost update
// (two writers reading version 3, both writing) into a conflict for one of
// them. 0 means no expectation.
func ExpectVersion(v int64) WriteOption { return func(o *writeOptions) { o.expectVersion = v } }

func buildWriteOptions(opts []WriteOption) writeOptions {
	var o writeOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// UpsertOption changes how [CollectionRef.Upsert] matches an existing
// record.
type UpsertOption func(*upsertOptions)

type upsertOptions struct{ onConflict string }

// OnConflict makes Upsert match the existing record on this unique field
// instead of on id: the record whose field has the same value is replaced.
func OnConflict(field string) UpsertOption { return func(o *upsertOptions) { o.onConflict = field } }

func buildUpsertOptions(opts []UpsertOption) upsertOptions {
	var o upsertOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Insert creates a record from v and returns it as the platform stored it,
// with its system fields (and defaults) set. A non-empty id in v chooses the
// record's id (a UUID); otherwise the platform makes one (UUIDv7).
//
// Errors: [CodeInvalidArgument] (an unknown field, a value of the wrong type
// or a missing required field, naming it), [CodeAlreadyExists] (the id or a
// unique field's value is taken), [CodeNotFound] (no such collection),
// [CodeResourceExhausted] (the record is over the size limit).
func (r *CollectionRef[T]) Insert(ctx context.Context, v T) (T, error) {
	var zero T
	s, err := toStruct(v, encodeOpts{keepID: true})
	if err != nil {
		return zero, err
	}
	m, err := unary(ctx, r.c.c, dataplanev1connect.RecordServiceCreateRecordProcedure, callCreate,
		r.c.records.CreateRecord, &dataplanev1.CreateRecordRequest{Collection: r.name, Record: s})
	if err != nil {
		return zero, err
	}
	return decodeRecord[T](m.GetRecord())
}

// Get returns the record with this id. Errors: [CodeNotFound] when the
// collection or the record does not exist.
func (r *CollectionRef[T]) Get(ctx context.Context, id string, opts ...GetOption) (T, error) {
	var zero T
	var o getOptions
	for _, opt := range opts {
		opt(&o)
	}
	if id == "" {
		return zero, invalidArgument("get %s: empty record id", r.name)
	}
	m, err := unary(ctx, r.c.c, dataplanev1connect.RecordServiceGetRecordProcedure, callRead,
		r.c.records.GetRecord, &dataplanev1.GetRecordRequest{Collection: r.name, Id: id, Fields: o.fields, Expand: o.expand})
	if err != nil {
		return zero, err
	}
	return decodeRecord[T](m.GetRecord())
}

// Update changes the fields in patch and leaves the others as they are;
// a nil value clears a field. patch is a map[string]any, a [Record], or a
// struct whose fields are pointers tagged omitempty (only the set ones are
// sent). It returns the whole record after the change.
//
// Errors: those of Insert, [CodeNotFound] (no such record), and
// [CodeAborted] ([IsConflict]) when [ExpectVersion] was given and the
// record has moved on.
func (r *CollectionRef[T]) Update(ctx context.Context, id string, patch any, opts ...WriteOption) (T, error) {
	var zero T
	o := buildWriteOptions(opts)
	if id == "" {
		return zero, invalidArgument("update %s: empty record id", r.name)
	}
	s, err := toStruct(patch, encodeOpts{})
	if err != nil {
		return zero, err
	}
	m, err := unary(ctx, r.c.c, dataplanev1connect.RecordServiceUpdateRecordProcedure, callCreate,
		r.c.records.UpdateRecord, &dataplanev1.UpdateRecordRequest{Collection: r.name, Id: id, Patch: s, ExpectedVersion: o.expectVersion})
	if err != nil {
		return zero, err
	}
	return decodeRecord[T](m.GetRecord())
}

// Replace sets every user field of the record from v: fields v leaves out
// become their default or null. The system fields in v are ignored. Errors
// are those of Update.
func (r *CollectionRef[T]) Replace(ctx context.Context, id string, v T, opts ...WriteOption) (T, error) {
	var zero T
	o := buildWriteOptions(opts)
	if id == "" {
		return zero, invalidArgument("replace %s: empty record id", r.name)
	}
	s, err := toStruct(v, encodeOpts{})
	if err != nil {
		return zero, err
	}
	m, err := unary(ctx, r.c.c, dataplanev1connect.RecordServiceReplaceRecordProcedure, callCreate,
		r.c.records.ReplaceRecord, &dataplanev1.ReplaceRecordRequest{Collection: r.name, Id: id, Record: s, ExpectedVersion: o.expectVersion})
	if err != nil {
		return zero, err
	}
	return decodeRecord[T](m.GetRecord())
}

// Delete deletes the record. Errors: [CodeNotFound] (no such record), and
// [CodeAborted] ([IsConflict]) when [ExpectVersion] was given and the
// record has moved on. A retried delete whose first attempt succeeded gets
// the first answer (it carries the same idempotency key), not NotFound.
func (r *CollectionRef[T]) Delete(ctx context.Context, id string, opts ...WriteOption) error {
	o := buildWriteOptions(opts)
	if id == "" {
		return invalidArgument("delete %s: empty record id", r.name)
	}
	_, err := unary(ctx, r.c.c, dataplanev1connect.RecordServiceDeleteRecordProcedure, callCreate,
		r.c.records.DeleteRecord, &dataplanev1.DeleteRecordRequest{Collection: r.name, Id: id, ExpectedVersion: o.expectVersion})
	return err
}

// Upsert inserts v, or replaces the record with v's id (or, with
// [OnConflict], the one with the same value of that unique field). It
// returns the record and whether it was inserted. v must carry an id unless
// OnConflict is given.
func (r *CollectionRef[T]) Upsert(ctx context.Context, v T, opts ...UpsertOption) (T, bool, error) {
	var zero T
	o := buildUpsertOptions(opts)
	s, err := toStruct(v, encodeOpts{keepID: true})
	if err != nil {
		return zero, false, err
	}
	if _, ok := s.Fields[FieldID]; !ok && o.onConflict == "" {
		return zero, false, invalidArgument("upsert %s: the record has no id and no OnConflict field to match on", r.name)
	}
	m, err := unary(ctx, r.c.c, dataplanev1connect.RecordServiceUpsertRecordProcedure, callCreate,
		r.c.records.UpsertRecord, &dataplanev1.UpsertRecordRequest{Collection: r.name, Record: s, OnConflict: o.onConflict})
	if err != nil {
		return zero, false, err
	}
	rec, err := decodeRecord[T](m.GetRecord())
	return rec, m.GetCreated(), err
}

// CountMode chooses whether and how a query counts the records its filter
// matches.
type CountMode string

// Count modes.
const (
	// CountNone asks for no count (the zero value).
	CountNone CountMode = ""
	// CountExact counts every matching record: exact, and as slow as
	// reading them on a large collection.
	CountExact CountMode = "exact"
	// CountEstimated takes the database planner's estimate: cheap, and
	// approximate.
	CountEstimated CountMode = "estimated"
)

func (m CountMode) proto() (dataplanev1.CountMode, error) {
	switch m {
	case CountNone:
		return dataplanev1.CountMode_COUNT_MODE_UNSPECIFIED, nil
	case CountExact:
		return dataplanev1.CountMode_COUNT_MODE_EXACT, nil
	case CountEstimated:
		return dataplanev1.CountMode_COUNT_MODE_ESTIMATED, nil
	}
	return 0, invalidArgument("unknown count mode %q: use exact or estimated", m)
}

// Query selects, orders and pages through a collection's records.
type Query struct {
	// Filter keeps the records it matches; the zero Filter keeps all. See
	// [Where] and [Raw].
	Filter Filter
	// Sort orders the records by these fields, each prefixed with "-" for
	// descending: []string{"-created_at", "title"}. The id breaks ties;
	// the default is by id, which for platform-made ids is creation order.
	Sort []string
	// Limit is the most records to return: in all for
	// [CollectionRef.Query] (0: every match), in the page for
	// [CollectionRef.Page] (1 to 1000; 0: the platform's default, 50).
	Limit int
	// PageSize is how many records each request of [CollectionRef.Query]
	// fetches, 1 to 1000; 0 means Limit when it is at most 1000, else 100.
	PageSize int
	// Cursor starts after the page it came from ([Page].NextCursor); the
	// filter and sort must be the same as that page's.
	Cursor string
	// Fields returns only these user fields (the system fields always
	// come); empty for all.
	Fields []string
	// Expand embeds the records these relation fields point to under
	// "expand".
	Expand []string
	// Count asks [CollectionRef.Page] for the total number of matches;
	// Query ignores it, and [CollectionRef.Count] takes its own.
	Count CountMode
}

// Page is one page of a query's results.
type Page[T any] struct {
	Records []T
	// NextCursor fetches the next page (as [Query].Cursor); "" on the last.
	NextCursor string
	// Total is the number of matching records, when Count was asked for.
	Total int64
	// TotalEstimated is true when Total is the planner's estimate.
	TotalEstimated bool
}

func (r *CollectionRef[T]) request(q Query, limit int, count CountMode) (*dataplanev1.QueryRecordsRequest, error) {
	if err := q.Filter.Err(); err != nil {
		return nil, err
	}
	if limit < 0 || limit > MaxPageSize {
		return nil, invalidArgument("query %s: page size %d: use 1 to %d", r.name, limit, MaxPageSize)
	}
	cm, err := count.proto()
	if err != nil {
		return nil, err
	}
	return &dataplanev1.QueryRecordsRequest{
		Collection: r.name, Filter: q.Filter.String(), Sort: q.Sort, Limit: int32(limit),
		Cursor: q.Cursor, Fields: q.Fields, Expand: q.Expand, Count: cm,
	}, nil
}

// Page fetches one page of the records q selects, and their total count
// when q.Count asks for it. Pass the page's NextCursor as the next query's
// Cursor to go on: this is for callers that hand the cursor to someone else
// (a web page's "more" button); in a loop, [CollectionRef.Query] pages for
// you.
//
// Errors: [CodeInvalidArgument] (a filter that does not parse or
// type-check, naming the position or field; an unknown sort field; a
// cursor of another query), [CodeNotFound] (no such collection).
func (r *CollectionRef[T]) Page(ctx context.Context, q Query) (*Page[T], error) {
	req, err := r.request(q, q.Limit, q.Count)
	if err != nil {
		return nil, err
	}
	m, err := unary(ctx, r.c.c, dataplanev1connect.RecordServiceQueryRecordsProcedure, callRead, r.c.records.QueryRecords, req)
	if err != nil {
		return nil, err
	}
	p := &Page[T]{Records: make([]T, 0, len(m.GetRecords())), NextCursor: m.GetNextCursor(), Total: m.GetTotal(), TotalEstimated: m.GetTotalEstimated()}
	for _, s := range m.GetRecords() {
		v, err := decodeRecord[T](s)
		if err != nil {
			return nil, err
		}
		p.Records = append(p.Records, v)
	}
	return p, nil
}

// Query iterates over the records q selects, in q's order, fetching pages
// as the loop needs them, until q.Limit records or the last one. A failure
// ends the loop with a zero T and the error (those of [CollectionRef.Page]):
//
//	q := sovereign.Query{Filter: sovereign.Where("n").Gt(5), Sort: []string{"-created_at"}}
//	for p, err := range posts.Query(ctx, q) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(p.Title)
//	}
//
// Records written while the loop runs may or may not be seen; none is seen
// twice, as each page starts after the last record of the one before.
func (r *CollectionRef[T]) Query(ctx context.Context, q Query) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		if q.Limit < 0 || q.PageSize < 0 {
			yield(zero, invalidArgument("query %s: negative limit or page size", r.name))
			return
		}
		size := q.PageSize
		if size == 0 {
			size = defaultPageSize
			if q.Limit > 0 && q.Limit <= MaxPageSize {
				size = q.Limit
			}
		}
		left := q.Limit
		cursor := q.Cursor
		for {
			n := size
			if q.Limit > 0 {
				n = min(n, left)
			}
			pq := q
			pq.Cursor = cursor
			req, err := r.request(pq, n, CountNone)
			if err != nil {
				yield(zero, err)
				return
			}
			m, err := unary(ctx, r.c.c, dataplanev1connect.RecordServiceQueryRecordsProcedure, callRead, r.c.records.QueryRecords, req)
			if err != nil {
				yield(zero, err)
				return
			}
			for _, s := range m.GetRecords() {
				v, err := decodeRecord[T](s)
				if err != nil {
					yield(zero, err)
					return
				}
				if !yield(v, nil) {
					return
				}
				if q.Limit > 0 {
					if left--; left == 0 {
						return
					}
				}
			}
			if m.GetNextCursor() == "" || len(m.GetRecords()) == 0 {
				return
			}
			cursor = m.GetNextCursor()
		}
	}
}

// First returns the first record q selects, and false when none matches.
func (r *CollectionRef[T]) First(ctx context.Context, q Query) (T, bool, error) {
	q.Limit, q.Count = 1, CountNone
	p, err := r.Page(ctx, q)
	if err != nil || len(p.Records) == 0 {
		var zero T
		return zero, false, err
	}
	return p.Records[0], true, nil
}

// Count returns how many records q's filter matches, exactly
// ([CountExact]) or as the planner estimates ([CountEstimated]), and
// whether the figure is an estimate. q's other fields are not used.
func (r *CollectionRef[T]) Count(ctx context.Context, q Query, mode CountMode) (int64, bool, error) {
	if mode == CountNone {
		return 0, false, invalidArgument("count %s: choose CountExact or CountEstimated", r.name)
	}
	p, err := r.Page(ctx, Query{Filter: q.Filter, Limit: 1, Count: mode})
	if err != nil {
		return 0, false, err
	}
	return p.Total, p.TotalEstimated, nil
}
