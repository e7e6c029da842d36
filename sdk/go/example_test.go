package sovereign_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"sync"
	"time"

	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// The examples run against the platform whose URLs are in
// SOVEREIGN_TEST_API_URL and SOVEREIGN_TEST_DATA_URL (`make test` starts one;
// see TestMain). In your own program these are your platform's URLs, e.g.
// http://127.0.0.1:7070 and http://127.0.0.1:7071 for `sov dev`.
var (
	apiURL  = os.Getenv("SOVEREIGN_TEST_API_URL")
	dataURL = os.Getenv("SOVEREIGN_TEST_DATA_URL")
)

// uniqueEmail returns an address no other run has signed up with.
func uniqueEmail(who string) string {
	return fmt.Sprintf("%s-%d@example.com", who, time.Now().UnixNano())
}

var (
	signInOnce sync.Once
	signedIn   *sovereign.ManagementClient
)

// managementClient returns a client signed in as a fresh account, made once
// for all the examples but the first.
func managementClient(ctx context.Context) *sovereign.ManagementClient {
	signInOnce.Do(func() {
		sess, err := sovereign.NewManagementClient(apiURL).Signup(ctx, uniqueEmail("examples"), "correct-horse-battery-staple")
		if err != nil {
			log.Fatal(err)
		}
		signedIn = sovereign.NewManagementClient(apiURL, sovereign.WithToken(sess.AccessToken))
	})
	return signedIn
}

// The whole way from a new account to a call on the project's data plane.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Sign up; the session's access token authenticates what follows.
	sess, err := sovereign.NewManagementClient(apiURL).Signup(ctx, uniqueEmail("quickstart"), "correct-horse-battery-staple")
	if err != nil {
		log.Fatal(err)
	}
	mc := sovereign.NewManagementClient(apiURL, sovereign.WithToken(sess.AccessToken))

	org, err := mc.CreateOrganization(ctx, "Acme")
	if err != nil {
		log.Fatal(err)
	}
	project, err := mc.CreateProject(ctx, sovereign.CreateProjectParams{
		OrganizationID: org.ID, Name: "shop", Region: "local",
	})
	if err != nil {
		log.Fatal(err)
	}
	// Provisioning runs in the background; wait until the region serves it.
	project, err = mc.WaitProjectActive(ctx, project.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("project:", project.State)

	// A secret key is shown once: keep it on servers.
	_, secret, err := mc.CreateAPIKey(ctx, sovereign.CreateAPIKeyParams{
		ProjectID: project.ID, Name: "backend", Kind: sovereign.KeySecret,
	})
	if err != nil {
		log.Fatal(err)
	}

	// The data plane knows the project by its key. (A program would use
	// project.DataPlaneURL; the examples use the platform they were given.)
	c := sovereign.NewClient(dataURL, sovereign.WithAPIKey(secret))
	info, err := c.CurrentProject(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("key opens the project:", info.Ref == project.Ref)
	fmt.Println("key kind:", info.KeyKind)
	// Output:
	// project: active
	// key opens the project: true
	// key kind: secret
}

// Lists are iterators that fetch pages as the loop needs them.
func ExampleManagementClient_Projects() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mc := managementClient(ctx)

	org, err := mc.CreateOrganization(ctx, "Listing")
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range []string{"alpha", "beta", "gamma"} {
		if _, err := mc.CreateProject(ctx, sovereign.CreateProjectParams{OrganizationID: org.ID, Name: name, Region: "local"}); err != nil {
			log.Fatal(err)
		}
	}

	// Newest first; PageSize 2 makes the iterator fetch two pages.
	for p, err := range mc.Projects(ctx, sovereign.ListProjectsParams{OrganizationID: org.ID, PageSize: 2}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(p.Name, p.Region)
	}
	// Output:
	// gamma local
	// beta local
	// alpha local
}

// A revoked key stops working on the data plane within a second.
func ExampleManagementClient_CreateAPIKey() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mc := managementClient(ctx)

	org, err := mc.CreateOrganization(ctx, "Keys")
	if err != nil {
		log.Fatal(err)
	}
	project, err := mc.CreateProject(ctx, sovereign.CreateProjectParams{OrganizationID: org.ID, Name: "app", Region: "local"})
	if err != nil {
		log.Fatal(err)
	}
	if project, err = mc.WaitProjectActive(ctx, project.ID); err != nil {
		log.Fatal(err)
	}
	key, publishable, err := mc.CreateAPIKey(ctx, sovereign.CreateAPIKeyParams{
		ProjectID: project.ID, Name: "web", Kind: sovereign.KeyPublishable, TTL: 30 * 24 * time.Hour,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("kind:", key.Kind, "expires:", !key.ExpiresAt.IsZero())

	c := sovereign.NewClient(dataURL, sovereign.WithAPIKey(publishable))
	_, err = c.CurrentProject(ctx)
	fmt.Println("before revoking, the key works:", err == nil)

	if _, err := mc.RevokeAPIKey(ctx, key.ID); err != nil {
		log.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for {
		_, err = c.CurrentProject(ctx)
		if sovereign.IsUnauthenticated(err) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Println("after revoking, the key is refused:", sovereign.IsUnauthenticated(err))
	// Output:
	// kind: publishable expires: true
	// before revoking, the key works: true
	// after revoking, the key is refused: true
}

// Errors from the platform carry a code; helpers and errors.As read it.
func ExampleIsNotFound() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mc := managementClient(ctx)

	_, err := mc.GetProject(ctx, "nosuchproj12")
	fmt.Println("not found:", sovereign.IsNotFound(err))

	var e *sovereign.Error
	if errors.As(err, &e) {
		fmt.Println("code:", e.Code)
	}
	// Output:
	// not found: true
	// code: not_found
}
