package fieldsync

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// receiptCheck is a transport that checks, as each Pull or Ack leaves, that
// a cursor the server will take as the device's delivery receipt (a Pull
// without ahead, an Ack) is the cursor the device has stored: a page is
// acknowledged only once it is stored, even while the next page is asked
// for ahead.
type receiptCheck struct {
	t      *testing.T
	client func() *Client
	mu     sync.Mutex
	pulls  []*fieldsyncv1.PullRequest
	acks   []string
}

func (rc *receiptCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	pull, ack := strings.HasSuffix(req.URL.Path, "/Pull"), strings.HasSuffix(req.URL.Path, "/Ack")
	if !pull && !ack {
		return http.DefaultTransport.RoundTrip(req)
	}
	body, err := readBody(req)
	if err != nil {
		return nil, err
	}
	var receipt string
	if pull {
		m := &fieldsyncv1.PullRequest{}
		if err := proto.Unmarshal(body, m); err != nil {
			rc.t.Errorf("decode a Pull: %v", err)
		}
		rc.mu.Lock()
		rc.pulls = append(rc.pulls, m)
		rc.mu.Unlock()
		if !m.GetAhead() {
			receipt = m.GetCursor()
		}
	} else {
		m := &fieldsyncv1.AckRequest{}
		if err := proto.Unmarshal(body, m); err != nil {
			rc.t.Errorf("decode an Ack: %v", err)
		}
		rc.mu.Lock()
		rc.acks = append(rc.acks, m.GetCursor())
		rc.mu.Unlock()
		receipt = m.GetCursor()
	}
	if receipt != "" {
		stored, err := metaString(req.Context(), rc.client().db.read, "cursor")
		if err != nil {
			rc.t.Errorf("read the stored cursor: %v", err)
		} else if stored != receipt {
			rc.t.Errorf("%s names cursor %q as the receipt while the device has stored up to %q", req.URL.Path, receipt, stored)
		}
	}
	r := req.Clone(req.Context())
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	return http.DefaultTransport.RoundTrip(r)
}

// TestPipelinedPullAcknowledgesOnlyStoredPages: a first sync over many
// pages asks for each next page ahead (no receipt) while it stores the
// last, acknowledges the last page once stored, and the next sync's Pull
// sends that stored cursor as its receipt.
func TestPipelinedPullAcknowledgesOnlyStoredPages(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	marketing := e.device(e.token("marketing"))
	for range 12 {
		mustPut(t, marketing, marketing.NewID(), &fieldsyncv1.CampaignMaterial{Title: "spring", RegionId: e.user("rep", 0).RegionID})
	}
	mustSync(t, marketing)

	var rep *Client
	rc := &receiptCheck{t: t, client: func() *Client { return rep }}
	rep = e.device(e.token("rep"), WithPullLimit(5), WithHTTPClient(&http.Client{Transport: rc}))
	mustSync(t, rep)
	if err := rep.WaitAcked(ctx); err != nil { // the receipt is sent in the background
		t.Fatal(err)
	}
	rc.mu.Lock()
	pulls, acks := rc.pulls, rc.acks
	rc.mu.Unlock()
	if len(pulls) < 4 {
		t.Fatalf("%d pulls of pages of 5; want at least 4 (12 materials and the demo data)", len(pulls))
	}
	for i, p := range pulls {
		if ahead := i > 0; p.GetAhead() != ahead {
			t.Errorf("pull %d: ahead = %v, want %v", i, p.GetAhead(), ahead)
		}
	}
	stored, err := metaString(ctx, rep.db.read, "cursor")
	if err != nil {
		t.Fatal(err)
	}
	if len(acks) != 1 || acks[0] != stored {
		t.Errorf("acks %q after the sync, want one of the stored cursor %q", acks, stored)
	}
	if got := len(records(t, rep, "fieldsync.v1.CampaignMaterial")); got != 12 {
		t.Errorf("the rep's device holds %d materials, want 12", got)
	}
	mustSync(t, rep)
	if last := rc.pulls[len(rc.pulls)-1]; last.GetAhead() || last.GetCursor() != stored {
		t.Errorf("the next sync's pull: ahead %v, cursor %q; want the stored cursor %q as its receipt", last.GetAhead(), last.GetCursor(), stored)
	}
}

// TestPullPagesGrowWhileTheServerHasMore: without WithPullLimit a pull's
// pages double from the first page's size up to the server's limit while
// the server has more; WithPullLimit fixes every page's size.
func TestPullPagesGrowWhileTheServerHasMore(t *testing.T) {
	t.Parallel()
	e := start(t)
	marketing := e.device(e.token("marketing"))
	for range 40 {
		mustPut(t, marketing, marketing.NewID(), &fieldsyncv1.CampaignMaterial{Title: "spring", RegionId: e.user("rep", 0).RegionID})
	}
	mustSync(t, marketing)

	limits := func(opt Option) []uint32 {
		var rep *Client
		rc := &receiptCheck{t: t, client: func() *Client { return rep }}
		rep = e.device(e.token("rep"), opt, WithHTTPClient(&http.Client{Transport: rc}))
		mustSync(t, rep)
		if got := len(records(t, rep, "fieldsync.v1.CampaignMaterial")); got != 40 {
			t.Errorf("the rep's device holds %d materials, want 40", got)
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		var out []uint32
		for _, p := range rc.pulls {
			out = append(out, p.GetLimit())
		}
		return out
	}
	// The default's growth, from a first page of 3 instead of DefaultPullLimit.
	grown := limits(optionFunc(func(c *config) { c.pullLimit, c.pullGrow = 3, true }))
	if len(grown) < 4 {
		t.Fatalf("pages asked for %v; want at least 4 pages (40 materials and the demo data)", grown)
	}
	for i, n := range grown {
		if want := min(uint32(3)<<i, maxPullLimit); n != want {
			t.Errorf("page %d asked for %d records, want %d (pages %v)", i, n, want, grown)
		}
	}
	fixed := limits(WithPullLimit(3))
	for i, n := range fixed {
		if n != 3 {
			t.Errorf("WithPullLimit(3): page %d asked for %d records (pages %v)", i, n, fixed)
		}
	}
	if len(fixed) <= len(grown) {
		t.Errorf("fixed pages of 3 took %d pulls, growing pages %d; want more", len(fixed), len(grown))
	}
}
