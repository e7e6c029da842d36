package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// The statements the data plane runs for the three workloads on a
// collection with the fields title, n and owner, as dataplane/records builds
// them (Get, Query with the filter compiled by dataplane/filter, and
// Create) for a secret key, whose requests carry no access-rule condition.
// The table is named with the tenant's schema.
func getSQL(tbl string) string {
	return "SELECT " + columns + " FROM " + tbl + ` WHERE "id" = $1`
}

func listSQL(tbl string) string {
	return "SELECT " + columns + " FROM " + tbl + ` WHERE (("n" > $1::bigint AND "n" < $2::bigint)) AND true` +
		` ORDER BY "n" ASC NULLS LAST, "id" ASC NULLS LAST LIMIT $3`
}

func insertSQL(tbl string) string {
	return "INSERT INTO " + tbl + ` AS r ("id", "created_at", "updated_at", "version", "title", "n", "owner")` +
		` VALUES ($1, now(), now(), 1, $2, $3, $4) RETURNING ` + columns
}

const columns = `"id", "created_at", "updated_at", "version", "title", "n", "owner"`

// baseline runs the data plane's SQL through pgx directly, on a pool of the
// data plane's size, in two ways:
//
//   - raw: the statement alone, as the pool's user (autocommit);
//   - tenant: through dataplane/tenantdb as the data plane does, in a
//     transaction as the tenant's role with its settings: for reads BEGIN
//     READ ONLY, the set_config batch, the statement and COMMIT in one
//     round trip (tenantdb.Read); for the create BEGIN, the set_config
//     batch, the INSERT and COMMIT in one round trip too (tenantdb.Batch).
type baseline struct {
	pool *pgxpool.Pool
	tdb  *tenantdb.DB
	id   tenantdb.Identity

	get, list, insert string
}

func newBaseline(pool *pgxpool.Pool, ref, keyID string) *baseline {
	tbl := tenantdb.Table(ref, collection)
	return &baseline{
		pool:   pool,
		tdb:    tenantdb.New(pool),
		id:     tenantdb.Identity{TenantRef: ref, Role: tenantdb.RoleService, KeyID: keyID},
		get:    getSQL(tbl),
		list:   listSQL(tbl),
		insert: insertSQL(tbl),
	}
}

// scan reads every row's values, as the data plane does (rows.Values), and
// checks how many rows came back.
func scan(rows pgx.Rows, want int, what string) error {
	n := 0
	for rows.Next() {
		if _, err := rows.Values(); err != nil {
			return err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("%s: %d rows, want %d", what, n, want)
	}
	return nil
}

// query runs sql alone on the pool.
func (b *baseline) query(ctx context.Context, want int, what, sql string, args ...any) error {
	rows, err := b.pool.Query(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	return scan(rows, want, what)
}

// read runs sql as tenantdb.Read does for the data plane.
func (b *baseline) read(ctx context.Context, want int, what, sql string, args ...any) error {
	return b.tdb.Read(ctx, b.id, func(rows pgx.Rows) error { return scan(rows, want, what) }, sql, args...)
}

// write runs sql as the data plane runs a single create: tenantdb.Batch,
// BEGIN, the setup, the statement and COMMIT in one round trip
// (records.Service.write).
func (b *baseline) write(ctx context.Context, what, sql string, args ...any) error {
	batch := &pgx.Batch{}
	batch.Queue(sql, args...)
	return b.tdb.Batch(ctx, b.id, batch, func(br pgx.BatchResults) error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		return scan(rows, 1, what)
	})
}

// workloads are the three workloads, raw (tenant false) or through
// tenantdb (tenant true).
func (b *baseline) workloads(d *dataset, tenant bool) map[string]func(context.Context) error {
	read, write := b.query, func(ctx context.Context, what, sql string, args ...any) error {
		return b.query(ctx, 1, what, sql, args...)
	}
	if tenant {
		read, write = b.read, b.write
	}
	return map[string]func(context.Context) error{
		wGet: func(ctx context.Context) error {
			return read(ctx, 1, "get", b.get, d.randomID())
		},
		wList: func(ctx context.Context) error {
			x := d.randomX()
			return read(ctx, listLimit+1, "list", b.list, x, x+listSpan, listLimit+1)
		},
		wCreate: func(ctx context.Context) error {
			n := d.nextN()
			return write(ctx, "create", b.insert, uuid.Must(uuid.NewV7()).String(), "created "+strconv.FormatInt(n, 10), n, "bench")
		},
	}
}
