package dataplane_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/dataplane"
	"github.com/sovereign-backend/sovereign/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Several nodes starting at once on one fresh database apply each migration
// exactly once (the acceptance check for concurrent starts).
func TestConcurrentStartsMigrateOnce(t *testing.T) {
	t.Parallel()
	dbURL := testenv.Database(t)
	ctx := context.Background()
	const nodes = 4
	planes := make([]*dataplane.Plane, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			planes[i], errs[i] = dataplane.New(ctx, dataplane.Config{DatabaseURL: dbURL, Logger: slog.New(slog.DiscardHandler)})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		defer planes[i].Close()
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT version, count(*) FROM dataplane.schema_migrations GROUP BY version ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var version, count int64
		if err := rows.Scan(&version, &count); err != nil {
			t.Fatal(err)
		}
		if count != 1 {
			t.Errorf("migration %d recorded %d times", version, count)
		}
		n++
	}
	if rows.Err() != nil || n == 0 {
		t.Fatalf("no migrations recorded (%v)", rows.Err())
	}
}

func TestInvalidRegionIsRefused(t *testing.T) {
	t.Parallel()
	_, err := dataplane.New(context.Background(), dataplane.Config{Region: "Bad Region", DatabaseURL: "postgres://unused"})
	if err == nil {
		t.Fatal("a region name with capitals and a space was accepted")
	}
}
