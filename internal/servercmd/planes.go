package servercmd

import (
	"cmp"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sovereign-backend/sovereign/controlplane"
	"github.com/sovereign-backend/sovereign/controlplane/mail"
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
	keyPrefix   string
}

func (b *backendFlags) register(cmd *cobra.Command, dbHelp string) {
	fs := cmd.Flags()
	fs.StringVar(&b.databaseURL, "database-url", "", dbHelp)
	fs.Int32Var(&b.dbMaxConns, "db-max-conns", 0, "most PostgreSQL connections the pool opens; 0 = max(4, CPUs)")
	fs.StringVar(&b.valkeyURL, "valkey-url", "", "Valkey or Redis 7 URL (redis://host:port); empty = in-process broker, one node only")
	fs.StringVar(&b.keyPrefix, "key-prefix", "sovereign:", "start of every Valkey key and channel, so deployments can share one Valkey")
}

// controlPlaneFlags are the control plane's own settings.
type controlPlaneFlags struct {
	regionSecrets []string
	retentionDur  time.Duration
	smtp          mail.SMTPConfig
	appURL        string
	devMailbox    bool
}

func (c *controlPlaneFlags) register(fs *pflag.FlagSet, withRegionSecrets bool) {
	if withRegionSecrets {
		fs.StringSliceVar(&c.regionSecrets, "region-secret", nil, "region=secret the region's data planes present (repeatable, or comma-separated in the environment); secrets are at least 16 characters")
	}
	fs.DurationVar(&c.retentionDur, "project-retention", controlplane.DefaultProjectRetention, "how long a deleted project's data is kept before it is dropped")
	fs.StringVar(&c.smtp.Host, "smtp-host", "", "SMTP server for account mails; empty keeps mails in the dev mailbox")
	fs.IntVar(&c.smtp.Port, "smtp-port", 587, "SMTP port; 465 = TLS from the start, otherwise STARTTLS when offered")
	fs.StringVar(&c.smtp.Username, "smtp-username", "", "SMTP user; empty = no authentication")
	fs.StringVar(&c.smtp.Password, "smtp-password", "", "SMTP password (prefer the environment variable)")
	fs.StringVar(&c.smtp.From, "smtp-from", "", "sender address of account mails, e.g. \"Sovereign <no-reply@example.com>\"")
	fs.StringVar(&c.appURL, "app-url", "", "web console base URL for links in mails; empty sends bare tokens")
}

func (c *controlPlaneFlags) config() controlplane.Config {
	return controlplane.Config{
		RegionSecrets:    c.regionSecrets,
		ProjectRetention: c.retentionDur,
		SMTP:             c.smtp,
		AppURL:           c.appURL,
		DevMailbox:       c.devMailbox,
	}
}

func newControlPlaneCmd() *cobra.Command {
	var (
		addr string
		be   backendFlags
		cpf  controlPlaneFlags
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
			l, err := listen(addr, hf.serverConfig("controlplane", logger))
			if err != nil {
				return err
			}
			cfg := cpf.config()
			cfg.DatabaseURL, cfg.DBMaxConns, cfg.ValkeyURL, cfg.KeyPrefix = be.databaseURL, be.dbMaxConns, be.valkeyURL, be.keyPrefix
			cfg.Version, cfg.Logger = buildinfo.Version(), logger
			p, err := controlplane.New(ctx, cfg)
			if err != nil {
				closeAll(l)
				return err
			}
			defer p.Close()
			l.plane = p
			logger.Info("control plane listening", "url", l.URL())
			return serveAll(ctx, l)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", defaultControlPlaneAddr, "address to listen on (host:port)")
	be.register(cmd, "PostgreSQL URL of the control plane's database (required)")
	cpf.register(cmd.Flags(), true)
	cmd.Flags().BoolVar(&cpf.devMailbox, "dev-mailbox", false, "serve the dev mailbox (kept mails) to anyone: for development only")
	hf.register(cmd.Flags(), controlPlaneMaxBody)
	return cmd
}

func newDataPlaneCmd() *cobra.Command {
	var (
		addr, region, regionSecret, controlPlaneURL, publicURL string
		dpf                                                    dataPlaneFlags
		be                                                     backendFlags
		hf                                                     httpFlags
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
			l, err := listen(addr, hf.serverConfig("dataplane", logger))
			if err != nil {
				return err
			}
			p, err := dataplane.New(ctx, dataplane.Config{
				Region: region, DatabaseURL: be.databaseURL, DBMaxConns: be.dbMaxConns, ValkeyURL: be.valkeyURL, KeyPrefix: be.keyPrefix,
				RegionSecret: regionSecret, ControlPlaneURL: controlPlaneURL, PublicURL: cmp.Or(publicURL, l.URL()),
				MaxRecordBytes: dpf.maxRecordBytes, CORSOrigins: dpf.corsOrigins,
				DataDir: cmp.Or(dpf.dataDir, "data"), StorageS3URL: dpf.storageS3URL, RealtimeRetention: dpf.realtimeRetention,
				Version: buildinfo.Version(), Logger: logger,
			})
			if err != nil {
				closeAll(l)
				return err
			}
			defer p.Close()
			l.plane = p
			logger.Info("data plane listening", "url", l.URL())
			return serveAll(ctx, l)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&addr, "addr", defaultDataPlaneAddr, "address to listen on (host:port)")
	fs.StringVar(&region, "region", "local", "name of the region this node serves")
	fs.StringVar(&regionSecret, "region-secret", "", "secret shared with the control plane for this region (at least 16 characters); empty = no admin service, no registration")
	fs.StringVar(&controlPlaneURL, "controlplane-url", "", "control plane URL to register with and send heartbeats to; empty = no registration")
	fs.StringVar(&publicURL, "public-url", "", "this region's URL as clients reach it, sent at registration; empty = http://<addr>")
	be.register(cmd, "PostgreSQL URL of the region's database (required)")
	dpf.register(fs)
	hf.register(fs, dataPlaneMaxBody)
	return cmd
}

// dataPlaneFlags are the data plane's own settings.
type dataPlaneFlags struct {
	maxRecordBytes    int
	corsOrigins       []string
	dataDir           string
	storageS3URL      string
	realtimeRetention time.Duration
}

func (d *dataPlaneFlags) register(fs *pflag.FlagSet) {
	fs.IntVar(&d.maxRecordBytes, "max-record-bytes", 1<<20, "largest record accepted, in bytes of JSON; larger ones get ResourceExhausted (413 on REST)")
	fs.StringSliceVar(&d.corsOrigins, "cors-origins", nil, "origins browsers may call the data plane from (exact, one * wildcard, or *); empty = any")
	fs.StringVar(&d.dataDir, "data-dir", "", "directory for stored files when --storage-s3-url is empty, one subdirectory per project; empty = ./data (sovereign dataplane) or <dir>/files (sovereign dev)")
	fs.StringVar(&d.storageS3URL, "storage-s3-url", "", "S3-compatible store for files instead of --data-dir: s3://ACCESS:SECRET@HOST:PORT/BUCKET?region=R&secure=true (path-style; credentials percent-encoded; secure defaults to true); prefer the environment variable")
	fs.DurationVar(&d.realtimeRetention, "realtime-retention", 24*time.Hour, "how long record changes are kept for realtime clients to resume from a cursor")
}
