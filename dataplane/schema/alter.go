package schema

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// AlterOp is one change of an Alter call: exactly one of its fields is
// set. An Alter applies its ops in order, in one transaction, all or
// nothing, and records each op that changed something as one entry of the
// history. An op that asks for what is already so (making a required field
// required, setting the default it has) changes nothing and is not
// recorded, so that a retried Alter succeeds.
//
// A field's type cannot be changed (there is no such op): add a field of
// the new type, copy the values over with records calls, and drop the old
// one. That holds for relations too: their target collection is fixed.
type AlterOp struct {
	// AddField adds a field. A required field without a default cannot be
	// added to a collection that has records (PreconditionError): add it
	// with a default, or add it optional, fill it in, then SetRequired.
	AddField *Field
	// RenameField renames a field; its data, constraints and indexes stay.
	// Indexes and constraints keep the names they were given.
	RenameField *RenameField
	// DropField drops the named field with its data, and with every index
	// that covers it (the history entry lists them): an index without one
	// of its fields would index something else.
	DropField string
	// SetRequired makes a field required or optional. Making it required
	// fails (PreconditionError, with the count) while records lack a value.
	SetRequired *SetRequired
	// SetUnique makes a field unique or not. Making it unique fails
	// (PreconditionError) while two records share a value. json and vector
	// fields cannot be unique.
	SetUnique *SetUnique
	// SetDefault sets or (with a nil Default) removes a field's default.
	// Records that exist keep their values.
	SetDefault *SetDefault
	// AddIndex adds an index; a unique one fails (PreconditionError) while
	// two records share its values. An empty name is generated (IndexName).
	AddIndex *Index
	// DropIndex drops the named index.
	DropIndex string
}

// RenameField renames field From to To.
type RenameField struct {
	From string
	To   string
}

// SetRequired makes Field required or optional.
type SetRequired struct {
	Field    string
	Required bool
}

// SetUnique makes Field unique or not.
type SetUnique struct {
	Field  string
	Unique bool
}

// SetDefault sets Field's default; nil removes it.
type SetDefault struct {
	Field   string
	Default any
}

// count is how many of its fields are set.
func (op AlterOp) count() int {
	n := 0
	for _, set := range []bool{op.AddField != nil, op.RenameField != nil, op.DropField != "",
		op.SetRequired != nil, op.SetUnique != nil, op.SetDefault != nil, op.AddIndex != nil, op.DropIndex != ""} {
		if set {
			n++
		}
	}
	return n
}

// alteration applies the ops of one Alter to c and its table.
type alteration struct {
	tx *changeTx
	c  *Collection
	// names are the tenant's collections, for relation targets.
	names   map[string]bool
	changed bool
}

func (a *alteration) table() string { return tenantdb.Table(a.tx.ref, a.c.Name) }

// userField returns the index of user field name in a.c, or an *InputError
// for path.
func (a *alteration) userField(path, name string) (int, error) {
	for i, f := range a.c.Fields {
		if f.Name == name {
			return i, nil
		}
	}
	if IsSystemField(name) {
		return -1, inputErr(path, "%s is a system field and cannot be changed", name)
	}
	if name == "" {
		return -1, inputErr(path, "a field name is required")
	}
	return -1, inputErr(path, "collection %s has no field %q", a.c.Name, name)
}

// run executes one op's statements and records it.
func (a *alteration) run(path, desc string, stmts []string) error {
	if err := a.tx.exec(path, stmts); err != nil {
		return err
	}
	a.changed = true
	return a.tx.record(a.c.Name, ChangeAlter, desc, stmts)
}

// scalar runs a query returning one integer, for the checks ops make
// against the data.
func (a *alteration) scalar(sql string, args ...any) (int64, error) {
	var n int64
	if err := a.tx.q.QueryRow(a.tx.ctx, sql, args...).Scan(&n); err != nil {
		if isCode(err, "55P03") {
			return 0, ErrBusy
		}
		return 0, fmt.Errorf("check records: %w", err)
	}
	return n, nil
}

func (a *alteration) apply(path string, op AlterOp) error {
	switch {
	case op.AddField != nil:
		return a.addField(path+".add_field", *op.AddField)
	case op.RenameField != nil:
		return a.renameField(path+".rename_field", *op.RenameField)
	case op.DropField != "":
		return a.dropField(path+".drop_field", op.DropField)
	case op.SetRequired != nil:
		return a.setRequired(path+".set_required", *op.SetRequired)
	case op.SetUnique != nil:
		return a.setUnique(path+".set_unique", *op.SetUnique)
	case op.SetDefault != nil:
		return a.setDefault(path+".set_default", *op.SetDefault)
	case op.AddIndex != nil:
		return a.addIndex(path+".add_index", *op.AddIndex)
	default:
		return a.dropIndex(path+".drop_index", op.DropIndex)
	}
}

func (a *alteration) addField(path string, f Field) error {
	f, err := checkField(path, f)
	if err != nil {
		return err
	}
	if _, exists := a.c.Field(f.Name); exists {
		return inputErr(path+".name", "collection %s already has a field %q", a.c.Name, f.Name)
	}
	if len(a.c.Fields) >= MaxFields {
		return inputErr(path, "a collection has at most %d fields", MaxFields)
	}
	if f.Type == Relation && f.Collection != a.c.Name && !a.names[f.Collection] {
		return &InputError{Field: path + ".collection", Reason: fmt.Sprintf("no collection %q to relate to", f.Collection), Err: ErrNotFound}
	}
	if f.Required && f.Default == nil {
		n, err := a.scalar("SELECT count(*) FROM (SELECT 1 FROM " + a.table() + " LIMIT 1) AS r")
		if err != nil {
			return err
		}
		if n > 0 {
			return &PreconditionError{Field: path, Reason: fmt.Sprintf(
				"collection %s has records, so required field %s needs a default to give them; add it with a default, or add it optional, fill it in and then make it required",
				a.c.Name, f.Name)}
		}
	}
	col, err := a.tx.column(a.c.Name, f)
	if err != nil {
		return err
	}
	a.c.Fields = append(a.c.Fields, f)
	return a.run(path, "add field "+describeField(f), []string{"ALTER TABLE " + a.table() + " ADD COLUMN " + col})
}

func (a *alteration) renameField(path string, r RenameField) error {
	i, err := a.userField(path+".from", r.From)
	if err != nil {
		return err
	}
	if r.To == r.From {
		return nil
	}
	if p := nameProblem("field", r.To); p != "" {
		return &InputError{Field: path + ".to", Reason: p}
	}
	if _, exists := a.c.Field(r.To); exists {
		return inputErr(path+".to", "collection %s already has a field %q", a.c.Name, r.To)
	}
	if err := a.notInRules(path, r.From, "renamed"); err != nil {
		return err
	}
	a.c.Fields[i].Name = r.To
	for j := range a.c.Indexes {
		for k, name := range a.c.Indexes[j].Fields {
			if name == r.From {
				a.c.Indexes[j].Fields[k] = r.To
			}
		}
	}
	return a.run(path, fmt.Sprintf("rename field %s to %s", r.From, r.To),
		[]string{"ALTER TABLE " + a.table() + " RENAME COLUMN " + ident(r.From) + " TO " + ident(r.To)})
}

func (a *alteration) dropField(path, name string) error {
	i, err := a.userField(path, name)
	if err != nil {
		return err
	}
	if err := a.notInRules(path, name, "dropped"); err != nil {
		return err
	}
	var (
		stmts   []string
		dropped []string
		keep    []Index
	)
	for _, ix := range a.c.Indexes {
		if slices.Contains(ix.Fields, name) {
			stmts = append(stmts, "DROP INDEX "+tenantdb.Table(a.tx.ref, ix.Name))
			dropped = append(dropped, ix.Name)
			continue
		}
		keep = append(keep, ix)
	}
	a.c.Indexes = keep
	a.c.Fields = slices.Delete(a.c.Fields, i, i+1)
	desc := "drop field " + name + " and its values"
	if len(dropped) > 0 {
		desc += ", with index " + strings.Join(dropped, ", ")
	}
	stmts = append(stmts, "ALTER TABLE "+a.table()+" DROP COLUMN "+ident(name))
	return a.run(path, desc, stmts)
}

// notInRules refuses to drop or rename a field that access rules read: the
// rules would no longer compile, and their policies would read another
// column or none.
func (a *alteration) notInRules(path, field, what string) error {
	if r := ruleReading(a.c, field); r != "" {
		return &PreconditionError{Field: path, Reason: fmt.Sprintf(
			"field %s cannot be %s: the access rules of collection %s read it: %s; set rules that do not read it first",
			field, what, a.c.Name, r)}
	}
	return nil
}

func (a *alteration) setRequired(path string, r SetRequired) error {
	i, err := a.userField(path+".field", r.Field)
	if err != nil {
		return err
	}
	f := &a.c.Fields[i]
	if f.Required == r.Required {
		return nil
	}
	col := ident(f.Name)
	if !r.Required {
		f.Required = false
		return a.run(path, "make field "+f.Name+" optional",
			[]string{"ALTER TABLE " + a.table() + " ALTER COLUMN " + col + " DROP NOT NULL"})
	}
	n, err := a.scalar("SELECT count(*) FROM " + a.table() + " WHERE " + col + " IS NULL")
	if err != nil {
		return err
	}
	if n > 0 {
		return &PreconditionError{Field: path, Reason: fmt.Sprintf(
			"%d %s of collection %s %s no value for field %s; give %s a value before making it required (a default applies only to new records)",
			n, plural(n, "record", "records"), a.c.Name, plural(n, "has", "have"), f.Name, plural(n, "it", "them"))}
	}
	f.Required = true
	return a.run(path, "make field "+f.Name+" required",
		[]string{"ALTER TABLE " + a.table() + " ALTER COLUMN " + col + " SET NOT NULL"})
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (a *alteration) setUnique(path string, u SetUnique) error {
	i, err := a.userField(path+".field", u.Field)
	if err != nil {
		return err
	}
	f := &a.c.Fields[i]
	if f.Unique == u.Unique {
		return nil
	}
	if u.Unique && !canBeUnique(f.Type) {
		return inputErr(path+".unique", "%s fields cannot be unique", f.Type)
	}
	col := ident(f.Name)
	if !u.Unique {
		var conname string
		err := a.tx.q.QueryRow(a.tx.ctx, `
SELECT k.conname FROM pg_catalog.pg_constraint k
JOIN pg_catalog.pg_attribute t ON t.attrelid = k.conrelid AND t.attname = $2
WHERE k.conrelid = $1::regclass AND k.contype = 'u' AND k.conkey = ARRAY[t.attnum]
ORDER BY k.conname LIMIT 1`, a.table(), f.Name).Scan(&conname)
		if err != nil {
			return fmt.Errorf("find unique constraint of %s: %w", f.Name, err)
		}
		f.Unique = false
		return a.run(path, "let field "+f.Name+" repeat values (not unique)",
			[]string{"ALTER TABLE " + a.table() + " DROP CONSTRAINT " + ident(conname)})
	}
	n, err := a.scalar("SELECT count(*) FROM (SELECT " + col + " FROM " + a.table() + " WHERE " + col + " IS NOT NULL GROUP BY " + col + " HAVING count(*) > 1) AS d")
	if err != nil {
		return err
	}
	if n > 0 {
		return &PreconditionError{Field: path, Reason: fmt.Sprintf(
			"%d %s of field %s %s shared by more than one record of collection %s; make them distinct before making the field unique",
			n, plural(n, "value", "values"), f.Name, plural(n, "is", "are"), a.c.Name)}
	}
	name, err := a.tx.freeName([]string{a.c.Name, f.Name}, "key")
	if err != nil {
		return err
	}
	f.Unique = true
	return a.run(path, "make field "+f.Name+" unique",
		[]string{"ALTER TABLE " + a.table() + " ADD CONSTRAINT " + ident(name) + " UNIQUE (" + col + ")"})
}

func (a *alteration) setDefault(path string, d SetDefault) error {
	i, err := a.userField(path+".field", d.Field)
	if err != nil {
		return err
	}
	f := &a.c.Fields[i]
	v, err := normalizeDefault(f.Type, d.Default)
	if err != nil {
		return &InputError{Field: path + ".default", Reason: err.Error()}
	}
	if reflect.DeepEqual(v, f.Default) {
		return nil
	}
	f.Default = v
	col := ident(f.Name)
	if v == nil {
		return a.run(path, "remove the default of field "+f.Name,
			[]string{"ALTER TABLE " + a.table() + " ALTER COLUMN " + col + " DROP DEFAULT"})
	}
	lit, err := defaultSQL(f.Type, v)
	if err != nil {
		return err
	}
	return a.run(path, "set the default of field "+f.Name+" to "+describeValue(v),
		[]string{"ALTER TABLE " + a.table() + " ALTER COLUMN " + col + " SET DEFAULT " + lit})
}

func (a *alteration) addIndex(path string, ix Index) error {
	if len(a.c.Indexes) >= MaxIndexes {
		return inputErr(path, "a collection has at most %d indexes", MaxIndexes)
	}
	ix, err := checkIndex(path, a.c, ix)
	if err != nil {
		return err
	}
	if err := a.tx.nameIndex(path+".name", a.c.Name, &ix); err != nil {
		return err
	}
	a.c.Indexes = append(a.c.Indexes, ix)
	return a.run(path, "add "+describeIndex(ix), []string{indexSQL(a.tx.ref, a.c.Name, ix)})
}

func (a *alteration) dropIndex(path, name string) error {
	i := slices.IndexFunc(a.c.Indexes, func(ix Index) bool { return ix.Name == name })
	if i < 0 {
		return inputErr(path, "collection %s has no index %q", a.c.Name, name)
	}
	a.c.Indexes = slices.Delete(a.c.Indexes, i, i+1)
	return a.run(path, "drop index "+name, []string{"DROP INDEX " + tenantdb.Table(a.tx.ref, name)})
}
