package embedded_test

import (
	"testing"

	"github.com/fieldsync/fieldsync/events/nats/embedded"
)

// The server's behaviour (restarts, in-process clients) is tested with
// its clients in events/nats.

func TestStartNeedsAStoreDir(t *testing.T) {
	t.Parallel()
	if _, err := embedded.Start(embedded.Config{Port: -1}); err == nil {
		t.Fatal("Start without StoreDir succeeded")
	}
}
