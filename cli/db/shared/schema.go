package shared

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/tableprinter"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// FieldSyntax and IndexSyntax describe the --field and --index values, for
// help texts.
const (
	FieldSyntax = "NAME:TYPE[:required][:unique][:default=JSON], TYPE one of text, integer, number, boolean, timestamp, json, relation(COLLECTION), vector(DIMENSIONS), file"
	IndexSyntax = "FIELD[,FIELD…][:unique][:name=NAME]"
)

var fieldTypes = []sovereign.FieldType{
	sovereign.FieldText, sovereign.FieldInteger, sovereign.FieldNumber, sovereign.FieldBoolean, sovereign.FieldTimestamp,
	sovereign.FieldJSON, sovereign.FieldRelation, sovereign.FieldVector, sovereign.FieldFile,
}

// ParseField reads a field from a --field value (see FieldSyntax), e.g.
// "title:text:required", "author:relation(users)", "n:integer:default=0".
func ParseField(s string) (sovereign.Field, error) {
	var f sovereign.Field
	// A default is last and may hold colons.
	spec, def, hasDefault := strings.Cut(s, ":default=")
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || parts[0] == "" {
		return f, fmt.Errorf("field %q: want %s", s, FieldSyntax)
	}
	f.Name = parts[0]
	typ := parts[1]
	if base, arg, ok := strings.Cut(typ, "("); ok && strings.HasSuffix(arg, ")") {
		typ, arg = base, strings.TrimSuffix(arg, ")")
		switch sovereign.FieldType(typ) {
		case sovereign.FieldRelation:
			f.Collection = arg
		case sovereign.FieldVector:
			n, err := strconv.Atoi(arg)
			if err != nil || n <= 0 {
				return f, fmt.Errorf("field %q: vector(DIMENSIONS) takes a positive number", s)
			}
			f.Dimensions = n
		default:
			return f, fmt.Errorf("field %q: only relation(COLLECTION) and vector(DIMENSIONS) take an argument", s)
		}
	}
	f.Type = sovereign.FieldType(typ)
	if !slices.Contains(fieldTypes, f.Type) {
		return f, fmt.Errorf("field %q: unknown type %q: use text, integer, number, boolean, timestamp, json, relation(COLLECTION), vector(DIMENSIONS) or file", s, typ)
	}
	if f.Type == sovereign.FieldRelation && f.Collection == "" {
		return f, fmt.Errorf("field %q: a relation names its collection: %s:relation(COLLECTION)", s, f.Name)
	}
	if f.Type == sovereign.FieldVector && f.Dimensions == 0 {
		return f, fmt.Errorf("field %q: a vector gives its dimensions: %s:vector(DIMENSIONS)", s, f.Name)
	}
	for _, opt := range parts[2:] {
		switch opt {
		case "required":
			f.Required = true
		case "unique":
			f.Unique = true
		default:
			return f, fmt.Errorf("field %q: unknown option %q: use required, unique or default=JSON", s, opt)
		}
	}
	if hasDefault {
		v, err := ParseJSONValue(def)
		if err != nil {
			return f, fmt.Errorf("field %q: default: %v", s, err)
		}
		f.Default = v
	}
	return f, nil
}

// ParseJSONValue reads one JSON value, keeping numbers' digits.
func ParseJSONValue(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%q is not JSON (quote text: '\"draft\"')", s)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%q holds more than one JSON value", s)
	}
	return v, nil
}

// ParseIndex reads an index from an --index value (see IndexSyntax), e.g.
// "n", "title,n:unique", "n:name=posts_by_n".
func ParseIndex(s string) (sovereign.Index, error) {
	var ix sovereign.Index
	parts := strings.Split(s, ":")
	ix.Fields = SplitList(parts[:1])
	if len(ix.Fields) == 0 {
		return ix, fmt.Errorf("index %q: want %s", s, IndexSyntax)
	}
	for _, opt := range parts[1:] {
		switch {
		case opt == "unique":
			ix.Unique = true
		case strings.HasPrefix(opt, "name="):
			ix.Name = strings.TrimPrefix(opt, "name=")
		default:
			return ix, fmt.Errorf("index %q: unknown option %q: use unique or name=NAME", s, opt)
		}
	}
	return ix, nil
}

// TypeText writes a field's type as --field takes it: relation(users),
// vector(3).
func TypeText(f sovereign.Field) string {
	switch {
	case f.Type == sovereign.FieldRelation && f.Collection != "":
		return fmt.Sprintf("relation(%s)", f.Collection)
	case f.Type == sovereign.FieldVector && f.Dimensions > 0:
		return fmt.Sprintf("vector(%d)", f.Dimensions)
	}
	return string(f.Type)
}

// PrintCollection shows a collection: its JSON with asJSON; on a terminal
// its name, fields and indexes as tables; in a pipe one tab-separated line
// per field (name, type, required, unique, default) then one per index
// ("index", name, fields, unique).
func PrintCollection(ios *factory.IOStreams, now time.Time, c *sovereign.CollectionSpec, asJSON bool) error {
	if asJSON {
		return factory.PrintJSON(ios.Out, c)
	}
	if ios.OutTTY {
		if _, err := fmt.Fprintf(ios.Out, "%s  (created %s, updated %s)\n\n", c.Name,
			tableprinter.RelativeTime(now, c.CreatedAt), tableprinter.RelativeTime(now, c.UpdatedAt)); err != nil {
			return err
		}
	}
	tp := tableprinter.New(ios.Out, ios.OutTTY, now, "field", "type", "required", "unique", "default")
	for _, f := range c.Fields {
		tp.Field(f.Name)
		tp.Field(TypeText(f))
		tp.Field(yesNo(ios.OutTTY, f.Required))
		tp.Field(yesNo(ios.OutTTY, f.Unique))
		if f.Default == nil {
			tp.Field("")
		} else {
			b, _ := json.Marshal(f.Default)
			tp.Field(string(b))
		}
		tp.EndRow()
	}
	if err := tp.Render(); err != nil {
		return err
	}
	if len(c.Indexes) == 0 {
		return nil
	}
	if ios.OutTTY {
		fmt.Fprintln(ios.Out)
		tp = tableprinter.New(ios.Out, true, now, "index", "fields", "unique")
	} else {
		tp = tableprinter.New(ios.Out, false, now)
	}
	for _, ix := range c.Indexes {
		if !ios.OutTTY {
			tp.Field("index")
		}
		tp.Field(ix.Name)
		tp.Field(strings.Join(ix.Fields, ","))
		tp.Field(yesNo(ios.OutTTY, ix.Unique))
		tp.EndRow()
	}
	return tp.Render()
}

func yesNo(tty, b bool) string {
	switch {
	case tty && b:
		return "yes"
	case tty:
		return ""
	default:
		return strconv.FormatBool(b)
	}
}
