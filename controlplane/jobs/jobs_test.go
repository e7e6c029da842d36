package jobs_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"go.uber.org/goleak"

	"github.com/sovereign-backend/sovereign/controlplane/jobs"
	"github.com/sovereign-backend/sovereign/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type pingArgs struct{ N int }

func (pingArgs) Kind() string { return "ping" }

type pingWorker struct {
	river.WorkerDefaults[pingArgs]
	done chan int
}

func (w *pingWorker) Work(_ context.Context, job *river.Job[pingArgs]) error {
	w.done <- job.Args.N
	return nil
}

// Not parallel: it checks for leaked goroutines, which other tests would
// start. Nodes starting at once migrate River's schema once between them; a job
// inserted in a transaction runs after the commit; Stop leaves no
// goroutine behind.
func TestRunner(t *testing.T) {
	pool := testenv.Pool(t)
	leaks := goleak.IgnoreCurrent()
	ctx := context.Background()
	done := make(chan int, 1)
	workers := river.NewWorkers()
	river.AddWorker(workers, &pingWorker{done: done})

	const nodes = 3
	runners := make([]*jobs.Runner, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			runners[i], errs[i] = jobs.New(ctx, jobs.Config{Pool: pool, Workers: workers, TestOnly: true, Logger: slog.New(slog.DiscardHandler)})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	var migrations int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM controlplane_river.river_migration`).Scan(&migrations); err != nil {
		t.Fatal(err)
	}
	if migrations == 0 {
		t.Fatal("no River migrations recorded")
	}

	r := runners[0]
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Client().InsertTx(ctx, tx, pingArgs{N: 7}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-done:
		t.Fatalf("job %d ran before its transaction committed", n)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-done:
		if n != 7 {
			t.Errorf("job ran with %d", n)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("job never ran")
	}
	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := r.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for goleak.Find(leaks) != nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := goleak.Find(leaks); err != nil {
		t.Error(err)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := jobs.New(ctx, jobs.Config{Workers: river.NewWorkers()}); err == nil {
		t.Error("New without a pool")
	}
	pool := testenv.Pool(t)
	if _, err := jobs.New(ctx, jobs.Config{Pool: pool}); err == nil {
		t.Error("New without workers")
	}
	if _, err := jobs.New(ctx, jobs.Config{Pool: pool, Workers: river.NewWorkers(), Schema: `x"; DROP TABLE y; --`}); err == nil {
		t.Error("New with an unsafe schema name")
	}
}
