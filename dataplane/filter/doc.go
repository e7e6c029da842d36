// Package filter is the query language of collections: a subset of CEL
// (cel-go), type-checked against a collection's schema, that compiles to a
// parameterised SQL condition for queries and evaluates in Go for realtime
// events, with the same answer both ways.
//
// # Using it
//
// NewEnv declares every filterable field of a collection, and the system
// fields id, created_at, updated_at and version, as top-level variables.
// Env.Compile turns a filter into a boolean SQL expression over the table's
// (unqualified, quoted) column names plus its arguments; Env.Program turns it
// into a Program whose Eval answers the same question for one record held in
// Go. Both return *Error for bad input: a position, the field at fault when
// there is one, and a message meant for the person who wrote the filter.
//
//	env, err := filter.NewEnv(collection)
//	c, err := env.Compile(`status == "open" && n >= 10`, 0)
//	// c.SQL  = ("status" = $1::text AND "n" >= $2::bigint)
//	// c.Args = ["open", 10]
//
// Values never appear in the SQL text: every literal becomes an argument
// (int64, float64, string, bool or time.Time), and column names come only
// from the schema, quoted with pgx.Identifier.Sanitize. The expression can be
// joined to other conditions with AND without extra parentheses.
//
// # The language
//
//   - Field references: a field's name (title, n, created_at, id, …).
//   - Literals: strings ("a", 'a', with CEL escapes), integers (42, -7),
//     doubles (2.5, 1e3), true, false, null; timestamp("2024-05-01T10:00:00Z")
//     with at most microsecond precision and years 1 to 9999; and
//     timestamp(…) ± duration("1h30m") (folded when compiled, durations exist
//     for nothing else).
//   - Comparisons == != < <= > >= between a field and a literal (either side)
//     or between two fields of compatible types. Compatible: integer and
//     number with each other (an integer is converted to a number, as
//     PostgreSQL does); text and file; id and relation (both UUIDs); boolean
//     with boolean (false < true); timestamps with timestamps (as instants).
//     An integer literal compared with a number field is taken as a number.
//     A fractional literal compared with an integer field is allowed in < <=
//     > >= (compared as numbers) and refused in == and != by the type checker
//     (an integer never equals 2.5; write the integer you mean).
//   - x == null and x != null for every filterable field; null with any other
//     operator is refused.
//   - x in [v1, v2, …]: literals of x's type; null is not allowed in the list
//     (write x == null || x in […]); an empty list is false.
//   - && || ! and parentheses.
//   - On text and file fields: startsWith, endsWith, contains (plain
//     substrings, no wildcards), matches (see below) with a string literal
//     argument, and size(x) or x.size() (length in characters, an integer
//     that can be compared and used with in).
//   - UUID literals compared with id and relation fields must be UUIDs; they
//     are compared in canonical (lower-case) form.
//
// Everything else (arithmetic on fields, ternaries, macros such as has, all
// and exists, maps, indexing, nested paths like meta.k, bytes and unsigned
// literals, other functions) is refused with "… is not supported in
// filters" and its position. Arithmetic is refused because bigint overflow
// raises an error in PostgreSQL where Go would wrap or must invent a result.
// json fields can only be tested with == null and != null (a JSON null and
// an SQL NULL are both null). vector fields cannot be used at all.
//
// # matches
//
// x.matches(re) takes an RE2 pattern (Go's regexp syntax) and is true when
// the pattern matches anywhere in x. Go's and PostgreSQL's regular
// expressions differ in many details (what \b, \s, . and case folding mean,
// repetition limits), so the pattern is not handed to PostgreSQL as written:
// it is parsed with Go's regexp/syntax and written again in PostgreSQL's ARE
// syntax with every character class spelled out as explicit code-point
// ranges, every case-insensitive letter as the class of its case-fold orbit,
// . as [^\n] (Go's default) and groups as non-capturing. Constructs with no
// exact counterpart are refused: multi-line anchors ((?m) ^ $), word
// boundaries (\b \B), repetition counts above 255 (PostgreSQL's limit),
// patterns that can never match, NUL characters, and patterns longer than
// MaxPatternLen bytes. Whether a string matches then agrees between Go and
// PostgreSQL (the property test checks it); which part matches is never
// used.
//
// # Nulls
//
// Filters use two-valued logic, identically in SQL and in Go:
//
//   - a comparison, in, startsWith, endsWith, contains, matches or size
//     where a side is null is false, except x == null (true exactly when x is
//     null) and x != null (its negation);
//   - a boolean field on its own is true only when it holds true;
//   - !e is the negation of e under these rules: !(n > 5) is true for a
//     record whose n is null;
//   - && and || are the usual ones over true and false.
//
// In SQL, positive comparisons stay plain ("n" > $1::bigint) and may
// evaluate to NULL, which WHERE treats as false; && and || keep that reading
// because FALSE AND NULL is FALSE and TRUE OR NULL is TRUE. Only negation
// needs care: !e compiles to (e) IS NOT TRUE, which is TRUE where e is NULL.
//
// # What an index can serve
//
// A btree index on a field serves, when the filter (or a conjunct of it at
// the top level, joined with &&) is:
//
//   - equality or a range on the field: n == 5, n > 5, n >= 5 && n < 10,
//     title == "x", created_at > timestamp("…") (also with the literal on
//     the left: 5 < n). Compared with a fractional literal (n > 2.5), an
//     integer field is converted to a number and its index is not used;
//   - n in [1, 2, 3] (compiled to IN (…));
//   - x == null and x != null (IS NULL / IS NOT NULL, for indexes that the
//     planner finds selective enough);
//   - title.startsWith("ab"): compiled to "title" LIKE $1 with the prefix's
//     % _ and \ escaped. PostgreSQL turns a LIKE prefix into an index range
//     only when the column's collation is C (the platform's clusters are
//     created with initdb --locale=C, so plain btree indexes qualify; on a
//     cluster with another locale an index with text_pattern_ops is needed)
//     and when it plans with the argument's value, which it does for custom
//     plans (the default for statements whose generic plan would be worse).
//
// Filters that negate (!, != on a value), endsWith, contains, matches, size,
// comparisons between two fields and json null tests read every row that the
// rest of the query leaves (a trigram index could serve contains and
// matches, but none is made). The same text ordering rule holds: < and >
// on text compare bytes in Go, which is PostgreSQL's order only under the C
// collation.
//
// # Rules
//
// Access rules (package rules) are the same language in a rule environment
// (NewRuleEnv): every name is qualified. record.<field> is a field of the
// record (the row read or written), auth.uid, auth.role and auth.aal are
// the caller's (strings, "" when absent), auth.claims.<name> is a claim of
// the caller's access token when it is a JSON string and null otherwise,
// request.method is the method of the rule being evaluated and
// request.time the time of the request. They combine with fields as fields
// combine with each other; an id or relation compared with a request value
// is compared as text, in the UUID's canonical form. Env.Rule compiles one
// tree three ways: Rule.SQL (request values as placeholders), Rule.Policy
// (for row-level security: no placeholders; request values read from the
// sovereign.* settings with current_setting, request.time as now(), and
// literals rendered by a strict renderer: numbers through strconv, strings
// as quoted constants with quotes doubled and, when they hold a backslash,
// the E'…' form with backslashes doubled, so that they mean the same under
// any standard_conforming_strings) and Rule.Eval. The property test checks
// that the three agree.
//
// # Limits
//
// A filter is at most MaxLen bytes, MaxNodes expression nodes (each field,
// literal, operator, call and list element counts) and MaxDepth levels of
// nesting; anything larger is refused with an *Error before it is compiled.
package filter
