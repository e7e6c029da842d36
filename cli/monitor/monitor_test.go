package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sovereign-backend/sovereign/cli/credentials"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/internal/platformtest"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
	"github.com/sovereign-backend/sovereign/tui"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var t0 = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

// fakeSource answers every Fetch with snap and err.
type fakeSource struct {
	snap tui.Snapshot
	err  error
}

func (f fakeSource) Fetch(context.Context) (tui.Snapshot, error) { return f.snap, f.err }

func testSnapshot() tui.Snapshot {
	return tui.Snapshot{
		ControlPlane: tui.Plane{
			URL: "http://127.0.0.1:7070", Reachable: true, Ready: true, Version: "v0.3.1",
			StartedAt: t0.Add(-time.Hour),
			Checks:    []tui.Check{{Name: "postgres", OK: true, Latency: 1500 * time.Microsecond}},
		},
		DataPlane: tui.Plane{URL: "http://127.0.0.1:7071", Error: "sovereign: unavailable: connection refused"},
		Regions: []tui.Region{
			{Name: "local", URL: "http://127.0.0.1:7071", Healthy: false, LastHeartbeat: t0.Add(-2 * time.Minute)},
		},
		Projects: []tui.Project{
			{ID: "p1", Name: "shop", Ref: "abcdefghijkl", OrgID: "o1", OrgName: "acme", Region: "local",
				State: tui.StateProvisioning, CreatedAt: t0.Add(-10 * time.Second), LastError: "region local unreachable"},
		},
	}
}

// run executes `sov monitor args...` on a fake source and returns stdout,
// stderr and the error.
func run(t *testing.T, tty bool, src tui.Source, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	f := &factory.Factory{
		IO:     &factory.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, OutTTY: tty},
		APIURL: factory.DefaultAPIURL, DataURL: factory.DefaultDataURL,
	}
	cmd := NewCmdMonitor(f, func(ctx context.Context, o *Options) error {
		o.Source, o.Now = src, func() time.Time { return t0 }
		return Run(ctx, o)
	})
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

func TestOnceJSON(t *testing.T) {
	for _, args := range [][]string{{"--once", "--json"}, {"--json"}} {
		out, _, err := run(t, false, fakeSource{snap: testSnapshot()}, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var got struct {
			FetchedAt    time.Time `json:"fetched_at"`
			ControlPlane struct {
				Ready  bool `json:"ready"`
				Checks []struct {
					Name    string `json:"name"`
					Latency int64  `json:"latency_ns"`
				} `json:"checks"`
			} `json:"control_plane"`
			DataPlane struct {
				Reachable bool   `json:"reachable"`
				Error     string `json:"error"`
			} `json:"data_plane"`
			NotLoggedIn bool `json:"not_logged_in"`
			Regions     []struct {
				Name    string `json:"name"`
				Healthy bool   `json:"healthy"`
			} `json:"regions"`
			Projects []struct {
				Ref       string    `json:"ref"`
				OrgName   string    `json:"organization_name"`
				State     string    `json:"state"`
				CreatedAt time.Time `json:"created_at"`
				LastError string    `json:"last_error"`
			} `json:"projects"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v: not JSON: %v\n%s", args, err, out)
		}
		if !got.FetchedAt.Equal(t0) || !got.ControlPlane.Ready || len(got.ControlPlane.Checks) != 1 ||
			got.ControlPlane.Checks[0].Latency != int64(1500*time.Microsecond) ||
			got.DataPlane.Reachable || !strings.Contains(got.DataPlane.Error, "connection refused") ||
			got.NotLoggedIn || len(got.Regions) != 1 || got.Regions[0].Healthy {
			t.Errorf("%v: wrong report: %+v", args, got)
		}
		if len(got.Projects) != 1 || got.Projects[0].Ref != "abcdefghijkl" || got.Projects[0].OrgName != "acme" ||
			got.Projects[0].State != "provisioning" || got.Projects[0].LastError != "region local unreachable" ||
			!got.Projects[0].CreatedAt.Equal(t0.Add(-10*time.Second)) {
			t.Errorf("%v: wrong projects: %+v", args, got.Projects)
		}
	}
}

func TestOnceRecordsInPipe(t *testing.T) {
	out, _, err := run(t, false, fakeSource{snap: testSnapshot()}, "--once")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"plane\tcontrol\thttp://127.0.0.1:7070\tready\tv0.3.1\t\t2026-03-14T11:00:00Z\t",
		"check\tcontrol\tpostgres\tok\t1500\t",
		"plane\tdata\thttp://127.0.0.1:7071\tunreachable\t\t\t\tsovereign: unavailable: connection refused",
		"region\tlocal\thttp://127.0.0.1:7071\tunhealthy\t2026-03-14T11:58:00Z",
		"project\tshop\tabcdefghijkl\to1\tacme\tlocal\tprovisioning\t2026-03-14T11:59:50Z\tregion local unreachable",
	}, "\n") + "\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}

func TestOnceTablesOnTerminal(t *testing.T) {
	out, _, err := run(t, true, fakeSource{snap: testSnapshot()}, "--once")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"PLANE", "control", "ready", "v0.3.1", "1h", "postgres 1.5ms",
		"data", "unreachable", "connection refused",
		"REGION", "local", "no", "2m ago",
		"PROJECT", "shop", "abcdefghijkl", "acme", "provisioning", "10s ago", "region local unreachable",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestOnceNotLoggedIn(t *testing.T) {
	snap := testSnapshot()
	snap.Regions, snap.Projects, snap.NotLoggedIn = nil, nil, true
	out, errOut, err := run(t, false, fakeSource{snap: snap}, "--once")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "project\t") || !strings.Contains(errOut, "not logged in: run sov login") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}
	out, _, err = run(t, true, fakeSource{snap: snap}, "--once")
	if err != nil || !strings.Contains(out, "not logged in: run sov login") {
		t.Errorf("terminal: %v\n%s", err, out)
	}
}

func TestOnceFetchError(t *testing.T) {
	_, _, err := run(t, false, fakeSource{err: errors.New("neither plane answers")}, "--once", "--json")
	if err == nil || !strings.Contains(err.Error(), "neither plane answers") || factory.ExitCode(err) != factory.ExitError {
		t.Fatalf("got %v (exit %d)", err, factory.ExitCode(err))
	}
}

func TestRefusesWithoutTerminal(t *testing.T) {
	out, _, err := run(t, false, fakeSource{snap: testSnapshot()})
	if err == nil || factory.ExitCode(err) != factory.ExitUsage || !strings.Contains(err.Error(), "--once") {
		t.Fatalf("got %v (exit %d)", err, factory.ExitCode(err))
	}
	if out != "" {
		t.Errorf("printed %q", out)
	}
}

func TestFlags(t *testing.T) {
	var got *Options
	f := &factory.Factory{IO: &factory.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}},
		APIURL: "http://cp:1", DataURL: "http://dp:2"}
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{{nil, 2 * time.Second}, {[]string{"--interval", "5s"}, 5 * time.Second}} {
		cmd := NewCmdMonitor(f, func(_ context.Context, o *Options) error { got = o; return nil })
		cmd.SetArgs(tc.args)
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		if got.Interval != tc.want || got.APIURL != "http://cp:1" || got.DataURL != "http://dp:2" || got.Once || got.JSON {
			t.Errorf("%v: options %+v", tc.args, got)
		}
	}

	_, _, err := run(t, false, fakeSource{snap: testSnapshot()}, "--once", "--interval", "10ms")
	if err == nil || factory.ExitCode(err) != factory.ExitUsage {
		t.Fatalf("a 10ms interval: got %v", err)
	}
}

// TestOnceUsesProfile runs the real command against the real platform:
// with the profile's token it lists regions; without a login it still
// shows the planes and says it is not logged in. The data plane's URL
// points at a closed port.
func TestOnceUsesProfile(t *testing.T) {
	p := platformtest.Start(t, platformtest.Options{})
	anon := sovereign.NewManagementClient(p.APIURL)
	sess, err := anon.Signup(t.Context(), "monitor@example.com", "correct-horse-battery-staple")
	if err != nil {
		t.Fatal(err)
	}
	_, pat, err := sovereign.NewManagementClient(p.APIURL, sovereign.WithToken(sess.AccessToken)).CreateToken(t.Context(), "monitor", 0)
	if err != nil {
		t.Fatal(err)
	}
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()

	for _, tc := range []struct {
		name        string
		profile     *credentials.Profile
		notLoggedIn bool
		regions     int
	}{
		{"logged in", &credentials.Profile{Token: pat}, false, 1},
		{"no login", nil, true, 0},
	} {
		dir := t.TempDir()
		if tc.profile != nil {
			store := &credentials.Store{Dir: dir}
			if err := store.Update(func(f *credentials.File) error {
				f.Profiles[credentials.DefaultProfile] = tc.profile
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		var out bytes.Buffer
		f := &factory.Factory{
			IO:     &factory.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &bytes.Buffer{}},
			APIURL: p.APIURL, DataURL: gone.URL, Profile: credentials.DefaultProfile,
			ConfigDir: func() (string, error) { return dir, nil },
			Now:       func() time.Time { return t0 }, ClientOptions: []sovereign.Option{sovereign.WithRetries(0)},
		}
		cmd := NewCmdMonitor(f, nil)
		cmd.SetArgs([]string{"--once", "--json"})
		if err := cmd.ExecuteContext(t.Context()); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got struct {
			ControlPlane struct {
				Version string `json:"version"`
			} `json:"control_plane"`
			DataPlane struct {
				Reachable bool `json:"reachable"`
			} `json:"data_plane"`
			NotLoggedIn  bool              `json:"not_logged_in"`
			Regions      []json.RawMessage `json:"regions"`
			RegionsError string            `json:"regions_error"`
		}
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("%s: %v\n%s", tc.name, err, out.String())
		}
		if got.ControlPlane.Version != "devel" || got.DataPlane.Reachable || got.NotLoggedIn != tc.notLoggedIn ||
			len(got.Regions) != tc.regions || got.RegionsError != "" {
			t.Errorf("%s: %+v", tc.name, got)
		}
		if !strings.Contains(out.String(), `"regions": [`) {
			t.Errorf("%s: regions is not a JSON list:\n%s", tc.name, out.String())
		}
	}
}
