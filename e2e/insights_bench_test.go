package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/events/nats"
	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/syncengine"
)

// BenchmarkPushToInsightsApplied is end-to-end event throughput: each
// iteration pushes 100 submitted visits over HTTP, and the clock stops when
// the stream holds every resulting change event and every durable consumer
// on it (the insights consumer) has applied and acknowledged them all. It
// reports events/s over that whole span.
func BenchmarkPushToInsightsApplied(b *testing.B) {
	d, creds := benchEnv(b)
	rep, _ := creds.User("rep")
	client := fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, d.URL(), bearer(rep.DeviceToken))
	js := benchJetStream(b, d)
	ctx := context.Background()
	base := waitConsumersApplied(b, js, 0)
	const batch = 100
	clock := syncengine.NewClock(nil)
	fields := &fieldmaskpb.FieldMask{Paths: []string{"status", "kind", "customer_id", "visit_time", "notes", "action_tags"}}
	var seq uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := &fieldsyncv1.PushRequest{}
		for j := 0; j < batch; j++ {
			seq++
			v := benchVisit(j)
			v.Status, v.VisitTime = fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED, timestamppb.New(time.Now().Add(-time.Hour))
			value, _ := anypb.New(v)
			req.Mutations = append(req.Mutations, &fieldsyncv1.Mutation{Seq: seq, RecordType: "fieldsync.v1.Visit",
				RecordId: ids.New(), Value: value, FieldMask: fields, Hlc: uint64(clock.Now())})
		}
		res, err := client.Push(ctx, connect.NewRequest(req))
		if err != nil {
			b.Fatal(err)
		}
		if r := res.Msg.Results[batch-1]; r.Outcome != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED {
			b.Fatalf("push: %v", r)
		}
	}
	pushed := b.Elapsed()
	waitConsumersApplied(b, js, base+uint64(b.N*batch))
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.N*batch)/pushed.Seconds(), "pushed/s")
}

// benchJetStream connects to the daemon's embedded NATS server.
func benchJetStream(b *testing.B, d *daemon.Daemon) jetstream.JetStream {
	url, err := os.ReadFile(filepath.Join(d.DataDir(), daemon.NATSURLFile))
	if err != nil {
		b.Fatal(err)
	}
	nc, js, err := nats.Connect(context.Background(), nats.ConnConfig{URL: strings.TrimSpace(string(url)), Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	return js
}

// waitConsumersApplied waits until the change stream holds at least
// minSeq messages and every consumer on it has acknowledged all of them,
// and returns the stream's last sequence.
func waitConsumersApplied(b *testing.B, js jetstream.JetStream, minSeq uint64) uint64 {
	ctx := context.Background()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		s, err := js.Stream(ctx, events.ChangesStream)
		if err != nil {
			b.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if last := info.State.LastSeq; last >= minSeq && info.State.Consumers > 0 && consumersDone(b, s, last) {
			return last
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Fatal("consumers did not catch up within 5 minutes")
	return 0
}

func consumersDone(b *testing.B, s jetstream.Stream, last uint64) bool {
	names := s.ConsumerNames(context.Background())
	for name := range names.Name() {
		c, err := s.Consumer(context.Background(), name)
		if err != nil {
			b.Fatal(err)
		}
		ci := c.CachedInfo()
		if ci.NumPending > 0 || ci.NumAckPending > 0 || ci.AckFloor.Stream < last {
			return false
		}
	}
	return names.Err() == nil
}
