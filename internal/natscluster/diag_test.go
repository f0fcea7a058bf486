package natscluster_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/events/nats"
	"github.com/fieldsync/fieldsync/internal/natscluster"
)

// logBuf collects log lines so a stuck test can show what led to it.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuf) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// dumpOnFailure logs, when t fails, stream's state and leader as a fresh
// client sees them, then every line in logs.
func dumpOnFailure(t *testing.T, c *natscluster.Cluster, stream string, logs *logBuf) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		t.Logf("%s leader: node %d", stream, c.StreamLeader(stream))
		if nc, js, err := nats.Connect(ctx, nats.ConnConfig{URL: c.URL(), Logger: quiet}); err == nil {
			defer nc.Close()
			if s, err := js.Stream(ctx, stream); err != nil {
				t.Logf("%s info: %v", stream, err)
			} else if info := s.CachedInfo(); info.Cluster != nil {
				t.Logf("%s state %+v leader %q", stream, info.State, info.Cluster.Leader)
				for _, r := range info.Cluster.Replicas {
					t.Logf("replica %+v", *r)
				}
			}
		}
		t.Logf("logs:\n%s", logs.String())
	})
}
