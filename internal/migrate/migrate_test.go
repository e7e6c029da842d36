package migrate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sovereign-backend/sovereign/internal/testenv"
)

const testSchema = "sys_migrate"

func TestMain(m *testing.M) { testenv.Main(m) }

// files builds a migration set from name/SQL pairs.
func files(nameSQL ...string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := 0; i < len(nameSQL); i += 2 {
		fsys[nameSQL[i]] = &fstest.MapFile{Data: []byte(nameSQL[i+1])}
	}
	return fsys
}

func checksum(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func config(fsys fstest.MapFS) Config {
	return Config{Schema: testSchema, FS: fsys}
}

// versions lists the versions of applied.
func versions(applied []Applied) []int {
	v := []int{}
	for _, a := range applied {
		v = append(v, a.Version)
	}
	return v
}

// recorded returns the versions in schema_migrations.
func recorded(t *testing.T, pool *pgxpool.Pool, schema string) []int {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT version FROM "`+schema+`".schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	defer rows.Close()
	v := []int{}
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		v = append(v, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return v
}

// exists reports whether the relation or schema named exists.
func relationExists(t *testing.T, pool *pgxpool.Pool, name string) bool {
	t.Helper()
	var ok bool
	if err := pool.QueryRow(t.Context(), "SELECT to_regclass($1) IS NOT NULL", name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func schemaExists(t *testing.T, pool *pgxpool.Pool, name string) bool {
	t.Helper()
	var ok bool
	if err := pool.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestUpAppliesInOrder(t *testing.T) {
	t.Parallel()
	pool := testenv.Pool(t)
	// Each file depends on the one before it, and 0010 sorts after 0002
	// only numerically-by-version, not by fewer digits.
	fsys := files(
		"0010_seed.sql", `INSERT INTO public.b (a_id) SELECT id FROM public.a;`,
		"0001_a.sql", `CREATE TABLE public.a (id int PRIMARY KEY); INSERT INTO public.a VALUES (1), (2);`,
		"0002_b.sql", `CREATE TABLE public.b (a_id int NOT NULL REFERENCES public.a);`,
		"README.md", "not a migration",
		"notes/0003_ignored.sql", "this is in a directory and ignored",
	)
	var logs bytes.Buffer
	cfg := config(fsys)
	cfg.Logger = slogJSON(&logs)

	applied, err := Up(t.Context(), pool, cfg)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	if got := versions(applied); !equalInts(got, []int{1, 2, 10}) {
		t.Fatalf("applied versions = %v, want [1 2 10]", got)
	}
	for _, a := range applied {
		want := string(fsys[a.Name].Data)
		if a.Checksum != checksum(want) {
			t.Errorf("%s: checksum = %s, want %s", a.Name, a.Checksum, checksum(want))
		}
		if a.Duration <= 0 {
			t.Errorf("%s: duration = %v, want > 0", a.Name, a.Duration)
		}
	}
	if got := recorded(t, pool, testSchema); !equalInts(got, []int{1, 2, 10}) {
		t.Fatalf("recorded versions = %v, want [1 2 10]", got)
	}
	var n int
	if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM public.b").Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows in b = %d, %v; want 2", n, err)
	}
	var rowName, rowSum string
	err = pool.QueryRow(t.Context(), `SELECT name, checksum FROM "`+testSchema+`".schema_migrations WHERE version = 2`).Scan(&rowName, &rowSum)
	if err != nil || rowName != "0002_b.sql" || rowSum != checksum(string(fsys["0002_b.sql"].Data)) {
		t.Fatalf("row for version 2 = %q %q, %v", rowName, rowSum, err)
	}

	// One log record per applied migration, with version, name and duration.
	var logged []int
	for line := range strings.Lines(logs.String()) {
		var rec struct {
			Msg      string
			Version  int
			Name     string
			Duration *int64
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Msg == "migration applied" {
			if rec.Name == "" || rec.Duration == nil {
				t.Errorf("log record lacks name or duration: %s", line)
			}
			logged = append(logged, rec.Version)
		}
	}
	if !equalInts(logged, []int{1, 2, 10}) {
		t.Errorf("logged versions = %v, want [1 2 10]\n%s", logged, logs.String())
	}

	// Up to date: a second run applies nothing and returns an empty slice.
	again, err := Up(t.Context(), pool, cfg)
	if err != nil {
		t.Fatalf("second Up: %v", err)
	}
	if again == nil || len(again) != 0 {
		t.Fatalf("second Up applied %v, want empty non-nil slice", versions(again))
	}
}

func TestUpAppliesOnlyNewFile(t *testing.T) {
	t.Parallel()
	pool := testenv.Pool(t)
	fsys := files(
		"0001_a.sql", `CREATE TABLE public.a (id int);`,
		"0002_b.sql", `CREATE TABLE public.b (id int);`,
	)
	if _, err := Up(t.Context(), pool, config(fsys)); err != nil {
		t.Fatalf("first Up: %v", err)
	}
	fsys["0003_c.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE public.c (id int);`)}
	applied, err := Up(t.Context(), pool, config(fsys))
	if err != nil {
		t.Fatalf("second Up: %v", err)
	}
	if len(applied) != 1 || applied[0].Version != 3 || applied[0].Name != "0003_c.sql" {
		t.Fatalf("applied = %+v, want only 0003_c.sql", applied)
	}
	if got := recorded(t, pool, testSchema); !equalInts(got, []int{1, 2, 3}) {
		t.Fatalf("recorded versions = %v, want [1 2 3]", got)
	}
}

func TestUpRejectsInconsistentHistory(t *testing.T) {
	t.Parallel()
	base := func() fstest.MapFS {
		return files(
			"0001_a.sql", `CREATE TABLE public.a (id int);`,
			"0002_x.sql", `CREATE TABLE public.x (id int);`,
			"0005_e.sql", `CREATE TABLE public.e (id int);`,
		)
	}
	tests := []struct {
		name   string
		change func(fstest.MapFS)
		want   []string
	}{
		{
			name: "changed checksum",
			change: func(f fstest.MapFS) {
				f["0002_x.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE public.x (id bigint);`)}
			},
			want: []string{
				"migration 0002_x.sql was changed after it was applied",
				"recorded checksum " + checksum(`CREATE TABLE public.x (id int);`),
				"file " + checksum(`CREATE TABLE public.x (id bigint);`),
			},
		},
		{
			name:   "missing file",
			change: func(f fstest.MapFS) { delete(f, "0005_e.sql") },
			want:   []string{"0005_e.sql (version 5) is applied but has no file", "newer than this binary"},
		},
		{
			name: "renamed file",
			change: func(f fstest.MapFS) {
				f["0002_y.sql"] = f["0002_x.sql"]
				delete(f, "0002_x.sql")
			},
			want: []string{"version 2 was applied as 0002_x.sql but the file is now 0002_y.sql"},
		},
		{
			name: "new file older than applied",
			change: func(f fstest.MapFS) {
				f["0003_late.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE public.late (id int);`)}
			},
			want: []string{"0003_late.sql is older than the newest applied version 5"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pool := testenv.Pool(t)
			fsys := base()
			if _, err := Up(t.Context(), pool, config(fsys)); err != nil {
				t.Fatalf("first Up: %v", err)
			}
			tt.change(fsys)
			// A valid new migration after the problem must not be applied:
			// all checks happen before anything runs.
			fsys["0006_f.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE public.f (id int);`)}

			applied, err := Up(t.Context(), pool, config(fsys))
			if err == nil {
				t.Fatalf("Up succeeded, applied %v; want error", versions(applied))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if len(applied) != 0 {
				t.Errorf("applied = %v, want none", versions(applied))
			}
			if got := recorded(t, pool, testSchema); !equalInts(got, []int{1, 2, 5}) {
				t.Errorf("recorded versions = %v, want [1 2 5]", got)
			}
			if relationExists(t, pool, "public.f") {
				t.Error("0006_f.sql ran despite the error")
			}
			if _, serr := Status(t.Context(), pool, config(fsys)); serr == nil || serr.Error() != err.Error() {
				t.Errorf("Status error = %v, want the same as Up's", serr)
			}
		})
	}
}

func TestUpFailingMigrationLeavesNothing(t *testing.T) {
	t.Parallel()
	pool := testenv.Pool(t)
	bad := "CREATE TABLE public.two (id int);\nCREATE INDEX two_id ON public.two (id);\n  CREATE TABLEX public.oops (id int);\n"
	fsys := files(
		"0001_one.sql", `CREATE TABLE public.one (id int);`,
		"0002_two.sql", bad,
		"0003_three.sql", `CREATE TABLE public.three (id int);`,
	)
	applied, err := Up(t.Context(), pool, config(fsys))
	if err == nil {
		t.Fatal("Up succeeded; want error from 0002_two.sql")
	}
	for _, w := range []string{"0002_two.sql", "line 3, column 10", `syntax error at or near "TABLEX"`, "42601"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42601" {
		t.Errorf("error does not wrap the *pgconn.PgError: %#v", err)
	}
	if got := versions(applied); !equalInts(got, []int{1}) {
		t.Errorf("applied = %v, want [1]", got)
	}
	if got := recorded(t, pool, testSchema); !equalInts(got, []int{1}) {
		t.Errorf("recorded versions = %v, want [1]", got)
	}
	if !relationExists(t, pool, "public.one") {
		t.Error("table of 0001 missing")
	}
	for _, rel := range []string{"public.two", "public.two_id", "public.three"} {
		if relationExists(t, pool, rel) {
			t.Errorf("%s exists after 0002 failed", rel)
		}
	}

	// The failure left the database usable: fixing the file applies it and
	// the rest.
	fsys["0002_two.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE public.two (id int);`)}
	applied, err = Up(t.Context(), pool, config(fsys))
	if err != nil {
		t.Fatalf("Up after fix: %v", err)
	}
	if got := versions(applied); !equalInts(got, []int{2, 3}) {
		t.Errorf("applied after fix = %v, want [2 3]", got)
	}
}

func TestUpRuntimeErrorNamesFile(t *testing.T) {
	t.Parallel()
	pool := testenv.Pool(t)
	fsys := files(
		"0001_one.sql", `CREATE TABLE public.one (id int PRIMARY KEY);`,
		"0002_dup.sql", `INSERT INTO public.one VALUES (1); INSERT INTO public.one VALUES (1);`,
	)
	_, err := Up(t.Context(), pool, config(fsys))
	if err == nil {
		t.Fatal("Up succeeded; want unique violation from 0002_dup.sql")
	}
	for _, w := range []string{"0002_dup.sql", "duplicate key value", "23505", "(SQLSTATE 23505); detail: Key (id)=(1) already exists."} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	var n int
	if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM public.one").Scan(&n); err != nil || n != 0 {
		t.Errorf("rows in one = %d, %v; want 0", n, err)
	}
}

func TestUpRejectsBadFileNames(t *testing.T) {
	t.Parallel()
	pool := testenv.Pool(t)
	good := `CREATE TABLE public.good (id int);`
	tests := []struct {
		name  string
		files []string
		want  string
	}{
		{"too few digits", []string{"001_a.sql"}, "file 001_a.sql: name must look like"},
		{"no description", []string{"0001.sql"}, "file 0001.sql: name must look like"},
		{"empty description", []string{"0001_.sql"}, "file 0001_.sql: name must look like"},
		{"dash", []string{"0001-init.sql"}, "file 0001-init.sql: name must look like"},
		{"upper case", []string{"0001_Init.sql"}, "file 0001_Init.sql: name must look like"},
		{"upper case extension", []string{"0001_init.SQL"}, "file 0001_init.SQL: name must look like"},
		{"letters", []string{"abcd_init.sql"}, "file abcd_init.sql: name must look like"},
		{"version zero", []string{"0000_init.sql"}, "file 0000_init.sql: version must be"},
		{"version too big", []string{"99999999999999999999_big.sql"}, "file 99999999999999999999_big.sql: version must be"},
		{"duplicate version", []string{"0002_a.sql", "0002_b.sql"}, "files 0002_a.sql and 0002_b.sql have the same version 2"},
		{"duplicate version, more digits", []string{"00002_a.sql", "0002_b.sql"}, "files 00002_a.sql and 0002_b.sql have the same version 2"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fsys := files("0001_good.sql", good)
			for _, name := range tt.files {
				fsys[name] = &fstest.MapFile{Data: []byte(`CREATE TABLE public.bad (id int);`)}
			}
			// Each case uses its own schema in the shared database.
			cfg := Config{Schema: "bad_names_" + string(rune('a'+i)), FS: fsys}
			applied, err := Up(t.Context(), pool, cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Up error = %v, want one containing %q", err, tt.want)
			}
			if len(applied) != 0 {
				t.Errorf("applied = %v, want none", versions(applied))
			}
			if _, err := Status(t.Context(), pool, cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Status error = %v, want one containing %q", err, tt.want)
			}
			if schemaExists(t, pool, cfg.Schema) {
				t.Errorf("schema %s was created although the files were rejected", cfg.Schema)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	fsys := files("0001_a.sql", `SELECT 1;`)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"empty schema", Config{FS: fsys}, `schema "" must match`},
		{"upper case schema", Config{Schema: "Control", FS: fsys}, `schema "Control" must match`},
		{"schema starts with digit", Config{Schema: "1cp", FS: fsys}, `schema "1cp" must match`},
		{"schema with quote", Config{Schema: `cp"; DROP`, FS: fsys}, `must match`},
		{"schema too long", Config{Schema: strings.Repeat("a", 64), FS: fsys}, `must match`},
		{"no FS", Config{Schema: "cp"}, "config has no FS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Validation comes before any use of the pool.
			if _, err := Up(t.Context(), nil, tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Up error = %v, want one containing %q", err, tt.want)
			}
			if _, err := Status(t.Context(), nil, tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Status error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := (Config{Schema: strings.Repeat("a", 63), FS: fsys}).withDefaults(); err != nil {
		t.Errorf("63-character schema rejected: %v", err)
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	pool := testenv.Pool(t)
	fsys := files(
		"0001_a.sql", `CREATE TABLE public.a (id int);`,
		"0002_b.sql", `CREATE TABLE public.b (id int);`,
	)

	// Before anything ran: all pending, and nothing is created.
	states, err := Status(t.Context(), pool, config(fsys))
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if len(states) != 2 || !states[0].Pending() || !states[1].Pending() {
		t.Fatalf("states = %+v, want two pending", states)
	}
	if schemaExists(t, pool, testSchema) {
		t.Fatal("Status created the schema")
	}

	if _, err := Up(t.Context(), pool, config(fsys)); err != nil {
		t.Fatalf("Up: %v", err)
	}
	fsys["0003_c.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE public.c (id int);`)}
	states, err = Status(t.Context(), pool, config(fsys))
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if len(states) != 3 {
		t.Fatalf("states = %+v, want 3", states)
	}
	for i, s := range states {
		wantPending := i == 2
		if s.Version != i+1 || s.Pending() != wantPending || s.Checksum != checksum(string(fsys[s.Name].Data)) {
			t.Errorf("state %d = %+v, want version %d pending %v", i, s, i+1, wantPending)
		}
	}
}

func TestUpSchemasAreIndependent(t *testing.T) {
	t.Parallel()
	pool := testenv.Pool(t)
	for _, schema := range []string{"plane_a", "plane_b"} {
		fsys := files("0001_t.sql", `CREATE TABLE "`+schema+`".t (id int);`)
		applied, err := Up(t.Context(), pool, Config{Schema: schema, FS: fsys})
		if err != nil || len(applied) != 1 {
			t.Fatalf("Up %s: %v, applied %v", schema, err, versions(applied))
		}
		if got := recorded(t, pool, schema); !equalInts(got, []int{1}) {
			t.Fatalf("%s recorded %v, want [1]", schema, got)
		}
	}
}

// TestUpConcurrent starts many nodes at once against one fresh database. The
// migrations are plain CREATE TABLE and INSERT, so applying one twice would
// fail; every node must succeed and together apply each file exactly once.
func TestUpConcurrent(t *testing.T) {
	t.Parallel()
	const nodes = 8
	url := testenv.Database(t)
	fsys := files(
		"0001_a.sql", `CREATE TABLE public.a (id int PRIMARY KEY); INSERT INTO public.a VALUES (1);`,
		"0002_b.sql", `CREATE TABLE public.b (id int PRIMARY KEY);`,
		"0003_c.sql", `CREATE TABLE public.c (id int PRIMARY KEY);`,
		"0004_d.sql", `INSERT INTO public.a VALUES (4);`,
		"0005_e.sql", `CREATE TABLE public.e (id int PRIMARY KEY);`,
	)

	pools := make([]*pgxpool.Pool, nodes)
	for i := range pools {
		p, err := pgxpool.New(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		// Connect now, so the race starts at Up and not at dialing.
		if err := p.Ping(t.Context()); err != nil {
			t.Fatal(err)
		}
		pools[i] = p
	}

	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		results = make([][]Applied, nodes)
		errs    = make([]error, nodes)
	)
	for i := range nodes {
		wg.Go(func() {
			<-start
			results[i], errs[i] = Up(context.Background(), pools[i], config(fsys))
		})
	}
	close(start)
	wg.Wait()

	total := 0
	seen := map[int]int{}
	for i := range nodes {
		if errs[i] != nil {
			t.Errorf("node %d: %v", i, errs[i])
		}
		total += len(results[i])
		for _, a := range results[i] {
			seen[a.Version]++
		}
	}
	if total != len(fsys) {
		t.Errorf("nodes applied %d migrations in total, want %d: %v", total, len(fsys), seen)
	}
	for v := 1; v <= len(fsys); v++ {
		if seen[v] != 1 {
			t.Errorf("version %d applied %d times, want once", v, seen[v])
		}
	}
	if got := recorded(t, pools[0], testSchema); !equalInts(got, []int{1, 2, 3, 4, 5}) {
		t.Errorf("recorded versions = %v, want [1 2 3 4 5]", got)
	}
	var n int
	if err := pools[0].QueryRow(t.Context(), "SELECT count(*) FROM public.a").Scan(&n); err != nil || n != 2 {
		t.Errorf("rows in a = %d, %v; want 2", n, err)
	}

	// Second start, schema in place: only the new files race.
	fsys["0006_f.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE public.f (id int PRIMARY KEY);`)}
	fsys["0007_g.sql"] = &fstest.MapFile{Data: []byte(`INSERT INTO public.f VALUES (7);`)}
	start = make(chan struct{})
	for i := range nodes {
		wg.Go(func() {
			<-start
			results[i], errs[i] = Up(context.Background(), pools[i], config(fsys))
		})
	}
	close(start)
	wg.Wait()
	total = 0
	for i := range nodes {
		if errs[i] != nil {
			t.Errorf("second start, node %d: %v", i, errs[i])
		}
		total += len(results[i])
	}
	if total != 2 {
		t.Errorf("second start applied %d migrations in total, want 2", total)
	}
	if got := recorded(t, pools[0], testSchema); !equalInts(got, []int{1, 2, 3, 4, 5, 6, 7}) {
		t.Errorf("recorded versions = %v, want [1 … 7]", got)
	}

	// The lock was released: nobody holds an advisory lock any more.
	var held int
	if err := pools[0].QueryRow(t.Context(), "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())").Scan(&held); err != nil || held != 0 {
		t.Errorf("advisory locks held after Up = %d, %v; want 0", held, err)
	}
}

func TestLineColumn(t *testing.T) {
	t.Parallel()
	sql := "ab\ncdé\n\nxyz"
	tests := []struct{ pos, line, col int }{
		{1, 1, 1},
		{2, 1, 2},
		{3, 1, 3}, // the newline itself
		{4, 2, 1},
		{6, 2, 3}, // é counts as one character
		{7, 2, 4},
		{8, 3, 1},
		{9, 4, 1},
		{11, 4, 3},
	}
	for _, tt := range tests {
		if line, col := lineColumn(sql, tt.pos); line != tt.line || col != tt.col {
			t.Errorf("lineColumn(%d) = %d:%d, want %d:%d", tt.pos, line, col, tt.line, tt.col)
		}
	}
}

func TestLockKeyIsStable(t *testing.T) {
	t.Parallel()
	// The key is part of the protocol between nodes running different
	// builds: it must never change for a schema.
	tests := map[string]int64{
		"controlplane": 1003685442341890939,
		"dataplane":    2326766430198840432,
	}
	for schema, want := range tests {
		if got := lockKey(schema); got != want {
			t.Errorf("lockKey(%q) = %d, want %d", schema, got, want)
		}
	}
}

// TestUpWaitsForLockAndHonoursContext holds the lock as another node would,
// checks that Up waits for it, and that cancelling the wait returns the
// context's error without applying anything.
func TestUpWaitsForLockAndHonoursContext(t *testing.T) {
	t.Parallel()
	pool := testenv.Pool(t)
	fsys := files("0001_a.sql", `CREATE TABLE public.a (id int);`)

	holder, err := pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Release()
	if _, err := holder.Exec(t.Context(), "SELECT pg_advisory_lock($1)", lockKey(testSchema)); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Up(ctx, pool, config(fsys))
		done <- err
	}()

	// Wait until Up is blocked on the lock, as seen by the server.
	for {
		var waiting bool
		err := holder.QueryRow(t.Context(),
			"SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))").Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Up returned while another session held the lock: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Up error = %v, want context.Canceled", err)
	}
	if schemaExists(t, pool, testSchema) {
		t.Fatal("Up created the schema without holding the lock")
	}

	// Once the other node lets go, Up proceeds.
	if _, err := holder.Exec(t.Context(), "SELECT pg_advisory_unlock($1)", lockKey(testSchema)); err != nil {
		t.Fatal(err)
	}
	applied, err := Up(t.Context(), pool, config(fsys))
	if err != nil || len(applied) != 1 {
		t.Fatalf("Up after unlock: %v, applied %v", err, versions(applied))
	}
}

func slogJSON(w *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, nil))
}
