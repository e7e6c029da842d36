package broker

import "context"

// memoryBroker delivers within the process: the broker of a single node
// without Valkey.
type memoryBroker struct {
	hub *hub
}

// NewMemory returns a Broker that delivers only to subscribers in this
// process. Publish hands each subscriber its copy before it returns; message
// order per publisher, buffering and slow-consumer handling are as described
// in the package documentation. It never ends subscriptions with
// ErrDisconnected.
func NewMemory() Broker {
	return &memoryBroker{hub: newHub(nil)}
}

func (b *memoryBroker) Publish(ctx context.Context, channel string, payload []byte) error {
	if err := checkChannel(channel); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.hub.deliver(channel, payload)
}

func (b *memoryBroker) Subscribe(ctx context.Context, channels ...string) (Subscription, error) {
	chans, err := channelSet(channels)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := b.hub.subscribe(chans)
	if err != nil {
		return nil, err
	}
	s.watch(ctx)
	return s, nil
}

func (b *memoryBroker) Ping(ctx context.Context) error {
	if b.hub.isClosed() {
		return ErrClosed
	}
	return nil
}

func (b *memoryBroker) Close() error {
	b.hub.endAll(ErrClosed, true)
	return nil
}
