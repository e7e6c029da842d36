package sovereign_test

import (
	"context"
	"fmt"
	"log"
	"time"

	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

func init() {
	// The channel rule example runs against the platform too (see TestMain).
	examples = append(examples, "ExampleChannelRules_Set")
}

// Open the room:… channels to an app's users: any signed-in user may join
// one, and send only in the room named by their own id. The backend sets
// the rule with the secret key; the app joins with the publishable key.
func ExampleChannelRules_Set() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	backend, publishable := authProject(ctx) // a client with the secret key, and the app's key
	rules := backend.ChannelRules()

	rule, created, err := rules.Set(ctx, sovereign.ChannelRule{
		Prefix: "room:",
		Join:   `auth.uid != ""`,
		Send:   `channel.rest == auth.uid`, // channel.rest: the name after "room:"
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("set:", rule.Prefix, "created:", created)
	// Setting it again replaces it.
	if _, created, err = rules.Set(ctx, *rule); err != nil {
		log.Fatal(err)
	}
	fmt.Println("set again, created:", created)

	// A user of the app joins its own room and another one. Rules are read
	// when a member joins.
	app := sovereign.NewClient(dataURL, sovereign.WithAPIKey(publishable))
	s, err := app.Auth().SignInAnonymously(ctx)
	if err != nil {
		log.Fatal(err)
	}
	own, err := app.Channel(ctx, "room:"+s.User.ID, sovereign.ChannelOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer own.Leave(ctx)
	fmt.Println("send in own room:", own.Send(ctx, "hello", map[string]any{"text": "hi"}))
	lobby, err := app.Channel(ctx, "room:lobby", sovereign.ChannelOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer lobby.Leave(ctx)
	err = lobby.Send(ctx, "hello", map[string]any{"text": "hi"})
	fmt.Println("send in room:lobby denied:", sovereign.IsPermissionDenied(err))

	list, err := rules.List(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range list {
		fmt.Printf("%s join=%s send=%s\n", r.Prefix, r.Join, r.Send)
	}

	if err := rules.Delete(ctx, "room:"); err != nil {
		log.Fatal(err)
	}
	err = rules.Delete(ctx, "room:")
	fmt.Println("deleted; again:", sovereign.IsNotFound(err))

	// The prefixes with fixed rules cannot be given others.
	_, _, err = rules.Set(ctx, sovereign.ChannelRule{Prefix: "public:", Join: "true"})
	fmt.Println("public: refused:", sovereign.IsInvalidArgument(err))
	// Output:
	// set: room: created: true
	// set again, created: false
	// send in own room: <nil>
	// send in room:lobby denied: true
	// room: join=auth.uid != "" send=channel.rest == auth.uid
	// deleted; again: true
	// public: refused: true
}
