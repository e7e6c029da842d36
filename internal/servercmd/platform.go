package servercmd

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sovereign-backend/sovereign/controlplane"
	"github.com/sovereign-backend/sovereign/dataplane"
	"github.com/sovereign-backend/sovereign/internal/buildinfo"
	"github.com/sovereign-backend/sovereign/internal/pgproc"
	"github.com/sovereign-backend/sovereign/internal/token"
	"github.com/sovereign-backend/sovereign/internal/valkeyproc"
)

// stack is what a local platform stands on and what it started, stopped in
// reverse order by close.
type stack struct {
	stops []func(context.Context) error
}

func (s *stack) push(stop func(context.Context) error) { s.stops = append(s.stops, stop) }

// close stops everything started, newest first.
func (s *stack) close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var err error
	for i := len(s.stops) - 1; i >= 0; i-- {
		err = errors.Join(err, s.stops[i](ctx))
	}
	s.stops = nil
	return err
}

// servers are PostgreSQL and Valkey for a local platform.
type servers struct {
	// adminURL reaches the maintenance database with a superuser; empty
	// when the database was given (databaseURL is used as is).
	adminURL    string
	databaseURL string
	valkeyURL   string
	dbDesc      string
	kvDesc      string
}

type serversOptions struct {
	dir         string
	databaseURL string // given; "" = private cluster under dir
	valkeyURL   string // given; "" = private server when installed
	// requireValkey refuses the in-process broker (test-services).
	requireValkey bool
	logger        *slog.Logger
}

// startServers starts what is not given. Stops are pushed on st.
func startServers(ctx context.Context, st *stack, o serversOptions) (*servers, error) {
	s := &servers{databaseURL: o.databaseURL, valkeyURL: o.valkeyURL, dbDesc: "from --database-url", kvDesc: "from --valkey-url"}
	if s.databaseURL == "" {
		cluster, where, err := startPrivatePostgres(ctx, o.dir, o.logger)
		if err != nil {
			return nil, err
		}
		st.push(cluster.Stop)
		s.adminURL = cluster.URL("postgres")
		s.dbDesc = fmt.Sprintf("private cluster in %s, 127.0.0.1:%d", where, cluster.Port())
	}
	if s.valkeyURL == "" {
		bin, err := valkeyproc.FindBinary()
		switch {
		case err != nil && o.requireValkey:
			return nil, err
		case err != nil:
			s.kvDesc = "in-process broker (no valkey-server or redis-server installed)"
		default:
			srv, err := valkeyproc.Start(ctx, valkeyproc.Config{Dir: filepath.Join(o.dir, "valkey"), Binary: bin, Logger: o.logger})
			if err != nil {
				return nil, fmt.Errorf("start private Valkey: %w", err)
			}
			st.push(srv.Stop)
			s.valkeyURL = srv.URL()
			s.kvDesc = fmt.Sprintf("private %s on 127.0.0.1:%d (config %s)", filepath.Base(bin), srv.Port(), srv.ConfigPath())
		}
	}
	return s, nil
}

// startPrivatePostgres starts the private cluster under dir/postgres. When
// the cluster's user (PostgreSQL will not run as root) cannot reach that
// directory, the cluster lives in a directory of its own under the system's
// temporary directory instead, named after dir so it is reused too.
func startPrivatePostgres(ctx context.Context, dir string, logger *slog.Logger) (*pgproc.Cluster, string, error) {
	where := filepath.Join(dir, "postgres")
	c, err := pgproc.Start(ctx, pgproc.Config{Dir: where, Logger: logger})
	if errors.Is(err, pgproc.ErrDirNotTraversable) {
		where = filepath.Join(fallbackDir(dir), "postgres")
		logger.Warn("the PostgreSQL user cannot reach the directory; keeping the cluster elsewhere", "dir", where, "reason", err.Error())
		c, err = pgproc.Start(ctx, pgproc.Config{Dir: where, Logger: logger})
	}
	if err != nil {
		return nil, "", fmt.Errorf("start private PostgreSQL: %w", err)
	}
	return c, where, nil
}

// fallbackDir is where dir's cluster lives when PostgreSQL's user cannot
// reach dir.
func fallbackDir(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(os.TempDir(), "sovereign-"+hex.EncodeToString(sum[:6]))
}

// planes are a running control plane and local data plane, bound to their
// listeners.
type planes struct {
	cp       *controlplane.Plane
	cpl, dpl *listener
}

type planesOptions struct {
	databaseURL, valkeyURL string
	dbMaxConns             int32
	cpAddr, dpAddr         string
	regionSecret           string
	// dataDir keeps stored files unless --data-dir says otherwise.
	dataDir string
	cp      controlplane.Config // the control plane's own settings
	dp      dataPlaneFlags
	hf      httpFlags
	logger  *slog.Logger
}

// startPlanes binds both addresses, then builds the control plane and the
// data plane of region "local", which registers with the control plane.
// Stops are pushed on st.
func startPlanes(ctx context.Context, st *stack, o planesOptions) (*planes, error) {
	cpLog := o.logger.With("server", "controlplane")
	dpLog := o.logger.With("server", "dataplane", "region", "local")
	cpl, err := listen(o.cpAddr, o.hf.serverConfig("controlplane", cpLog))
	if err != nil {
		return nil, err
	}
	dpl, err := listen(o.dpAddr, o.hf.serverConfig("dataplane", dpLog))
	if err != nil {
		closeAll(cpl)
		return nil, err
	}
	cfg := o.cp
	cfg.DatabaseURL, cfg.DBMaxConns, cfg.ValkeyURL = o.databaseURL, o.dbMaxConns, o.valkeyURL
	cfg.RegionSecrets = []string{"local=" + o.regionSecret}
	cfg.Version, cfg.Logger = buildinfo.Version(), cpLog
	cp, err := controlplane.New(ctx, cfg)
	if err != nil {
		closeAll(cpl, dpl)
		return nil, err
	}
	st.push(func(context.Context) error { cp.Close(); return nil })
	dp, err := dataplane.New(ctx, dataplane.Config{
		Region: "local", DatabaseURL: o.databaseURL, DBMaxConns: o.dbMaxConns, ValkeyURL: o.valkeyURL,
		RegionSecret: o.regionSecret, ControlPlaneURL: cpl.URL(), PublicURL: dpl.URL(),
		MaxRecordBytes: o.dp.maxRecordBytes, CORSOrigins: o.dp.corsOrigins, KeyPrefix: o.cp.KeyPrefix,
		DataDir: cmp.Or(o.dp.dataDir, o.dataDir), StorageS3URL: o.dp.storageS3URL, RealtimeRetention: o.dp.realtimeRetention,
		Version: buildinfo.Version(), Logger: dpLog,
	})
	if err != nil {
		closeAll(cpl, dpl)
		return nil, err
	}
	st.push(func(context.Context) error { dp.Close(); return nil })
	cpl.plane, dpl.plane = cp, dp
	return &planes{cp: cp, cpl: cpl, dpl: dpl}, nil
}

// readOrCreateSecret returns the secret kept in path, creating it (0600)
// the first time.
func readOrCreateSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= 16 {
		return string(b), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	s := token.New("sov_rs_")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		return "", err
	}
	return s, nil
}
