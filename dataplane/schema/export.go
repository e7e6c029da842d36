package schema

import (
	"fmt"
	"strings"
	"time"
)

// ExportSQL returns changes as one runnable SQL script, for `sov db history
// --sql`: in one transaction, each change's SQL in order, after a comment
// with its id, time, collection and description. Run on a database that has
// the tenant's schema (t_<ref>, which the statements name) and nothing of
// the collections yet, as the tenant's role or its owner, it rebuilds the
// collections' tables, constraints, indexes and row-level-security
// policies. It does not write Sovereign's own records of them
// (_collections, _schema_history); pass the whole history, oldest first,
// for a script that runs from an empty schema.
func ExportSQL(changes []Change) string {
	var b strings.Builder
	b.WriteString("-- Sovereign schema history: ")
	fmt.Fprintf(&b, "%d %s.\n", len(changes), plural(int64(len(changes)), "change", "changes"))
	b.WriteString("BEGIN;\n")
	for _, c := range changes {
		fmt.Fprintf(&b, "\n-- #%d %s %s %s: %s\n", c.ID, c.At.UTC().Format(time.RFC3339), c.Kind, c.Collection, oneLine(c.Description))
		sql := strings.TrimSpace(c.SQL)
		b.WriteString(sql)
		if !strings.HasSuffix(sql, ";") {
			b.WriteString(";")
		}
		b.WriteString("\n")
	}
	b.WriteString("\nCOMMIT;\n")
	return b.String()
}

// oneLine keeps a comment on its line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}
