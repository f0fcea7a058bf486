package e2e

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/fieldsync/fieldsync/internal/daemon"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// TestRatingLinkEndToEnd: the daemon serves rating links; the customer's
// rating reaches the store's devices and the change stream on NATS.
func TestRatingLinkEndToEnd(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	staff := e.token("store_staff")
	r, err := pushOne(t, e, staff, &fieldsyncv1.Mutation{Seq: nextSeq(staff), RecordType: "fieldsync.v1.Quote", RecordId: "q-e2e",
		Value: anyOf(t, &fieldsyncv1.Quote{WorkItems: []string{"tyres"}}), FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"work_items"}},
		Hlc: uint64(time.Now().UnixMilli()) << 16})
	if err != nil || r.Outcome != applied {
		t.Fatalf("push quote: %v %v", r, err)
	}
	link, err := fieldsyncv1connect.NewRatingServiceClient(http.DefaultClient, e.d.URL(), bearer(staff)).
		CreateRatingLink(context.Background(), connect.NewRequest(&fieldsyncv1.CreateRatingLinkRequest{QuoteId: "q-e2e"}))
	if err != nil {
		t.Fatal(err)
	}
	page := e.d.URL() + link.Msg.GetPath()
	res, err := http.Get(page)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET: %v %v", res, err)
	}
	res.Body.Close()
	res, err = http.PostForm(page, url.Values{"score": {"5"}, "comment": {"很满意"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST: %d %s", res.StatusCode, body)
	}

	ratings := ofType(pullAll(t, e, e.token("store_manager")), "fieldsync.v1.SatisfactionRating")
	if len(ratings) != 1 {
		t.Fatalf("the store manager pulls %d ratings", len(ratings))
	}
	var id string
	for id = range ratings {
	}
	natsURL, err := os.ReadFile(filepath.Join(e.dir, daemon.NATSURLFile))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a backstop, not a threshold
	defer cancel()
	var got *fieldsyncv1.ChangeEvent
	err = consumeChanges(ctx, strings.TrimSpace(string(natsURL)), e.creds.TenantID, "rating-e2e", func(_ string, ev *fieldsyncv1.ChangeEvent) error {
		if ev.RecordId == id {
			got = ev
			cancel()
		}
		return nil
	})
	if err != nil && got == nil {
		t.Fatal(err)
	}
	var v fieldsyncv1.SatisfactionRating
	if got == nil || got.StoreId != e.creds.StoreID || got.Value.UnmarshalTo(&v) != nil || v.Score != 5 || v.Comment != "很满意" {
		t.Fatalf("event %v", got)
	}
}
