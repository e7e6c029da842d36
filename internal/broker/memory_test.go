package broker_test

import (
	"testing"

	"github.com/sovereign-backend/sovereign/internal/broker"
	"github.com/sovereign-backend/sovereign/internal/broker/brokertest"
)

func TestMemory(t *testing.T) {
	leakCheck(t)
	brokertest.Run(t, func(t *testing.T) broker.Broker {
		b := broker.NewMemory()
		t.Cleanup(func() { b.Close() })
		return b
	})
}
