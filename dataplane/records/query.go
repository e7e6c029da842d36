package records

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/dataplane/filter"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// GetParams are the arguments of Get.
type GetParams struct {
	Collection string
	ID         string
	// Fields limits the user fields returned; empty for all. System fields
	// always come back.
	Fields []string
	// Expand names relation fields whose target records to embed under
	// "expand".
	Expand []string
}

// Get returns one record.
func (s *Service) Get(ctx context.Context, id tenantdb.Identity, p GetParams) (Record, error) {
	c, err := s.collection(ctx, id, p.Collection)
	if err != nil {
		return nil, err
	}
	rid, err := parseID(p.ID)
	if err != nil {
		return nil, err
	}
	sel, err := selection(c, p.Fields, p.Expand)
	if err != nil {
		return nil, err
	}
	expand, err := expandFields(c, p.Expand)
	if err != nil {
		return nil, err
	}
	acc, err := s.access(id, c)
	if err != nil {
		return nil, err
	}
	// A record the view rule hides is not found: whether it exists is
	// none of the caller's business.
	rule, ruleArgs := acc.where(filter.MethodView, 1)
	var rec Record
	err = s.db.Read(ctx, id, func(rows pgx.Rows) error {
		if !rows.Next() {
			return rows.Err()
		}
		vals, err := rows.Values()
		if err != nil {
			return err
		}
		rec = toRecord(sel.read, vals)
		return nil
	}, "SELECT "+selectList(sel.read)+" FROM "+table(id.TenantRef, c)+` WHERE "id" = $1`+rule, append([]any{rid}, ruleArgs...)...)
	if err != nil {
		return nil, s.readError(c, err)
	}
	if rec == nil {
		return nil, notFound(c, rid)
	}
	if err := s.expand(ctx, id, expand, []Record{rec}); err != nil {
		return nil, err
	}
	sel.trim(rec)
	return rec, nil
}

// CountMode says whether and how a query counts its matches.
type CountMode uint8

// The count modes.
const (
	// CountNone: no count.
	CountNone CountMode = iota
	// CountExact: count(*) over the filter, in the same statement as the
	// page.
	CountExact
	// CountEstimated: the planner's estimate; without a filter, the
	// table's statistics scaled to its current size.
	CountEstimated
)

// QueryParams are the arguments of Query.
type QueryParams struct {
	Collection string
	// Filter is a CEL expression over the collection's fields; "" for all.
	Filter string
	// Sort lists fields, each optionally prefixed with "-" for descending;
	// at most MaxSortFields. The id always breaks ties. Default ["id"].
	// Ascending puts nulls last and descending puts them first, so a null
	// sorts as if above every value.
	Sort []string
	// Limit is the page size, 1 to MaxLimit; 0 means DefaultLimit.
	Limit int
	// Cursor is the NextCursor of the previous page of the same query.
	Cursor string
	// Fields and Expand are as in GetParams.
	Fields []string
	Expand []string
	// Count asks for the total number of matches.
	Count CountMode
}

// QueryResult is one page of a query.
type QueryResult struct {
	Records []Record
	// NextCursor fetches the next page; "" on the last.
	NextCursor string
	// Counted is true when a count was asked for; Total is then the count
	// and TotalEstimated says whether it is the planner's estimate.
	Counted        bool
	Total          int64
	TotalEstimated bool
}

// Query filters, sorts and pages through a collection.
//
// A page is one statement: the filter, the keyset condition that continues
// after the cursor's row, ORDER BY with the id last, and LIMIT one more than
// the page, so that the extra row tells whether there is a next page. An
// exact count is the same statement (a count(*) over the filter joined to
// the page); an estimated count without a filter too (pg_class statistics).
// An estimated count with a filter asks the planner in a second statement
// (EXPLAIN), as does each expanded relation.
func (s *Service) Query(ctx context.Context, id tenantdb.Identity, p QueryParams) (QueryResult, error) {
	c, err := s.collection(ctx, id, p.Collection)
	if err != nil {
		return QueryResult{}, err
	}
	limit := p.Limit
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit < 0 || limit > MaxLimit:
		return QueryResult{}, invalidf("limit: must be 1 to %d (the page size limit), got %d", MaxLimit, p.Limit)
	}
	keys, err := parseSort(c, p.Sort)
	if err != nil {
		return QueryResult{}, err
	}
	sel, err := selection(c, p.Fields, p.Expand)
	if err != nil {
		return QueryResult{}, err
	}
	expand, err := expandFields(c, p.Expand)
	if err != nil {
		return QueryResult{}, err
	}
	for _, k := range keys {
		sel.need(k.col)
	}
	acc, err := s.access(id, c)
	if err != nil {
		return QueryResult{}, err
	}
	var filterArgs []any
	where := "true"
	if strings.TrimSpace(p.Filter) != "" {
		compiled, err := s.filters.compiled(c, p.Filter)
		if err != nil {
			return QueryResult{}, filterError(err)
		}
		where = "(" + compiled.SQL + ")"
		filterArgs = compiled.Args
	}
	// The list rule joins the filter: pages, counts and estimates see
	// only what the caller may list.
	rule, ruleArgs := acc.where(filter.MethodList, len(filterArgs))
	where += rule
	filterArgs = append(filterArgs, ruleArgs...)
	args := slices.Clone(filterArgs)
	hash := queryHash(c.Name, p.Filter, keys)
	keyset := "true"
	if p.Cursor != "" {
		vals, err := decodeCursor(p.Cursor, hash, keys)
		if err != nil {
			return QueryResult{}, err
		}
		keyset, args = keysetCondition(keys, vals, args)
	}
	tbl := table(id.TenantRef, c)
	args = append(args, limit+1)
	page := "SELECT " + selectList(sel.read) + " FROM " + tbl + " WHERE " + where + " AND " + keyset +
		" ORDER BY " + orderBy(keys, "") + " LIMIT $" + strconv.Itoa(len(args))

	var (
		sql   = page
		total *int64
		res   QueryResult
	)
	switch {
	case p.Count == CountExact:
		sql = "SELECT c.total, p.* FROM (SELECT count(*) AS total FROM " + tbl + " WHERE " + where + ") AS c" +
			" LEFT JOIN LATERAL (" + page + ") AS p ON true ORDER BY " + orderBy(keys, "p")
		total = new(int64)
	case p.Count == CountEstimated && where == "true":
		// The planner's own arithmetic: tuples per page at the last ANALYZE
		// times the pages now. Never analyzed (or empty then): count.
		args = append(args, tbl)
		reg := "$" + strconv.Itoa(len(args)) + "::regclass"
		sql = "SELECT c.total, p.* FROM (SELECT CASE WHEN k.reltuples < 0 OR k.relpages = 0 THEN (SELECT count(*) FROM " + tbl + ")" +
			" ELSE (k.reltuples / k.relpages * (pg_relation_size(k.oid) / current_setting('block_size')::bigint))::bigint END AS total" +
			" FROM pg_class AS k WHERE k.oid = " + reg + ") AS c" +
			" LEFT JOIN LATERAL (" + page + ") AS p ON true ORDER BY " + orderBy(keys, "p")
		total = new(int64)
		res.TotalEstimated = true
	}
	err = s.db.Read(ctx, id, func(rows pgx.Rows) error {
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				return err
			}
			if total != nil {
				n, _ := vals[0].(int64)
				*total = n
				vals = vals[1:]
				if vals[0] == nil { // the LEFT JOIN's row of an empty page
					continue
				}
			}
			res.Records = append(res.Records, toRecord(sel.read, vals))
		}
		return rows.Err()
	}, sql, args...)
	if err != nil {
		return QueryResult{}, s.readError(c, err)
	}
	if p.Count == CountEstimated && total == nil {
		n, err := s.estimate(ctx, id, tbl, where, filterArgs)
		if err != nil {
			return QueryResult{}, s.readError(c, err)
		}
		total = &n
		res.TotalEstimated = true
	}
	if total != nil {
		res.Counted = true
		res.Total = *total
	}
	if len(res.Records) > limit {
		res.Records = res.Records[:limit]
		res.NextCursor = encodeCursor(hash, keys, res.Records[limit-1])
	}
	if err := s.expand(ctx, id, expand, res.Records); err != nil {
		return QueryResult{}, err
	}
	for _, r := range res.Records {
		sel.trim(r)
	}
	if res.Records == nil {
		res.Records = []Record{}
	}
	return res, nil
}

// estimate asks the planner how many rows match where.
func (s *Service) estimate(ctx context.Context, id tenantdb.Identity, tbl, where string, args []any) (int64, error) {
	var plan []byte
	err := s.db.Read(ctx, id, func(rows pgx.Rows) error {
		if rows.Next() {
			return rows.Scan(&plan)
		}
		return rows.Err()
	}, "EXPLAIN (FORMAT JSON) SELECT 1 FROM "+tbl+" WHERE "+where, args...)
	if err != nil {
		return 0, err
	}
	var out []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	if err := json.Unmarshal(plan, &out); err != nil || len(out) == 0 {
		return 0, fmt.Errorf("records: read query plan: %v", err)
	}
	return int64(out[0].Plan.Rows), nil
}

// readError maps errors of a read to *Error where the client is at fault.
func (s *Service) readError(c *schema.Collection, err error) error {
	mapped := mapPgError(c, err)
	var re *Error
	if errors.As(mapped, &re) {
		return re
	}
	return fmt.Errorf("records: read: %w", err)
}

func filterError(err error) error {
	var fe *filter.Error
	if errors.As(err, &fe) {
		return &Error{Kind: KindInvalid, Msg: fe.Error()}
	}
	return fmt.Errorf("records: compile filter: %w", err)
}

// sortKey is one ORDER BY term.
type sortKey struct {
	col  column
	desc bool
}

// parseSort checks the sort fields and appends the id as the final
// tie-breaker (fields after an explicit id could never matter and are
// dropped).
func parseSort(c *schema.Collection, sort []string) ([]sortKey, error) {
	if len(sort) > MaxSortFields {
		return nil, invalidf("sort: %d fields, over the limit of %d", len(sort), MaxSortFields)
	}
	var keys []sortKey
	seen := map[string]bool{}
	for _, s := range sort {
		name, desc := strings.CutPrefix(s, "-")
		col, ok := columnOf(c, name)
		if !ok {
			return nil, invalidf("sort: unknown field %q of collection %q", name, c.Name)
		}
		switch col.typ {
		case schema.JSON, schema.Vector:
			return nil, invalidf("sort: cannot sort by %s field %q", col.typ, name)
		}
		if seen[name] {
			return nil, invalidf("sort: field %q appears twice", name)
		}
		seen[name] = true
		keys = append(keys, sortKey{col: col, desc: desc})
		if name == schema.FieldID {
			return keys, nil
		}
	}
	return append(keys, sortKey{col: systemColumns[0]}), nil
}

func columnOf(c *schema.Collection, name string) (column, bool) {
	for _, sc := range systemColumns {
		if sc.name == name {
			return sc, true
		}
	}
	if f, ok := c.Field(name); ok {
		return column{f.Name, f.Type}, true
	}
	return column{}, false
}

// orderBy is the ORDER BY list, the columns qualified with alias when set.
// Nulls sort last ascending and first descending (PostgreSQL's default),
// as if a null were above every value.
func orderBy(keys []sortKey, alias string) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		col := ident(k.col.name)
		if alias != "" {
			col = alias + "." + col
		}
		if k.desc {
			parts[i] = col + " DESC NULLS FIRST"
		} else {
			parts[i] = col + " ASC NULLS LAST"
		}
	}
	return strings.Join(parts, ", ")
}

// notNull reports whether a column can never hold null: the system fields.
func notNull(col column) bool { return isSystem(col.name) }

// keysetCondition is the condition for rows after the one whose sort
// values are vals, in the order of keys: the OR over i of "equal on keys
// before i and after on key i". With nulls above every value, "after" is
// "greater or null" ascending and "less" descending after a value; after a
// null it is nothing ascending and "not null" descending. The values are
// appended to args and referenced as parameters.
func keysetCondition(keys []sortKey, vals []any, args []any) (string, []any) {
	refs := make([]string, len(keys))
	for i, v := range vals {
		if v != nil {
			args = append(args, v)
			refs[i] = "$" + strconv.Itoa(len(args))
		}
	}
	var ors []string
	for i, k := range keys {
		col := ident(k.col.name)
		var after string
		switch {
		case !k.desc && vals[i] == nil:
			continue
		case !k.desc && notNull(k.col):
			after = col + " > " + refs[i]
		case !k.desc:
			after = "(" + col + " > " + refs[i] + " OR " + col + " IS NULL)"
		case vals[i] == nil:
			after = col + " IS NOT NULL"
		default:
			after = col + " < " + refs[i]
		}
		terms := make([]string, 0, i+1)
		for j := range i {
			if vals[j] == nil {
				terms = append(terms, ident(keys[j].col.name)+" IS NULL")
			} else {
				terms = append(terms, ident(keys[j].col.name)+" = "+refs[j])
			}
		}
		terms = append(terms, after)
		ors = append(ors, "("+strings.Join(terms, " AND ")+")")
	}
	if len(ors) == 0 {
		return "false", args
	}
	return "(" + strings.Join(ors, " OR ") + ")", args
}

// queryHash binds a cursor to its query: the collection, filter and sort.
func queryHash(collection, filterText string, keys []sortKey) []byte {
	h := sha256.New()
	h.Write([]byte(collection))
	h.Write([]byte{0})
	h.Write([]byte(filterText))
	for _, k := range keys {
		h.Write([]byte{0})
		if k.desc {
			h.Write([]byte("-"))
		}
		h.Write([]byte(k.col.name))
	}
	return h.Sum(nil)[:12]
}

// cursorBody is a cursor before base64url: the query hash and the last
// row's sort values, ending with its id.
type cursorBody struct {
	H []byte `json:"h"`
	V []any  `json:"v"`
}

func encodeCursor(hash []byte, keys []sortKey, last Record) string {
	body := cursorBody{H: hash, V: make([]any, len(keys))}
	for i, k := range keys {
		v := last[k.col.name]
		if t, ok := v.(time.Time); ok {
			v = t.UTC().Format(time.RFC3339Nano)
		}
		body.V[i] = v
	}
	b, _ := json.Marshal(body)
	return base64.RawURLEncoding.EncodeToString(b)
}

var errCursor = &Error{Kind: KindInvalid, Msg: "cursor: not a cursor of this query; pass the next_cursor of the previous page, with the same collection, filter and sort"}

func decodeCursor(s string, hash []byte, keys []sortKey) ([]any, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errCursor
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var body cursorBody
	if err := dec.Decode(&body); err != nil || len(body.V) != len(keys) {
		return nil, errCursor
	}
	if !bytes.Equal(body.H, hash) {
		return nil, &Error{Kind: KindInvalid, Msg: "cursor: it belongs to another query; a cursor works only with the collection, filter and sort it came from"}
	}
	vals := make([]any, len(keys))
	for i, k := range keys {
		v, err := cursorValue(k.col, body.V[i])
		if err != nil {
			return nil, errCursor
		}
		vals[i] = v
	}
	if vals[len(vals)-1] == nil { // the id
		return nil, errCursor
	}
	return vals, nil
}

// cursorValue turns a cursor's JSON value back into the column's parameter.
func cursorValue(col column, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch col.typ {
	case schema.Integer:
		n, ok := v.(json.Number)
		if !ok {
			return nil, errCursor
		}
		return n.Int64()
	case schema.Number:
		n, ok := v.(json.Number)
		if !ok {
			return nil, errCursor
		}
		return n.Float64()
	case schema.Timestamp:
		s, ok := v.(string)
		if !ok {
			return nil, errCursor
		}
		return time.Parse(time.RFC3339Nano, s)
	case schema.Relation:
		s, ok := v.(string)
		if !ok {
			return nil, errCursor
		}
		return parseID(s)
	case schema.Boolean:
		b, ok := v.(bool)
		if !ok {
			return nil, errCursor
		}
		return b, nil
	case schema.Text, schema.File:
		s, ok := v.(string)
		if !ok {
			return nil, errCursor
		}
		return s, nil
	}
	return nil, errCursor
}

// selected is which columns a read fetches and which of them it returns.
type selected struct {
	read []column
	// keep is the user fields to return; nil for all.
	keep map[string]bool
}

// selection checks fields and plans the columns to read: the system fields,
// the selected user fields and the relations to expand.
func selection(c *schema.Collection, fields, expand []string) (selected, error) {
	if len(fields) == 0 {
		return selected{read: allColumns(c)}, nil
	}
	sel := selected{read: slices.Clone(systemColumns), keep: map[string]bool{}}
	for _, name := range fields {
		if isSystem(name) {
			continue
		}
		f, ok := c.Field(name)
		if !ok {
			return selected{}, invalidf("fields: unknown field %q of collection %q", name, c.Name)
		}
		sel.keep[name] = true
		sel.need(column{f.Name, f.Type})
	}
	for _, name := range expand {
		if f, ok := c.Field(name); ok {
			sel.need(column{f.Name, f.Type})
		}
	}
	return sel, nil
}

// need adds col to the columns read.
func (s *selected) need(col column) {
	if !slices.ContainsFunc(s.read, func(c column) bool { return c.name == col.name }) {
		s.read = append(s.read, col)
	}
}

// trim drops the columns read only for sorting or expanding.
func (s *selected) trim(rec Record) {
	if s.keep == nil {
		return
	}
	for _, col := range s.read {
		if !isSystem(col.name) && !s.keep[col.name] {
			delete(rec, col.name)
		}
	}
}

// expandFields checks the relation fields to expand.
func expandFields(c *schema.Collection, names []string) ([]schema.Field, error) {
	var out []schema.Field
	for _, name := range names {
		f, ok := c.Field(name)
		if !ok {
			return nil, invalidf("expand: unknown field %q of collection %q", name, c.Name)
		}
		if f.Type != schema.Relation {
			return nil, invalidf("expand: field %q is a %s, not a relation", name, f.Type)
		}
		if !slices.ContainsFunc(out, func(o schema.Field) bool { return o.Name == name }) {
			out = append(out, f)
		}
	}
	return out, nil
}

// expand embeds the target records of fields into recs, one read per field.
func (s *Service) expand(ctx context.Context, id tenantdb.Identity, fields []schema.Field, recs []Record) error {
	if len(fields) == 0 || len(recs) == 0 {
		return nil
	}
	for _, r := range recs {
		r[expandKey] = map[string]any{}
	}
	for _, f := range fields {
		var ids []string
		for _, r := range recs {
			if v, ok := r[f.Name].(string); ok && !slices.Contains(ids, v) {
				ids = append(ids, v)
			}
		}
		targets := map[string]Record{}
		if len(ids) > 0 {
			tc, err := s.collection(ctx, id, f.Collection)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			var rule string
			var ruleArgs []any
			if tc != nil {
				// Targets show only as the target collection's view rule
				// allows; the others (all of them, when it has no rules)
				// expand to null, as a missing target does.
				acc, err := s.access(id, tc)
				var re *Error
				if errors.As(err, &re) && re.Kind == KindDenied {
					tc = nil
				} else if err != nil {
					return err
				} else {
					rule, ruleArgs = acc.where(filter.MethodView, 1)
				}
			}
			if tc != nil {
				cols := allColumns(tc)
				err = s.db.Read(ctx, id, func(rows pgx.Rows) error {
					for rows.Next() {
						vals, err := rows.Values()
						if err != nil {
							return err
						}
						rec := toRecord(cols, vals)
						targets[rec[schema.FieldID].(string)] = rec
					}
					return rows.Err()
				}, "SELECT "+selectList(cols)+" FROM "+table(id.TenantRef, tc)+` WHERE "id" = ANY($1)`+rule, append([]any{ids}, ruleArgs...)...)
				if err != nil {
					return s.readError(tc, err)
				}
			}
		}
		for _, r := range recs {
			var target any
			if v, ok := r[f.Name].(string); ok {
				if t, ok := targets[v]; ok {
					target = t
				}
			}
			r[expandKey].(map[string]any)[f.Name] = target
		}
	}
	return nil
}
