package filter_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sovereign-backend/sovereign/dataplane/filter"
	"github.com/sovereign-backend/sovereign/internal/testenv"
)

// Environment variables that steer TestSQLMatchesGo.
const (
	envSeed  = "SOVEREIGN_FILTER_SEED"  // PRNG seed; random when unset
	envCases = "SOVEREIGN_FILTER_CASES" // filters to try; 2000 when unset
)

// postsDDL makes a table with the columns the schema package gives posts.
// Text columns are C-collated, as on the platform's clusters (see the
// package doc on text ordering), whatever the test server's default.
const postsDDL = `CREATE TABLE posts (
	id uuid PRIMARY KEY,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	version bigint NOT NULL,
	title text COLLATE "C",
	body text COLLATE "C",
	attachment text COLLATE "C",
	n bigint,
	m bigint,
	price double precision,
	weight double precision,
	done boolean,
	pinned boolean,
	due timestamptz,
	seen timestamptz,
	author uuid,
	meta jsonb,
	emb real[]
)`

// Pools that random records and filters draw from, so that equalities hit
// and edge values meet.
var (
	poolText = []string{"", "a", "A", "ab", "abc", "abd", "b", "ba", "a%", "a_c", "abc_", `x\y`, "é", "éa", "日本語",
		"a\nb", "k", "K", "\u212a", "Ω", "ω", "hello world", "a.c", "aXc", "  ", "😀", "ß", "ss", "SS", "%", "_", "a1", "9"}
	poolInt = []int64{math.MinInt64, -(1 << 53), -100, -2, -1, 0, 1, 2, 3, 5, 42, 100, 1 << 53, 1<<53 + 1, math.MaxInt64}
	// poolFloat holds the literals; records may also hold ±Inf and NaN.
	poolFloat = []float64{-1e300, -2.5, -1, -0.5, 0, math.Copysign(0, -1), 0.5, 1, 2, 2.5, 3, 42, 1e15, 9007199254740993, 1e300}
	poolTime  = func() []time.Time {
		base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		return []time.Time{base, base.Add(time.Microsecond), base.Add(-time.Microsecond), base.Add(time.Hour),
			base.Add(-time.Hour), base.In(time.FixedZone("", 2*3600)), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
			time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), time.Unix(0, 0).UTC(),
			time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 23, 59, 59, 500000000, time.UTC)}
	}()
	poolUUID = []string{"00000000-0000-0000-0000-000000000000", "0190a0b1-c2d3-7e4f-8a5b-6c7d8e9fa0b1",
		"ffffffff-ffff-ffff-ffff-ffffffffffff", "0190a0b1-c2d3-7e4f-8a5b-6c7d8e9fa0b2"}
	poolJSON = []string{"null", `{"a": 1}`, `[1, 2]`, `"s"`, `1`, `true`, `{}`}
	// Pieces of random patterns for matches.
	poolAtom = []string{"a", "b", "c", "k", "é", ".", "[a-c]", "[^a]", `\d`, `\w`, `\s`, `\.`, "_", "%", `\n`,
		"(?i:k)", "(?i:ß)", "(?i:a)", "(?s:.)", `\pL`, "[[:alpha:]]", "(a|b)", "😀", "[é-ü]", `\x{212a}`, "(?:)", "ab", "日"}
	poolQuant = []string{"", "", "", "*", "+", "?", "{2}", "{1,3}", "*?", "{0}", "{2,}"}
)

type column struct {
	name string
	cat  string // text, int, double, bool, time, uuid, json
}

var columns = []column{
	{"title", "text"}, {"body", "text"}, {"attachment", "text"},
	{"n", "int"}, {"m", "int"}, {"version", "int"},
	{"price", "double"}, {"weight", "double"},
	{"done", "bool"}, {"pinned", "bool"},
	{"due", "time"}, {"seen", "time"}, {"created_at", "time"}, {"updated_at", "time"},
	{"id", "uuid"}, {"author", "uuid"},
	{"meta", "json"},
}

func TestSQLMatchesGo(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(envSeed); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", envSeed, err)
		}
		seed = v
	}
	cases := 2000
	if s := os.Getenv(envCases); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("%s: %v", envCases, err)
		}
		cases = v
	}
	t.Logf("seed %d (%s=%d repeats this run)", seed, envSeed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	ctx := context.Background()
	pool := testenv.Pool(t)
	if _, err := pool.Exec(ctx, postsDDL); err != nil {
		t.Fatal(err)
	}
	records, ids := insertRecords(t, pool, rng, 50)
	env := newEnv(t)
	g := &gen{rng: rng, ids: ids}
	allowed := quotedColumns()

	start := time.Now()
	type testCase struct {
		filter string
		c      filter.Compiled
		want   map[string]bool // ids for which Eval says true
	}
	const chunk = 100
	failures := 0
	for done := 0; done < cases; {
		n := min(chunk, cases-done)
		batch := make([]testCase, n)
		var q strings.Builder
		var args []any
		for i := range batch {
			f := g.pred(0)
			c, err := env.Compile(f, len(args))
			if err != nil {
				t.Fatalf("Compile(%s): %v", f, err)
			}
			checkSQL(t, c, len(args), allowed)
			p, err := env.Program(f)
			if err != nil {
				t.Fatalf("Program(%s): %v", f, err)
			}
			want := map[string]bool{}
			for _, r := range records {
				ok, err := p.Eval(r)
				if err != nil {
					t.Fatalf("Eval(%s) on %v: %v", f, r, err)
				}
				if ok {
					want[r["id"].(string)] = true
				}
			}
			batch[i] = testCase{filter: f, c: c, want: want}
			args = append(args, c.Args...)
			if i > 0 {
				q.WriteString(" UNION ALL ")
			}
			fmt.Fprintf(&q, "SELECT %d, id::text FROM posts WHERE %s", i, c.SQL)
		}
		got := make([]map[string]bool, n)
		for i := range got {
			got[i] = map[string]bool{}
		}
		rows, err := pool.Query(ctx, q.String(), args...)
		if err == nil {
			for rows.Next() {
				var k int
				var id string
				if err = rows.Scan(&k, &id); err != nil {
					break
				}
				got[k][id] = true
			}
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
		}
		if err != nil {
			// Find the filter whose SQL PostgreSQL refused.
			for _, tc := range batch {
				c, _ := env.Compile(tc.filter, 0)
				if _, err := pool.Exec(ctx, "SELECT id FROM posts WHERE "+c.SQL, c.Args...); err != nil {
					t.Fatalf("filter %s\nSQL %s\nargs %#v\n%v", tc.filter, c.SQL, c.Args, err)
				}
			}
			t.Fatal(err)
		}
		for i, tc := range batch {
			if mapsEqual(got[i], tc.want) {
				continue
			}
			failures++
			var diff []string
			for _, r := range records {
				id := r["id"].(string)
				if got[i][id] != tc.want[id] {
					diff = append(diff, fmt.Sprintf("record %v: SQL says %t, Go says %t", r, got[i][id], tc.want[id]))
					break
				}
			}
			t.Errorf("filter %s\nSQL %s\nargs %#v\n%s", tc.filter, tc.c.SQL, tc.c.Args, strings.Join(diff, "\n"))
			if failures >= 10 {
				t.Fatalf("stopping after %d mismatches (seed %d)", failures, seed)
			}
		}
		done += n
	}
	t.Logf("%d filters over %d records (%d cases) agreed in %v", cases, len(records), cases*len(records), time.Since(start).Round(time.Millisecond))
	if failures > 0 {
		t.Errorf("%d mismatches; rerun with %s=%d", failures, envSeed, seed)
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// insertRecords inserts n random records and reads them back the way the
// records package hands them to filters. It returns them and their ids.
func insertRecords(t *testing.T, pool *pgxpool.Pool, rng *rand.Rand, n int) ([]map[string]any, []string) {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for range n {
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		b[6] = b[6]&0x0f | 0x70
		b[8] = b[8]&0x3f | 0x80
		ids = append(ids, uuid.UUID(b).String())
	}
	null := func(v any) any {
		if rng.IntN(5) == 0 {
			return nil
		}
		return v
	}
	floats := append(slices.Clone(poolFloat), math.Inf(1), math.Inf(-1), math.NaN())
	batch := &pgx.Batch{}
	for _, id := range ids {
		batch.Queue(`INSERT INTO posts VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17::text::jsonb, $18)`,
			id, pick(rng, poolTime), pick(rng, poolTime), int64(rng.IntN(4)+1),
			null(pick(rng, poolText)), null(pick(rng, poolText)), null(pick(rng, poolText)),
			null(pick(rng, poolInt)), null(pick(rng, poolInt)),
			null(pick(rng, floats)), null(pick(rng, floats)),
			null(rng.IntN(2) == 0), null(rng.IntN(2) == 0),
			null(pick(rng, poolTime)), null(pick(rng, poolTime)),
			null(pick(rng, append(slices.Clone(poolUUID), ids[:5]...))),
			null(pick(rng, poolJSON)), []float32{1, 2, 3})
	}
	if err := pool.SendBatch(ctx, batch).Close(); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, "SELECT * FROM posts ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var records []map[string]any
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		r := map[string]any{}
		for i, fd := range rows.FieldDescriptions() {
			v := vals[i]
			if u, ok := v.([16]byte); ok {
				v = uuid.UUID(u).String()
			}
			if fd.Name == "emb" && v != nil {
				f := []float32{}
				for _, x := range v.([]any) {
					f = append(f, x.(float32))
				}
				v = f
			}
			r[fd.Name] = v
		}
		records = append(records, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return records, ids
}

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

// gen writes random well-typed filters.
type gen struct {
	rng *rand.Rand
	ids []string
	// prefix goes before every field name: "record." in rules.
	prefix string
}

func (g *gen) pick(cat string) string {
	var names []string
	for _, c := range columns {
		if c.cat == cat {
			names = append(names, c.name)
		}
	}
	return g.prefix + pick(g.rng, names)
}

func (g *gen) pred(depth int) string {
	if depth < 4 && g.rng.IntN(100) < 60 {
		switch g.rng.IntN(10) {
		case 0, 1, 2:
			return "(" + g.pred(depth+1) + " && " + g.pred(depth+1) + ")"
		case 3, 4, 5:
			return "(" + g.pred(depth+1) + " || " + g.pred(depth+1) + ")"
		case 6, 7:
			return "!(" + g.pred(depth+1) + ")"
		}
	}
	return g.leaf()
}

var ops = []string{"==", "!=", "<", "<=", ">", ">="}

func (g *gen) leaf() string {
	r := g.rng
	switch r.IntN(12) {
	case 0, 1, 2: // field op literal
		cat := pick(r, []string{"text", "int", "double", "bool", "time", "uuid"})
		f, op := g.pick(cat), pick(r, ops)
		lit := g.literal(cat, op)
		if r.IntN(4) == 0 {
			return lit + " " + op + " " + f
		}
		return f + " " + op + " " + lit
	case 3: // field op field
		cat := pick(r, []string{"text", "int", "double", "bool", "time", "uuid", "num"})
		op := pick(r, ops)
		if cat == "num" {
			return g.pick("int") + " " + pick(r, []string{"<", "<=", ">", ">="}) + " " + g.pick("double")
		}
		return g.pick(cat) + " " + op + " " + g.pick(cat)
	case 4: // null tests
		c := pick(r, columns)
		op := pick(r, []string{"==", "!="})
		if r.IntN(3) == 0 {
			return "null " + op + " " + g.prefix + c.name
		}
		return g.prefix + c.name + " " + op + " null"
	case 5: // in
		cat := pick(r, []string{"text", "int", "double", "bool", "time", "uuid", "size"})
		var vals []string
		for range r.IntN(5) {
			switch cat {
			case "size":
				vals = append(vals, strconv.Itoa(r.IntN(6)))
			default:
				vals = append(vals, g.literal(cat, "=="))
			}
		}
		x := "size(" + g.pick("text") + ")"
		if cat != "size" {
			x = g.pick(cat)
		}
		return x + " in [" + strings.Join(vals, ", ") + "]"
	case 6, 7: // string functions
		f := g.pick("text")
		fn := pick(r, []string{"startsWith", "endsWith", "contains", "matches", "matches"})
		arg := g.substring()
		if fn == "matches" {
			arg = g.pattern()
			if r.IntN(3) == 0 {
				return "matches(" + f + ", " + strconv.Quote(arg) + ")"
			}
		}
		return f + "." + fn + "(" + strconv.Quote(arg) + ")"
	case 8: // size
		f := g.pick("text")
		if r.IntN(2) == 0 {
			return "size(" + f + ") " + pick(r, ops) + " " + strconv.Itoa(r.IntN(6))
		}
		op := pick(r, ops)
		if op == "==" || op == "!=" {
			return f + ".size() " + op + " " + strconv.Itoa(r.IntN(6))
		}
		return f + ".size() " + op + " " + pick(r, []string{"0", "1", "2", "2.5", "3"})
	case 9: // boolean fields
		return g.pick("bool")
	case 10: // timestamp arithmetic
		ts := pick(r, poolTime)
		d := pick(r, []string{"1h", "1us", "-1us", "30m", "0s", "2h0m0.000001s"})
		op := pick(r, []string{"+", "-"})
		if ts.Year() < 2 || ts.Year() > 9998 {
			ts = poolTime[0]
		}
		return g.pick("time") + " " + pick(r, ops) + " timestamp(" + strconv.Quote(ts.Format(time.RFC3339Nano)) + ") " + op + " duration(" + strconv.Quote(d) + ")"
	default:
		return pick(r, []string{"true", "false"})
	}
}

// literal writes a literal of the category; for int fields it writes a
// double only where filters allow one (ordering comparisons).
func (g *gen) literal(cat, op string) string {
	r := g.rng
	switch cat {
	case "text":
		if r.IntN(4) == 0 {
			return strconv.Quote(g.substring())
		}
		return strconv.Quote(pick(r, poolText))
	case "int":
		if op != "==" && op != "!=" && r.IntN(4) == 0 {
			return formatDouble(pick(r, poolFloat))
		}
		return strconv.FormatInt(pick(r, poolInt), 10)
	case "double":
		if r.IntN(3) == 0 {
			return strconv.FormatInt(pick(r, poolInt), 10)
		}
		return formatDouble(pick(r, poolFloat))
	case "bool":
		return pick(r, []string{"true", "false"})
	case "time":
		return "timestamp(" + strconv.Quote(pick(r, poolTime).Format(time.RFC3339Nano)) + ")"
	default: // uuid
		u := pick(r, append(slices.Clone(poolUUID), g.ids[:10]...))
		if r.IntN(4) == 0 {
			u = strings.ToUpper(u)
		}
		return strconv.Quote(u)
	}
}

func formatDouble(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// substring is a piece of a pooled text, or a wildcard-looking string.
func (g *gen) substring() string {
	r := g.rng
	s := []rune(pick(r, poolText))
	if r.IntN(5) == 0 {
		return pick(r, []string{"%", "_", `\`, "a%", "_c", "ab"})
	}
	i := r.IntN(len(s) + 1)
	j := i + r.IntN(len(s)-i+1)
	return string(s[i:j])
}

// pattern is a random RE2 pattern within what filters accept.
func (g *gen) pattern() string {
	r := g.rng
	seq := func() string {
		var b strings.Builder
		for range r.IntN(4) {
			b.WriteString(pick(r, poolAtom))
			b.WriteString(pick(r, poolQuant))
		}
		return b.String()
	}
	p := seq()
	if r.IntN(5) == 0 {
		p += "|" + seq()
	}
	if r.IntN(3) == 0 {
		p = "^" + p
	}
	if r.IntN(3) == 0 {
		p += "$"
	}
	if r.IntN(6) == 0 {
		p = "(?i)" + p
	}
	return p
}
