package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Consumer defaults, used for zero fields of ConsumerConfig.
const (
	DefaultAckWait       = 30 * time.Second
	DefaultMaxAckPending = 1000
	DefaultRetryMin      = time.Second
	DefaultRetryMax      = time.Minute
	// consumerBuffer caps the messages fetched ahead of the handler.
	consumerBuffer = 64
	// ackTimeout bounds the wait for the server to confirm an ack.
	ackTimeout = 5 * time.Second
	// pullHeartbeat is how often the server confirms a waiting pull
	// request; two missed in a row make the iterator pull again. nats.go's
	// iterator can be left with no pull request waiting (it skips a pull
	// while its previous one is still being sent, and with a buffer of one
	// message that previous one was already answered): with MaxAckPending
	// 1 delivery then stops until the heartbeats are missed. nats.go's
	// default (15 s, so 30 s of silence) made that a half-minute stall.
	pullHeartbeat = 2 * time.Second
)

// ConsumerConfig configures a durable pull consumer.
type ConsumerConfig struct {
	// Stream is the stream to read, events.ChangesStream or
	// events.AlertsStream. Required.
	Stream string
	// Durable names the consumer; its position survives restarts of the
	// process and of NATS. Required.
	Durable string
	// FilterSubjects limits the consumer to these subjects (wildcards
	// allowed). Empty means every subject of the stream.
	FilterSubjects []string
	// AckWait is how long the server waits for an ack before redelivering.
	// A handler must finish well within it. Default DefaultAckWait.
	AckWait time.Duration
	// MaxAckPending is the most delivered, unacknowledged messages. Set 1
	// to keep strict order across redeliveries. Default
	// DefaultMaxAckPending.
	MaxAckPending int
	// RetryMin and RetryMax bound the delay before a failed message is
	// redelivered: RetryMin doubled per delivery, capped at RetryMax.
	// Defaults DefaultRetryMin and DefaultRetryMax.
	RetryMin, RetryMax time.Duration
	// Logger receives handler and ack failures. Default slog.Default().
	Logger *slog.Logger
}

// Message is one delivery of a stream message.
type Message struct {
	Subject string
	Data    []byte
	// MsgID is the Nats-Msg-Id header: the event ID for relayed events.
	MsgID string
	// StreamSeq is the message's sequence number in the stream.
	StreamSeq uint64
	// Delivered counts deliveries of this message, 1 the first time.
	Delivered uint64
}

// Consume creates or updates the durable pull consumer cfg.Durable on
// cfg.Stream (explicit acks, starting from the first message the first
// time, redelivering forever) and passes each message to handle, one at a
// time. When handle returns nil the message is acked, and the ack
// confirmed by the server; when it returns an error the message is nakked
// and redelivered after a growing delay (see RetryMin). Handler errors and
// failed acks are logged, not returned. Consume returns nil once ctx is
// cancelled (handing buffered, unhandled messages back to the server), or
// an error when the consumer cannot be created or is deleted, or the
// connection is closed.
//
// Delivery is at least once. A message is redelivered when its handler
// fails, its ack is lost, or the process stops between the handler's
// effects and the ack; and the relay may publish an event again after the
// stream's DuplicateWindow (for example after NATS was unreachable for
// longer than that while an ack was lost). So handle must be idempotent by
// event ID (MsgID) for as long as the event can come back, not just for
// two minutes: store the applied event IDs, or the highest StreamSeq
// applied, in the same transaction as the handler's effects, and skip
// what is already there. With MaxAckPending above 1, a failed message may
// be redelivered after later ones were handled.
func Consume(ctx context.Context, js jetstream.JetStream, cfg ConsumerConfig, handle func(ctx context.Context, msg Message) error) error {
	c, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	return c.run(ctx, js, min(c.MaxAckPending, consumerBuffer), func(_ jetstream.MessagesContext, msg jetstream.Msg) []jetstream.Msg {
		if ctx.Err() != nil {
			return []jetstream.Msg{msg}
		}
		c.dispatch(ctx, msg, handle)
		return nil
	})
}

// run creates or updates the durable consumer and passes each fetched
// message to step until ctx ends. step returns the messages it fetched but
// did not handle because ctx ended (run then stops); they are released.
func (c ConsumerConfig) run(ctx context.Context, js jetstream.JetStream, buffer int, step func(jetstream.MessagesContext, jetstream.Msg) []jetstream.Msg) error {
	cons, err := js.CreateOrUpdateConsumer(ctx, c.Stream, c.jetstreamConfig())
	if err != nil {
		return fmt.Errorf("consumer %s: %w", c.Durable, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(buffer), jetstream.PullHeartbeat(pullHeartbeat))
	if err != nil {
		return fmt.Errorf("consumer %s: %w", c.Durable, err)
	}
	var held []jetstream.Msg
	defer func() { c.release(it, held...) }()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case errors.Is(err, jetstream.ErrNoHeartbeat):
			// No pull request of ours is waiting at the server: the
			// iterator forgets what it asked for and asks again at the
			// next Next. Going on is the recovery, not a failure, unless
			// the consumer is gone: deleted while no pull waited, nobody
			// told us, and pulls from it go unanswered for ever.
			if err := c.checkExists(ctx, cons); err != nil {
				return err
			}
			c.Logger.Debug("consumer: no heartbeat from the server; pulling again", "consumer", c.Durable)
			continue
		case err != nil:
			return fmt.Errorf("consumer %s: %w", c.Durable, err)
		}
		if held = step(it, msg); held != nil {
			return nil
		}
	}
}

// checkExists returns an error when cons (or its stream) no longer exists
// at the server; nil when it does, or when the server cannot say now.
func (c ConsumerConfig) checkExists(ctx context.Context, cons jetstream.Consumer) error {
	_, err := cons.Info(ctx)
	if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("consumer %s: %w", c.Durable, err)
	}
	return nil
}

func (c ConsumerConfig) withDefaults() (ConsumerConfig, error) {
	if c.Stream == "" || c.Durable == "" {
		return c, errors.New("consumer: Stream and Durable are required")
	}
	c.AckWait = orDefault(c.AckWait, DefaultAckWait)
	c.MaxAckPending = orDefault(c.MaxAckPending, DefaultMaxAckPending)
	c.RetryMin = orDefault(c.RetryMin, DefaultRetryMin)
	c.RetryMax = max(orDefault(c.RetryMax, DefaultRetryMax), c.RetryMin)
	c.Logger = orDefault(c.Logger, slog.Default())
	return c, nil
}

func (c ConsumerConfig) jetstreamConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        c.Durable,
		FilterSubjects: c.FilterSubjects,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        c.AckWait,
		MaxAckPending:  c.MaxAckPending,
		MaxDeliver:     -1,
	}
}

// dispatch hands one message to handle and acks or naks it.
func (c ConsumerConfig) dispatch(ctx context.Context, msg jetstream.Msg, handle func(context.Context, Message) error) {
	m, err := message(msg)
	if err != nil {
		c.Logger.Warn("consumer: message without metadata", "consumer", c.Durable, "subject", msg.Subject(), "err", err)
		_ = msg.Nak()
		return
	}
	if err := handle(ctx, m); err != nil {
		c.nak(ctx, msg, m, err)
		return
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
	defer cancel()
	if err := msg.DoubleAck(actx); err != nil {
		c.Logger.Warn("consumer: ack failed, message will be redelivered",
			"consumer", c.Durable, "stream_seq", m.StreamSeq, "msg_id", m.MsgID, "err", err)
	}
}

func (c ConsumerConfig) nak(ctx context.Context, msg jetstream.Msg, m Message, cause error) {
	delay := c.retryDelay(m.Delivered)
	level := slog.LevelWarn
	if ctx.Err() != nil {
		delay = 0 // shutting down: let the next instance have it at once
		level = slog.LevelDebug
	}
	c.Logger.Log(ctx, level, "consumer: handler failed, message will be redelivered",
		"consumer", c.Durable, "stream_seq", m.StreamSeq, "msg_id", m.MsgID,
		"delivered", m.Delivered, "retry_in", delay, "err", cause)
	if err := msg.NakWithDelay(delay); err != nil {
		c.Logger.Warn("consumer: nak failed, message will be redelivered after AckWait",
			"consumer", c.Durable, "stream_seq", m.StreamSeq, "err", err)
	}
}

// retryDelay is RetryMin doubled for each delivery after the first, capped
// at RetryMax.
func (c ConsumerConfig) retryDelay(delivered uint64) time.Duration {
	d := c.RetryMin
	for i := uint64(1); i < delivered && d < c.RetryMax; i++ {
		d *= 2
	}
	return min(d, c.RetryMax)
}

// release stops the iterator and naks the messages fetched but not
// handled, so they are redelivered at once rather than after AckWait. It
// naks only once the subscription is gone: a nak while our pull request is
// still open would send the message straight back to us.
func (c ConsumerConfig) release(it jetstream.MessagesContext, held ...jetstream.Msg) {
	it.Drain()
	unhandled := held
	for {
		msg, err := it.Next(jetstream.NextMaxWait(ackTimeout))
		if err != nil {
			break
		}
		unhandled = append(unhandled, msg)
	}
	for _, msg := range unhandled {
		_ = msg.Nak() // a lost nak means redelivery after AckWait
	}
}
