package fieldsync

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// closedPort returns the address of a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// blackhole listens on loopback, accepts connections and never answers.
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// downServers are the two ways a server is down: nothing listens, or it
// accepts connections and never answers.
func downServers(t *testing.T) map[string]string {
	return map[string]string{"closed port": closedPort(t), "blackholed listener": blackhole(t)}
}

// TestSyncReturnsErrUnreachableWhenTheServerIsDown: Sync gives up with a
// typed error instead of retrying until its context ends (the test's
// context has a generous deadline; the SDK's timeouts are set small).
func TestSyncReturnsErrUnreachableWhenTheServerIsDown(t *testing.T) {
	t.Parallel()
	for name, addr := range downServers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := openDevice(t, filepath.Join(t.TempDir(), "d.db"), WithServer("http://"+addr), WithToken("fsd_x"),
				WithConnectTimeout(50*time.Millisecond), WithUnreachableAfter(100*time.Millisecond), WithBackoff(time.Millisecond, 10*time.Millisecond))
			mustPut(t, c, c.NewID(), &fieldsyncv1.Visit{Notes: "offline"})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := c.Sync(ctx)
			if !errors.Is(err, ErrUnreachable) || ctx.Err() != nil {
				t.Fatalf("Sync = %v (ctx: %v), want ErrUnreachable", err, ctx.Err())
			}
			if st, _ := c.Status(context.Background()); st.OutboxDepth != 1 {
				t.Fatalf("outbox depth %d after a failed sync, want 1", st.OutboxDepth)
			}
		})
	}
}

// warnings is a slog handler that signals each warning's message.
type warnings chan string

func (w warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w warnings) Handle(_ context.Context, r slog.Record) error {
	select {
	case w <- r.Message:
	default:
	}
	return nil
}
func (w warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w warnings) WithGroup(string) slog.Handler      { return w }

// TestWatchSaysItReconnectsWhileTheServerIsDown: Watch keeps trying with
// backoff and logs a warning for each reconnect instead of hanging silent.
func TestWatchSaysItReconnectsWhileTheServerIsDown(t *testing.T) {
	t.Parallel()
	for name, addr := range downServers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			warned := make(warnings, 1)
			c := openDevice(t, filepath.Join(t.TempDir(), "d.db"), WithServer("http://"+addr), WithToken("fsd_x"),
				WithConnectTimeout(50*time.Millisecond), WithUnreachableAfter(100*time.Millisecond), WithBackoff(time.Millisecond, 10*time.Millisecond),
				WithLogger(slog.New(warned)))
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- c.Watch(ctx) }()
			for range 2 {
				select {
				case msg := <-warned:
					if !strings.Contains(msg, "unreachable") {
						t.Errorf("warning %q does not say the server is unreachable", msg)
					}
				case err := <-done:
					t.Fatalf("Watch returned %v while the server is down", err)
				case <-ctx.Done():
					t.Fatal("Watch said nothing while the server is down")
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Watch = %v after its context ended, want nil", err)
			}
		})
	}
}
