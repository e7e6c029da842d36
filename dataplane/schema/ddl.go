package schema

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// ServicePolicy is the name of the row-level-security policy every
// collection's table gets: it lets the service role (a secret API key) do
// everything. Access rules add policies of their own beside it, or replace
// it by this name.
const ServicePolicy = "service_all"

const serviceCheck = `current_setting('sovereign.role', true) = 'service'`

// ColumnType is the PostgreSQL type of f's column: text, bigint, double
// precision, boolean, timestamptz, jsonb, uuid (relation), real[] (vector)
// or text (file).
func ColumnType(f Field) string {
	switch f.Type {
	case Integer:
		return "bigint"
	case Number:
		return "double precision"
	case Boolean:
		return "boolean"
	case Timestamp:
		return "timestamptz"
	case JSON:
		return "jsonb"
	case Relation:
		return "uuid"
	case Vector:
		return "real[]"
	default: // text, file
		return "text"
	}
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// quoteLiteral renders s as a PostgreSQL string literal, as quote_literal
// does: quotes doubled and, when s holds a backslash, the E'…' form with
// backslashes doubled, so that the literal means s whatever
// standard_conforming_strings says. s must not contain NUL (validation
// refuses it; PostgreSQL text cannot hold it).
func quoteLiteral(s string) string {
	q := "'" + strings.ReplaceAll(s, "'", "''") + "'"
	if strings.Contains(s, `\`) {
		q = "E" + strings.ReplaceAll(q, `\`, `\\`)
	}
	return q
}

// defaultSQL renders a normalised default as a constant expression of the
// column's type. Values never reach SQL other than through strconv or
// quoteLiteral.
func defaultSQL(t FieldType, v any) (string, error) {
	switch t {
	case Text:
		return quoteLiteral(v.(string)), nil
	case Integer:
		return strconv.FormatInt(int64(v.(float64)), 10), nil
	case Number:
		return quoteLiteral(strconv.FormatFloat(v.(float64), 'g', -1, 64)) + "::double precision", nil
	case Boolean:
		return strconv.FormatBool(v.(bool)), nil
	case Timestamp:
		ts, err := time.Parse(time.RFC3339Nano, v.(string))
		if err != nil {
			return "", err
		}
		return quoteLiteral(ts.UTC().Format(time.RFC3339Nano)) + "::timestamptz", nil
	case JSON:
		b, err := json.Marshal(v)
		if err != nil {
			return "", err
		}
		return quoteLiteral(string(b)) + "::jsonb", nil
	}
	return "", fmt.Errorf("%s fields have no default", t)
}

// objectName builds a PostgreSQL object name from parts and a suffix
// ("idx", "key", "fkey", "check"): parts_suffix, or, when that passes 63
// bytes, its first bytes, an 8-hex-digit hash of the whole and the suffix,
// so that long names stay distinct and the same input always gives the
// same name.
func objectName(parts []string, suffix string) string {
	full := strings.Join(parts, "_") + "_" + suffix
	if len(full) <= MaxNameLen {
		return full
	}
	sum := sha256.Sum256([]byte(full))
	h := hex.EncodeToString(sum[:4])
	keep := MaxNameLen - len(suffix) - len(h) - 2
	return strings.TrimRight(full[:keep], "_") + "_" + h + "_" + suffix
}

// IndexName is the name an index on fields of collection gets when it is
// not given one: <collection>_<fields…>_idx, shortened as objectName says.
// When that name is taken in the project, the Store adds _2, _3, … before
// the suffix.
func IndexName(collection string, fields []string) string {
	return objectName(append([]string{collection}, fields...), "idx")
}

// columnDef is the column definition of f in table (of tenant ref) with
// its constraints, named by names (key: "key", "fkey", "check").
func columnDef(ref, table string, f Field, names map[string]string) (string, error) {
	var b strings.Builder
	col := ident(f.Name)
	b.WriteString(col + " " + ColumnType(f))
	if f.Required {
		b.WriteString(" NOT NULL")
	}
	if f.Default != nil {
		d, err := defaultSQL(f.Type, f.Default)
		if err != nil {
			return "", err
		}
		b.WriteString(" DEFAULT " + d)
	}
	if f.Unique {
		b.WriteString(" CONSTRAINT " + ident(names["key"]) + " UNIQUE")
	}
	if f.Type == Relation {
		fmt.Fprintf(&b, " CONSTRAINT %s REFERENCES %s (%s) ON DELETE SET NULL",
			ident(names["fkey"]), tenantdb.Table(ref, f.Collection), ident(FieldID))
	}
	if f.Type == Vector {
		fmt.Fprintf(&b, " CONSTRAINT %s CHECK (array_length(%s, 1) = %d)", ident(names["check"]), col, f.Dimensions)
	}
	return b.String(), nil
}

// constraintSuffixes are the constraints a field's column carries.
func constraintSuffixes(f Field) []string {
	var s []string
	if f.Unique {
		s = append(s, "key")
	}
	switch f.Type {
	case Relation:
		s = append(s, "fkey")
	case Vector:
		s = append(s, "check")
	}
	return s
}

// rlsSQL turns row-level security on and forces it for table, and adds
// ServicePolicy.
func rlsSQL(tbl string) []string {
	return []string{
		"ALTER TABLE " + tbl + " ENABLE ROW LEVEL SECURITY",
		"ALTER TABLE " + tbl + " FORCE ROW LEVEL SECURITY",
		"CREATE POLICY " + ident(ServicePolicy) + " ON " + tbl + " USING (" + serviceCheck + ") WITH CHECK (" + serviceCheck + ")",
	}
}

func indexSQL(ref, table string, ix Index) string {
	cols := make([]string, len(ix.Fields))
	for i, f := range ix.Fields {
		cols[i] = ident(f)
	}
	unique := ""
	if ix.Unique {
		unique = "UNIQUE "
	}
	return fmt.Sprintf("CREATE %sINDEX %s ON %s (%s)", unique, ident(ix.Name), tenantdb.Table(ref, table), strings.Join(cols, ", "))
}

// describeField is a field for people: "title (text, required, unique,
// default \"x\")".
func describeField(f Field) string {
	var attrs []string
	switch f.Type {
	case Relation:
		attrs = append(attrs, "relation to "+f.Collection)
	case Vector:
		attrs = append(attrs, fmt.Sprintf("vector(%d)", f.Dimensions))
	default:
		attrs = append(attrs, string(f.Type))
	}
	if f.Required {
		attrs = append(attrs, "required")
	}
	if f.Unique {
		attrs = append(attrs, "unique")
	}
	if f.Default != nil {
		attrs = append(attrs, "default "+describeValue(f.Default))
	}
	return f.Name + " (" + strings.Join(attrs, ", ") + ")"
}

func describeValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	const max = 80
	if len(b) > max {
		return strings.ToValidUTF8(string(b[:max]), "") + "…"
	}
	return string(b)
}

func describeIndex(ix Index) string {
	kind := "index"
	if ix.Unique {
		kind = "unique index"
	}
	return fmt.Sprintf("%s %s on (%s)", kind, ix.Name, strings.Join(ix.Fields, ", "))
}

// Change capture (the realtime change feed's transactional outbox).
//
// Every collection's table has an AFTER INSERT OR UPDATE OR DELETE row
// trigger that appends the change to ChangesTable in the writing
// transaction, at the next position of the collection in ChangeHeadsTable.
// The upsert of the head row takes its row lock, held until the writing
// transaction ends, so the writers of one collection serialise from their
// first change to their commit: positions are gapless and in commit order,
// and a reader that sees position n committed has seen every position
// below it. The trigger is platform plumbing like the metadata tables: it
// is not part of the schema history (an exported history rebuilds the
// collections without it). Package realtime reads the log.
const (
	// ChangesTable holds the captured changes: collection, pos, op
	// (insert, update, delete), record (to_jsonb of the new row, or of the
	// old one for a delete), old (the old row of an update) and at.
	ChangesTable = "_changes"
	// ChangeHeadsTable holds each collection's last position and the
	// position up to which its changes were purged. A dropped collection
	// keeps its row, so positions continue when it is created again.
	ChangeHeadsTable = "_change_heads"
	// captureFunction is the trigger function, captureTrigger the trigger
	// on each collection's table.
	captureFunction = "_capture_change"
	captureTrigger  = "_capture_change"
)

// captureSQL creates the change log's tables, their row-level security and
// the trigger function, in tenant ref's schema. _changes: the trigger
// inserts (as whatever caller writes), only the service role reads;
// _change_heads: open to every caller of the tenant (the trigger upserts
// it, a snapshot reads it as the subscriber).
func captureSQL(ref string) string {
	changes := tenantdb.Table(ref, ChangesTable)
	heads := tenantdb.Table(ref, ChangeHeadsTable)
	fn := tenantdb.Table(ref, captureFunction)
	return `
CREATE TABLE ` + heads + ` (
    collection     text PRIMARY KEY,
    pos            bigint NOT NULL,
    purged_through bigint NOT NULL DEFAULT 0
);
ALTER TABLE ` + heads + ` ENABLE ROW LEVEL SECURITY;
ALTER TABLE ` + heads + ` FORCE ROW LEVEL SECURITY;
CREATE POLICY all_callers ON ` + heads + ` USING (true) WITH CHECK (true);
CREATE TABLE ` + changes + ` (
    collection text NOT NULL,
    pos        bigint NOT NULL,
    op         text NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
    record     jsonb NOT NULL,
    old        jsonb,
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (collection, pos)
);
ALTER TABLE ` + changes + ` ENABLE ROW LEVEL SECURITY;
ALTER TABLE ` + changes + ` FORCE ROW LEVEL SECURITY;
CREATE POLICY capture ON ` + changes + ` FOR INSERT WITH CHECK (true);
CREATE POLICY ` + ident(ServicePolicy) + ` ON ` + changes + ` USING (` + serviceCheck + `) WITH CHECK (` + serviceCheck + `);
CREATE FUNCTION ` + fn + `() RETURNS trigger LANGUAGE plpgsql AS $capture$
DECLARE
    p bigint;
BEGIN
    INSERT INTO ` + heads + ` AS h (collection, pos) VALUES (TG_TABLE_NAME, 1)
        ON CONFLICT (collection) DO UPDATE SET pos = h.pos + 1
        RETURNING h.pos INTO p;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO ` + changes + ` (collection, pos, op, record) VALUES (TG_TABLE_NAME, p, 'insert', to_jsonb(NEW));
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO ` + changes + ` (collection, pos, op, record, old) VALUES (TG_TABLE_NAME, p, 'update', to_jsonb(NEW), to_jsonb(OLD));
    ELSE
        INSERT INTO ` + changes + ` (collection, pos, op, record) VALUES (TG_TABLE_NAME, p, 'delete', to_jsonb(OLD));
    END IF;
    RETURN NULL;
END
$capture$`
}

// captureTriggerSQL adds the capture trigger to the table of collection
// name.
func captureTriggerSQL(ref, name string) string {
	return "CREATE TRIGGER " + ident(captureTrigger) + " AFTER INSERT OR UPDATE OR DELETE ON " + tenantdb.Table(ref, name) +
		" FOR EACH ROW EXECUTE FUNCTION " + tenantdb.Table(ref, captureFunction) + "()"
}
