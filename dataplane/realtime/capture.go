package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/dataplane/filter"
	"github.com/sovereign-backend/sovereign/dataplane/records"
	"github.com/sovereign-backend/sovereign/dataplane/rules"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// changeEvent is one captured change, converted once for every
// subscriber: rec is the record after an insert or update, or as it was
// for a delete; old is the record before an update.
type changeEvent struct {
	pos              int64
	op               string
	at               time.Time
	rec, old         records.Record
	recJSON, oldJSON json.RawMessage
}

func service(ref string) tenantdb.Identity {
	return tenantdb.Identity{TenantRef: ref, Role: tenantdb.RoleService}
}

// readHead returns collection coll's last position and the position up
// to which its changes were purged (0 and 0 before its first change).
func (f *Feed) readHead(ctx context.Context, ref, coll string) (head, purged int64, err error) {
	err = f.db.Read(ctx, service(ref), func(rows pgx.Rows) error {
		if rows.Next() {
			return rows.Scan(&head, &purged)
		}
		return rows.Err()
	}, "SELECT pos, purged_through FROM "+tenantdb.Table(ref, schema.ChangeHeadsTable)+" WHERE collection = $1", coll)
	if err != nil {
		return 0, 0, fmt.Errorf("realtime: read the head of %s: %w", coll, err)
	}
	return head, purged, nil
}

// errCollectionGone says the collection was dropped: its subscribers must
// resync.
var errCollectionGone = errors.New("realtime: collection dropped")

// loadChanges reads up to FetchPageSize changes of coll after position
// after, converted, with the collection's definition they were converted
// by and the position up to which the log was purged. A dropped collection
// is errCollectionGone.
func (f *Feed) loadChanges(ctx context.Context, ref, coll string, after int64) ([]*changeEvent, *schema.Collection, int64, error) {
	id := service(ref)
	c, err := f.colls.Get(ctx, id, coll)
	if errors.Is(err, schema.ErrNotFound) {
		return nil, nil, 0, errCollectionGone
	}
	if err != nil {
		return nil, nil, 0, fmt.Errorf("realtime: load collection %s: %w", coll, err)
	}
	type row struct {
		pos      int64
		op       string
		rec, old []byte
		at       time.Time
	}
	var (
		rowsOut []row
		purged  int64
	)
	err = f.db.Read(ctx, id, func(rows pgx.Rows) error {
		for rows.Next() {
			var r row
			var pos *int64
			var op *string
			var at *time.Time
			if err := rows.Scan(&purged, &pos, &op, &r.rec, &r.old, &at); err != nil {
				return err
			}
			if pos == nil {
				continue
			}
			r.pos, r.op, r.at = *pos, *op, *at
			rowsOut = append(rowsOut, r)
		}
		return rows.Err()
	}, "SELECT coalesce((SELECT purged_through FROM "+tenantdb.Table(ref, schema.ChangeHeadsTable)+" WHERE collection = $1), 0), ch.pos, ch.op, ch.record, ch.old, ch.at"+
		" FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT pos, op, record, old, at FROM "+tenantdb.Table(ref, schema.ChangesTable)+
		" WHERE collection = $1 AND pos > $2 ORDER BY pos LIMIT $3) AS ch ON true ORDER BY ch.pos", coll, after, FetchPageSize)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("realtime: read changes of %s: %w", coll, err)
	}
	evs := make([]*changeEvent, 0, len(rowsOut))
	for _, r := range rowsOut {
		ev := &changeEvent{pos: r.pos, op: r.op, at: r.at}
		if ev.rec, err = records.FromRowJSON(c, r.rec); err != nil {
			return nil, nil, 0, err
		}
		if ev.recJSON, err = records.MarshalRecord(ev.rec); err != nil {
			return nil, nil, 0, err
		}
		if r.old != nil {
			if ev.old, err = records.FromRowJSON(c, r.old); err != nil {
				return nil, nil, 0, err
			}
			if ev.oldJSON, err = records.MarshalRecord(ev.old); err != nil {
				return nil, nil, 0, err
			}
		}
		evs = append(evs, ev)
	}
	return evs, c, purged, nil
}

// viewRule compiles c's view rule; nil when it has none.
func viewRule(c *schema.Collection) (*filter.Rule, error) {
	if c.Rules == nil || c.Rules.View == nil {
		return nil, nil
	}
	env, err := filter.NewRuleEnv(c)
	if err != nil {
		return nil, err
	}
	r, err := env.Rule(c.Rules.View.Expr, filter.MethodView)
	if err != nil {
		return nil, fmt.Errorf("realtime: collection %s: stored view rule: %w", c.Name, err)
	}
	return r, nil
}

// ruleKey identifies what a compiled view rule depends on: the fields'
// names and types and the rule's text.
func ruleKey(c *schema.Collection) string {
	var b strings.Builder
	for _, f := range c.Fields {
		b.WriteString(f.Name + ":" + string(f.Type) + ",")
	}
	if c.Rules != nil && c.Rules.View != nil {
		b.WriteString("|" + c.Rules.View.Expr)
	}
	return b.String()
}

// snapshot reads, as the subscriber, the records of c that its filter and
// view rule let through, together with the collection's head, in one
// statement: one MVCC snapshot, so the changes after that head are exactly
// those the records do not show yet. More than maxSnap records is an
// InvalidArgument *connect.Error.
func (f *Feed) snapshot(ctx context.Context, id tenantdb.Identity, c *schema.Collection, filterSrc string) (int64, []json.RawMessage, error) {
	var (
		where = "true"
		args  = []any{c.Name}
	)
	if strings.TrimSpace(filterSrc) != "" {
		env, err := filter.NewEnv(c)
		if err != nil {
			return 0, nil, err
		}
		compiled, err := env.Compile(filterSrc, len(args))
		if err != nil {
			return 0, nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("filter: %w", err))
		}
		where = "(" + compiled.SQL + ")"
		args = append(args, compiled.Args...)
	}
	if id.Role != tenantdb.RoleService {
		compiled, err := f.rules.Compiled(c)
		if err != nil {
			return 0, nil, err
		}
		auth, err := rules.AuthOf(id, time.Now())
		if err != nil {
			return 0, nil, connect.NewError(connect.CodePermissionDenied, err)
		}
		cond, ruleArgs := compiled.Condition(filter.MethodView, len(args), auth)
		where += " AND " + cond
		args = append(args, ruleArgs...)
	}
	args = append(args, f.maxSnap+1)
	sql := "SELECT h.pos, r.rec FROM (SELECT coalesce((SELECT pos FROM " + tenantdb.Table(id.TenantRef, schema.ChangeHeadsTable) +
		" WHERE collection = $1), 0) AS pos) AS h LEFT JOIN LATERAL (SELECT to_jsonb(t) AS rec, t.id FROM " + tenantdb.Table(id.TenantRef, c.Name) +
		" AS t WHERE " + where + " ORDER BY t.id LIMIT $" + strconv.Itoa(len(args)) + ") AS r ON true ORDER BY r.id"
	var (
		head int64
		out  []json.RawMessage
	)
	err := f.db.Read(ctx, id, func(rows pgx.Rows) error {
		for rows.Next() {
			var raw []byte
			if err := rows.Scan(&head, &raw); err != nil {
				return err
			}
			if raw == nil {
				continue
			}
			rec, err := records.FromRowJSON(c, raw)
			if err != nil {
				return err
			}
			js, err := records.MarshalRecord(rec)
			if err != nil {
				return err
			}
			out = append(out, js)
		}
		return rows.Err()
	}, sql, args...)
	if err != nil {
		return 0, nil, fmt.Errorf("realtime: snapshot of %s: %w", c.Name, err)
	}
	if len(out) > f.maxSnap {
		return 0, nil, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("snapshot: more than %d records of %s match; narrow the filter, or read the records page by page and subscribe without a snapshot", f.maxSnap, c.Name))
	}
	return head, out, nil
}

// Purge deletes, in every tenant of the database, the captured changes
// older than the retention, in batches of FetchPageSize, and records how
// far each collection's log was purged (a cursor before that gets
// ErrResync). Run calls it every PurgeInterval; it is safe to run on
// every node at once.
func (f *Feed) Purge(ctx context.Context) error {
	rows, err := f.db.Pool().Query(ctx, `SELECT n.nspname FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = $1 AND c.relkind = 'r' AND n.nspname LIKE 't\_%'`, schema.ChangesTable)
	if err != nil {
		return fmt.Errorf("realtime: list change logs: %w", err)
	}
	schemas, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("realtime: list change logs: %w", err)
	}
	cutoff := time.Now().Add(-f.retain)
	var errs []error
	for _, s := range schemas {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := f.purgeTenant(ctx, strings.TrimPrefix(s, "t_"), cutoff); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (f *Feed) purgeTenant(ctx context.Context, ref string, cutoff time.Time) error {
	id := service(ref)
	var colls []string
	err := f.db.Read(ctx, id, func(rows pgx.Rows) error {
		var err error
		colls, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	}, "SELECT collection FROM "+tenantdb.Table(ref, schema.ChangeHeadsTable))
	if err != nil {
		return fmt.Errorf("realtime: purge tenant %s: %w", ref, err)
	}
	changes, heads := tenantdb.Table(ref, schema.ChangesTable), tenantdb.Table(ref, schema.ChangeHeadsTable)
	for _, coll := range colls {
		for {
			var deleted int64
			err := f.db.Tx(ctx, id, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
				// The oldest batch's last change older than the cutoff, and
				// every change up to it.
				var through *int64
				if err := q.QueryRow(ctx, "SELECT max(pos) FROM (SELECT pos, at FROM "+changes+
					" WHERE collection = $1 ORDER BY pos LIMIT $2) AS s WHERE at < $3", coll, FetchPageSize, cutoff).Scan(&through); err != nil {
					return err
				}
				if through == nil {
					return nil
				}
				tag, err := q.Exec(ctx, "DELETE FROM "+changes+" WHERE collection = $1 AND pos <= $2", coll, *through)
				if err != nil {
					return err
				}
				deleted = tag.RowsAffected()
				_, err = q.Exec(ctx, "UPDATE "+heads+" SET purged_through = greatest(purged_through, $2) WHERE collection = $1", coll, *through)
				return err
			})
			if err != nil {
				return fmt.Errorf("realtime: purge %s of tenant %s: %w", coll, ref, err)
			}
			if deleted < FetchPageSize {
				break
			}
		}
	}
	return nil
}
