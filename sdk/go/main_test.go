package sovereign_test

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"testing"
)

// examples names the Example functions, which run against a real platform.
var examples = []string{"Example", "ExampleManagementClient_Projects", "ExampleIsNotFound", "ExampleManagementClient_CreateAPIKey",
	"ExampleCollection", "ExampleCollectionRef_Query", "ExampleIsConflict", "ExampleClient_Batch", "ExampleCollections_Alter", "ExampleWhere",
	"ExampleAuth_SignUp", "ExampleCollections_SetRules", "ExampleAuth_SignInAnonymously", "ExampleWithSessionStore", "ExampleAuthAdmin_Users"}

// TestMain fails at once, saying how to get a platform, when the examples are
// about to run and the platform's URLs are not in the environment. Tests that
// need no platform run without them when selected with -run.
func TestMain(m *testing.M) {
	flag.Parse()
	if needPlatform() && (os.Getenv("SOVEREIGN_TEST_API_URL") == "" || os.Getenv("SOVEREIGN_TEST_DATA_URL") == "") {
		fmt.Fprintln(os.Stderr, `sdk/go: the Example tests run against a real platform, and SOVEREIGN_TEST_API_URL and SOVEREIGN_TEST_DATA_URL are not both set.
Run them with `+"`make test`"+`, which starts a platform and sets both, or start one with `+"`make dev`"+` and run
  SOVEREIGN_TEST_API_URL=http://127.0.0.1:7070 SOVEREIGN_TEST_DATA_URL=http://127.0.0.1:7071 go test ./sdk/go/`)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// needPlatform reports whether the -test.run pattern selects an example.
func needPlatform() bool {
	pat := flag.Lookup("test.run").Value.String()
	if pat == "" {
		return true
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return true // let the testing package report the bad pattern
	}
	for _, name := range examples {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}
