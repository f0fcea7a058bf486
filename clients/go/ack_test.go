package fieldsync

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// TestSyncAcknowledgesTheLastPageAtOnce: campaign material counts as
// delivered when the rep's device stored it, not at its next pull (which
// may be hours later): one Sync is enough for the delivery, dated within
// that Sync.
func TestSyncAcknowledgesTheLastPageAtOnce(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	marketing := e.device(e.token("marketing"))
	id := marketing.NewID()
	mustPut(t, marketing, id, &fieldsyncv1.CampaignMaterial{Title: "spring", RegionId: e.user("rep", 0).RegionID})
	mustSync(t, marketing)

	rep := e.device(e.token("rep"))
	before := time.Now()
	mustSync(t, rep)
	if err := rep.WaitAcked(ctx); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	res, err := e.syncClient(e.creds.AdminToken).GetDeliveries(ctx, connect.NewRequest(&fieldsyncv1.GetDeliveriesRequest{RecordId: id}))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range res.Msg.GetDeliveries() {
		at := d.GetDeliveryTime().AsTime()
		if d.GetDeviceId() == e.user("rep", 0).DeviceID && !at.Before(before.Truncate(time.Millisecond)) && !at.After(after) {
			return
		}
	}
	t.Fatalf("one sync of the rep's device, between %v and %v; deliveries: %v", before, after, res.Msg.GetDeliveries())
}

// TestAckRefusesBadInput: the Ack RPC names the bad field, and only
// devices ack.
func TestAckRefusesBadInput(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	res, err := e.syncClient(e.token("rep")).Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	cursor := res.Msg.GetNextCursor()
	for _, tc := range []struct {
		name, token string
		req         *fieldsyncv1.AckRequest
		code        connect.Code
		field       string
	}{
		{"no cursor", e.token("rep"), &fieldsyncv1.AckRequest{StoredTime: timestamppb.Now()}, connect.CodeInvalidArgument, "cursor"},
		{"no stored time", e.token("rep"), &fieldsyncv1.AckRequest{Cursor: cursor}, connect.CodeInvalidArgument, "stored_time"},
		{"malformed cursor", e.token("rep"), &fieldsyncv1.AckRequest{Cursor: "x", StoredTime: timestamppb.Now()}, connect.CodeInvalidArgument, "cursor"},
		{"an API key", e.creds.IntegratorKey, &fieldsyncv1.AckRequest{Cursor: cursor, StoredTime: timestamppb.Now()}, connect.CodePermissionDenied, "device"},
		{"another user's cursor", e.token("regional_director"), &fieldsyncv1.AckRequest{Cursor: cursor, StoredTime: timestamppb.Now()}, connect.CodeFailedPrecondition, "resync"},
	} {
		_, err := e.syncClient(tc.token).Ack(ctx, connect.NewRequest(tc.req))
		if connect.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: Ack = %v, want %v naming %q", tc.name, err, tc.code, tc.field)
		}
	}
	if _, err := e.syncClient(e.token("rep")).Ack(ctx, connect.NewRequest(&fieldsyncv1.AckRequest{Cursor: cursor, StoredTime: timestamppb.Now()})); err != nil {
		t.Fatalf("the rep's own ack: %v", err)
	}
}

// heldAcks is a transport that holds every Ack until release is closed,
// counting the Acks sent, those answered and the Pulls sent while an Ack
// was unanswered.
type heldAcks struct {
	release         chan struct{}
	sent, answered  atomic.Int64
	cancelled       atomic.Int64
	pullsBeforeAnsw atomic.Int64
	once            sync.Once
}

func newHeldAcks() *heldAcks { return &heldAcks{release: make(chan struct{})} }

func (h *heldAcks) RoundTrip(req *http.Request) (*http.Response, error) {
	switch {
	case strings.HasSuffix(req.URL.Path, "/Ack"):
		h.sent.Add(1)
		select {
		case <-h.release:
		case <-req.Context().Done():
			h.cancelled.Add(1)
			return nil, req.Context().Err()
		}
		res, err := http.DefaultTransport.RoundTrip(req)
		h.answered.Add(1)
		return res, err
	case strings.HasSuffix(req.URL.Path, "/Pull") && h.sent.Load() > h.answered.Load():
		h.pullsBeforeAnsw.Add(1)
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (h *heldAcks) open() { h.once.Do(func() { close(h.release) }) }

// deliveredTo reports whether the server lists a delivery of record id to
// the device.
func deliveredTo(t *testing.T, e *env, id, deviceID string) bool {
	t.Helper()
	res, err := e.syncClient(e.creds.AdminToken).GetDeliveries(context.Background(), connect.NewRequest(&fieldsyncv1.GetDeliveriesRequest{RecordId: id}))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range res.Msg.GetDeliveries() {
		if d.GetDeviceId() == deviceID {
			return true
		}
	}
	return false
}

// TestSyncReturnsBeforeTheReceiptIsAnswered: Sync does not wait for its
// Ack's answer; WaitAcked does (ending with its ctx otherwise), and a
// canceled Sync ctx does not cut the receipt short.
func TestSyncReturnsBeforeTheReceiptIsAnswered(t *testing.T) {
	t.Parallel()
	e := start(t)
	marketing := e.device(e.token("marketing"))
	id := marketing.NewID()
	mustPut(t, marketing, id, &fieldsyncv1.CampaignMaterial{Title: "spring", RegionId: e.user("rep", 0).RegionID})
	mustSync(t, marketing)

	h := newHeldAcks()
	defer h.open()
	rep := e.device(e.token("rep"), WithHTTPClient(&http.Client{Transport: h}))
	ctx, cancel := context.WithCancel(context.Background())
	if err := rep.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	cancel() // the caller is done with its ctx; the receipt goes on
	if h.answered.Load() != 0 {
		t.Fatal("an Ack was answered while every Ack is held")
	}
	done, stop := context.WithCancel(context.Background())
	stop()
	if err := rep.WaitAcked(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitAcked with the receipt held and its ctx ended = %v, want context.Canceled", err)
	}
	h.open()
	if err := rep.WaitAcked(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h.sent.Load() != 1 || h.answered.Load() != 1 {
		t.Fatalf("%d Acks sent, %d answered; want one of each", h.sent.Load(), h.answered.Load())
	}
	if !deliveredTo(t, e, id, e.user("rep", 0).DeviceID) {
		t.Fatal("the receipt sent in the background did not record the delivery")
	}
}

// TestTheNextPullWaitsForTheReceipt: a Sync's pull is not sent while the
// last Sync's Ack is unanswered.
func TestTheNextPullWaitsForTheReceipt(t *testing.T) {
	t.Parallel()
	e := start(t)
	marketing := e.device(e.token("marketing"))
	mustPut(t, marketing, marketing.NewID(), &fieldsyncv1.CampaignMaterial{Title: "spring", RegionId: e.user("rep", 0).RegionID})
	mustSync(t, marketing)

	h := newHeldAcks()
	defer h.open()
	rep := e.device(e.token("rep"), WithHTTPClient(&http.Client{Transport: h}))
	mustSync(t, rep)
	// The first sync's Ack is held; the hold ends a little later, whatever
	// the next sync does (a sync that did not wait would pull before).
	time.AfterFunc(50*time.Millisecond, h.open)
	mustSync(t, rep)
	if n := h.pullsBeforeAnsw.Load(); n != 0 {
		t.Fatalf("%d Pulls sent while the last sync's Ack was unanswered", n)
	}
	if h.sent.Load() != 1 {
		t.Fatalf("%d Acks sent; want 1 (the second sync found nothing new)", h.sent.Load())
	}
}

// TestCloseGivesUpOnAReceiptThatHangs: an Ack that gets no answer (a link
// gone silent) holds Close up only for its grace, then is cancelled.
func TestCloseGivesUpOnAReceiptThatHangs(t *testing.T) {
	t.Parallel()
	e := start(t)
	h := newHeldAcks()
	defer h.open()
	// The Ack's own timeout would end it only after the test's.
	rep := e.device(e.token("rep"), WithHTTPClient(&http.Client{Transport: h}), WithRequestTimeout(time.Hour))
	mustSync(t, rep)
	rep.closeGrace = 50 * time.Millisecond
	if err := rep.Close(); err != nil {
		t.Fatal(err)
	}
	if h.sent.Load() != 1 || h.cancelled.Load() != 1 || h.answered.Load() != 0 {
		t.Fatalf("after Close: %d Acks sent, %d cancelled, %d answered; want 1, 1, 0", h.sent.Load(), h.cancelled.Load(), h.answered.Load())
	}
}

// TestCloseWaitsForTheReceipt: Close returns only once the last Sync's
// Ack is answered.
func TestCloseWaitsForTheReceipt(t *testing.T) {
	t.Parallel()
	e := start(t)
	h := newHeldAcks()
	defer h.open()
	rep := e.device(e.token("rep"), WithHTTPClient(&http.Client{Transport: h}))
	mustSync(t, rep)
	time.AfterFunc(50*time.Millisecond, h.open)
	if err := rep.Close(); err != nil {
		t.Fatal(err)
	}
	if h.sent.Load() != 1 || h.answered.Load() != 1 {
		t.Fatalf("after Close: %d Acks sent, %d answered; want one of each", h.sent.Load(), h.answered.Load())
	}
}
