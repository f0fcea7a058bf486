package nats

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// batchGather is how long ConsumeBatch waits for more messages once it has
// one: what arrived in that time joins the batch.
const batchGather = time.Millisecond

// ConsumeBatch is Consume for handlers that apply many messages at once
// (one transaction for all of them). It waits for a message, gathers up to
// maxBatch messages that are already there, and passes them to handle.
// When handle returns nil every message of the batch is acked (after the
// handler's commit, so an ack lost, or a crash before it, redelivers
// messages that were applied). When it returns an error the messages are
// handed to handle again one at a time, as Consume does, so one message
// that cannot be applied holds back only itself: it is nakked and
// redelivered after a growing delay, the others are acked. The same
// at-least-once caveats as Consume apply: handle must be idempotent by
// event ID, across batches.
func ConsumeBatch(ctx context.Context, js jetstream.JetStream, cfg ConsumerConfig, maxBatch int, handle func(ctx context.Context, msgs []Message) error) error {
	c, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	maxBatch = max(1, min(maxBatch, c.MaxAckPending))
	return c.run(ctx, js, min(c.MaxAckPending, 2*maxBatch), func(it jetstream.MessagesContext, msg jetstream.Msg) []jetstream.Msg {
		batch := gather(it, msg, maxBatch)
		if ctx.Err() != nil {
			return batch
		}
		c.dispatchBatch(ctx, batch, handle)
		return nil
	})
}

// gather returns first and the messages that arrive within batchGather
// after it, up to n in all.
func gather(it jetstream.MessagesContext, first jetstream.Msg, n int) []jetstream.Msg {
	batch := []jetstream.Msg{first}
	for len(batch) < n {
		msg, err := it.Next(jetstream.NextMaxWait(batchGather))
		if err != nil {
			break
		}
		batch = append(batch, msg)
	}
	return batch
}

// dispatchBatch hands a batch to handle and acks it, or on failure
// dispatches its messages one by one.
func (c ConsumerConfig) dispatchBatch(ctx context.Context, batch []jetstream.Msg, handle func(context.Context, []Message) error) {
	one := func(ctx context.Context, m Message) error { return handle(ctx, []Message{m}) }
	if len(batch) == 1 {
		c.dispatch(ctx, batch[0], one)
		return
	}
	msgs := make([]Message, 0, len(batch))
	for _, msg := range batch {
		m, err := message(msg)
		if err != nil {
			c.dispatch(ctx, msg, one) // logs and naks
			return
		}
		msgs = append(msgs, m)
	}
	if err := handle(ctx, msgs); err != nil {
		c.Logger.Debug("consumer: batch failed, handling its messages one by one", "consumer", c.Durable, "size", len(batch), "err", err)
		for _, msg := range batch {
			c.dispatch(ctx, msg, one)
		}
		return
	}
	c.ackAll(ctx, batch, msgs)
}

// ackAll acks a batch: plain acks, then a confirmed one for the last
// message, which the server processes after the others (one connection).
func (c ConsumerConfig) ackAll(ctx context.Context, batch []jetstream.Msg, msgs []Message) {
	for i, msg := range batch[:len(batch)-1] {
		if err := msg.Ack(); err != nil {
			c.Logger.Warn("consumer: ack failed, message will be redelivered",
				"consumer", c.Durable, "stream_seq", msgs[i].StreamSeq, "msg_id", msgs[i].MsgID, "err", err)
		}
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
	defer cancel()
	last := len(batch) - 1
	if err := batch[last].DoubleAck(actx); err != nil {
		c.Logger.Warn("consumer: ack failed, messages will be redelivered",
			"consumer", c.Durable, "stream_seq", msgs[last].StreamSeq, "msg_id", msgs[last].MsgID, "err", err)
	}
}

// message converts a delivery to a Message.
func message(msg jetstream.Msg) (Message, error) {
	meta, err := msg.Metadata()
	if err != nil {
		return Message{}, err
	}
	return Message{
		Subject: msg.Subject(), Data: msg.Data(), MsgID: msg.Headers().Get(jetstream.MsgIDHeader),
		StreamSeq: meta.Sequence.Stream, Delivered: meta.NumDelivered,
	}, nil
}
