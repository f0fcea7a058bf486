package fieldsync

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/photos/photostest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// TestPhotosArriveThroughTheServersRateLimit: a device uploading several
// photos at once from behind a tiny per-device rate limit waits out each
// refusal (RetryInfo) instead of failing the photo: every photo arrives;
// only the photo larger than the server accepts fails.
func TestPhotosArriveThroughTheServersRateLimit(t *testing.T) {
	t.Parallel()
	const maxPhoto = 2 * testChunk
	e := startWith(t, t.TempDir(), func(c *daemon.Config) { c.RateLimit, c.RateBurst, c.MaxPhotoBytes = 5, 1, maxPhoto })
	c := e.device(e.token("store_staff"), WithChunkSize(testChunk))
	id := c.NewID()
	var data [][]byte
	for i := range 5 {
		b := photostest.JPEG(testChunk+100*i, uint64(70+i))
		data = append(data, b)
		mustAddPhoto(t, c, diagnosisType, id, "photos", b)
	}
	mustAddPhoto(t, c, diagnosisType, c.NewID(), "photos", photostest.JPEG(maxPhoto+1, 79))
	for range 10 {
		mustSync(t, c)
		if st := mustStatus(t, c); st.PhotoQueue == 0 {
			break
		}
	}
	if st := mustStatus(t, c); st.PhotoQueue != 0 || st.PhotosFailed != 1 {
		ps, _ := c.Photos(context.Background())
		t.Fatalf("after syncing behind the rate limit: %+v, photos %+v", st, ps)
	}
	ps, err := c.Photos(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.State == PhotoFailed && (p.Size != maxPhoto+1 || !strings.Contains(p.Err, "larger than")) {
			t.Errorf("photo failed: %+v, want only the oversize one", p)
		}
	}
	mustSync(t, c)
	for _, b := range data {
		if !available(t, c, id, photostest.Key(b)) {
			t.Errorf("photo %s is not available on the diagnosis", photostest.Key(b))
		}
	}
	var d fieldsyncv1.Diagnosis
	if found, err := c.Get(context.Background(), diagnosisType, id, &d); !found || err != nil || len(d.Photos) != len(data) {
		t.Fatalf("the diagnosis holds %d photos (%v, %v), want %d", len(d.Photos), found, err, len(data))
	}
}

func TestThrottledTellsRateRefusalsFromTheSizeRefusal(t *testing.T) {
	t.Parallel()
	withRetryInfo := func(d time.Duration) error {
		err := connect.NewWireError(connect.CodeResourceExhausted, errors.New("rate limit"))
		detail, derr := connect.NewErrorDetail(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
		if derr != nil {
			t.Fatal(derr)
		}
		err.AddDetail(detail)
		return err
	}
	withHeader := func(v string) error {
		err := connect.NewWireError(connect.CodeResourceExhausted, errors.New("calls in progress"))
		err.Meta().Set("Retry-After", v)
		return err
	}
	tests := []struct {
		name string
		err  error
		want time.Duration
		ok   bool
	}{
		{"rate limit with RetryInfo", withRetryInfo(300 * time.Millisecond), 300 * time.Millisecond, true},
		{"in-flight cap with Retry-After", withHeader("1"), time.Second, true},
		{"photo larger than the server accepts", connect.NewWireError(connect.CodeResourceExhausted, errors.New("photo of 9 bytes is larger than the 8 bytes accepted")), 0, false},
		{"unreadable Retry-After", withHeader("soon"), 0, false},
		{"another code with RetryInfo", connect.NewWireError(connect.CodeUnavailable, errors.New("down")), 0, false},
		{"made up by the client", connect.NewError(connect.CodeResourceExhausted, errors.New("local")), 0, false},
		{"no error", nil, 0, false},
	}
	for _, tt := range tests {
		if got, ok := throttled(tt.err); got != tt.want || ok != tt.ok {
			t.Errorf("%s: throttled = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}
