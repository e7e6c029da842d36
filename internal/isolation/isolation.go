// Package isolation holds the proofs that tenants of a data plane cannot
// reach each other (DESIGN.md, "Tenancy and isolation"; issue 5, "Proofs"),
// and the small checks they share:
//
//   - Session reads what a pooled connection carries between transactions
//     (role, search_path, the sovereign.* settings, an open transaction),
//     so that the pool-contamination test can compare it with a fresh
//     connection's after every request;
//   - CatalogProblems lists what is wrong with the row-level security and
//     the roles of a platform database;
//   - Markers finds tenant data (marker strings planted in every row) in
//     what a caller got back, and says whose it was.
//
// The tests in this package run a real platform as an unprivileged login
// role (platformtest.Options.AppRole), as production does.
package isolation

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// SessionSettings are the custom settings package tenantdb sets, with
// set_config(…, true), in every tenant transaction.
var SessionSettings = []string{
	"sovereign.role", "sovereign.uid", "sovereign.key_id",
	"sovereign.auth_role", "sovereign.aal", "sovereign.claims",
}

// Session is the state of a connection's session that a tenant
// transaction changes and must leave as it found it.
type Session struct {
	// CurrentUser is current_user: the role privileges are checked against.
	CurrentUser string
	// SessionUser is session_user: the login role.
	SessionUser string
	// Role is the role setting ("none" unless SET ROLE is in force).
	Role string
	// SearchPath is the search_path setting.
	SearchPath string
	// Settings holds every SessionSettings entry (and the extra ones
	// ReadSession was asked for); unset reads as "".
	Settings map[string]string
	// TxStatus is the protocol's transaction status: 'I' idle, 'T' in a
	// transaction, 'E' in a failed one.
	TxStatus byte
	// OldSnapshot is true when now() (the transaction's start) differs
	// from statement_timestamp(): the statement ran inside a transaction
	// that began before it.
	OldSnapshot bool
	// AdvisoryLocks is how many advisory locks the session holds.
	AdvisoryLocks int
}

// ReadSession reads conn's session, with the custom settings extra besides
// SessionSettings (names are trusted: they are spliced into the query). It
// runs one statement, outside any transaction when the session is clean.
func ReadSession(ctx context.Context, conn *pgx.Conn, extra ...string) (Session, error) {
	names := slices.Concat(SessionSettings, extra)
	s := Session{TxStatus: conn.PgConn().TxStatus(), Settings: map[string]string{}}
	q := `SELECT current_user::text, session_user::text, current_setting('role'), current_setting('search_path'),
		now() <> statement_timestamp(),
		(SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory')`
	for _, name := range names {
		q += ", coalesce(current_setting('" + name + "', true), '')"
	}
	vals := make([]string, len(names))
	dest := []any{&s.CurrentUser, &s.SessionUser, &s.Role, &s.SearchPath, &s.OldSnapshot, &s.AdvisoryLocks}
	for i := range vals {
		dest = append(dest, &vals[i])
	}
	// The simple protocol: one Query message is one implicit transaction
	// whose start is the statement's, so now() = statement_timestamp()
	// unless a transaction was already open. (Under the extended protocol
	// Bind and Execute may run in another implicit transaction than Parse.)
	if err := conn.QueryRow(ctx, q, pgx.QueryExecModeSimpleProtocol).Scan(dest...); err != nil {
		return Session{}, fmt.Errorf("read session: %w", err)
	}
	for i, name := range names {
		s.Settings[name] = vals[i]
	}
	return s, nil
}

// Differences lists how s differs from baseline, the session of a fresh
// connection of the same pool; nil when it does not.
func (s Session) Differences(baseline Session) []string {
	var d []string
	diff := func(what, got, want string) {
		if got != want {
			d = append(d, fmt.Sprintf("%s is %q, want %q", what, got, want))
		}
	}
	diff("current_user", s.CurrentUser, baseline.CurrentUser)
	diff("session_user", s.SessionUser, baseline.SessionUser)
	diff("role", s.Role, baseline.Role)
	diff("search_path", s.SearchPath, baseline.SearchPath)
	for _, name := range slices.Sorted(maps.Keys(s.Settings)) {
		diff(name, s.Settings[name], baseline.Settings[name])
	}
	if s.TxStatus != 'I' {
		d = append(d, fmt.Sprintf("transaction status is %q, want 'I' (idle, no transaction open)", s.TxStatus))
	}
	if s.OldSnapshot {
		d = append(d, "now() differs from statement_timestamp(): a transaction begun earlier is still open")
	}
	if s.AdvisoryLocks != baseline.AdvisoryLocks {
		d = append(d, fmt.Sprintf("the session holds %d advisory locks, want %d", s.AdvisoryLocks, baseline.AdvisoryLocks))
	}
	return d
}

// Querier is what CatalogProblems needs of a connection.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// catalogChecks are the catalog queries: each returns one text column, a
// problem per row; $1, where used, is the login role.
var catalogChecks = []string{
	// Every table of every tenant schema has row-level security enabled
	// and forced (forced binds the table's owner, the tenant role, too).
	`SELECT format('table %I.%I: row-level security %s', n.nspname, c.relname,
		CASE WHEN NOT c.relrowsecurity AND NOT c.relforcerowsecurity THEN 'is off'
		     WHEN NOT c.relrowsecurity THEN 'is not enabled'
		     ELSE 'is enabled but not forced' END)
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname LIKE 't\_%' AND c.relkind IN ('r', 'p')
	  AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
	ORDER BY 1`,
	// The login role owns no relation in a tenant schema (an owner that is
	// not the tenant role would not be bound by FORCE through SET ROLE
	// alone, and could alter the policies).
	`SELECT format('%s %I.%I is owned by the login role %I', c.relkind, n.nspname, c.relname, $1::text)
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname LIKE 't\_%' AND pg_get_userbyid(c.relowner) = $1
	ORDER BY 1`,
	// A tenant schema belongs to the tenant's role, and so does every
	// table in it.
	`SELECT format('schema %I is owned by %I, not by its tenant role', n.nspname, pg_get_userbyid(n.nspowner))
	FROM pg_namespace n WHERE n.nspname LIKE 't\_%' AND pg_get_userbyid(n.nspowner) <> n.nspname
	UNION ALL
	SELECT format('table %I.%I is owned by %I, not by its tenant role', n.nspname, c.relname, pg_get_userbyid(c.relowner))
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname LIKE 't\_%' AND c.relkind IN ('r', 'p') AND pg_get_userbyid(c.relowner) <> n.nspname
	ORDER BY 1`,
	// The login role is bound by row-level security.
	`SELECT format('the login role %I is %s', rolname, concat_ws(' and ',
		CASE WHEN rolsuper THEN 'a superuser' END, CASE WHEN rolbypassrls THEN 'BYPASSRLS' END))
	FROM pg_roles WHERE rolname = $1 AND (rolsuper OR rolbypassrls)
	UNION ALL
	SELECT format('the login role %I does not exist', $1::text)
	WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`,
	// Every tenant role of this database is a plain NOLOGIN role.
	`SELECT format('tenant role %I: %s', r.rolname, concat_ws(', ',
		CASE WHEN r.rolcanlogin THEN 'can log in' END, CASE WHEN r.rolsuper THEN 'is a superuser' END,
		CASE WHEN r.rolbypassrls THEN 'has BYPASSRLS' END, CASE WHEN r.rolcreaterole THEN 'has CREATEROLE' END,
		CASE WHEN r.rolcreatedb THEN 'has CREATEDB' END))
	FROM pg_roles r JOIN pg_namespace n ON n.nspname = r.rolname
	WHERE n.nspname LIKE 't\_%' AND (r.rolcanlogin OR r.rolsuper OR r.rolbypassrls OR r.rolcreaterole OR r.rolcreatedb)
	ORDER BY 1`,
	// No tenant role is a member, directly or not, of another's, and none
	// can use another's schema.
	`SELECT format('tenant role %I is a member of tenant role %I', a.nspname, b.nspname)
	FROM pg_namespace a, pg_namespace b
	WHERE a.nspname LIKE 't\_%' AND b.nspname LIKE 't\_%' AND a.nspname <> b.nspname
	  AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = a.nspname)
	  AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = b.nspname)
	  AND pg_has_role(a.nspname, b.nspname, 'MEMBER')
	UNION ALL
	SELECT format('tenant role %I may use schema %I', a.nspname, b.nspname)
	FROM pg_namespace a, pg_namespace b
	WHERE a.nspname LIKE 't\_%' AND b.nspname LIKE 't\_%' AND a.nspname <> b.nspname
	  AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = a.nspname)
	  AND has_schema_privilege(a.nspname, b.oid, 'USAGE')
	ORDER BY 1`,
}

// CatalogProblems checks the database q is connected to, whose planes log
// in as loginRole, and returns one line per problem found (nil when there
// is none): a table in a tenant schema (t_*) without row-level security
// enabled and forced, or owned by anyone but its tenant role; the login
// role owning anything there, or being a superuser or BYPASSRLS; a tenant
// role that can log in or has more than NOLOGIN's rights, is a member of
// another tenant's role or may use another tenant's schema. Run it as a
// superuser, which sees every catalog row.
func CatalogProblems(ctx context.Context, q Querier, loginRole string) ([]string, error) {
	var problems []string
	for _, sql := range catalogChecks {
		var args []any
		if strings.Contains(sql, "$1") {
			args = append(args, loginRole)
		}
		rows, err := q.Query(ctx, sql, args...)
		if err != nil {
			return nil, fmt.Errorf("catalog check: %w", err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("catalog check: %w", err)
		}
		problems = append(problems, got...)
	}
	return problems, nil
}

// Principal is whose a piece of data is: a tenant, the collection (or
// another name for data outside collections, such as users' accounts) and
// the end user that owns it ("" for data only the service role may see).
type Principal struct {
	Tenant     string
	Collection string
	Owner      string
}

func (p Principal) String() string {
	owner := "the service role"
	if p.Owner != "" {
		owner = "user " + p.Owner
	}
	return fmt.Sprintf("tenant %s, %s of %s", p.Tenant, p.Collection, owner)
}

// MarkerLen is the length of every marker: "mark" and 16 lowercase hex
// digits.
const MarkerLen = 20

const markerPrefix = "mark"

// Markers are unique strings planted in rows, one per principal, so that
// finding one in an answer says whose data it is. Markers are lowercase
// (emails are folded to lowercase) and never a part of each other. The
// zero value is empty; Add registers markers. Not safe for concurrent
// Add; Find may run concurrently once all are added.
type Markers struct {
	owner map[string]Principal
}

// Add registers marker m (MarkerLen characters starting with "mark") for
// p.
func (ms *Markers) Add(m string, p Principal) {
	if len(m) != MarkerLen || !strings.HasPrefix(m, markerPrefix) {
		panic("isolation: malformed marker " + m)
	}
	if ms.owner == nil {
		ms.owner = map[string]Principal{}
	}
	ms.owner[m] = p
}

// Owner returns the principal of marker m.
func (ms *Markers) Owner(m string) (Principal, bool) {
	p, ok := ms.owner[m]
	return p, ok
}

// Found is a marker seen where it may not be.
type Found struct {
	Marker string
	Owner  Principal
	// Context is the text around it.
	Context string
}

// Find returns the markers in text (compared in lowercase) whose owner
// visible refuses, once each. Every occurrence of a string of echo, the
// caller's own input, is cut from text first: an error that quotes the
// request (another tenant's email the caller tried) leaks nothing the
// caller did not send.
func (ms *Markers) Find(text string, echo []string, visible func(Principal) bool) []Found {
	text = strings.ToLower(text)
	for _, e := range echo {
		if e = strings.ToLower(e); e != "" {
			text = strings.ReplaceAll(text, e, "\x00")
		}
	}
	var out []Found
	seen := map[string]bool{}
	for i := 0; ; {
		j := strings.Index(text[i:], markerPrefix)
		if j < 0 {
			break
		}
		i += j
		if i+MarkerLen <= len(text) {
			m := text[i : i+MarkerLen]
			if p, ok := ms.owner[m]; ok && !seen[m] && !visible(p) {
				seen[m] = true
				out = append(out, Found{Marker: m, Owner: p, Context: excerpt(text, i)})
			}
		}
		i++
	}
	return out
}

func excerpt(text string, i int) string {
	from, to := max(0, i-60), min(len(text), i+MarkerLen+60)
	return strings.ToValidUTF8(text[from:to], "?")
}
