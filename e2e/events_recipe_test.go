package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// consumeChanges is the docs/events.md recipe: a durable JetStream consumer
// on one tenant's change subjects, handing each decoded event to handle and
// acknowledging it once handled. It returns when ctx ends.
func consumeChanges(ctx context.Context, url, tenant, durable string, handle func(msgID string, ev *fieldsyncv1.ChangeEvent) error) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, "FIELDSYNC_CHANGES", jetstream.ConsumerConfig{
		Durable:       durable,
		FilterSubject: "fieldsync." + tenant + ".changes.*",
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		batch, err := cons.Fetch(100, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return err
		}
		for msg := range batch.Messages() {
			var ev fieldsyncv1.ChangeEvent
			if err := proto.Unmarshal(msg.Data(), &ev); err != nil {
				_ = msg.Term() // not a ChangeEvent: never redeliver
				continue
			}
			if err := handle(msg.Headers().Get(jetstream.MsgIDHeader), &ev); err != nil {
				_ = msg.Nak() // redelivered later
				continue
			}
			if err := msg.Ack(); err != nil {
				return err
			}
		}
		if err := batch.Error(); err != nil && ctx.Err() == nil {
			return err
		}
	}
	return nil
}

func TestEventsRecipeConsumesChanges(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	url, err := os.ReadFile(filepath.Join(e.dir, daemon.NATSURLFile))
	if err != nil {
		t.Fatal(err)
	}
	id := ids.New()
	pushVisit(t, e, e.token("rep"), id, "for the warehouse")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a backstop, not a threshold
	defer cancel()
	var got *fieldsyncv1.ChangeEvent
	var msgID string
	err = consumeChanges(ctx, strings.TrimSpace(string(url)), e.creds.TenantID, "bi-export", func(mid string, ev *fieldsyncv1.ChangeEvent) error {
		if ev.RecordId == id {
			got, msgID = ev, mid
			cancel()
		}
		return nil
	})
	if err != nil && got == nil {
		t.Fatal(err)
	}
	if got == nil || got.Op != fieldsyncv1.ChangeOp_CHANGE_OP_UPSERT || got.RecordType != visitType || got.TenantId != e.creds.TenantID || msgID != got.EventId {
		t.Fatalf("event %v, msg id %q", got, msgID)
	}
	var v fieldsyncv1.Visit
	if err := got.Value.UnmarshalTo(&v); err != nil || v.Notes != "for the warehouse" {
		t.Fatalf("value %v %v", &v, err)
	}
}
