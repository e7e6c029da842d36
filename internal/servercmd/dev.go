package servercmd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/controlplane"
	"github.com/sovereign-backend/sovereign/dataplane"
	"github.com/sovereign-backend/sovereign/internal/buildinfo"
	"github.com/sovereign-backend/sovereign/internal/pgproc"
	"github.com/sovereign-backend/sovereign/internal/valkeyproc"
)

// devDatabase is the database `sovereign dev` creates in its private cluster.
const devDatabase = "sovereign"

type devOptions struct {
	controlPlaneAddr string
	dataPlaneAddr    string
	dir              string
	be               backendFlags
	hf               httpFlags
}

func newDevCmd() *cobra.Command {
	var o devOptions
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole platform locally: control plane and one data plane (region local)",
		Long: `Run the control plane and one data plane (region "local") in one process.

PostgreSQL: --database-url / SOVEREIGN_DATABASE_URL when set; otherwise a private
cluster under <dir>/postgres, created with the system's initdb on first start and
reused afterwards. Valkey: --valkey-url / SOVEREIGN_VALKEY_URL when set; otherwise
a private valkey-server or redis-server under <dir>/valkey when one is installed;
otherwise an in-process broker. Ctrl-C stops everything it started.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return devRun(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), &o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.controlPlaneAddr, "controlplane-addr", defaultControlPlaneAddr, "address the control plane listens on")
	fs.StringVar(&o.dataPlaneAddr, "dataplane-addr", defaultDataPlaneAddr, "address the data plane listens on")
	fs.StringVar(&o.dir, "dir", ".sovereign", "directory for the private PostgreSQL, Valkey and files")
	o.be.register(cmd, "PostgreSQL URL to use instead of a private cluster")
	o.hf.register(fs)
	return cmd
}

func devRun(ctx context.Context, out, errOut io.Writer, o *devOptions) (err error) {
	if err := o.hf.validate(); err != nil {
		return err
	}
	logger, err := newLogger(errOut, o.hf.logLevel)
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	// Everything started here is stopped on the way out, newest first, even
	// when a later step fails.
	var stops []func(context.Context) error
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		for i := len(stops) - 1; i >= 0; i-- {
			err = errors.Join(err, stops[i](sctx))
		}
	}()

	dbURL, dbDesc := o.be.databaseURL, "from --database-url"
	if dbURL == "" {
		cluster, where, err := startDevPostgres(ctx, dir, logger)
		if err != nil {
			return err
		}
		stops = append(stops, cluster.Stop)
		if err := ensureDatabase(ctx, cluster.URL("postgres"), devDatabase); err != nil {
			return err
		}
		dbURL = cluster.URL(devDatabase)
		dbDesc = fmt.Sprintf("private cluster in %s, 127.0.0.1:%d", where, cluster.Port())
	}

	kvURL, kvDesc := o.be.valkeyURL, "from --valkey-url"
	if kvURL == "" {
		if bin, ferr := valkeyproc.FindBinary(); ferr != nil {
			kvDesc = "in-process broker (no valkey-server or redis-server installed)"
		} else {
			srv, err := valkeyproc.Start(ctx, valkeyproc.Config{Dir: filepath.Join(dir, "valkey"), Binary: bin, Logger: logger})
			if err != nil {
				return fmt.Errorf("start private Valkey: %w", err)
			}
			stops = append(stops, srv.Stop)
			kvURL = srv.URL()
			kvDesc = fmt.Sprintf("private %s on 127.0.0.1:%d (config %s)", filepath.Base(bin), srv.Port(), srv.ConfigPath())
		}
	}

	cp, err := controlplane.New(ctx, controlplane.Config{
		DatabaseURL: dbURL, DBMaxConns: o.be.dbMaxConns, ValkeyURL: kvURL,
		Version: buildinfo.Version(), Logger: logger.With("server", "controlplane"),
	})
	if err != nil {
		return err
	}
	stops = append(stops, func(context.Context) error { cp.Close(); return nil })
	dp, err := dataplane.New(ctx, dataplane.Config{
		Region: "local", DatabaseURL: dbURL, DBMaxConns: o.be.dbMaxConns, ValkeyURL: kvURL,
		Version: buildinfo.Version(), Logger: logger.With("server", "dataplane", "region", "local"),
	})
	if err != nil {
		return err
	}
	stops = append(stops, func(context.Context) error { dp.Close(); return nil })

	cpl, err := listen(o.controlPlaneAddr, o.hf.serverConfig("controlplane", logger.With("server", "controlplane")), cp)
	if err != nil {
		return err
	}
	dpl, err := listen(o.dataPlaneAddr, o.hf.serverConfig("dataplane", logger.With("server", "dataplane")), dp)
	if err != nil {
		closeAll([]*listener{cpl})
		return err
	}
	fmt.Fprintf(out, `Sovereign is running.
  control plane  %s
  data plane     %s  (region local)
  PostgreSQL     %s
  Valkey         %s
Press Ctrl-C to stop.
`, cpl.URL(), dpl.URL(), dbDesc, kvDesc)
	err = serveAll(ctx, cpl, dpl)
	fmt.Fprintln(out, "Sovereign stopped.")
	return err
}

// startDevPostgres starts the private cluster under dir/postgres. When the
// cluster's user (PostgreSQL will not run as root) cannot reach that
// directory, the cluster lives in a directory of its own under the system's
// temporary directory instead, named after dir so it is reused too.
func startDevPostgres(ctx context.Context, dir string, logger *slog.Logger) (*pgproc.Cluster, string, error) {
	where := filepath.Join(dir, "postgres")
	c, err := pgproc.Start(ctx, pgproc.Config{Dir: where, Logger: logger})
	if errors.Is(err, pgproc.ErrDirNotTraversable) {
		sum := sha256.Sum256([]byte(dir))
		where = filepath.Join(os.TempDir(), "sovereign-"+hex.EncodeToString(sum[:6]), "postgres")
		logger.Warn("the PostgreSQL user cannot reach the dev directory; keeping the cluster elsewhere", "dir", where, "reason", err.Error())
		c, err = pgproc.Start(ctx, pgproc.Config{Dir: where, Logger: logger})
	}
	if err != nil {
		return nil, "", fmt.Errorf("start private PostgreSQL: %w", err)
	}
	return c, where, nil
}

// ensureDatabase creates database name on the server at adminURL unless it
// exists.
func ensureDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to private PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}
