// Package shared holds what the `sov db` commands share: the data plane
// client made from a project's API key, reading records given as JSON, and
// printing records for whoever reads them.
package shared

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/tableprinter"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// KeyEnv is the environment variable that gives the API key when --key does
// not.
const KeyEnv = "SOV_KEY"

// KeyFlag is the persistent flag of `sov db` that gives the API key.
const KeyFlag = "key"

// AddKeyFlag adds --key to cmd and its subcommands.
func AddKeyFlag(cmd *cobra.Command) {
	cmd.PersistentFlags().String(KeyFlag, "",
		"the project's secret API key, sov_sk_… (env "+KeyEnv+"; `sov keys create --kind secret` makes one)")
}

// Client returns a function that makes a client of the data plane (from
// --data-url, the profile or the default) acting for the project whose key
// is given by --key on cmd or its parents, else by $SOV_KEY. It fails with
// exit code 3 when there is no key.
func Client(f *factory.Factory, cmd *cobra.Command) func() (*sovereign.Client, error) {
	return func() (*sovereign.Client, error) {
		key := ""
		if fl := cmd.Flag(KeyFlag); fl != nil {
			key = fl.Value.String()
		}
		if key == "" {
			key = os.Getenv(KeyEnv)
		}
		if key == "" {
			return nil, factory.WithExitCode(errors.New("no API key: pass --key or set "+KeyEnv+
				" to the project's secret key (make one with `sov keys create --project REF --kind secret`)"), factory.ExitAuth)
		}
		_, dataURL, err := f.Endpoints()
		if err != nil {
			return nil, err
		}
		opts := append([]sovereign.Option{sovereign.WithUserAgent("sov"), sovereign.WithAPIKey(key)}, f.ClientOptions...)
		return sovereign.NewClient(dataURL, opts...), nil
	}
}

// IsTerminal reports whether w is a terminal; the `sov db` commands draw
// progress on stderr only then.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// ParseRecord reads one JSON object given as an argument. Numbers keep
// their digits (json.Number), so that the SDK can refuse integers it could
// not carry exactly.
func ParseRecord(s string) (sovereign.Record, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var r sovereign.Record
	if err := dec.Decode(&r); err != nil || r == nil {
		return nil, fmt.Errorf("not a JSON object: %s", describe(err, s))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("more than one JSON value in %q", shorten(s, 60))
	}
	return r, nil
}

// ReadRecords reads JSON objects from r: one object, which may span lines,
// or several (NDJSON, one a line, or simply one after another).
func ReadRecords(r io.Reader) ([]sovereign.Record, error) {
	dec := json.NewDecoder(bufio.NewReader(r))
	dec.UseNumber()
	var out []sovereign.Record
	for i := 1; ; i++ {
		var v any
		err := dec.Decode(&v)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("record %d: not JSON: %v", i, err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("record %d: not a JSON object", i)
		}
		out = append(out, m)
	}
}

func describe(err error, s string) string {
	if err == nil {
		return shorten(s, 60)
	}
	return err.Error()
}

func shorten(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// SplitList splits comma-separated flag values: --fields a,b --fields c.
func SplitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// Column is a column of a records table.
type Column struct {
	Name string
	// Time: RFC 3339 values shown as relative times on a terminal.
	Time bool
}

// Columns are the columns of a collection's records: id, the user fields in
// the schema's order (only those of fields, in its order, when given), then
// created_at, updated_at and version.
func Columns(spec *sovereign.CollectionSpec, fields []string) []Column {
	cols := []Column{{Name: sovereign.FieldID}}
	types := map[string]sovereign.FieldType{}
	for _, f := range spec.Fields {
		types[f.Name] = f.Type
		if len(fields) == 0 {
			cols = append(cols, Column{Name: f.Name, Time: f.Type == sovereign.FieldTimestamp})
		}
	}
	for _, name := range fields {
		if !slices.Contains([]string{sovereign.FieldID, sovereign.FieldCreatedAt, sovereign.FieldUpdatedAt, sovereign.FieldVersion}, name) {
			cols = append(cols, Column{Name: name, Time: types[name] == sovereign.FieldTimestamp})
		}
	}
	return append(cols, Column{Name: sovereign.FieldCreatedAt, Time: true}, Column{Name: sovereign.FieldUpdatedAt, Time: true},
		Column{Name: sovereign.FieldVersion})
}

// maxCell is the widest a cell is shown on a terminal.
const maxCell = 40

// PrintRecords prints records: a JSON array with asJSON; else a table of
// cols with a header on a terminal (long values cut), tab-separated values
// in a pipe (one record a line, whole values).
func PrintRecords(ios *factory.IOStreams, now time.Time, cols []Column, recs []sovereign.Record, asJSON bool) error {
	if asJSON {
		return factory.PrintJSON(ios.Out, factory.NonNil(recs))
	}
	header := make([]string, len(cols))
	for i, c := range cols {
		header[i] = c.Name
	}
	tp := tableprinter.New(ios.Out, ios.OutTTY, now, header...)
	for _, r := range recs {
		for _, c := range cols {
			addCell(tp, ios.OutTTY, c, r[c.Name])
		}
		tp.EndRow()
	}
	return tp.Render()
}

func addCell(tp *tableprinter.Printer, tty bool, c Column, v any) {
	if s, ok := v.(string); ok && c.Time {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			tp.Time(t)
			return
		}
	}
	s := Cell(v)
	if tty {
		if v == nil {
			s = "-"
		}
		s = shorten(s, maxCell)
	}
	tp.Field(s)
}

// PrintRecord prints one record: indented JSON with asJSON; on a terminal
// its fields one a line, in cols' order then any others; in a pipe one
// tab-separated line of cols.
func PrintRecord(ios *factory.IOStreams, now time.Time, cols []Column, r sovereign.Record, asJSON bool) error {
	if asJSON {
		return factory.PrintJSON(ios.Out, r)
	}
	if !ios.OutTTY {
		return PrintRecords(ios, now, cols, []sovereign.Record{r}, false)
	}
	tp := tableprinter.New(ios.Out, true, now)
	seen := map[string]bool{}
	for _, c := range cols {
		seen[c.Name] = true
		tp.Field(c.Name)
		addCell(tp, true, c, r[c.Name])
		tp.EndRow()
	}
	var rest []string
	for k := range r {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	for _, k := range rest {
		tp.Field(k)
		addCell(tp, true, Column{Name: k}, r[k])
		tp.EndRow()
	}
	return tp.Render()
}

// Cell writes a JSON value for a table: strings as they are, whole numbers
// without a fraction, null as nothing, objects and lists as compact JSON.
func Cell(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e21 {
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	case json.Number:
		return v.String()
	default:
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return fmt.Sprint(v)
		}
		return strings.TrimSuffix(b.String(), "\n")
	}
}

// JSONLine writes r as one line of JSON (keys sorted, no HTML escaping).
func JSONLine(w io.Writer, r sovereign.Record) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// WriteResult is how the write commands report a record they wrote: the
// record as JSON with asJSON; "✓ <verb> record <id> in <collection>
// (version n)" on a terminal; "<id>\t<version>" in a pipe, for scripts.
func WriteResult(ios *factory.IOStreams, verb, collection string, r sovereign.Record, asJSON bool) error {
	var err error
	switch {
	case asJSON:
		err = factory.PrintJSON(ios.Out, r)
	case ios.OutTTY:
		_, err = fmt.Fprintf(ios.Out, "✓ %s record %s in %s (version %d)\n", verb, r.ID(), collection, r.Version())
	default:
		_, err = fmt.Fprintf(ios.Out, "%s\t%d\n", r.ID(), r.Version())
	}
	return err
}
