package sovereign_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

const userPassword = "correct-horse-battery-staple"

var (
	authOnce        sync.Once
	authAdminClient *sovereign.Client
	publishableKey  string
)

// authProject returns a client of a fresh project with its secret key (the
// service role, for a backend), and the project's publishable key (for
// apps), made once for all the auth examples.
func authProject(ctx context.Context) (*sovereign.Client, string) {
	authOnce.Do(func() {
		mc := managementClient(ctx)
		org, err := mc.CreateOrganization(ctx, "Auth examples")
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
		_, secret, err := mc.CreateAPIKey(ctx, sovereign.CreateAPIKeyParams{ProjectID: project.ID, Name: "backend", Kind: sovereign.KeySecret})
		if err != nil {
			log.Fatal(err)
		}
		_, publishableKey, err = mc.CreateAPIKey(ctx, sovereign.CreateAPIKeyParams{ProjectID: project.ID, Name: "app", Kind: sovereign.KeyPublishable})
		if err != nil {
			log.Fatal(err)
		}
		authAdminClient = sovereign.NewClient(dataURL, sovereign.WithAPIKey(secret))
	})
	return authAdminClient, publishableKey
}

// An app's users sign up and in with the project's publishable key; the
// client then sends the user's access token with every call.
func ExampleAuth_SignUp() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, publishable := authProject(ctx)
	app := sovereign.NewClient(dataURL, sovereign.WithAPIKey(publishable))

	email := uniqueEmail("ada")
	s, err := app.Auth().SignUp(ctx, email, userPassword)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("signed up:", s.User.Email == email, "verified:", s.User.EmailVerified, "aal:", s.AAL)

	if err := app.Auth().SignOut(ctx, sovereign.SignOutSession); err != nil {
		log.Fatal(err)
	}
	_, err = app.Auth().User(ctx)
	fmt.Println("signed out:", sovereign.IsUnauthenticated(err))

	_, err = app.Auth().SignInWithPassword(ctx, email, "not the password")
	fmt.Println("wrong password:", sovereign.IsUnauthenticated(err))

	s2, err := app.Auth().SignInWithPassword(ctx, email, userPassword)
	if err != nil {
		log.Fatal(err)
	}
	u, err := app.Auth().User(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same user:", u.ID == s.User.ID && s2.User.ID == s.User.ID, "role:", u.Role, "providers:", u.Providers)
	// Output:
	// signed up: true verified: false aal: aal1
	// signed out: true
	// wrong password: true
	// same user: true role: authenticated providers: [email]
}

// Access rules decide what each user may do with a collection's records:
// here, everyone keeps their own todos.
func ExampleCollections_SetRules() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, publishable := authProject(ctx)

	// The backend, with the secret key, makes the collection and its rules.
	_, err := admin.Collections().Create(ctx, sovereign.CollectionSpec{Name: "todos", Fields: []sovereign.Field{
		{Name: "owner", Type: sovereign.FieldText, Required: true},
		{Name: "title", Type: sovereign.FieldText, Required: true},
	}})
	if err != nil {
		log.Fatal(err)
	}
	own := "record.owner == auth.uid"
	// Delete is left out: a missing rule denies, to all but the secret key.
	if _, err := admin.Collections().SetRules(ctx, "todos", sovereign.Rules{
		List: new(own), View: new(own), Create: new(own), Update: new(own),
	}); err != nil {
		log.Fatal(err)
	}
	rules, err := admin.Collections().Rules(ctx, "todos")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("view:", *rules.View, "delete set:", rules.Delete != nil)

	type Todo struct {
		sovereign.RecordMeta
		Owner string `json:"owner"`
		Title string `json:"title"`
	}
	// Two users of the app, each on their own client.
	signUp := func(who string) (*sovereign.CollectionRef[Todo], string) {
		c := sovereign.NewClient(dataURL, sovereign.WithAPIKey(publishable))
		s, err := c.Auth().SignUp(ctx, uniqueEmail(who), userPassword)
		if err != nil {
			log.Fatal(err)
		}
		return sovereign.Collection[Todo](c, "todos"), s.User.ID
	}
	alice, aliceID := signUp("alice")
	bob, _ := signUp("bob")

	todo, err := alice.Insert(ctx, Todo{Owner: aliceID, Title: "buy milk"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("alice wrote:", todo.Title)
	_, err = bob.Insert(ctx, Todo{Owner: aliceID, Title: "forged"})
	fmt.Println("bob writing as alice refused:", err != nil)

	count := func(todos *sovereign.CollectionRef[Todo]) int {
		all, err := sovereign.Collect(todos.Query(ctx, sovereign.Query{}))
		if err != nil {
			log.Fatal(err)
		}
		return len(all)
	}
	fmt.Println("alice sees:", count(alice), "bob sees:", count(bob))
	_, err = bob.Get(ctx, todo.ID)
	fmt.Println("bob reading alice's todo:", sovereign.IsNotFound(err))
	err = alice.Delete(ctx, todo.ID)
	fmt.Println("alice deleting refused:", err != nil)
	// Output:
	// view: record.owner == auth.uid delete set: false
	// alice wrote: buy milk
	// bob writing as alice refused: true
	// alice sees: 1 bob sees: 0
	// bob reading alice's todo: true
	// alice deleting refused: true
}

// A visitor gets an anonymous user at once, and keeps their id (and so their
// data) when they sign up later.
func ExampleAuth_SignInAnonymously() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, publishable := authProject(ctx)
	app := sovereign.NewClient(dataURL, sovereign.WithAPIKey(publishable))

	s, err := app.Auth().SignInAnonymously(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("anonymous:", s.User.Anonymous, "no email:", s.User.Email == "")

	email := uniqueEmail("visitor")
	u, err := app.Auth().UpdateUser(ctx, email, userPassword)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("upgraded:", !u.Anonymous, "same id:", u.ID == s.User.ID)

	// On another device, the visitor signs in with the new password.
	other := sovereign.NewClient(dataURL, sovereign.WithAPIKey(publishable))
	s2, err := other.Auth().SignInWithPassword(ctx, email, userPassword)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same user:", s2.User.ID == s.User.ID)
	// Output:
	// anonymous: true no email: true
	// upgraded: true same id: true
	// same user: true
}

// A session store keeps the user signed in across runs of a program, and
// holds the newest session after every refresh.
func ExampleWithSessionStore() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, publishable := authProject(ctx)
	dir, err := os.MkdirTemp("", "sovereign-session")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store := sovereign.NewFileSessionStore(filepath.Join(dir, "session.json"))

	app := sovereign.NewClient(dataURL, sovereign.WithAPIKey(publishable), sovereign.WithSessionStore(store))
	first, err := app.Auth().SignInAnonymously(ctx)
	if err != nil {
		log.Fatal(err)
	}

	// The program's next run starts signed in.
	next := sovereign.NewClient(dataURL, sovereign.WithAPIKey(publishable), sovereign.WithSessionStore(store))
	changes := 0
	next.Auth().OnSessionChange(func(*sovereign.AuthSession) { changes++ })
	u, err := next.Auth().User(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("restored:", u.ID == first.User.ID)

	refreshed, err := next.Auth().RefreshSession(ctx)
	if err != nil {
		log.Fatal(err)
	}
	stored, err := store.Load(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("rotated:", refreshed.RefreshToken != first.RefreshToken, "stored:", stored.RefreshToken == refreshed.RefreshToken,
		"hook calls:", changes)

	// The first refresh token is spent: using it again would end the
	// session, so the old client must not. Signing out clears the store.
	if err := next.Auth().SignOut(ctx, sovereign.SignOutSession); err != nil {
		log.Fatal(err)
	}
	stored, err = store.Load(ctx)
	fmt.Println("after sign-out:", stored, err)
	// Output:
	// restored: true
	// rotated: true stored: true hook calls: 1
	// after sign-out: <nil> <nil>
}

// A backend with the secret key manages the project's users.
func ExampleAuthAdmin_Users() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, publishable := authProject(ctx)

	prefix := fmt.Sprintf("team-%d-", time.Now().UnixNano())
	for _, name := range []string{"bo", "ann"} {
		_, err := admin.AuthAdmin().CreateUser(ctx, sovereign.CreateUserParams{
			Email: prefix + name + "@example.com", Password: userPassword, EmailVerified: true, Role: "editor",
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	var lines []string
	var bo *sovereign.User
	for u, err := range admin.AuthAdmin().Users(ctx, sovereign.ListUsersParams{EmailPrefix: prefix}) {
		if err != nil {
			log.Fatal(err)
		}
		lines = append(lines, fmt.Sprint(strings.TrimPrefix(u.Email, prefix), " ", u.Role, " verified: ", u.EmailVerified))
		if strings.HasPrefix(u.Email, prefix+"bo@") {
			bo = u
		}
	}
	slices.Sort(lines)
	fmt.Println(strings.Join(lines, "\n"))

	if _, err := admin.AuthAdmin().DisableUser(ctx, bo.ID); err != nil {
		log.Fatal(err)
	}
	app := sovereign.NewClient(dataURL, sovereign.WithAPIKey(publishable))
	_, err := app.Auth().SignInWithPassword(ctx, bo.Email, userPassword)
	fmt.Println("disabled bo signs in:", err == nil)
	if _, err := admin.AuthAdmin().EnableUser(ctx, bo.ID); err != nil {
		log.Fatal(err)
	}
	_, err = app.Auth().SignInWithPassword(ctx, bo.Email, userPassword)
	fmt.Println("enabled again:", err == nil)

	if err := admin.AuthAdmin().DeleteUser(ctx, bo.ID); err != nil {
		log.Fatal(err)
	}
	_, err = admin.AuthAdmin().GetUser(ctx, bo.ID)
	fmt.Println("deleted:", sovereign.IsNotFound(err))
	// Output:
	// ann@example.com editor verified: true
	// bo@example.com editor verified: true
	// disabled bo signs in: false
	// enabled again: true
	// deleted: true
}
