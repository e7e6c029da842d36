// Package broker is the platform's pub/sub fan-out between nodes of a data
// plane, with a health probe for the backend behind it.
//
// Two implementations share one contract, proven by the conformance suite in
// package brokertest:
//
//   - [NewValkey] publishes through Valkey (or Redis 7) so that every node
//     subscribed to a channel receives the message; and
//   - [NewMemory] delivers inside one process, for a single node without
//     Valkey (`sov dev` when no valkey-server or redis-server is installed).
//
// # Delivery
//
// Delivery is at most once, as in Redis pub/sub: a message reaches the
// subscriptions that are active when it is published, in the order one
// publisher published it, and nobody else. Durable replay is not the broker's
// job; realtime resumes from Postgres cursors.
//
// What the broker does promise is that loss is never silent. While a
// Subscription's channel C is open, it has received every message published
// to its channels since Subscribe returned. When that can no longer be
// promised, the subscription ends: C is closed and Err says why.
//
//   - A slow consumer: each subscription buffers up to [SubscriptionBuffer]
//     messages. Delivery never waits for a reader, so one slow consumer cannot
//     hold up Publish or any other subscriber; instead the message that finds
//     the buffer full ends the subscription with [ErrSlowConsumer] (the
//     messages already buffered can still be read from C before it reports
//     closed).
//   - A lost connection to Valkey ends every subscription of that broker with
//     an error wrapping [ErrDisconnected]; messages published meanwhile would
//     otherwise vanish unnoticed.
//   - Closing the broker ends them with [ErrClosed].
//
// A consumer that sees C close without having asked for it (through its
// context or Close) subscribes again and catches up from its durable cursor.
package broker

import (
	"context"
	"errors"
	"fmt"
)

// SubscriptionBuffer is how many messages a subscription holds for its reader
// before the next one ends it with ErrSlowConsumer.
const SubscriptionBuffer = 256

var (
	// ErrClosed is returned by calls on a closed Broker, and is the Err of
	// subscriptions that the broker's Close ended.
	ErrClosed = errors.New("broker: closed")

	// ErrSlowConsumer is the Err of a subscription that ended because its
	// reader fell SubscriptionBuffer messages behind.
	ErrSlowConsumer = errors.New("broker: subscriber too slow, messages dropped")

	// ErrDisconnected is wrapped by the Err of subscriptions that ended
	// because the broker lost its connection to the backend.
	ErrDisconnected = errors.New("broker: connection to backend lost")

	// ErrUnsubscribed is the Err of a subscription ended by its Close.
	ErrUnsubscribed = errors.New("broker: unsubscribed")
)

// Broker publishes messages to channels and delivers them to subscribers
// (at-most-once, like Redis pub/sub; durable replay is done elsewhere from
// Postgres cursors). All methods are safe for concurrent use.
type Broker interface {
	// Publish sends payload to every active subscription of channel. It does
	// not wait for subscribers to read it. Publishing to a channel nobody
	// subscribes to is not an error. The broker does not retain payload.
	Publish(ctx context.Context, channel string, payload []byte) error

	// Subscribe delivers messages on the given channels until ctx ends or
	// Close; the returned Subscription's C() channel is closed then. When
	// Subscribe returns, the subscription is active: a message published
	// after that reaches it. Channel names must be non-empty; duplicates
	// are ignored.
	Subscribe(ctx context.Context, channels ...string) (Subscription, error)

	// Ping returns nil when the backend is reachable (memory: always nil
	// unless closed). It returns within a short bound even when the backend
	// does not answer.
	Ping(ctx context.Context) error

	// Close ends all subscriptions with ErrClosed and releases the backend.
	// Calls after the first return nil.
	Close() error
}

// Subscription is one subscriber's view of a set of channels.
type Subscription interface {
	// C delivers the messages. It is closed when the subscription ends;
	// messages buffered before that can still be read.
	C() <-chan Message

	// Close ends the subscription (Err reports ErrUnsubscribed). It is safe to
	// call more than once and from any goroutine, and always returns nil.
	Close() error

	// Err is nil while the subscription is active. After C is closed it says
	// why: ctx.Err() of the Subscribe context, ErrUnsubscribed,
	// ErrSlowConsumer, ErrClosed, or an error wrapping ErrDisconnected.
	Err() error
}

// Message is one published message as a subscriber receives it.
type Message struct {
	// Channel is the channel as named to Subscribe and Publish (without any
	// Valkey prefix).
	Channel string
	// Payload is the subscriber's own copy of the published bytes.
	Payload []byte
}

// channelSet validates channels and removes duplicates, keeping order.
func channelSet(channels []string) ([]string, error) {
	if len(channels) == 0 {
		return nil, errors.New("broker: subscribe needs at least one channel")
	}
	out := make([]string, 0, len(channels))
	seen := make(map[string]struct{}, len(channels))
	for _, c := range channels {
		if err := checkChannel(c); err != nil {
			return nil, err
		}
		if _, dup := seen[c]; dup {
			continue
		}
		seen[c] = struct{}{}
		out = append(out, c)
	}
	return out, nil
}

func checkChannel(channel string) error {
	if channel == "" {
		return fmt.Errorf("broker: empty channel name")
	}
	return nil
}
