package records_test

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/dataplane/records"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
)

// items is a collection full of nulls and ties, for paging.
func (e *env) items(t *testing.T, n int) []records.Record {
	t.Helper()
	e.collection(e.ref, schema.Collection{Name: "items", Fields: []schema.Field{
		{Name: "a", Type: schema.Integer},
		{Name: "b", Type: schema.Text},
		{Name: "c", Type: schema.Boolean},
		{Name: "at", Type: schema.Timestamp},
		{Name: "x", Type: schema.Number},
	}})
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []records.Record
	for i := range n {
		rec := map[string]any{"c": i%2 == 0}
		if i%4 != 0 {
			rec["a"] = i % 3
		}
		if i%5 != 1 {
			rec["b"] = []string{"x", "y", "z"}[i%3]
		}
		if i%3 != 2 {
			rec["at"] = base.Add(time.Duration(i%4) * time.Hour).Format(time.RFC3339)
		}
		if i%7 != 3 {
			rec["x"] = float64(i%5) / 4
		}
		out = append(out, e.create(t, "items", rec))
	}
	return out
}

// compareBy orders records as a query's sort does: nulls above every
// value, the id last.
func compareBy(sort []string) func(a, b records.Record) int {
	return func(x, y records.Record) int {
		for _, s := range append(slices.Clone(sort), "id") {
			name, desc := strings.CutPrefix(s, "-")
			c := compareValues(x[name], y[name])
			if desc {
				c = -c
			}
			if c != 0 {
				return c
			}
			if name == "id" {
				return 0
			}
		}
		return 0
	}
}

func compareValues(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	switch x := a.(type) {
	case int64:
		return cmp.Compare(x, b.(int64))
	case float64:
		return cmp.Compare(x, b.(float64))
	case string:
		return strings.Compare(x, b.(string))
	case bool:
		switch {
		case x == b.(bool):
			return 0
		case !x:
			return -1
		}
		return 1
	case time.Time:
		return x.Compare(b.(time.Time))
	}
	panic(fmt.Sprintf("cannot compare %T", a))
}

func TestQueryPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	all := e.items(t, 61)
	matches := map[string]func(records.Record) bool{
		"": func(records.Record) bool { return true },
		"a != null || c": func(r records.Record) bool {
			c, _ := r["c"].(bool)
			return r["a"] != nil || c
		},
		`b == "y"`: func(r records.Record) bool { return r["b"] == "y" },
	}
	sorts := [][]string{
		nil,
		{"a"},
		{"-a"},
		{"a", "-b"},
		{"-b", "a"},
		{"b", "-at", "c"},
		{"-x", "-c"},
		{"at", "-x", "a", "b"},
		{"-id"},
		{"-created_at"},
		{"-version", "a"},
	}
	for filterText, match := range matches {
		for _, sort := range sorts {
			for _, limit := range []int32{1, 4, 13} {
				if limit == 1 && filterText != "" {
					continue
				}
				name := fmt.Sprintf("filter=%q sort=%v limit=%d", filterText, sort, limit)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					var want []string
					exp := slices.Clone(all)
					slices.SortFunc(exp, compareBy(sort))
					for _, r := range exp {
						if match(r) {
							want = append(want, r["id"].(string))
						}
					}
					var got []string
					cursor := ""
					for page := 0; ; page++ {
						if page > len(all)+1 {
							t.Fatal("paging does not end")
						}
						res, err := e.client.QueryRecords(t.Context(), req(e.ref, &dataplanev1.QueryRecordsRequest{
							Collection: "items", Filter: filterText, Sort: sort, Limit: limit, Cursor: cursor,
							Fields: []string{"c"}, // sort fields need not be selected
						}))
						if err != nil {
							t.Fatalf("page %d: %v", page, err)
						}
						if len(res.Msg.GetRecords()) > int(limit) {
							t.Fatalf("page %d has %d records, limit %d", page, len(res.Msg.GetRecords()), limit)
						}
						for _, r := range res.Msg.GetRecords() {
							m := r.AsMap()
							if _, ok := m["a"]; ok {
								t.Fatalf("unselected field a returned: %v", m)
							}
							got = append(got, m["id"].(string))
						}
						cursor = res.Msg.GetNextCursor()
						if cursor == "" {
							break
						}
					}
					if !slices.Equal(got, want) {
						t.Fatalf("walked %d records:\n got %v\nwant %v", len(got), got, want)
					}
				})
			}
		}
	}
}

func TestQuery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.standard(e.ref)
	items := e.items(t, 20)
	withA := 0
	for _, r := range items {
		if r["a"] != nil {
			withA++
		}
	}
	ann := e.create(t, "authors", map[string]any{"name": "ann"})["id"].(string)
	bob := e.create(t, "authors", map[string]any{"name": "bob"})["id"].(string)
	for i, a := range []any{ann, bob, ann, nil} {
		e.post(t, map[string]any{"n": i, "author": a})
	}
	query := func(t *testing.T, m *dataplanev1.QueryRecordsRequest) (*dataplanev1.QueryRecordsResponse, error) {
		res, err := e.client.QueryRecords(t.Context(), req(e.ref, m))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	}
	first, err := query(t, &dataplanev1.QueryRecordsRequest{Collection: "items", Filter: "a != null", Sort: []string{"a"}, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	cursor := first.GetNextCursor()

	for _, sc := range []struct {
		name  string
		req   *dataplanev1.QueryRecordsRequest
		code  connect.Code
		msg   string
		check func(t *testing.T, res *dataplanev1.QueryRecordsResponse)
	}{
		{name: "default page", req: &dataplanev1.QueryRecordsRequest{Collection: "items"}, check: func(t *testing.T, res *dataplanev1.QueryRecordsResponse) {
			if len(res.GetRecords()) != 20 || res.GetNextCursor() != "" || res.GetTotal() != 0 {
				t.Fatalf("%d records, cursor %q, total %d", len(res.GetRecords()), res.GetNextCursor(), res.GetTotal())
			}
		}},
		{name: "count exact", req: &dataplanev1.QueryRecordsRequest{Collection: "items", Filter: "a != null", Limit: 3, Count: dataplanev1.CountMode_COUNT_MODE_EXACT}, check: func(t *testing.T, res *dataplanev1.QueryRecordsResponse) {
			if res.GetTotal() != int64(withA) || res.GetTotalEstimated() || len(res.GetRecords()) != 3 {
				t.Fatalf("total %d (estimated %v), %d records; want %d exact, 3", res.GetTotal(), res.GetTotalEstimated(), len(res.GetRecords()), withA)
			}
		}},
		{name: "count exact on a later page", req: &dataplanev1.QueryRecordsRequest{Collection: "items", Filter: "a != null", Sort: []string{"a"}, Limit: 2, Cursor: cursor, Count: dataplanev1.CountMode_COUNT_MODE_EXACT}, check: func(t *testing.T, res *dataplanev1.QueryRecordsResponse) {
			if res.GetTotal() != int64(withA) || len(res.GetRecords()) != 2 {
				t.Fatalf("total %d, %d records", res.GetTotal(), len(res.GetRecords()))
			}
		}},
		{name: "count exact with no match", req: &dataplanev1.QueryRecordsRequest{Collection: "items", Filter: "a == 99", Count: dataplanev1.CountMode_COUNT_MODE_EXACT}, check: func(t *testing.T, res *dataplanev1.QueryRecordsResponse) {
			if res.GetTotal() != 0 || len(res.GetRecords()) != 0 || res.GetNextCursor() != "" {
				t.Fatalf("total %d, %d records", res.GetTotal(), len(res.GetRecords()))
			}
		}},
		{name: "count estimated without filter", req: &dataplanev1.QueryRecordsRequest{Collection: "items", Limit: 1, Count: dataplanev1.CountMode_COUNT_MODE_ESTIMATED}, check: func(t *testing.T, res *dataplanev1.QueryRecordsResponse) {
			if !res.GetTotalEstimated() || res.GetTotal() != 20 || len(res.GetRecords()) != 1 {
				t.Fatalf("total %d (estimated %v), %d records", res.GetTotal(), res.GetTotalEstimated(), len(res.GetRecords()))
			}
		}},
		{name: "count estimated with filter", req: &dataplanev1.QueryRecordsRequest{Collection: "items", Filter: "a == 1", Count: dataplanev1.CountMode_COUNT_MODE_ESTIMATED}, check: func(t *testing.T, res *dataplanev1.QueryRecordsResponse) {
			if !res.GetTotalEstimated() || res.GetTotal() < 1 {
				t.Fatalf("total %d (estimated %v)", res.GetTotal(), res.GetTotalEstimated())
			}
		}},
		{name: "expand", req: &dataplanev1.QueryRecordsRequest{Collection: "posts", Sort: []string{"n"}, Expand: []string{"author"}, Fields: []string{"n"}}, check: func(t *testing.T, res *dataplanev1.QueryRecordsResponse) {
			names := []any{"ann", "bob", "ann", nil}
			if len(res.GetRecords()) != 4 {
				t.Fatalf("%d records", len(res.GetRecords()))
			}
			for i, r := range res.GetRecords() {
				m := r.AsMap()
				a := m["expand"].(map[string]any)["author"]
				var name any
				if a != nil {
					name = a.(map[string]any)["name"]
				}
				if name != names[i] {
					t.Errorf("record %d: expand %v, want author %v", i, m["expand"], names[i])
				}
				if _, ok := m["author"]; ok {
					t.Errorf("record %d: unselected author returned", i)
				}
			}
		}},
		{name: "filter on a timestamp", req: &dataplanev1.QueryRecordsRequest{Collection: "items", Filter: `at >= timestamp("2025-01-01T02:00:00Z")`, Count: dataplanev1.CountMode_COUNT_MODE_EXACT}, check: func(t *testing.T, res *dataplanev1.QueryRecordsResponse) {
			if int(res.GetTotal()) != len(res.GetRecords()) || res.GetTotal() == 0 {
				t.Fatalf("total %d, %d records", res.GetTotal(), len(res.GetRecords()))
			}
			for _, r := range res.GetRecords() {
				if at := r.AsMap()["at"].(string); at < "2025-01-01T02:00:00" {
					t.Errorf("at %s passed the filter", at)
				}
			}
		}},
		{name: "limit over 1000", req: &dataplanev1.QueryRecordsRequest{Collection: "items", Limit: 1001}, code: connect.CodeInvalidArgument, msg: "limit: must be 1 to 1000"},
		{name: "negative limit", req: &dataplanev1.QueryRecordsRequest{Collection: "items", Limit: -1}, code: connect.CodeInvalidArgument, msg: "limit:"},
		{name: "unknown sort field", req: &dataplanev1.QueryRecordsRequest{Collection: "items", Sort: []string{"-nope"}}, code: connect.CodeInvalidArgument, msg: `sort: unknown field "nope"`},
		{name: "sort on json", req: &dataplanev1.QueryRecordsRequest{Collection: "posts", Sort: []string{"meta"}}, code: connect.CodeInvalidArgument, msg: `sort: cannot sort by json field "meta"`},
		{name: "sort field twice", req: &dataplanev1.QueryRecordsRequest{Collection: "items", Sort: []string{"a", "-a"}}, code: connect.CodeInvalidArgument, msg: `sort: field "a" appears twice`},
		{name: "nine sort fields", req: &dataplanev1.QueryRecordsRequest{Collection: "items", Sort: []string{"a", "b", "c", "at", "x", "created_at", "updated_at", "version", "id"}}, code: connect.CodeInvalidArgument, msg: "sort: 9 fields, over the limit of 8"},
		{name: "unknown selected field", req: &dataplanev1.QueryRecordsRequest{Collection: "items", Fields: []string{"nope"}}, code: connect.CodeInvalidArgument, msg: `fields: unknown field "nope"`},
		{name: "unknown expand field", req: &dataplanev1.QueryRecordsRequest{Collection: "posts", Expand: []string{"nope"}}, code: connect.CodeInvalidArgument, msg: `expand: unknown field "nope"`},
		{name: "malformed filter", req: &dataplanev1.QueryRecordsRequest{Collection: "items", Filter: "a >"}, code: connect.CodeInvalidArgument, msg: "filter: line 1, column"},
		{name: "filter on an unknown field", req: &dataplanev1.QueryRecordsRequest{Collection: "items", Filter: "nope == 1"}, code: connect.CodeInvalidArgument, msg: "nope"},
		{name: "filter of the wrong type", req: &dataplanev1.QueryRecordsRequest{Collection: "items", Filter: `a == "x"`}, code: connect.CodeInvalidArgument, msg: "filter:"},
		{name: "garbage cursor", req: &dataplanev1.QueryRecordsRequest{Collection: "items", Cursor: "!!!"}, code: connect.CodeInvalidArgument, msg: "cursor:"},
		{name: "forged cursor", req: &dataplanev1.QueryRecordsRequest{Collection: "items", Cursor: base64.RawURLEncoding.EncodeToString([]byte(`{"h":"AAAA","v":["x"]}`))}, code: connect.CodeInvalidArgument, msg: "cursor:"},
		{name: "cursor with another filter", req: &dataplanev1.QueryRecordsRequest{Collection: "items", Filter: "a != null && c", Sort: []string{"a"}, Cursor: cursor}, code: connect.CodeInvalidArgument, msg: "cursor: it belongs to another query"},
		{name: "cursor with another sort", req: &dataplanev1.QueryRecordsRequest{Collection: "items", Filter: "a != null", Sort: []string{"-a"}, Cursor: cursor}, code: connect.CodeInvalidArgument, msg: "cursor: it belongs to another query"},
		{name: "cursor on another collection", req: &dataplanev1.QueryRecordsRequest{Collection: "posts", Filter: "n != null", Sort: []string{"n"}, Cursor: cursor}, code: connect.CodeInvalidArgument, msg: "cursor: it belongs to another query"},
		{name: "unknown count mode", req: &dataplanev1.QueryRecordsRequest{Collection: "items", Count: 9}, code: connect.CodeInvalidArgument, msg: "count: unknown mode 9"},
		{name: "unknown collection", req: &dataplanev1.QueryRecordsRequest{Collection: "nope"}, code: connect.CodeNotFound, msg: `collection "nope" not found`},
	} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			res, err := query(t, sc.req)
			if codeOf(err) != sc.code || !strings.Contains(messageOf(err), sc.msg) {
				t.Fatalf("err = %v, want %v with %q", err, sc.code, sc.msg)
			}
			if sc.check != nil {
				sc.check(t, res)
			}
		})
	}
}

// After ANALYZE the estimate without a filter comes from the statistics,
// scaled to the table's current size.
func TestQueryEstimateFromStatistics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.items(t, 300)
	if _, err := e.pool.Exec(t.Context(), "ANALYZE "+`"t_`+e.ref+`"."items"`); err != nil {
		t.Fatal(err)
	}
	res, err := e.client.QueryRecords(t.Context(), req(e.ref, &dataplanev1.QueryRecordsRequest{Collection: "items", Limit: 1, Count: dataplanev1.CountMode_COUNT_MODE_ESTIMATED}))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Msg.GetTotal(); !res.Msg.GetTotalEstimated() || got < 250 || got > 350 {
		t.Fatalf("estimate %d (estimated %v), want about 300", got, res.Msg.GetTotalEstimated())
	}
}
