package broker_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sovereign-backend/sovereign/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// leakCheck fails t if goroutines started from here on outlive it. It stands
// in for goleak.VerifyTestMain, which cannot wrap testenv.Main: top-level
// tests here do not run in parallel (their subtests do), so each one is
// checked once it and its subtests are done. Tests call it after testenv has
// set up, whose shared pools live as long as the binary.
//
// It gives goroutines up to 10s to end first: valkey-go leaves a timer
// goroutine (a delayed cluster-topology refresh, about 1s) behind a client
// whose connection failed, which ends by itself. A real leak outlives that.
func leakCheck(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for goleak.Find(opt) != nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		goleak.VerifyNone(t, opt)
	})
}
