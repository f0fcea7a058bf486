package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fieldsync/fieldsync/events"
)

// Relay defaults, used for zero fields.
const (
	DefaultBatchSize    = 256
	DefaultPollInterval = time.Second
	DefaultMinBackoff   = 100 * time.Millisecond
	DefaultMaxBackoff   = 30 * time.Second
	DefaultAckTimeout   = 10 * time.Second
	// DefaultOutboxTimeout bounds each read or write of the outbox.
	DefaultOutboxTimeout = 30 * time.Second
)

// Relay publishes outbox events to JetStream in commit order and marks them
// sent once JetStream has acknowledged them.
//
// Each pass reads up to BatchSize pending events, publishes them all
// without waiting (pipelined), then waits for the acknowledgements in
// order and marks sent the acknowledged prefix. On any failure it backs off
// exponentially (MinBackoff doubling up to MaxBackoff, with jitter) and
// retries from the first unacknowledged event, so NATS being down only
// grows the backlog.
//
// Exactly one copy per event: every event is published with its ID as
// Nats-Msg-Id, so an event republished within DuplicateWindow (after a
// crash between publish and MarkSent, or a lost ack) is dropped by
// JetStream. Order: each event carries the sequence its stream must end at
// before it is stored (Nats-Expected-Last-Sequence), so if one publish is
// lost — a stream leader stopping mid-pass — JetStream rejects the ones
// after it instead of storing them out of order; they are retried after
// it. The relay learns a stream's last sequence from the acknowledgements
// of a pass that succeeded; when it does not know it (first pass, or after
// a failure) it publishes only that stream's first event and waits for its
// acknowledgement, which says where the next events must go. (Not
// Nats-Expected-Last-Msg-Id: a replicated stream checks it only when
// applying the message, and NATS 2.15 takes the stream offline — no leader
// on any replica — at the first mismatch; the last sequence is checked by
// the leader before it proposes.) A sequence check counts messages, so the
// order holds as long as only relays of the same outbox publish to its
// streams (two relays overlapping at a lease hand-over store the same
// events in the same order, so a stream's length says which prefix it
// holds); a foreign message stored mid-pass could let an event in ahead of
// a refused one. A duplicate's acknowledgement teaches nothing (it gives the
// earlier copy's sequence), so after a pass whose acknowledgements were lost
// the relay probes the stored events one by one, each answered as a
// duplicate, until the first new one.
//
// Lost tails: the outbox keeps sent events (until pruned) with the stream
// sequence each was stored at, so a stream that comes back from a crash
// without its last messages — JetStream acknowledges a message before it
// is fsynced, unless the server runs with sync_interval: always — loses
// nothing. Before its first pass, after a failed pass (a publish finding
// the stream shorter than expected fails the pass) and after its
// connection reconnected, the relay compares each stream's last sequence
// with the highest one the outbox recorded (Outbox.LastSent). When the
// stream is shorter it makes the events recorded past its end unsent again
// (Outbox.Resend) and publishes them again, in order, with their original
// IDs; a durable consumer whose delivered sequence is past the stream's
// end is reset to its ack floor (at most the stream's end), so that it
// receives them. See docs/events.md, "Durability".
//
// An event JetStream refuses for good (no stream for its subject, payload
// over the server's max_payload) blocks the events after it: the relay
// keeps retrying at MaxBackoff, counting failures and logging each one.
// AppendEvent in storage/sqlite refuses such events up front.
//
// The exported fields must be set before Run and not changed after. A
// Relay must not be copied after first use, and Run must not be called
// concurrently with itself.
type Relay struct {
	// Outbox is read and marked. Required. When it also implements
	// BacklogReporter, Stats and the backlog metric report its backlog.
	Outbox events.Outbox
	// JS publishes; make it with Connect (which sets the async publish
	// ack timeout). Required.
	JS jetstream.JetStream
	// Logger receives one warning per failed pass and a notice on recovery.
	// Default slog.Default().
	Logger *slog.Logger
	// BatchSize is the most events read and published in one pass.
	// Default DefaultBatchSize.
	BatchSize int
	// PollInterval is how often the outbox is read when idle and nobody
	// calls Kick. Default DefaultPollInterval.
	PollInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed pass.
	// Defaults DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// AckTimeout is how long to wait for the next acknowledgement before
	// the pass fails. Default DefaultAckTimeout.
	AckTimeout time.Duration
	// OutboxTimeout bounds each read or write of the outbox, so that a
	// database connection that stops answering (a half-open connection
	// after a network fault) fails the pass, which is logged and retried,
	// instead of holding the relay silently while its lease is renewed.
	// Default DefaultOutboxTimeout.
	OutboxTimeout time.Duration

	kickOnce sync.Once
	kick     chan struct{}

	published   atomic.Uint64
	duplicates  atomic.Uint64
	resent      atomic.Uint64
	failures    atomic.Uint64
	backlog     atomic.Int64
	lastBacklog time.Time // only touched by Run's goroutine

	// lastSeq is where each stream ends, learned from acknowledgements
	// and forgotten after a failed pass. Only touched by Run's goroutine.
	lastSeq map[string]streamPos
	// checked holds the streams whose end was compared with the outbox
	// since the relay started, last failed or reconnected; reconnects is
	// the connection's reconnect count then. Only touched by Run's
	// goroutine.
	checked    map[string]bool
	reconnects uint64
}

// RelayStats are the relay's counters since it was created.
type RelayStats struct {
	// Published counts events acknowledged by JetStream and marked sent,
	// including Duplicates.
	Published uint64
	// Duplicates counts acknowledgements saying JetStream already had the
	// event (a republish after a crash or a lost ack).
	Duplicates uint64
	// Resent counts events made unsent again because their stream came
	// back without them (a lost tail), published again since.
	Resent uint64
	// Failures counts failed passes (each followed by a backoff).
	Failures uint64
	// Backlog is the number of unsent events at the last check: zero after
	// a pass that sent every unsent event it found, counted after a failed
	// pass and at most once a second while busy.
	Backlog int64
}

// Stats returns the current counters. It is safe to call at any time.
func (r *Relay) Stats() RelayStats {
	return RelayStats{
		Published:  r.published.Load(),
		Duplicates: r.duplicates.Load(),
		Resent:     r.resent.Load(),
		Failures:   r.failures.Load(),
		Backlog:    r.backlog.Load(),
	}
}

// Kick tells the relay that events were committed, so it reads the outbox
// now rather than at the next PollInterval. It never blocks; kicks while
// the relay is busy or backing off are merged.
func (r *Relay) Kick() {
	select {
	case r.kicks() <- struct{}{}:
	default:
	}
}

func (r *Relay) kicks() chan struct{} {
	r.kickOnce.Do(func() { r.kick = make(chan struct{}, 1) })
	return r.kick
}

// Run relays events until ctx is cancelled, then returns nil. Failures to
// read the outbox, publish or mark are retried with backoff, not returned;
// Run returns an error only when Outbox or JS is missing or JS's connection
// was closed (nats.go's ErrConnectionClosed): cancel ctx before closing it.
func (r *Relay) Run(ctx context.Context) error {
	if r.Outbox == nil || r.JS == nil {
		return errors.New("relay: Outbox and JS are required")
	}
	s := r.settings()
	failed := 0
	for {
		more, err := r.pass(ctx, s)
		if ctx.Err() != nil {
			return nil
		}
		wait, kick := s.poll, r.kicks()
		switch {
		case errors.Is(err, natsgo.ErrConnectionClosed):
			return fmt.Errorf("relay: %w", err)
		case err != nil:
			r.checked = nil // a stream shorter than expected fails a pass: look again
			failed++
			r.failures.Add(1)
			wait, kick = s.backoff(failed), nil
			s.log.Warn("outbox relay: pass failed", "err", err, "attempt", failed, "retry_in", wait)
		case failed > 0:
			s.log.Info("outbox relay: recovered", "failed_passes", failed)
			failed = 0
		}
		if err == nil && more {
			wait = 0 // more events are waiting
		}
		if err == nil && !more {
			// The pass read every unsent event (fewer than a batch) and
			// sent them all: the backlog was empty at its read, with no
			// query to count it (one per pass cost 4 µs an event).
			r.backlog.Store(0)
			r.lastBacklog = time.Now()
		} else {
			r.refreshBacklog(ctx, s, err != nil)
		}
		if !sleep(ctx, wait, kick) {
			return nil
		}
	}
}

// pass publishes one batch and reports whether more events may be
// waiting: the batch was full, or cut short to learn a stream's last
// sequence.
func (r *Relay) pass(ctx context.Context, s settings) (bool, error) {
	if err := r.checkStreams(ctx, s); err != nil {
		return false, err
	}
	octx, cancel := context.WithTimeout(ctx, s.outboxTimeout)
	defer cancel()
	evs, err := r.Outbox.PendingEvents(octx, s.batch)
	if err != nil {
		return false, fmt.Errorf("read outbox: %w", err)
	}
	if len(evs) == 0 {
		return false, nil
	}
	expect := r.expectations(evs)
	more := len(evs) == s.batch || len(expect) < len(evs)
	evs = evs[:len(expect)]
	acks, pubErr := r.publish(ctx, s, evs, expect)
	r.learnLastSeqs(evs, acks, pubErr)
	if acked := len(acks); acked > 0 {
		// Record progress even when shutting down: fewer republishes.
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.outboxTimeout)
		defer cancel()
		if err := r.Outbox.MarkSent(mctx, sentOf(evs, acks)); err != nil {
			return false, errors.Join(pubErr, fmt.Errorf("mark sent: %w", err))
		}
		r.published.Add(uint64(acked))
	}
	return more, pubErr
}

// relayStreams are the streams the relay publishes to.
var relayStreams = []string{events.ChangesStream, events.AlertsStream}

// checkStreams checks each stream not checked since the relay started,
// last failed or reconnected for a lost tail (checkStream).
func (r *Relay) checkStreams(ctx context.Context, s settings) error {
	if n := r.JS.Conn().Stats().Reconnects; n != r.reconnects {
		// The server may have restarted and come back without the tail.
		r.reconnects, r.checked, r.lastSeq = n, nil, nil
	}
	for _, name := range relayStreams {
		if r.checked[name] {
			continue
		}
		ok, err := r.checkStream(ctx, s, name)
		if err != nil {
			return err
		}
		if ok {
			if r.checked == nil {
				r.checked = make(map[string]bool, len(relayStreams))
			}
			r.checked[name] = true
		}
	}
	return nil
}

// checkStream compares where stream name ends with the highest stream
// sequence the outbox recorded for it. When the stream is shorter (it lost
// its tail in a crash), it makes the events recorded past the end unsent
// again, forgets where the stream ends (the next pass probes) and resets
// the consumers whose delivered sequence is past the end. It reports false
// when the stream does not exist (nothing to compare; publishing to it
// fails and is retried).
func (r *Relay) checkStream(ctx context.Context, s settings, name string) (bool, error) {
	// The outbox first: a relay still publishing at a lease hand-over can
	// only make the stream longer than what was read here, never shorter.
	if err := r.connErr(); err != nil {
		return false, fmt.Errorf("check stream %s: %w", name, err)
	}
	octx, cancel := context.WithTimeout(ctx, s.outboxTimeout)
	defer cancel()
	recorded, err := r.Outbox.LastSent(octx, name)
	if err != nil {
		return false, err
	}
	sctx, scancel := context.WithTimeout(ctx, APITimeout)
	defer scancel()
	str, err := r.JS.Stream(sctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stream %s: %w", name, err)
	}
	last := str.CachedInfo().State.LastSeq
	if last >= recorded {
		return true, nil
	}
	n, err := r.Outbox.Resend(octx, name, last)
	if err != nil {
		return false, err
	}
	r.resent.Add(uint64(n))
	delete(r.lastSeq, name)
	s.log.Warn("outbox relay: a stream came back without its last messages (lost before they reached the disk); publishing them again from the outbox",
		"stream", name, "stream_last_seq", last, "recorded_last_seq", recorded, "events", n)
	return true, r.resetConsumersPast(ctx, s, str, last)
}

// resetConsumersPast resets each consumer of str whose delivered sequence
// is past last, the stream's end, to its ack floor or last, whichever is
// lower: the events the relay publishes again after last would otherwise
// be skipped. (A single server does this itself when it recovers a
// consumer; a replicated consumer keeps its state.) A consumer that cannot
// be reset (a deliver policy that forbids it, no permission) is logged and
// left: its owner must reset it.
func (r *Relay) resetConsumersPast(ctx context.Context, s settings, str jetstream.Stream, last uint64) error {
	name := str.CachedInfo().Config.Name
	lctx, cancel := context.WithTimeout(ctx, APITimeout)
	defer cancel()
	lister := str.ListConsumers(lctx)
	var past []*jetstream.ConsumerInfo
	for ci := range lister.Info() {
		if ci.Delivered.Stream > last {
			past = append(past, ci)
		}
	}
	if err := lister.Err(); err != nil {
		return fmt.Errorf("consumers of %s: %w", name, err)
	}
	for _, ci := range past {
		seq := min(ci.AckFloor.Stream, last) + 1
		rctx, rcancel := context.WithTimeout(ctx, APITimeout)
		_, err := r.JS.ResetConsumerToSequence(rctx, name, ci.Name, seq)
		rcancel()
		if err != nil {
			s.log.Error("outbox relay: a consumer is past the end of its stream and could not be reset: it skips the events published again until its owner resets it",
				"stream", name, "consumer", ci.Name, "delivered_stream_seq", ci.Delivered.Stream, "stream_last_seq", last, "err", err)
			continue
		}
		s.log.Warn("outbox relay: reset a consumer past the end of its stream", "stream", name, "consumer", ci.Name,
			"delivered_stream_seq", ci.Delivered.Stream, "reset_to", seq)
	}
	return nil
}

// expectations returns, for the longest prefix of evs the relay can publish
// now, each event's expected last sequence of its stream: nil for an event
// of no stream, an event already stored (acknowledged before: without an
// expectation JetStream answers it as a duplicate) or the first of a stream
// whose last sequence is unknown. The prefix stops before a stream's second
// event when its last sequence is unknown: the first one's acknowledgement
// will tell (unless it is a duplicate: then the next pass probes again).
func (r *Relay) expectations(evs []events.OutboxEvent) []*uint64 {
	next := maps.Clone(r.lastSeq)
	if next == nil {
		next = make(map[string]streamPos, 2)
	}
	probing := make(map[string]bool, 2)
	expect := make([]*uint64, 0, len(evs))
	for _, ev := range evs {
		stream, ok := events.StreamForSubject(ev.Subject)
		pos, known := next[stream]
		switch {
		case !ok || (known && ev.Seq <= pos.event):
			expect = append(expect, nil)
		case known:
			seq := pos.seq
			expect = append(expect, &seq)
			next[stream] = streamPos{event: ev.Seq, seq: seq + 1}
		case probing[stream]:
			return expect
		default:
			probing[stream] = true
			expect = append(expect, nil)
		}
	}
	return expect
}

// streamPos is where a stream ends: the outbox sequence of its last event
// and that event's stream sequence.
type streamPos struct{ event, seq uint64 }

// learnLastSeqs records where each stream ends from the acknowledgements
// of a pass that succeeded, and forgets it all after a failed one: a
// publish whose acknowledgement was lost may have been stored.
func (r *Relay) learnLastSeqs(evs []events.OutboxEvent, acks []*jetstream.PubAck, pubErr error) {
	if pubErr != nil {
		r.lastSeq = nil
		return
	}
	if r.lastSeq == nil {
		r.lastSeq = make(map[string]streamPos, 2)
	}
	for i, ack := range acks {
		if ack.Duplicate {
			// A duplicate's sequence is where the earlier copy was stored,
			// not where the stream ends: it may hold events after it, and
			// standalone JetStream checks the expected last sequence before
			// it deduplicates. The stream stays unknown, so the next pass
			// probes its next event.
			continue
		}
		stream, ok := events.StreamForSubject(evs[i].Subject)
		if pos, known := r.lastSeq[stream]; ok && (!known || evs[i].Seq > pos.event) {
			r.lastSeq[stream] = streamPos{event: evs[i].Seq, seq: ack.Sequence}
		}
	}
}

// publish sends evs pipelined, each expecting its stream's last sequence
// from expect, and returns the acknowledgements of the acknowledged
// prefix; the error says why the rest was not acknowledged.
func (r *Relay) publish(ctx context.Context, s settings, evs []events.OutboxEvent, expect []*uint64) ([]*jetstream.PubAck, error) {
	if err := r.connErr(); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	futures, sendErr := r.sendAll(ctx, evs, expect)
	acked, err := r.awaitAcks(ctx, s, evs[:len(futures)], futures)
	if err == nil {
		err = sendErr
	}
	return acked, err
}

// connErr says why the connection cannot be used now, nil when it can.
func (r *Relay) connErr() error {
	switch nc := r.JS.Conn(); {
	case nc.IsClosed():
		return natsgo.ErrConnectionClosed
	case !nc.IsConnected():
		return fmt.Errorf("nats %s: %w", nc.Status(), natsgo.ErrConnectionReconnecting)
	}
	return nil
}

// sendAll publishes evs asynchronously, stopping early when ctx ends: a
// relay run under a Lease must not publish once the lease is lost.
func (r *Relay) sendAll(ctx context.Context, evs []events.OutboxEvent, expect []*uint64) ([]jetstream.PubAckFuture, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(evs))
	for i, ev := range evs {
		if err := ctx.Err(); err != nil {
			return futures, err
		}
		f, err := r.JS.PublishAsync(ev.Subject, ev.Data, publishOpts(ev, expect[i])...)
		if err != nil {
			return futures, fmt.Errorf("publish event %d: %w", ev.Seq, err)
		}
		futures = append(futures, f)
	}
	return futures, nil
}

func publishOpts(ev events.OutboxEvent, lastSeq *uint64) []jetstream.PublishOpt {
	opts := []jetstream.PublishOpt{jetstream.WithMsgID(ev.ID)}
	stream, ok := events.StreamForSubject(ev.Subject)
	if !ok {
		return opts
	}
	opts = append(opts, jetstream.WithExpectStream(stream))
	if lastSeq != nil {
		opts = append(opts, jetstream.WithExpectLastSequence(*lastSeq))
	}
	return opts
}

func (r *Relay) awaitAcks(ctx context.Context, s settings, evs []events.OutboxEvent, futures []jetstream.PubAckFuture) ([]*jetstream.PubAck, error) {
	timer := time.NewTimer(s.ackTimeout)
	defer timer.Stop()
	acks := make([]*jetstream.PubAck, 0, len(futures))
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				r.duplicates.Add(1)
			}
			acks = append(acks, ack)
		case err := <-f.Err():
			return acks, fmt.Errorf("publish event %d: %w", evs[i].Seq, err)
		case <-timer.C:
			return acks, fmt.Errorf("publish event %d: no ack within %s", evs[i].Seq, s.ackTimeout)
		case <-ctx.Done():
			return acks, ctx.Err()
		}
		timer.Reset(s.ackTimeout)
	}
	return acks, nil
}

// refreshBacklog updates the backlog gauge when now is true or the last
// check is over a second old.
func (r *Relay) refreshBacklog(ctx context.Context, s settings, now bool) {
	br, ok := r.Outbox.(events.BacklogReporter)
	if !ok || (!now && time.Since(r.lastBacklog) < time.Second) {
		return
	}
	octx, cancel := context.WithTimeout(ctx, s.outboxTimeout)
	defer cancel()
	n, _, err := br.OutboxBacklog(octx)
	if err != nil {
		return // the gauge keeps its last value; the next check retries
	}
	r.backlog.Store(n)
	r.lastBacklog = time.Now()
}

// sentOf pairs the acknowledged prefix of evs with where each was stored.
func sentOf(evs []events.OutboxEvent, acks []*jetstream.PubAck) []events.Sent {
	sent := make([]events.Sent, len(acks))
	for i, ack := range acks {
		sent[i] = events.Sent{Seq: evs[i].Seq, Stream: ack.Stream, StreamSeq: ack.Sequence}
	}
	return sent
}

// sleep waits d, a kick or ctx; it reports false when ctx is done.
func sleep(ctx context.Context, d time.Duration, kick <-chan struct{}) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-kick:
	case <-ctx.Done():
		return false
	}
	return true
}

// settings are the relay's fields with defaults applied.
type settings struct {
	log                    *slog.Logger
	batch                  int
	poll, ackTimeout       time.Duration
	outboxTimeout          time.Duration
	minBackoff, maxBackoff time.Duration
}

func (r *Relay) settings() settings {
	s := settings{log: r.Logger, batch: r.BatchSize, poll: r.PollInterval, ackTimeout: r.AckTimeout, minBackoff: r.MinBackoff, maxBackoff: r.MaxBackoff}
	s.log = orDefault(s.log, slog.Default())
	s.batch = orDefault(s.batch, DefaultBatchSize)
	s.poll = orDefault(s.poll, DefaultPollInterval)
	s.ackTimeout = orDefault(s.ackTimeout, DefaultAckTimeout)
	s.outboxTimeout = orDefault(r.OutboxTimeout, DefaultOutboxTimeout)
	s.minBackoff = orDefault(s.minBackoff, DefaultMinBackoff)
	s.maxBackoff = max(orDefault(s.maxBackoff, DefaultMaxBackoff), s.minBackoff)
	return s
}

// backoff returns the wait after the n-th consecutive failure: MinBackoff
// doubled n-1 times, capped at MaxBackoff, then between half and all of it.
func (s settings) backoff(n int) time.Duration {
	d := s.maxBackoff
	if n <= 30 {
		d = min(s.minBackoff<<(n-1), s.maxBackoff)
	}
	if d <= 0 { // overflow
		d = s.maxBackoff
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// orDefault returns v, or def when v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// RegisterMetrics registers the relay's counters with reg:
// fieldsync_outbox_published_total, fieldsync_outbox_duplicates_total,
// fieldsync_outbox_resent_total, fieldsync_outbox_publish_failures_total and fieldsync_outbox_backlog.
func (r *Relay) RegisterMetrics(reg prometheus.Registerer) error {
	counter := func(name, help string, v *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v.Load()) })
	}
	for _, c := range []prometheus.Collector{
		counter("fieldsync_outbox_published_total", "Outbox events acknowledged by JetStream and marked sent.", &r.published),
		counter("fieldsync_outbox_duplicates_total", "Outbox events JetStream already had (republished).", &r.duplicates),
		counter("fieldsync_outbox_resent_total", "Sent outbox events published again because their stream came back from a crash without them.", &r.resent),
		counter("fieldsync_outbox_publish_failures_total", "Failed relay passes, each followed by a backoff.", &r.failures),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fieldsync_outbox_backlog", Help: "Unsent outbox events at the last check."},
			func() float64 { return float64(r.backlog.Load()) }),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register relay metrics: %w", err)
		}
	}
	return nil
}
