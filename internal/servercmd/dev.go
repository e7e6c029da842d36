package servercmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/controlplane"
	"github.com/sovereign-backend/sovereign/internal/pgsetup"
)

// The login role and database `sovereign dev` makes in its private cluster:
// the planes never run as a superuser, so row-level security binds them.
const (
	devRole     = "sovereign_app"
	devDatabase = "sovereign_platform"
)

// devEmail is the local account `sovereign dev` makes on its first start.
const devEmail = "dev@sovereign.localhost"

type devOptions struct {
	controlPlaneAddr string
	dataPlaneAddr    string
	dir              string
	be               backendFlags
	cpf              controlPlaneFlags
	dpf              dataPlaneFlags
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
otherwise an in-process broker. Mails go to the dev mailbox (sov dev mail) unless
--smtp-host is set. On its first start it makes a local account and prints a
ready-to-use login. Ctrl-C stops everything it started.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return devRun(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), &o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.controlPlaneAddr, "controlplane-addr", defaultControlPlaneAddr, "address the control plane listens on")
	fs.StringVar(&o.dataPlaneAddr, "dataplane-addr", defaultDataPlaneAddr, "address the data plane listens on")
	fs.StringVar(&o.dir, "dir", ".sovereign", "directory for the private PostgreSQL, Valkey, secrets and files")
	o.be.register(cmd, "PostgreSQL URL to use instead of a private cluster")
	o.cpf.register(fs, false)
	o.dpf.register(fs)
	o.hf.register(fs, dataPlaneMaxBody)
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
	var st stack
	defer func() { err = errors.Join(err, st.close(ctx)) }()

	srv, err := startServers(ctx, &st, serversOptions{dir: dir, databaseURL: o.be.databaseURL, valkeyURL: o.be.valkeyURL, logger: logger})
	if err != nil {
		return err
	}
	dbURL := srv.databaseURL
	if dbURL == "" {
		password, err := readOrCreateSecret(filepath.Join(dir, "app-password"))
		if err != nil {
			return fmt.Errorf("database password: %w", err)
		}
		if dbURL, err = pgsetup.Ensure(ctx, srv.adminURL, pgsetup.App{Role: devRole, Password: password, Database: devDatabase}, false); err != nil {
			return err
		}
	}
	secret, err := readOrCreateSecret(filepath.Join(dir, "region-secret"))
	if err != nil {
		return fmt.Errorf("region secret: %w", err)
	}
	cpCfg := o.cpf.config()
	cpCfg.KeyPrefix = o.be.keyPrefix
	cpCfg.DevMailbox = o.cpf.smtp.Host == ""
	pl, err := startPlanes(ctx, &st, planesOptions{
		databaseURL: dbURL, valkeyURL: srv.valkeyURL, dbMaxConns: o.be.dbMaxConns,
		cpAddr: o.controlPlaneAddr, dpAddr: o.dataPlaneAddr, regionSecret: secret,
		dataDir: filepath.Join(o.dir, "files"), cp: cpCfg, dp: o.dpf, hf: o.hf, logger: logger,
	})
	if err != nil {
		return err
	}
	login, err := devLogin(ctx, pl.cp, filepath.Join(dir, "dev-login.json"), logger)
	if err != nil {
		closeAll(pl.cpl, pl.dpl)
		return err
	}
	fmt.Fprintf(out, `Sovereign is running.
  control plane  %s
  data plane     %s  (region local)
  PostgreSQL     %s
  Valkey         %s
`, pl.cpl.URL(), pl.dpl.URL(), srv.dbDesc, srv.kvDesc)
	if login != nil {
		fmt.Fprintf(out, `  Local account  %s (password and token in %s)
Log the CLI in with:
  sov login --api-url %s --token %s
`, login.Email, filepath.Join(o.dir, "dev-login.json"), pl.cpl.URL(), login.Token)
	}
	fmt.Fprintln(out, "Press Ctrl-C to stop.")
	err = serveAll(ctx, pl.cpl, pl.dpl)
	fmt.Fprintln(out, "Sovereign stopped.")
	return err
}

// devLogin returns the local account kept in path, making it on the first
// start. When the database was made elsewhere and already has the account
// (so its secrets are unknown here), it returns nil and logs why.
func devLogin(ctx context.Context, cp *controlplane.Plane, path string, logger *slog.Logger) (*controlplane.DevLogin, error) {
	var login controlplane.DevLogin
	b, err := os.ReadFile(path)
	if err == nil && json.Unmarshal(b, &login) == nil && login.Token != "" {
		return &login, nil
	}
	login, err = cp.CreateDevLogin(ctx, devEmail)
	if err != nil {
		logger.Warn("no local account printed: it exists already but its login is not kept here", "email", devEmail, "file", path, "reason", err.Error())
		return nil, nil
	}
	b, err = json.MarshalIndent(login, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("keep the local login: %w", err)
	}
	return &login, nil
}
