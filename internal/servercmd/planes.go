package servercmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/controlplane"
	"github.com/sovereign-backend/sovereign/dataplane"
	"github.com/sovereign-backend/sovereign/internal/buildinfo"
)

// Default listen addresses; `sovereign dev` uses the same.
const (
	defaultControlPlaneAddr = "127.0.0.1:7070"
	defaultDataPlaneAddr    = "127.0.0.1:7071"
)

// backendFlags says where the backing services are.
type backendFlags struct {
	databaseURL string
	dbMaxConns  int32
	valkeyURL   string
}

func (b *backendFlags) register(cmd *cobra.Command, dbHelp string) {
	fs := cmd.Flags()
	fs.StringVar(&b.databaseURL, "database-url", "", dbHelp)
	fs.Int32Var(&b.dbMaxConns, "db-max-conns", 0, "most PostgreSQL connections the pool opens; 0 = max(4, CPUs)")
	fs.StringVar(&b.valkeyURL, "valkey-url", "", "Valkey or Redis 7 URL (redis://host:port); empty = in-process broker, one node only")
}

func newControlPlaneCmd() *cobra.Command {
	var (
		addr string
		be   backendFlags
		hf   httpFlags
	)
	cmd := &cobra.Command{
		Use:   "controlplane",
		Short: "Run the control plane (accounts, organizations, projects, keys, billing)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := hf.validate(); err != nil {
				return err
			}
			if be.databaseURL == "" {
				return usageError{fmt.Errorf("--database-url (or SOVEREIGN_DATABASE_URL) is required")}
			}
			logger, err := newLogger(cmd.ErrOrStderr(), hf.logLevel)
			if err != nil {
				return err
			}
			logger = logger.With("server", "controlplane")
			ctx := cmd.Context()
			p, err := controlplane.New(ctx, controlplane.Config{
				DatabaseURL: be.databaseURL, DBMaxConns: be.dbMaxConns, ValkeyURL: be.valkeyURL,
				Version: buildinfo.Version(), Logger: logger,
			})
			if err != nil {
				return err
			}
			defer p.Close()
			l, err := listen(addr, hf.serverConfig("controlplane", logger), p)
			if err != nil {
				return err
			}
			logger.Info("control plane listening", "url", l.URL())
			return serveAll(ctx, l)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", defaultControlPlaneAddr, "address to listen on (host:port)")
	be.register(cmd, "PostgreSQL URL of the control plane's database (required)")
	hf.register(cmd.Flags())
	return cmd
}

func newDataPlaneCmd() *cobra.Command {
	var (
		addr   string
		region string
		be     backendFlags
		hf     httpFlags
	)
	cmd := &cobra.Command{
		Use:   "dataplane",
		Short: "Run a data plane node (tenants' APIs) for one region",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := hf.validate(); err != nil {
				return err
			}
			if be.databaseURL == "" {
				return usageError{fmt.Errorf("--database-url (or SOVEREIGN_DATABASE_URL) is required")}
			}
			logger, err := newLogger(cmd.ErrOrStderr(), hf.logLevel)
			if err != nil {
				return err
			}
			logger = logger.With("server", "dataplane", "region", region)
			ctx := cmd.Context()
			p, err := dataplane.New(ctx, dataplane.Config{
				Region: region, DatabaseURL: be.databaseURL, DBMaxConns: be.dbMaxConns, ValkeyURL: be.valkeyURL,
				Version: buildinfo.Version(), Logger: logger,
			})
			if err != nil {
				return err
			}
			defer p.Close()
			l, err := listen(addr, hf.serverConfig("dataplane", logger), p)
			if err != nil {
				return err
			}
			logger.Info("data plane listening", "url", l.URL())
			return serveAll(ctx, l)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", defaultDataPlaneAddr, "address to listen on (host:port)")
	cmd.Flags().StringVar(&region, "region", "local", "name of the region this node serves")
	be.register(cmd, "PostgreSQL URL of the region's database (required)")
	hf.register(cmd.Flags())
	return cmd
}
