// Package clitestenv is what the CLI's tests share: the platform they run
// against, the test binary doubling as `sov`, the script commands of the
// testscript tests, and a project's secret key made through the SDK.
//
// The platform is the one at SOVEREIGN_TEST_API_URL and
// SOVEREIGN_TEST_DATA_URL when both are set (`make test` starts one and sets
// them); otherwise the test starts one in process (internal/platformtest).
package clitestenv

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sovereign-backend/sovereign/internal/platformtest"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Environment variables naming a running platform.
const (
	EnvAPIURL  = "SOVEREIGN_TEST_API_URL"
	EnvDataURL = "SOVEREIGN_TEST_DATA_URL"
)

// Main makes the test binary double as `sov`: run under that name (see
// SovOnPath), it runs sov and exits with its code; otherwise it runs the
// tests with testenv.Main. Call it from TestMain.
func Main(m *testing.M, sov func() int) {
	if filepath.Base(os.Args[0]) == "sov" {
		os.Exit(sov())
	}
	testenv.Main(m)
}

// Platform returns the control and data plane URLs of the platform the
// scripts run against: the running one named by the environment, else one
// started in process for t.
func Platform(t *testing.T) (apiURL, dataURL string) {
	t.Helper()
	apiURL, dataURL = os.Getenv(EnvAPIURL), os.Getenv(EnvDataURL)
	switch {
	case apiURL != "" && dataURL != "":
		return apiURL, dataURL
	case apiURL != "" || dataURL != "":
		t.Fatalf("set both %s and %s to run against a running platform, or neither to start one in process", EnvAPIURL, EnvDataURL)
	}
	p := platformtest.Start(t, platformtest.Options{})
	return p.APIURL, p.DataURL
}

// SovOnPath returns a directory holding `sov`: a link to this test binary,
// which Main turns into the CLI.
func SovOnPath(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(exe, filepath.Join(dir, "sov")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// JSONGet is the script command `jsonget FILE FIELD VAR`: it sets $VAR to
// the string FIELD of the JSON object in FILE (stdout for the last
// command's output). FIELD may be a dotted path with list indexes:
// keys.0.key.
func JSONGet(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: jsonget FILE FIELD VAR")
	}
	var v any
	if err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &v); err != nil {
		ts.Fatalf("%s is not JSON: %v", args[0], err)
	}
	for _, part := range strings.Split(args[1], ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[part]
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				ts.Fatalf("%s: no element %q", args[1], part)
			}
			v = x[i]
		default:
			ts.Fatalf("%s: %q is not in an object or list", args[1], part)
		}
	}
	s, ok := v.(string)
	if !ok || s == "" {
		ts.Fatalf("%s of %s is %v, not a string", args[1], args[0], v)
	}
	ts.Setenv(args[2], s)
}

// SecretKey signs a new account up on the control plane at apiURL, makes
// an organization and a project called name in region local, waits for
// the project to be active and returns a new secret key of it.
func SecretKey(t *testing.T, apiURL, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	sess, err := sovereign.NewManagementClient(apiURL).Signup(ctx, fmt.Sprintf("%s-%d@example.com", name, time.Now().UnixNano()), "correct-horse-battery-staple")
	if err != nil {
		t.Fatalf("signup: %v", err)
	}
	mc := sovereign.NewManagementClient(apiURL, sovereign.WithToken(sess.AccessToken))
	org, err := mc.CreateOrganization(ctx, name)
	if err != nil {
		t.Fatalf("create organization: %v", err)
	}
	pr, err := mc.CreateProject(ctx, sovereign.CreateProjectParams{OrganizationID: org.ID, Name: name, Region: "local"})
	if err != nil {
		t.Fatalf("create project: %v", err)
	}
	if pr, err = mc.WaitProjectActive(ctx, pr.ID); err != nil {
		t.Fatalf("wait for the project: %v", err)
	}
	_, secret, err := mc.CreateAPIKey(ctx, sovereign.CreateAPIKeyParams{ProjectID: pr.ID, Name: "cli", Kind: sovereign.KeySecret})
	if err != nil {
		t.Fatalf("create key: %v", err)
	}
	return secret
}
