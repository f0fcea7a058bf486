package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/s3test"
	"github.com/fieldsync/fieldsync/photos/photostest"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// TestDaemonStartsAndSyncsWhileS3IsDown starts fieldsyncd with its S3
// photo store stopped: it serves, records sync, health and metrics name
// the media store as down, photo completion answers Unavailable with a
// retry delay, and once S3 is started the upload completes and health
// recovers.
func TestDaemonStartsAndSyncsWhileS3IsDown(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	srv.Stop()
	d, creds := startDaemon(t, "", func(c *daemon.Config) {
		withS3(srv, newMediaBucket())(c)
		c.ProbeInterval = 20 * time.Millisecond
		c.MetricsAddr = "127.0.0.1:0"
	})
	ctx := context.Background()
	health := grpchealth.NewClient(http.DefaultClient, d.URL())
	wantHealth(t, health, map[string]grpchealth.Status{
		"": grpchealth.StatusServing, fieldsyncv1connect.SyncServiceName: grpchealth.StatusServing,
		fieldsyncv1connect.MediaServiceName:          grpchealth.StatusNotServing,
		daemon.DependencyService(daemon.DepMedia):    grpchealth.StatusNotServing,
		daemon.DependencyService(daemon.DepDatabase): grpchealth.StatusServing,
		daemon.DependencyService(daemon.DepNATS):     grpchealth.StatusServing,
	})
	wantMetrics(t, d, `fieldsync_dependency_up{dependency="media"} 0`, `fieldsync_dependency_up{dependency="database"} 1`,
		`fieldsync_dependency_up{dependency="nats"} 1`)

	rep, _ := creds.User("rep")
	data := photostest.JPEG(300_000, 9)
	pushSurgery(t, d, rep.DeviceToken, data, nil, nil) // records sync without S3
	media := mediaClient(d, rep.DeviceToken, nil)
	u, err := createPhoto(ctx, media, photostest.Key(data), data)
	if err != nil {
		t.Fatal(err)
	}
	if err := sendPhoto(ctx, media, u.UploadId, data, 0, int64(len(data)), chunkSize); err != nil {
		t.Fatal(err) // staging needs no S3
	}
	_, err = completePhoto(ctx, media, u.UploadId)
	wantCode(t, err, connect.CodeUnavailable)
	if delay := retryDelay(err); delay <= 0 {
		t.Fatalf("Unavailable without a retry delay: %v", err)
	}

	srv.Restart()
	eventually(t, "the upload completing once S3 is back", func() bool {
		_, err := completePhoto(ctx, media, u.UploadId)
		if err != nil && connect.CodeOf(err) != connect.CodeUnavailable {
			t.Fatal(err)
		}
		return err == nil
	})
	eventually(t, "health reporting the media store back", func() bool {
		res, err := health.Check(ctx, &grpchealth.CheckRequest{Service: fieldsyncv1connect.MediaServiceName})
		return err == nil && res.Status == grpchealth.StatusServing
	})
	wantMetrics(t, d, `fieldsync_dependency_up{dependency="media"} 1`)
}

func wantHealth(t *testing.T, c *grpchealth.Client, want map[string]grpchealth.Status) {
	t.Helper()
	for service, status := range want {
		res, err := c.Check(context.Background(), &grpchealth.CheckRequest{Service: service})
		if err != nil || res.Status != status {
			t.Errorf("health of %q: %v %v, want %v", service, res, err, status)
		}
	}
}

func wantMetrics(t *testing.T, d *daemon.Daemon, lines ...string) {
	t.Helper()
	res, err := http.Get(d.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range lines {
		if !strings.Contains(string(b), line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}

// retryDelay is the google.rpc.RetryInfo delay of a Connect error, or 0.
func retryDelay(err error) time.Duration {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return 0
	}
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if ri, ok := v.(*errdetails.RetryInfo); ok {
				return ri.GetRetryDelay().AsDuration()
			}
		}
	}
	return 0
}
