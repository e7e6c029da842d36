package sovereign_test

import (
	"context"
	"fmt"
	"log"
	"time"

	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// The realtime examples run against the platform too.
func init() {
	examples = append(examples, "ExampleClient_Subscribe", "ExampleClient_Channel")
}

// A subscription with a snapshot: the matching records first, then the
// changes after them, with nothing lost or doubled in between.
func ExampleClient_Subscribe() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dataClient(ctx)

	posts := createPosts(ctx, c, "feed")
	if _, err := posts.Insert(ctx, Post{Title: "before", N: 1}); err != nil {
		log.Fatal(err)
	}

	sub := c.Subscribe(ctx, "feed", sovereign.SubscribeOptions{
		Filter:   sovereign.Where("n").Gt(0),
		Snapshot: true,
	})
	var cursor string
	for ch, err := range sub.All() {
		if err != nil {
			log.Fatal(err)
		}
		var p Post
		switch ch.Op {
		case sovereign.OpSnapshot:
			if err := ch.Decode(&p); err != nil {
				log.Fatal(err)
			}
			fmt.Println("snapshot:", p.Title)
			continue
		case sovereign.OpReady:
			fmt.Println("live")
			// Written after the subscription is live: n = 0 does not match
			// the filter, n = 2 does.
			for _, p := range []Post{{Title: "hidden", N: 0}, {Title: "after", N: 2}} {
				if _, err := posts.Insert(ctx, p); err != nil {
					log.Fatal(err)
				}
			}
			continue
		}
		if err := ch.Decode(&p); err != nil {
			log.Fatal(err)
		}
		fmt.Println(ch.Op+":", p.Title, p.N)
		cursor = ch.Cursor
		break
	}
	fmt.Println("cursor to resume from kept:", cursor != "" && cursor == sub.Cursor())
	// Output:
	// snapshot: before
	// live
	// insert: after 2
	// cursor to resume from kept: true
}

// Two clients in one channel: presence, and a message from one to the
// other.
func ExampleClient_Channel() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dataClient(ctx)

	ann, err := c.Channel(ctx, "room:1", sovereign.ChannelOptions{Presence: map[string]any{"name": "ann"}})
	if err != nil {
		log.Fatal(err)
	}
	defer ann.Leave(ctx)
	bob, err := c.Channel(ctx, "room:1", sovereign.ChannelOptions{Presence: map[string]any{"name": "bob"}})
	if err != nil {
		log.Fatal(err)
	}
	defer bob.Leave(ctx)
	fmt.Println("bob sees members:", len(bob.Presence()))

	if err := bob.Send(ctx, "typing", map[string]any{"text": "hi ann"}); err != nil {
		log.Fatal(err)
	}
	m, err := ann.Receive(ctx)
	if err != nil {
		log.Fatal(err)
	}
	var payload struct{ Text string }
	if err := m.Decode(&payload); err != nil {
		log.Fatal(err)
	}
	fmt.Println("ann got:", m.Event, payload.Text)
	// Output:
	// bob sees members: 2
	// ann got: typing hi ann
}
