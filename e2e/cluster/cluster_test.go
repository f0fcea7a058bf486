package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"
	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/events/nats"
	"github.com/fieldsync/fieldsync/internal/demo"
	"github.com/fieldsync/fieldsync/photos/photostest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

const (
	visitType     = "fieldsync.v1.Visit"
	diagnosisType = "fieldsync.v1.Diagnosis"
)

// TestClusterKeepsTheSyncContractThroughFaults runs devices syncing
// through the proxy in front of three nodes while, one after the other,
// the node holding the relay lease is SIGKILLed (and started again), the
// NATS node leading the change stream is SIGKILLed (and started again on
// its store) and
// PostgreSQL is crashed (stopped immediately and started again). Each
// fault waits for the devices to have made progress since the last one,
// not for a time. Then: no acknowledged write is lost, none was applied
// twice, every device holds what the server holds for it, every change
// event is in the stream once (by Nats-Msg-Id) and every acknowledged
// change has its event, every photo is stored once under its hash.
func TestClusterKeepsTheSyncContractThroughFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds fieldsyncd and runs three of it, NATS, PostgreSQL and versitygw")
	}
	began := time.Now()
	c := startCluster(t, 3)
	t.Logf("%v: cluster up", since(began))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	creds, err := demo.Load(filepath.Join(c.nodes[0].dir, "demo-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	devices := openDevices(t, c, creds)

	// The devices sync until told to stop; progress counts the writers' syncs.
	var progress atomic.Int64
	stop := make(chan struct{})
	errs := make(chan error, len(devices))
	var wg sync.WaitGroup
	for _, d := range devices {
		wg.Go(func() { errs <- d.run(ctx, stop, &progress) })
	}
	// after waits until the devices have synced n more times.
	after := func(what string, n int64) {
		t.Helper()
		target := progress.Load() + n
		waitFor(t, "devices syncing "+what, 2*time.Minute, func() (bool, error) {
			select {
			case err := <-errs:
				errs <- err
				return false, fmt.Errorf("a device stopped: %w", err)
			default:
			}
			return progress.Load() >= target, nil
		})
	}
	steps := int64(6) // two rounds of each writer
	after("before any fault", steps)

	// 1. SIGKILL the node running the outbox relay; the others go on, one
	// of them takes the lease over; then it comes back.
	victim := c.relayHolder(ctx)
	t.Logf("%v: SIGKILL node %d (relay lease holder)", since(began), victim.i)
	victim.kill()
	after("with a node killed", steps)
	victim.start()
	after("after the node came back", steps)

	// 2. SIGKILL the NATS node leading the change stream, then start it
	// again on its store.
	leader := -1
	waitFor(t, "a leader of "+events.ChangesStream, time.Minute, func() (bool, error) {
		actx, cancel := attempt(ctx)
		defer cancel()
		var err error
		leader, err = c.nats.streamLeader(actx, events.ChangesStream)
		return err == nil, err
	})
	t.Logf("%v: SIGKILL NATS node %d (leads %s)", since(began), leader, events.ChangesStream)
	c.nats.nodes[leader].kill()
	after("with a NATS node killed", steps)
	if err := c.nats.nodes[leader].start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%v: NATS node %d back", since(began), leader)
	after("after the NATS node came back", steps)

	// 3. Crash PostgreSQL and start it again.
	t.Logf("%v: restart PostgreSQL (immediate stop: a crash)", since(began))
	if err := c.pg.Restart(); err != nil {
		t.Fatal(err)
	}
	after("after PostgreSQL came back", steps)

	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%v: %d syncs through the faults", since(began), progress.Load())

	// Let the cluster settle: every photo uploaded (one put off by a
	// fault is retried when due), every outbox event relayed, every photo
	// notice handled (its records bumped), every stream consumer (the
	// insights consumer, which writes records too) caught up; then every
	// device syncs once more and holds what the server holds.
	for _, d := range devices {
		d.drainPhotos(ctx, t)
	}
	db := c.connectDB(ctx)
	nc, js, err := nats.Connect(ctx, nats.ConnConfig{URL: c.nats.URL(), Name: "cluster-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// Settled: nothing unsent and no photo notice, every consumer idle,
	// and then still nothing new in the outbox — the insights consumer
	// commits its records (and their events) before it acknowledges, so a
	// batch it handled between the first look and the idle check shows in
	// the second look.
	waitFor(t, "the outbox relayed, the photo notices handled, the consumers idle", 2*time.Minute, func() (bool, error) {
		actx, cancel := attempt(ctx)
		defer cancel()
		before, err := readOutbox(ctx, db)
		if err != nil {
			return false, err
		}
		if before.unsent != 0 || before.notices != 0 {
			return false, fmt.Errorf("%d outbox events unsent, %d photo notices (leases: %s)", before.unsent, before.notices, leaseHolders(actx, js))
		}
		idle, err := consumersIdle(actx, js)
		if err != nil || !idle {
			return false, fmt.Errorf("%v (leases: %s)", err, leaseHolders(actx, js))
		}
		after, err := readOutbox(ctx, db)
		if err != nil {
			return false, err
		}
		if after != before {
			return false, fmt.Errorf("the outbox went from %+v to %+v while the consumers were checked", before, after)
		}
		return true, nil
	})
	for _, stream := range []string{events.ChangesStream, events.AlertsStream} {
		waitFor(t, "every replica of "+stream+" current (the killed NATS node caught up)", time.Minute, func() (bool, error) {
			actx, cancel := attempt(ctx)
			defer cancel()
			return c.nats.replicasCurrent(actx, stream)
		})
	}
	t.Logf("%v: settled", since(began))
	for _, d := range devices {
		if err := d.c.Sync(ctx); err != nil {
			t.Fatalf("%s: final sync: %v", d.name, err)
		}
		if err := d.c.WaitAcked(ctx); err != nil { // its receipt, sent in the background, may write events
			t.Fatalf("%s: final sync's receipt: %v", d.name, err)
		}
	}
	// The final syncs may write events of their own (a pull's receipt
	// creates the records it delivers): the streams are compared with the
	// outbox once those are relayed too.
	waitFor(t, "the final syncs' events relayed", time.Minute, func() (bool, error) {
		s, err := readOutbox(ctx, db)
		switch {
		case err != nil:
			return false, err
		case s.unsent != 0:
			return false, fmt.Errorf("%d outbox events unsent", s.unsent)
		}
		return true, nil
	})

	admin := c.adminView(ctx, creds)
	evs := c.changeEvents(ctx, db)
	for _, d := range devices {
		d.checkWrites(t, admin, evs)
		d.checkConverged(ctx, t, c)
	}
	checkShared(ctx, t, devices)
	c.checkPhotos(ctx, t, devices, evs)
	var conflicts int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM conflicts`).Scan(&conflicts); err != nil || conflicts != 0 {
		t.Fatalf("%d conflicts (%v): a mutation was applied twice (it loses to its own later write)", conflicts, err)
	}
}

// device is one SDK client of a demo user: a writer of visits (reps) or
// of diagnoses with photos (store staff), or a reader.
type device struct {
	name string
	user demo.UserCreds
	c    *fieldsync.Client
	kind string // "visit", "diagnosis" or "" (reads only)

	ids    []string            // records it created, in order
	muts   map[string]int      // record id → mutations sent
	texts  map[string][]string // record id → texts written, in order
	photos map[string][]byte   // sha256 → photo bytes attached
	rounds int
}

func openDevices(t *testing.T, c *cluster, creds *demo.Credentials) []*device {
	t.Helper()
	var devices []*device
	logs := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("SDK logs (tail):\n%s", tail(logs.String(), 8<<10))
		}
	})
	var reps int
	for _, u := range creds.Users {
		d := &device{name: u.Name, user: u, muts: map[string]int{}, texts: map[string][]string{}, photos: map[string][]byte{}}
		switch u.Role {
		case "rep":
			d.kind = "visit"
			reps++
		case "store_staff":
			d.kind = "diagnosis"
		case "regional_director", "store_manager":
		default:
			continue
		}
		var err error
		d.c, err = fieldsync.Open(context.Background(), filepath.Join(t.TempDir(), "device.db"),
			fieldsync.WithServer(c.proxyURL), fieldsync.WithToken(u.DeviceToken),
			// Retry as the SDK does, but sooner, and do not give up while a
			// fault lasts.
			fieldsync.WithBackoff(20*time.Millisecond, time.Second), fieldsync.WithUnreachableAfter(2*time.Minute),
			fieldsync.WithChunkSize(16<<10),
			fieldsync.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("device", u.Name)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.c.Close() })
		devices = append(devices, d)
	}
	if reps < 2 || len(devices) < 5 {
		t.Fatalf("the demo organisation has %d devices of the roles wanted", len(devices))
	}
	return devices
}

// run writes and syncs in rounds until stop is closed; each successful
// Sync of a writer adds one to progress. Sync retries what the SDK retries; any error
// it returns ends the run.
func (d *device) run(ctx context.Context, stop <-chan struct{}, progress *atomic.Int64) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		if d.kind == "" {
			// A reader syncs once for each writer's sync, not in a busy loop.
			seen := progress.Load()
			for progress.Load() == seen {
				select {
				case <-stop:
					return nil
				case <-time.After(5 * time.Millisecond):
				}
			}
			if err := d.c.Sync(ctx); err != nil {
				return fmt.Errorf("%s: %w", d.name, err)
			}
			continue
		}
		d.rounds++
		if err := d.write(ctx); err != nil {
			return fmt.Errorf("%s: round %d: %w", d.name, d.rounds, err)
		}
		if err := d.c.Sync(ctx); err != nil {
			return fmt.Errorf("%s: round %d: %w", d.name, d.rounds, err)
		}
		progress.Add(1)
	}
}

// write makes one round's changes: a new record, an edit of the record
// made two rounds ago and, for diagnoses, a photo on last round's record.
// A record gets at most one change per round, so one push carries at most
// one mutation per record.
func (d *device) write(ctx context.Context) error {
	if d.kind == "" {
		return nil
	}
	put := func(id, text string) error {
		var v proto.Message = &fieldsyncv1.Visit{Notes: text}
		field := "notes"
		if d.kind == "diagnosis" {
			v, field = &fieldsyncv1.Diagnosis{VehicleModel: "sedan", FaultSymptoms: text}, "fault_symptoms"
		}
		fields := []string{field}
		if d.texts[id] == nil {
			fields = nil // a new record: every field set
		}
		if err := d.c.Put(ctx, id, v, fields...); err != nil {
			return err
		}
		d.muts[id]++
		d.texts[id] = append(d.texts[id], text)
		return nil
	}
	id := d.c.NewID()
	d.ids = append(d.ids, id)
	if err := put(id, fmt.Sprintf("%s round %d new", d.user.UserID, d.rounds)); err != nil {
		return err
	}
	if n := len(d.ids); n >= 3 {
		if err := put(d.ids[n-3], fmt.Sprintf("%s round %d edit", d.user.UserID, d.rounds)); err != nil {
			return err
		}
	}
	if n := len(d.ids); d.kind == "diagnosis" && n >= 2 {
		data := photostest.JPEG(40<<10, uint64(d.rounds))
		ref, err := d.c.AddPhoto(ctx, diagnosisType, d.ids[n-2], "photos", bytes.NewReader(data))
		if err != nil {
			return err
		}
		d.muts[d.ids[n-2]]++
		d.photos[ref.GetSha256()] = data
	}
	return nil
}

func (d *device) recordType() string {
	if d.kind == "diagnosis" {
		return diagnosisType
	}
	return visitType
}

// text is the text field a device writes.
func text(m proto.Message) string {
	switch v := m.(type) {
	case *fieldsyncv1.Visit:
		return v.GetNotes()
	case *fieldsyncv1.Diagnosis:
		return v.GetFaultSymptoms()
	}
	return ""
}

// checkWrites: every record the device wrote is on the server with its
// last text (nothing acknowledged is lost), and the change stream holds
// exactly one upsert event by the device for each of its mutations (none
// applied twice, none without its event), showing each text it wrote.
func (d *device) checkWrites(t *testing.T, admin map[string]*serverRecord, evs *eventLog) {
	t.Helper()
	for _, id := range d.ids {
		rec := admin[id]
		if rec == nil {
			t.Fatalf("%s: acknowledged record %s is not on the server", d.name, id)
		}
		texts := d.texts[id]
		if got := text(rec.value); got != texts[len(texts)-1] {
			t.Fatalf("%s: record %s holds %q on the server, want its last acknowledged text %q", d.name, id, got, texts[len(texts)-1])
		}
		var mine []*fieldsyncv1.ChangeEvent
		for _, ev := range evs.byRecord[id] {
			if ev.GetOp() == fieldsyncv1.ChangeOp_CHANGE_OP_UPSERT && ev.GetDeviceId() == d.user.DeviceID {
				mine = append(mine, ev)
			}
		}
		if len(mine) != d.muts[id] {
			t.Fatalf("%s: record %s has %d upsert events by the device, want one per mutation: %d", d.name, id, len(mine), d.muts[id])
		}
		shown := map[string]bool{}
		for _, ev := range mine {
			m, err := ev.GetValue().UnmarshalNew()
			if err != nil {
				t.Fatalf("%s: event %s: %v", d.name, ev.GetEventId(), err)
			}
			shown[text(m)] = true
		}
		for _, tx := range texts {
			if !shown[tx] {
				t.Fatalf("%s: record %s: no change event shows the acknowledged text %q", d.name, id, tx)
			}
		}
		if last := evs.lastVersion(id); last > rec.version {
			t.Fatalf("%s: record %s: an event names version %d, the server holds %d", d.name, id, last, rec.version)
		}
	}
}

// drainPhotos syncs until every photo of the queue is uploaded, waiting
// for a photo put off (the server was unavailable) to be due again.
func (d *device) drainPhotos(ctx context.Context, t *testing.T) {
	t.Helper()
	for {
		ps, err := d.c.Photos(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var due time.Time
		pending := false
		for _, p := range ps {
			switch p.State {
			case fieldsync.PhotoDone:
				continue
			case fieldsync.PhotoFailed:
				t.Fatalf("%s: photo %s failed: %s", d.name, p.SHA256, p.Err)
			}
			pending = true
			if due.IsZero() || p.RetryAt.Before(due) {
				due = p.RetryAt
			}
		}
		if !pending {
			return
		}
		t.Logf("%s: a photo waits to be uploaded (due %v)", d.name, due)
		select {
		case <-time.After(time.Until(due)):
		case <-ctx.Done():
			t.Fatalf("%s: photos not uploaded: %v", d.name, ctx.Err())
		}
		if err := d.c.Sync(ctx); err != nil {
			t.Fatalf("%s: sync: %v", d.name, err)
		}
	}
}

// checkConverged: the device's store holds exactly what the server sends
// its user from scratch (same records, versions and values), with nothing
// pending, every photo uploaded.
func (d *device) checkConverged(ctx context.Context, t *testing.T, c *cluster) {
	t.Helper()
	st, err := d.c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.OutboxDepth != 0 || st.Conflicts != 0 || st.Rejections != 0 {
		t.Fatalf("%s: status after the final sync %+v", d.name, st)
	}
	want := pullAll(ctx, t, c, d.user.DeviceToken)
	got := map[string]fieldsync.Record{}
	for _, typ := range fieldsync.RecordTypes() {
		recs, err := d.c.List(ctx, typ)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			got[r.ID] = r
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: the device holds %d records, the server sends it %d", d.name, len(got), len(want))
	}
	for id, w := range want {
		g, ok := got[id]
		if !ok || g.Version != w.version || g.Pending || !proto.Equal(g.Value, w.value) {
			t.Fatalf("%s: record %s on the device (found %v) version %d pending %v value %v; the server's: version %d value %v",
				d.name, id, ok, g.Version, g.Pending, g.Value, w.version, w.value)
		}
	}
	ps, err := d.c.Photos(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.State != fieldsync.PhotoDone {
			t.Fatalf("%s: photo %s is %v (%s)", d.name, p.SHA256, p.State, p.Err)
		}
	}
	if len(ps) != len(d.photos) {
		t.Fatalf("%s: %d photos in the queue, %d attached", d.name, len(ps), len(d.photos))
	}
}

// checkShared: devices that both hold a record hold the same version.
func checkShared(ctx context.Context, t *testing.T, devices []*device) {
	t.Helper()
	seen := map[string]uint64{}
	for _, d := range devices {
		for _, typ := range []string{visitType, diagnosisType} {
			recs, err := d.c.List(ctx, typ)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if v, ok := seen[r.ID]; ok && v != r.Version {
					t.Fatalf("record %s: version %d on %s, %d on another device", r.ID, r.Version, d.name, v)
				}
				seen[r.ID] = r.Version
			}
		}
	}
	// The readers see the writers' records: the director the reps'
	// visits, the store manager the staff's diagnoses.
	for _, d := range devices {
		for _, id := range d.ids {
			holders := 0
			for _, o := range devices {
				if found, err := o.c.Get(ctx, d.recordType(), id, newOf(d.recordType())); err == nil && found {
					holders++
				}
			}
			if holders < 2 {
				t.Fatalf("record %s of %s reached %d devices, want its writer and a reader", id, d.name, holders)
			}
		}
	}
}

func newOf(recordType string) proto.Message {
	if recordType == diagnosisType {
		return &fieldsyncv1.Diagnosis{}
	}
	return &fieldsyncv1.Visit{}
}

// serverRecord is a record as a pull from scratch returns it.
type serverRecord struct {
	version uint64
	value   proto.Message
}

// pullAll pulls everything token's scope holds, from an empty cursor.
func pullAll(ctx context.Context, t *testing.T, c *cluster, token string) map[string]*serverRecord {
	t.Helper()
	client := fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, c.proxyURL, connect.WithInterceptors(fieldsync.BearerAuth(token)))
	out := map[string]*serverRecord{}
	cursor := ""
	for {
		res, err := client.Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{Cursor: cursor, Limit: 1000}))
		if err != nil {
			t.Fatalf("pull: %v", err)
		}
		for _, r := range res.Msg.GetRecords() {
			if r.GetRemoved() != fieldsyncv1.RemovalReason_REMOVAL_REASON_UNSPECIFIED {
				delete(out, r.GetId())
				continue
			}
			m, err := r.GetValue().UnmarshalNew()
			if err != nil {
				t.Fatalf("record %s: %v", r.GetId(), err)
			}
			out[r.GetId()] = &serverRecord{version: r.GetVersion(), value: m}
		}
		if cursor = res.Msg.GetNextCursor(); !res.Msg.GetHasMore() {
			return out
		}
	}
}

// adminView is every record of the demo tenant.
func (c *cluster) adminView(ctx context.Context, creds *demo.Credentials) map[string]*serverRecord {
	return pullAll(ctx, c.t, c, creds.AdminToken)
}

// eventLog is the change stream, read in full.
type eventLog struct {
	byRecord map[string][]*fieldsyncv1.ChangeEvent
}

func (l *eventLog) lastVersion(id string) uint64 {
	var v uint64
	for _, ev := range l.byRecord[id] {
		v = max(v, ev.GetVersion())
	}
	return v
}

// changeEvents reads both streams in full and checks them against the
// outbox: every message has a Nats-Msg-Id that no other message has, the
// change events' ids are their message ids, and the streams hold every
// outbox event and nothing else.
func (c *cluster) changeEvents(ctx context.Context, db *pgx.Conn) *eventLog {
	t := c.t
	t.Helper()
	outbox := map[string]bool{}
	rows, err := db.Query(ctx, `SELECT event_id FROM outbox`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		outbox[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	nc, js, err := nats.Connect(ctx, nats.ConnConfig{URL: c.nats.URL(), Name: "cluster-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	log := &eventLog{byRecord: map[string][]*fieldsyncv1.ChangeEvent{}}
	seen := map[string]int{}
	for _, stream := range []string{events.ChangesStream, events.AlertsStream} {
		msgs := readStream(ctx, t, js, stream)
		for _, m := range msgs {
			id := m.Headers().Get(jetstream.MsgIDHeader)
			if id == "" {
				t.Fatalf("%s: a message without %s", stream, jetstream.MsgIDHeader)
			}
			if seen[id]++; seen[id] > 1 {
				t.Fatalf("%s: message id %s stored twice", stream, id)
			}
			if !outbox[id] {
				t.Fatalf("%s: message %s is no outbox event", stream, id)
			}
			if stream != events.ChangesStream {
				continue
			}
			ev := &fieldsyncv1.ChangeEvent{}
			if err := proto.Unmarshal(m.Data(), ev); err != nil {
				t.Fatalf("change event %s: %v", id, err)
			}
			if ev.GetEventId() != id {
				t.Fatalf("change event %s published as message id %s", ev.GetEventId(), id)
			}
			log.byRecord[ev.GetRecordId()] = append(log.byRecord[ev.GetRecordId()], ev)
		}
	}
	for id := range outbox {
		if seen[id] == 0 {
			var stream *string
			var streamSeq, sentAt *int64
			var seq int64
			err := db.QueryRow(ctx, `SELECT o.seq, r.stream, r.last_stream_seq - (r.last_seq - o.seq), r.sent_at
				FROM outbox o LEFT JOIN outbox_sent r ON o.seq BETWEEN r.first_seq AND r.last_seq
				WHERE o.event_id = $1`, id).Scan(&seq, &stream, &streamSeq, &sentAt)
			t.Fatalf("outbox event %s is in no stream (outbox seq %d, stream %v, stream seq %v, sent at %v, read err %v)",
				id, seq, deref(stream), deref(streamSeq), deref(sentAt), err)
		}
	}
	t.Logf("%d events in the streams, each once", len(seen))
	return log
}

// consumersIdle reports whether every consumer of the streams has
// handled every message.
func consumersIdle(ctx context.Context, js jetstream.JetStream) (bool, error) {
	for _, name := range []string{events.ChangesStream, events.AlertsStream} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			return false, err
		}
		infos := s.ListConsumers(ctx)
		for info := range infos.Info() {
			if info.NumPending != 0 || info.NumAckPending != 0 {
				return false, fmt.Errorf("consumer %s of %s: %d pending, %d awaiting ack", info.Name, name, info.NumPending, info.NumAckPending)
			}
		}
		if err := infos.Err(); err != nil {
			return false, err
		}
	}
	return true, nil
}

// outboxState is what the settle wait reads of the outbox.
type outboxState struct{ total, unsent, notices int }

func readOutbox(ctx context.Context, db *pgx.Conn) (outboxState, error) {
	var s outboxState
	err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM outbox_unsent),
		(SELECT count(*) FROM photo_notices)`).Scan(&s.total, &s.unsent, &s.notices)
	return s, err
}

// leaseHolders says who holds each lease (diagnostics; ctx must be bounded,
// see attempt).
func leaseHolders(ctx context.Context, js jetstream.JetStream) string {
	kv, err := js.KeyValue(ctx, nats.LeaseBucket)
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, key := range []string{"relay", "insights", "tombstone-purge"} {
		e, err := kv.Get(ctx, key)
		if err != nil {
			out = append(out, key+": "+err.Error())
			continue
		}
		out = append(out, fmt.Sprintf("%s: %s (revision %d)", key, e.Value(), e.Revision()))
	}
	return strings.Join(out, "; ")
}

// readStream returns every message of a stream, in order, reading it
// again from the start after a failure (a NATS node that just came back
// may leave the stream without a leader for a moment).
func readStream(ctx context.Context, t *testing.T, js jetstream.JetStream, stream string) []jetstream.Msg {
	t.Helper()
	var out []jetstream.Msg
	waitFor(t, "reading "+stream, time.Minute, func() (bool, error) {
		actx, cancel := attempt(ctx)
		defer cancel()
		var err error
		out, err = tryReadStream(actx, js, stream)
		return err == nil, err
	})
	return out
}

func tryReadStream(ctx context.Context, js jetstream.JetStream, stream string) ([]jetstream.Msg, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	n := info.State.Msgs
	if n == 0 {
		return nil, nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	var out []jetstream.Msg
	for uint64(len(out)) < n {
		batch, err := cons.Fetch(int(min(n-uint64(len(out)), 500)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, err
		}
		got := 0
		for m := range batch.Messages() {
			out = append(out, m)
			got++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, err
		}
		if got == 0 {
			return nil, fmt.Errorf("%s: read %d of %d messages, then none", stream, len(out), n)
		}
	}
	return out, nil
}

// checkPhotos: every photo a device attached is one object in the
// bucket, under its hash, whose bytes hash to it; the bucket holds
// nothing else; each record it went on has one photo-state event for it.
func (c *cluster) checkPhotos(ctx context.Context, t *testing.T, devices []*device, evs *eventLog) {
	t.Helper()
	mc, err := minio.New(c.s3.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(c.s3.AccessKey, c.s3.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, d := range devices {
		for sha := range d.photos {
			want[sha] = true
		}
	}
	objects := 0
	for obj := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		objects++
		if !want[obj.Key] {
			t.Fatalf("object %s in the bucket is no photo a device attached", obj.Key)
		}
		o, err := mc.GetObject(ctx, bucket, obj.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(h, o)
		o.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != obj.Key {
			t.Fatalf("object %s holds bytes hashing to %s", obj.Key, got)
		}
	}
	if objects != len(want) {
		t.Fatalf("%d objects in the bucket, %d photos attached", objects, len(want))
	}
	for _, d := range devices {
		for i, id := range d.ids {
			if d.kind != "diagnosis" || i >= len(d.ids)-1 {
				continue // no photo went on it
			}
			states := 0
			for _, ev := range evs.byRecord[id] {
				if ev.GetOp() == fieldsyncv1.ChangeOp_CHANGE_OP_PHOTO_STATE {
					states++
				}
			}
			if states != 1 {
				t.Fatalf("%s: diagnosis %s has %d photo-state events, want 1", d.name, id, states)
			}
		}
	}
	t.Logf("%d photos stored once each", objects)
}

// relayHolder returns the node holding the relay lease.
func (c *cluster) relayHolder(ctx context.Context) *node {
	t := c.t
	t.Helper()
	nc, js, err := nats.Connect(ctx, nats.ConnConfig{URL: c.nats.URL(), Name: "cluster-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var holder *node
	waitFor(t, "a relay lease holder", time.Minute, func() (bool, error) {
		actx, cancel := attempt(ctx)
		defer cancel()
		kv, err := js.KeyValue(actx, nats.LeaseBucket)
		if err != nil {
			return false, err
		}
		e, err := kv.Get(actx, "relay")
		if err != nil {
			return false, err
		}
		holder = c.nodeOf(string(e.Value()))
		return holder != nil, fmt.Errorf("holder %q is no node", e.Value())
	})
	return holder
}

// connectDB connects to the nodes' database, closed when the test ends.
func (c *cluster) connectDB(ctx context.Context) *pgx.Conn {
	db, err := pgx.Connect(ctx, c.dbURL)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { db.Close(context.Background()) })
	return db
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// deref is *p, or nil for a nil p (diagnostics of nullable columns).
func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
