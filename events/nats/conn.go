package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fieldsync/fieldsync/events"
)

// ConnConfig says how to reach NATS.
type ConnConfig struct {
	// URL is a comma-separated list of server URLs. Default
	// nats://127.0.0.1:4222. Ignored when InProcess is set.
	URL string
	// CredsFile is a NATS credentials file (JWT and NKey seed).
	CredsFile string
	// User and Password authenticate with a user name.
	User, Password string
	// Token authenticates with a token.
	Token string
	// Name identifies the connection in server monitoring. Default
	// "fieldsync".
	Name string
	// InProcess connects to an embedded server without TCP, typically an
	// *embedded.Server (events/nats/embedded) started with Port 0.
	InProcess natsgo.InProcessConnProvider
	// Logger receives disconnects, reconnects and asynchronous errors.
	// Default slog.Default().
	Logger *slog.Logger
}

// Connection timeouts. PublishAckTimeout bounds the wait for a JetStream
// acknowledgement of an asynchronous publish.
const (
	DialTimeout       = 5 * time.Second
	ReconnectWait     = time.Second
	PublishAckTimeout = 10 * time.Second
	APITimeout        = 5 * time.Second
)

// Connect connects to NATS and returns the connection and its JetStream
// context. It blocks until the first connection succeeds; cancel ctx to give
// up, which returns ctx's error joined with the last connection error.
//
// The connection then reconnects forever. Publishes are not buffered while
// disconnected: they fail at once (nats.go's ErrReconnectBufExceeded), so a
// caller retries from its own durable state (the outbox, a message to nak)
// instead of from a memory buffer that a crash would lose. Close the
// connection when done.
func Connect(ctx context.Context, cfg ConnConfig) (*natsgo.Conn, jetstream.JetStream, error) {
	connected := make(chan struct{})
	var once sync.Once
	opts := append(cfg.options(), natsgo.RetryOnFailedConnect(true),
		natsgo.ConnectHandler(func(*natsgo.Conn) { once.Do(func() { close(connected) }) }))
	url := cfg.URL
	if url == "" {
		url = natsgo.DefaultURL
	}
	nc, err := natsgo.Connect(url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect nats: %w", err)
	}
	if !nc.IsConnected() {
		select {
		case <-connected:
		case <-ctx.Done():
			lastErr := nc.LastError()
			nc.Close()
			return nil, nil, fmt.Errorf("connect nats: %w", errors.Join(ctx.Err(), lastErr))
		}
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncTimeout(PublishAckTimeout),
		jetstream.WithDefaultTimeout(APITimeout))
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

func (cfg ConnConfig) options() []natsgo.Option {
	name := cfg.Name
	if name == "" {
		name = "fieldsync"
	}
	opts := []natsgo.Option{
		natsgo.Name(name),
		natsgo.Timeout(DialTimeout),
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(ReconnectWait),
		natsgo.ReconnectJitter(500*time.Millisecond, 2*time.Second),
		natsgo.ReconnectBufSize(-1),
		natsgo.PingInterval(20 * time.Second),
		natsgo.MaxPingsOutstanding(3),
	}
	opts = append(opts, logHandlers(orDefault(cfg.Logger, slog.Default()).With("nats_conn", name))...)
	if cfg.InProcess != nil {
		opts = append(opts, natsgo.InProcessServer(cfg.InProcess))
	}
	if cfg.CredsFile != "" {
		opts = append(opts, natsgo.UserCredentials(cfg.CredsFile))
	}
	if cfg.User != "" {
		opts = append(opts, natsgo.UserInfo(cfg.User, cfg.Password))
	}
	if cfg.Token != "" {
		opts = append(opts, natsgo.Token(cfg.Token))
	}
	return opts
}

func logHandlers(log *slog.Logger) []natsgo.Option {
	return []natsgo.Option{
		natsgo.DisconnectErrHandler(func(nc *natsgo.Conn, err error) {
			if err == nil || nc.IsClosed() {
				log.Debug("nats: disconnected", "err", err) // a deliberate close
				return
			}
			log.Warn("nats: disconnected", "err", err)
		}),
		natsgo.ReconnectHandler(func(nc *natsgo.Conn) {
			log.Info("nats: reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		natsgo.ErrorHandler(func(_ *natsgo.Conn, sub *natsgo.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("nats: async error", "subject", subject, "err", err)
		}),
	}
}

// StreamConfig holds the settings shared by the fieldsync streams.
type StreamConfig struct {
	// Replicas is the number of copies in a cluster. Default 1 (the only
	// possible value on a single server).
	Replicas int
	// MaxAge is how long a message is kept. 0 keeps messages until the
	// stream is purged; otherwise it must be at least DuplicateWindow.
	MaxAge time.Duration
}

// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id: a relay
// republishing within this window leaves one copy. Consumers must not rely
// on it (see Consume).
const DuplicateWindow = 2 * time.Minute

// EnsureStreams creates ChangesStream and AlertsStream, or updates them to
// cfg: file storage, limits retention discarding the oldest messages, and
// a DuplicateWindow deduplication window. It is safe to call on every start.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) error {
	if cfg.MaxAge != 0 && cfg.MaxAge < DuplicateWindow {
		return fmt.Errorf("ensure streams: MaxAge %s is shorter than the %s duplicate window", cfg.MaxAge, DuplicateWindow)
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	for _, s := range []struct{ name, subject, desc string }{
		{events.ChangesStream, events.AllChanges, "fieldsync committed changes"},
		{events.AlertsStream, events.AllAlerts, "fieldsync alerts"},
	} {
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name:        s.name,
			Description: s.desc,
			Subjects:    []string{s.subject},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			Duplicates:  DuplicateWindow,
			MaxAge:      cfg.MaxAge,
			Replicas:    cfg.Replicas,
		})
		if err != nil {
			return fmt.Errorf("ensure stream %s: %w", s.name, err)
		}
	}
	return nil
}
