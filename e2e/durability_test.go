package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/events/nats"
	"github.com/fieldsync/fieldsync/events/nats/embedded"
	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// TestEveryChangeSurvivesAStreamThatLostItsTail is the embedded server's
// durability argument end to end (docs/events.md, "Durability"): JetStream
// acknowledges messages before fsyncing them, so a crash of the machine
// can take a stream's last messages; the outbox must put them back. The
// daemon commits 100 submitted visits, stops; the streams' message blocks
// are copied (what the disk had at the last sync); it commits 100 more,
// the insights consumer applies and acknowledges them, it stops; the copy
// is put back while the consumer's state, ahead of it, stays. After a
// restart each stream must hold exactly what it held before the loss —
// every committed change once, in commit order, under its event id — and
// the insights figures must be what they were.
func TestEveryChangeSurvivesAStreamThatLostItsTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := start(t, dir)
	clock := syncengine.NewClock(nil)
	var seq uint64
	var pushed []string
	pushed = append(pushed, pushSubmittedVisits(t, e, clock, &seq, 100)...)
	waitDaemonIdle(t, e.d)
	e.stop()
	restore := snapshotStreams(t, dir)

	e = start(t, dir)
	pushed = append(pushed, pushSubmittedVisits(t, e, clock, &seq, 100)...)
	waitDaemonIdle(t, e.d)
	js := daemonJetStream(t, e.d)
	before := map[string][]streamEvent{}
	for _, s := range []string{events.ChangesStream, events.AlertsStream} {
		before[s] = readStream(t, js, s)
	}
	phiBefore := repPhi(t, e)
	e.stop()

	restore()
	if n := changeStreamLength(t, dir); n >= uint64(len(before[events.ChangesStream])) {
		t.Fatalf("the change stream ends at %d after the loss, want before %d", n, len(before[events.ChangesStream]))
	}
	e = start(t, dir)
	js = daemonJetStream(t, e.d)
	eventually(t, "the lost messages to be published again", func() bool {
		return len(readStream(t, js, events.ChangesStream)) >= len(before[events.ChangesStream])
	})
	waitDaemonIdle(t, e.d)
	for _, s := range []string{events.ChangesStream, events.AlertsStream} {
		if got := readStream(t, js, s); !slices.EqualFunc(got, before[s], func(a, b streamEvent) bool { return a.msgID == b.msgID }) {
			t.Fatalf("%s holds %d messages after the loss, want the %d it held before, in the same order", s, len(got), len(before[s]))
		}
	}
	checkCommitOrder(t, before[events.ChangesStream], pushed)
	if got := repPhi(t, e); !proto.Equal(got, phiBefore) {
		t.Fatalf("the rep's PHI after the loss is %v, want %v as before", got, phiBefore)
	}
}

// pushSubmittedVisits pushes n new submitted visits as the demo rep and
// returns their record ids.
func pushSubmittedVisits(t *testing.T, e *env, clock *syncengine.Clock, seq *uint64, n int) []string {
	t.Helper()
	req := submittedVisits(clock, seq, n)
	res, err := e.sync(e.token("rep")).Push(context.Background(), connect.NewRequest(req))
	if err != nil {
		t.Fatal(err)
	}
	var recordIDs []string
	for i, r := range res.Msg.Results {
		if r.Outcome != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED {
			t.Fatalf("push: %v", r)
		}
		recordIDs = append(recordIDs, req.Mutations[i].RecordId)
	}
	return recordIDs
}

// submittedVisits is a push of n new visits, submitted an hour ago, which
// the insights consumer counts.
func submittedVisits(clock *syncengine.Clock, seq *uint64, n int) *fieldsyncv1.PushRequest {
	req := &fieldsyncv1.PushRequest{}
	fields := &fieldmaskpb.FieldMask{Paths: []string{"status", "kind", "customer_id", "visit_time", "notes", "action_tags"}}
	for j := 0; j < n; j++ {
		*seq++
		v := benchVisit(j)
		v.Status, v.VisitTime = fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED, timestamppb.New(time.Now().Add(-time.Hour))
		value, _ := anypb.New(v)
		req.Mutations = append(req.Mutations, &fieldsyncv1.Mutation{Seq: *seq, RecordType: "fieldsync.v1.Visit",
			RecordId: ids.New(), Value: value, FieldMask: fields, Hlc: uint64(clock.Now())})
	}
	return req
}

func waitDaemonIdle(t *testing.T, d *daemon.Daemon) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := d.WaitIdle(ctx); err != nil {
		t.Fatalf("wait for the relay and consumers: %v", err)
	}
}

// snapshotStreams copies the message blocks of both streams of the
// stopped daemon in dir and returns a function that puts the copy back,
// leaving the consumers' state as it is by then.
func snapshotStreams(t *testing.T, dir string) (restore func()) {
	t.Helper()
	saved := t.TempDir()
	msgs := func(stream string) string {
		return filepath.Join(dir, "nats", "jetstream", "$G", "streams", stream, "msgs")
	}
	streams := []string{events.ChangesStream, events.AlertsStream}
	for _, s := range streams {
		if err := os.CopyFS(filepath.Join(saved, s), os.DirFS(msgs(s))); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		t.Helper()
		for _, s := range streams {
			if err := os.RemoveAll(msgs(s)); err != nil {
				t.Fatal(err)
			}
			if err := os.CopyFS(msgs(s), os.DirFS(filepath.Join(saved, s))); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// changeStreamLength starts the NATS server of the stopped daemon in dir
// alone and returns the change stream's last sequence.
func changeStreamLength(t *testing.T, dir string) uint64 {
	t.Helper()
	srv, err := embedded.Start(embedded.Config{StoreDir: filepath.Join(dir, "nats"), Port: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, js, err := nats.Connect(context.Background(), nats.ConnConfig{InProcess: srv, Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	s, err := js.Stream(context.Background(), events.ChangesStream)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().State.LastSeq
}

// daemonJetStream connects to the daemon's embedded NATS server.
func daemonJetStream(t *testing.T, d *daemon.Daemon) jetstream.JetStream {
	t.Helper()
	url, err := os.ReadFile(filepath.Join(d.DataDir(), daemon.NATSURLFile))
	if err != nil {
		t.Fatal(err)
	}
	nc, js, err := nats.Connect(context.Background(), nats.ConnConfig{URL: strings.TrimSpace(string(url)), Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return js
}

// streamEvent is one message of a stream: its id and, on the change
// stream, the event.
type streamEvent struct {
	msgID string
	ev    *fieldsyncv1.ChangeEvent
}

// readStream returns every message of stream in stream order.
func readStream(t *testing.T, js jetstream.JetStream, stream string) []streamEvent {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	st := s.CachedInfo().State
	var out []streamEvent
	for seq := st.FirstSeq; st.Msgs > 0 && seq <= st.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		ev := &fieldsyncv1.ChangeEvent{}
		if err := proto.Unmarshal(m.Data, ev); err != nil {
			t.Fatalf("%s message %d: %v", stream, seq, err)
		}
		out = append(out, streamEvent{msgID: m.Header.Get(jetstream.MsgIDHeader), ev: ev})
	}
	return out
}

// checkCommitOrder checks that the change stream holds each event id once,
// each tenant's changes in increasing version (commit order), and an
// upsert of every pushed record.
func checkCommitOrder(t *testing.T, stream []streamEvent, pushed []string) {
	t.Helper()
	seen := map[string]bool{}
	lastVersion := map[string]uint64{}
	upserted := map[string]bool{}
	for _, m := range stream {
		if m.msgID == "" || m.msgID != m.ev.EventId || seen[m.msgID] {
			t.Fatalf("message %q (event %q): missing, mismatched or repeated id", m.msgID, m.ev.EventId)
		}
		seen[m.msgID] = true
		if v := m.ev.Version; v != 0 {
			if v <= lastVersion[m.ev.TenantId] {
				t.Fatalf("tenant %s: version %d after %d: not in commit order", m.ev.TenantId, v, lastVersion[m.ev.TenantId])
			}
			lastVersion[m.ev.TenantId] = v
		}
		if m.ev.Op == fieldsyncv1.ChangeOp_CHANGE_OP_UPSERT {
			upserted[m.ev.RecordId] = true
		}
	}
	for _, id := range pushed {
		if !upserted[id] {
			t.Fatalf("pushed visit %s has no upsert in the change stream", id)
		}
	}
}

// repPhi is the demo rep's PHI for yesterday and today (the visits are
// dated an hour ago), as the rep reads it.
func repPhi(t *testing.T, e *env) *fieldsyncv1.GetPhiResponse {
	t.Helper()
	now := time.Now().UTC()
	rep, _ := e.creds.User("rep")
	res, err := e.insights(e.token("rep")).GetPhi(context.Background(), connect.NewRequest(&fieldsyncv1.GetPhiRequest{
		ScopeKind: fieldsyncv1.ScopeKind_SCOPE_KIND_REP, ScopeId: rep.UserID,
		FromDate: now.AddDate(0, 0, -1).Format("2006-01-02"), ToDate: now.Format("2006-01-02")}))
	if err != nil {
		t.Fatal(err)
	}
	var counted int64
	for _, d := range res.Msg.Days {
		counted += d.EventCount
	}
	if counted == 0 {
		t.Fatalf("the rep's PHI: %v, want days counting the visits", res.Msg)
	}
	return res.Msg
}
