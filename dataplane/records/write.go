package records

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sovereign-backend/sovereign/dataplane/filter"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// CreateParams are the arguments of Create.
type CreateParams struct {
	Collection string
	// Record holds the fields as JSON values; "id" may be given.
	Record map[string]any
}

// UpdateParams are the arguments of Update.
type UpdateParams struct {
	Collection string
	ID         string
	// Patch holds the fields to change; null clears one.
	Patch map[string]any
	// ExpectedVersion, when not 0, is the version the record must be at.
	ExpectedVersion int64
}

// ReplaceParams are the arguments of Replace.
type ReplaceParams struct {
	Collection string
	ID         string
	// Record holds every user field; those left out take their default or
	// null.
	Record map[string]any
	// ExpectedVersion, when not 0, is the version the record must be at.
	ExpectedVersion int64
}

// DeleteParams are the arguments of Delete.
type DeleteParams struct {
	Collection string
	ID         string
	// ExpectedVersion, when not 0, is the version the record must be at.
	ExpectedVersion int64
}

// UpsertParams are the arguments of Upsert.
type UpsertParams struct {
	Collection string
	// Record must carry "id" unless OnConflict is set.
	Record map[string]any
	// OnConflict names a unique field to match on instead of id; the
	// record must carry a value for it.
	OnConflict string
}

// Op is one operation of a batch: exactly one of its fields is set.
type Op struct {
	Create  *CreateParams
	Update  *UpdateParams
	Replace *ReplaceParams
	Delete  *DeleteParams
	Upsert  *UpsertParams
}

// OpResult is what one operation of a batch wrote.
type OpResult struct {
	// Record is the record as written; nil for a delete.
	Record Record
	// Created is true when an upsert inserted.
	Created bool
}

// Create inserts a record and returns it as stored.
func (s *Service) Create(ctx context.Context, id tenantdb.Identity, p CreateParams) (Record, error) {
	res, err := s.write(ctx, id, []Op{{Create: &p}}, false)
	if err != nil {
		return nil, err
	}
	return res[0].Record, nil
}

// Update changes the fields in p.Patch and returns the record as stored.
func (s *Service) Update(ctx context.Context, id tenantdb.Identity, p UpdateParams) (Record, error) {
	res, err := s.write(ctx, id, []Op{{Update: &p}}, false)
	if err != nil {
		return nil, err
	}
	return res[0].Record, nil
}

// Replace sets every user field and returns the record as stored.
func (s *Service) Replace(ctx context.Context, id tenantdb.Identity, p ReplaceParams) (Record, error) {
	res, err := s.write(ctx, id, []Op{{Replace: &p}}, false)
	if err != nil {
		return nil, err
	}
	return res[0].Record, nil
}

// Delete deletes a record.
func (s *Service) Delete(ctx context.Context, id tenantdb.Identity, p DeleteParams) error {
	_, err := s.write(ctx, id, []Op{{Delete: &p}}, false)
	return err
}

// Upsert inserts the record, or replaces the one with the same id (or the
// same value of p.OnConflict), and reports whether it inserted.
func (s *Service) Upsert(ctx context.Context, id tenantdb.Identity, p UpsertParams) (Record, bool, error) {
	res, err := s.write(ctx, id, []Op{{Upsert: &p}}, false)
	if err != nil {
		return nil, false, err
	}
	return res[0].Record, res[0].Created, nil
}

// Batch runs 1 to MaxBatchOps operations in one transaction: all are
// applied or none. An error names the failing operation ("ops[7]: …") and
// keeps its Kind.
func (s *Service) Batch(ctx context.Context, id tenantdb.Identity, ops []Op) ([]OpResult, error) {
	switch {
	case len(ops) == 0:
		return nil, invalidf("ops: a batch needs at least one operation")
	case len(ops) > MaxBatchOps:
		return nil, invalidf("ops: %d operations, over the limit of %d per batch", len(ops), MaxBatchOps)
	}
	res, err := s.write(ctx, id, ops, true)
	if err != nil {
		var oe *opError
		if errors.As(err, &oe) {
			return nil, oe.batchError()
		}
		return nil, err
	}
	return res, nil
}

// opError is the error of one operation of a write.
type opError struct {
	index int
	err   error
}

func (e *opError) Error() string { return fmt.Sprintf("ops[%d]: %v", e.index, e.err) }
func (e *opError) Unwrap() error { return e.err }

// batchError names the operation in the message while keeping the Kind.
func (e *opError) batchError() error {
	var re *Error
	if errors.As(e.err, &re) {
		return &Error{Kind: re.Kind, Msg: fmt.Sprintf("ops[%d]: %s", e.index, re.Msg)}
	}
	return e
}

// opKind is what a statement does.
type opKind uint8

const (
	opCreate opKind = iota
	opUpdate
	opReplace
	opDelete
	opUpsert
)

// stmt is one operation turned into SQL.
type stmt struct {
	kind     opKind
	coll     *schema.Collection
	sql      string
	args     []any
	table    string
	id       string // the addressed record (update, replace, delete)
	expected int64
	// verSQL and verArgs read the addressed record's version when the
	// statement matched no row, within what the caller's rule lets it see.
	verSQL  string
	verArgs []any
}

// write checks every operation, then runs them all in one transaction, as
// one pipeline. Errors of a batch's operations come back as *opError.
func (s *Service) write(ctx context.Context, id tenantdb.Identity, ops []Op, batch bool) ([]OpResult, error) {
	cols := &collections{s: s, id: id}
	stmts := make([]stmt, len(ops))
	for i, op := range ops {
		st, err := s.build(ctx, cols, op)
		if err != nil {
			return nil, opErr(batch, i, err)
		}
		stmts[i] = st
	}
	var (
		results []OpResult
		err     error
	)
	if len(stmts) == 1 {
		// One statement: BEGIN, the setup, the statement and COMMIT in
		// one round trip. Its success is the transaction's outcome; a
		// statement that matched no row wrote nothing, and why it missed
		// is read afterwards in a fresh transaction.
		err = s.db.Batch(ctx, id, queue(stmts), func(br pgx.BatchResults) error {
			res, missed, failure := readAll(br, stmts)
			if failure == nil && missed >= 0 {
				failure = &opError{index: missed, err: missAfterFailure{stmts[missed]}}
			}
			results = res
			return failure
		})
	} else {
		err = s.db.Tx(ctx, id, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
			var err error
			results, err = s.run(ctx, q, stmts)
			return err
		})
	}
	if err != nil {
		var oe *opError
		if errors.As(err, &oe) {
			var m missAfterFailure
			if errors.As(oe.err, &m) {
				// Rolled back now; the connection is free again.
				oe.err = s.missErrorFresh(ctx, id, m.st)
			}
			return nil, opErr(batch, oe.index, oe.err)
		}
		return nil, fmt.Errorf("records: write: %w", err)
	}
	if fn := s.onChange.Load(); fn != nil {
		// After the commit: tell the change feed which collections moved.
		names := make([]string, 0, 1)
		for _, st := range stmts {
			if !slices.Contains(names, st.coll.Name) {
				names = append(names, st.coll.Name)
			}
		}
		(*fn)(id.TenantRef, names...)
	}
	return results, nil
}

func opErr(batch bool, i int, err error) error {
	if !batch {
		return err
	}
	return &opError{index: i, err: err}
}

func (s *Service) build(ctx context.Context, cols *collections, op Op) (stmt, error) {
	switch {
	case op.Create != nil:
		c, err := cols.get(ctx, op.Create.Collection)
		if err != nil {
			return stmt{}, err
		}
		if err := mayCreate(cols, c); err != nil {
			return stmt{}, err
		}
		in, err := s.convertInput(c, op.Create.Record, modeCreate, "")
		if err != nil {
			return stmt{}, err
		}
		// The create rule is the insert policy's WITH CHECK: a record it
		// refuses fails the statement (mapPgError: KindDenied).
		return buildInsert(table(cols.id.TenantRef, c), c, in, ""), nil
	case op.Update != nil:
		return s.buildUpdate(ctx, cols, opUpdate, op.Update.Collection, op.Update.ID, op.Update.Patch, op.Update.ExpectedVersion)
	case op.Replace != nil:
		return s.buildUpdate(ctx, cols, opReplace, op.Replace.Collection, op.Replace.ID, op.Replace.Record, op.Replace.ExpectedVersion)
	case op.Delete != nil:
		p := op.Delete
		c, err := cols.get(ctx, p.Collection)
		if err != nil {
			return stmt{}, err
		}
		rid, err := parseID(p.ID)
		if err != nil {
			return stmt{}, err
		}
		if p.ExpectedVersion < 0 {
			return stmt{}, invalidf("expected_version: must be 0 (any) or a version, got %d", p.ExpectedVersion)
		}
		acc, err := cols.access(c)
		if err != nil {
			return stmt{}, err
		}
		tbl := table(cols.id.TenantRef, c)
		sql := "DELETE FROM " + tbl + ` WHERE "id" = $1`
		args := []any{rid}
		if p.ExpectedVersion != 0 {
			sql += ` AND "version" = $2`
			args = append(args, p.ExpectedVersion)
		}
		rule, ruleArgs := acc.where(filter.MethodDelete, len(args))
		args = append(args, ruleArgs...)
		st := stmt{kind: opDelete, coll: c, table: tbl, sql: sql + rule + ` RETURNING "id"`, args: args, id: rid, expected: p.ExpectedVersion}
		st.verSQL, st.verArgs = versionSQL(tbl, rid, acc, filter.MethodDelete)
		return st, nil
	case op.Upsert != nil:
		p := op.Upsert
		c, err := cols.get(ctx, p.Collection)
		if err != nil {
			return stmt{}, err
		}
		// An upsert is checked by the insert policy, and when it updates
		// by the update policy too.
		if err := mayCreate(cols, c); err != nil {
			return stmt{}, err
		}
		in, err := s.convertInput(c, p.Record, modeCreate, "")
		if err != nil {
			return stmt{}, err
		}
		target := schema.FieldID
		if p.OnConflict != "" && p.OnConflict != schema.FieldID {
			f, ok := c.Field(p.OnConflict)
			if !ok {
				return stmt{}, invalidf("on_conflict: unknown field %q of collection %q", p.OnConflict, c.Name)
			}
			if !isUnique(c, f) {
				return stmt{}, invalidf("on_conflict: field %q is not unique; name a unique field", f.Name)
			}
			if v, _ := p.Record[f.Name]; v == nil {
				return stmt{}, invalidf("%s: required to match on it (on_conflict)", f.Name)
			}
			target = f.Name
		} else if in.id == "" {
			return stmt{}, invalidf("id: required for an upsert without on_conflict")
		}
		return buildInsert(table(cols.id.TenantRef, c), c, in, target), nil
	}
	return stmt{}, invalidf("op: no operation set")
}

func (s *Service) buildUpdate(ctx context.Context, cols *collections, kind opKind, coll, id string, rec map[string]any, expected int64) (stmt, error) {
	c, err := cols.get(ctx, coll)
	if err != nil {
		return stmt{}, err
	}
	rid, err := parseID(id)
	if err != nil {
		return stmt{}, err
	}
	if expected < 0 {
		return stmt{}, invalidf("expected_version: must be 0 (any) or a version, got %d", expected)
	}
	mode := modePatch
	if kind == opReplace {
		mode = modeReplace
	}
	acc, err := cols.access(c)
	if err != nil {
		return stmt{}, err
	}
	in, err := s.convertInput(c, rec, mode, rid)
	if err != nil {
		return stmt{}, err
	}
	tbl := table(cols.id.TenantRef, c)
	var b strings.Builder
	b.WriteString("UPDATE " + tbl + " SET ")
	args := []any{rid}
	for i, f := range in.fields {
		args = append(args, in.values[i])
		fmt.Fprintf(&b, "%s = $%d, ", ident(f.Name), len(args))
	}
	b.WriteString(`"updated_at" = now(), "version" = "version" + 1 WHERE "id" = $1`)
	if expected != 0 {
		args = append(args, expected)
		fmt.Fprintf(&b, ` AND "version" = $%d`, len(args))
	}
	// The update rule reads the row as it is; the update policy's WITH
	// CHECK checks it as it becomes (mapPgError: KindDenied).
	rule, ruleArgs := acc.where(filter.MethodUpdate, len(args))
	b.WriteString(rule)
	args = append(args, ruleArgs...)
	b.WriteString(" RETURNING " + selectList(allColumns(c)))
	st := stmt{kind: kind, coll: c, table: tbl, sql: b.String(), args: args, id: rid, expected: expected}
	st.verSQL, st.verArgs = versionSQL(tbl, rid, acc, filter.MethodUpdate)
	return st, nil
}

// mayCreate refuses a create (or upsert) on a collection that has no create
// rule, for callers other than the service role.
func mayCreate(cols *collections, c *schema.Collection) error {
	acc, err := cols.access(c)
	if err != nil {
		return err
	}
	if !acc.may(filter.MethodCreate) {
		return &Error{Kind: KindDenied, Msg: fmt.Sprintf("collection %q has no create rule: only a secret key may create its records", c.Name)}
	}
	return nil
}

// buildInsert is an INSERT, or with conflictOn an upsert on that column.
func buildInsert(tbl string, c *schema.Collection, in input, conflictOn string) stmt {
	id := in.id
	if id == "" {
		id = uuid.Must(uuid.NewV7()).String()
	}
	names := []string{`"id"`, `"created_at"`, `"updated_at"`, `"version"`}
	vals := []string{"$1", "now()", "now()", "1"}
	args := []any{id}
	for i, f := range in.fields {
		args = append(args, in.values[i])
		names = append(names, ident(f.Name))
		vals = append(vals, "$"+strconv.Itoa(len(args)))
	}
	sql := "INSERT INTO " + tbl + " AS r (" + strings.Join(names, ", ") + ") VALUES (" + strings.Join(vals, ", ") + ")"
	kind := opCreate
	returning := selectList(allColumns(c))
	if conflictOn != "" {
		kind = opUpsert
		set := make([]string, 0, len(in.fields)+2)
		for _, f := range in.fields {
			set = append(set, ident(f.Name)+" = EXCLUDED."+ident(f.Name))
		}
		set = append(set, `"updated_at" = now()`, `"version" = r."version" + 1`)
		sql += " ON CONFLICT (" + ident(conflictOn) + ") DO UPDATE SET " + strings.Join(set, ", ")
		returning += ", (r.xmax = 0) AS created"
	}
	return stmt{kind: kind, coll: c, table: tbl, sql: sql + " RETURNING " + returning, args: args, id: id}
}

// isUnique reports whether f alone is unique: by its flag or a unique index
// on it alone.
func isUnique(c *schema.Collection, f schema.Field) bool {
	if f.Unique {
		return true
	}
	for _, ix := range c.Indexes {
		if ix.Unique && len(ix.Fields) == 1 && ix.Fields[0] == f.Name {
			return true
		}
	}
	return false
}

// table is the collection's table, named with the tenant's schema.
func table(ref string, c *schema.Collection) string { return tenantdb.Table(ref, c.Name) }

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func selectList(cols []column) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = ident(c.name)
	}
	return strings.Join(parts, ", ")
}

// run sends every statement in one pipeline, reads the results in order,
// and resolves an update or delete that matched no row into not found or a
// version conflict.
func (s *Service) run(ctx context.Context, q tenantdb.Querier, stmts []stmt) ([]OpResult, error) {
	br := q.SendBatch(ctx, queue(stmts))
	results, missed, failure := readAll(br, stmts)
	if err := br.Close(); err != nil && failure == nil {
		failure = fmt.Errorf("records: pipeline: %w", err)
	}
	if missed >= 0 {
		var oe *opError
		if failure == nil || (errors.As(failure, &oe) && oe.index > missed) {
			// The earlier miss is the error to report. After a later
			// failure the transaction is aborted, so look from a fresh one.
			st := stmts[missed]
			var err error = missAfterFailure{st}
			if failure == nil {
				err = missError(st, q.QueryRow(ctx, st.verSQL, st.verArgs...))
			}
			return nil, &opError{index: missed, err: err}
		}
	}
	if failure != nil {
		return nil, failure
	}
	return results, nil
}

// queue puts stmts in a batch, in order.
func queue(stmts []stmt) *pgx.Batch {
	b := &pgx.Batch{}
	for _, st := range stmts {
		b.Queue(st.sql, st.args...)
	}
	return b
}

// readAll reads the results of stmts from br: each statement's result,
// the index of the first that matched no row (-1 when none missed) and
// the first failure, as *opError with the PostgreSQL error mapped.
func readAll(br pgx.BatchResults, stmts []stmt) (results []OpResult, missed int, failure error) {
	results = make([]OpResult, len(stmts))
	missed = -1
	for i, st := range stmts {
		res, found, err := readResult(br, st)
		if err != nil {
			return results, missed, &opError{index: i, err: mapPgError(st.coll, err)}
		}
		if !found && missed < 0 {
			missed = i
		}
		results[i] = res
	}
	return results, missed, nil
}

// missAfterFailure is a statement that matched no row, followed by one that
// failed and so aborted the transaction: whether the record is missing or
// at another version is read after the rollback, in a fresh transaction.
type missAfterFailure struct{ st stmt }

func (missAfterFailure) Error() string { return "records: no row matched" }

// versionSQL reads the version of record rid of tbl, if the caller's rule
// for method lets it see the record at all: one it may not update or
// delete is not found, not in conflict.
func versionSQL(tbl, rid string, acc *access, method string) (string, []any) {
	rule, args := acc.where(method, 1)
	return `SELECT "version" FROM ` + tbl + ` WHERE "id" = $1` + rule, append([]any{rid}, args...)
}

// missError turns "no row matched" into not found or a version conflict,
// from the record's version as row holds it.
func missError(st stmt, row pgx.Row) error {
	var v int64
	err := row.Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound(st.coll, st.id)
	}
	if err != nil {
		return fmt.Errorf("records: read version: %w", err)
	}
	return &Error{Kind: KindConflict, Msg: fmt.Sprintf("version conflict: the record is at version %d, you sent %d; fetch it and retry", v, st.expected)}
}

func (s *Service) missErrorFresh(ctx context.Context, id tenantdb.Identity, st stmt) error {
	var out error
	err := s.db.Read(ctx, id, func(rows pgx.Rows) error {
		out = missError(st, rowOf{rows})
		return nil
	}, st.verSQL, st.verArgs...)
	if err != nil {
		return fmt.Errorf("records: read version: %w", err)
	}
	return out
}

// rowOf adapts the first row of rows to pgx.Row.
type rowOf struct{ rows pgx.Rows }

func (r rowOf) Scan(dest ...any) error {
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	return r.rows.Scan(dest...)
}

func notFound(c *schema.Collection, id string) error {
	return &Error{Kind: KindNotFound, Msg: fmt.Sprintf("record %s not found in collection %q", id, c.Name)}
}

// readResult reads one statement's result: the written record (none for a
// delete) and whether a row matched.
func readResult(br pgx.BatchResults, st stmt) (OpResult, bool, error) {
	rows, err := br.Query()
	if err != nil {
		return OpResult{}, false, err
	}
	defer rows.Close()
	var (
		res   OpResult
		found bool
	)
	if rows.Next() {
		found = true
		if st.kind != opDelete {
			vals, err := rows.Values()
			if err != nil {
				return OpResult{}, false, err
			}
			cols := allColumns(st.coll)
			res.Record = toRecord(cols, vals[:len(cols)])
			if st.kind == opUpsert {
				res.Created, _ = vals[len(cols)].(bool)
			}
		}
	}
	rows.Close()
	return res, found, rows.Err()
}

// toRecord builds a Record from values read for cols.
func toRecord(cols []column, vals []any) Record {
	rec := make(Record, len(cols))
	for i, c := range cols {
		rec[c.name] = outValue(c.typ, vals[i])
	}
	return rec
}

// PostgreSQL's messages for constraint violations: "Key (a, b)=(…) already
// exists." and "Key (a)=(…) is not present in table …".
var detailKey = regexp.MustCompile(`^Key \((.+?)\)=\(`)

// mapPgError turns the errors a client caused into *Error, naming the field.
func mapPgError(c *schema.Collection, err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case "23505": // unique_violation
		fields := constraintFields(c, pe)
		if len(fields) == 1 && fields[0] == schema.FieldID {
			return &Error{Kind: KindExists, Msg: "id: a record with this id already exists"}
		}
		if len(fields) == 0 {
			return &Error{Kind: KindExists, Msg: "a record with the same value of a unique field already exists"}
		}
		return &Error{Kind: KindExists, Msg: fmt.Sprintf("%s: a record with the same value already exists (the field is unique)", strings.Join(fields, ", "))}
	case "23503": // foreign_key_violation
		if pe.TableName != "" && pe.TableName != c.Name {
			// A delete (or id change) of a record others point at.
			return &Error{Kind: KindReferenced, Msg: fmt.Sprintf("the record is still referenced by records of collection %q; delete or change those first", pe.TableName)}
		}
		fields := constraintFields(c, pe)
		if len(fields) == 1 {
			if f, ok := c.Field(fields[0]); ok && f.Type == schema.Relation {
				return invalidf("%s: no record with this id in collection %q", f.Name, f.Collection)
			}
		}
		return invalidf("a relation field points to a record that does not exist")
	case "23502": // not_null_violation
		if pe.TableName != "" && pe.TableName != c.Name {
			// A delete whose ON DELETE SET NULL hits a required relation.
			return &Error{Kind: KindReferenced, Msg: fmt.Sprintf("the record is still referenced by records of collection %q through their required field %s; delete or change those first", pe.TableName, pe.ColumnName)}
		}
		if pe.ColumnName != "" {
			return invalidf("%s: required, cannot be null", pe.ColumnName)
		}
		return invalidf("a required field is null")
	case "23514": // check_violation
		return invalidf("the record breaks a rule of collection %q", c.Name)
	case "42501": // insufficient_privilege: a row-level-security policy refused a row
		if strings.Contains(pe.Message, "row-level security") {
			return &Error{Kind: KindDenied, Msg: fmt.Sprintf(
				"the access rules of collection %q do not allow this write (the record must pass the create or update rule, and be one the caller may list or view)", c.Name)}
		}
	case "42P01": // undefined_table: dropped meanwhile
		return &Error{Kind: KindNotFound, Msg: fmt.Sprintf("collection %q not found", c.Name)}
	case "42703": // undefined_column: a field dropped or renamed meanwhile
		return &Error{Kind: KindConflict, Msg: fmt.Sprintf("collection %q changed while the request ran; retry", c.Name)}
	}
	if strings.HasPrefix(pe.Code, "22") { // data_exception: a value out of range
		if pe.ColumnName != "" {
			return invalidf("%s: %s", pe.ColumnName, pe.Message)
		}
		return invalidf("invalid value: %s", pe.Message)
	}
	return err
}

// constraintFields names the fields of the constraint pe violated: from the
// collection's indexes and PostgreSQL's constraint names, else from the
// message detail.
func constraintFields(c *schema.Collection, pe *pgconn.PgError) []string {
	name := pe.ConstraintName
	if name != "" {
		if name == c.Name+"_pkey" {
			return []string{schema.FieldID}
		}
		for _, ix := range c.Indexes {
			if ix.Name == name {
				return ix.Fields
			}
		}
		for _, f := range c.Fields {
			if name == c.Name+"_"+f.Name+"_key" || name == c.Name+"_"+f.Name+"_fkey" {
				return []string{f.Name}
			}
		}
	}
	if m := detailKey.FindStringSubmatch(pe.Detail); m != nil {
		var out []string
		for part := range strings.SplitSeq(m[1], ", ") {
			part = strings.Trim(part, `"`)
			if _, ok := c.Field(part); ok || isSystem(part) {
				out = append(out, part)
			}
		}
		return out
	}
	return nil
}
