package s3test_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/fieldsync/fieldsync/internal/s3test"
)

func newClient(t *testing.T, srv *s3test.Server) *minio.Client {
	t.Helper()
	c, err := minio.New(srv.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""),
		MaxRetries: 1,
	})
	if err != nil {
		t.Fatalf("minio.New: %v", err)
	}
	return c
}

func TestRestartKeepsPortAndData(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	c := newClient(t, srv)
	ctx := t.Context()
	if err := c.MakeBucket(ctx, "photos", minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("MakeBucket: %v", err)
	}
	data := []byte("kept across restarts")
	if _, err := c.PutObject(ctx, "photos", "k", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}

	srv.Stop()
	stopped, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.BucketExists(stopped, "photos"); err == nil {
		t.Fatal("BucketExists succeeded while the server was stopped")
	}

	srv.Restart()
	obj, err := c.GetObject(ctx, "photos", "k", minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("GetObject after restart: %v", err)
	}
	defer obj.Close()
	got, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("object after restart = %q, %v; want %q", got, err, data)
	}
}

func TestServersAreIndependent(t *testing.T) {
	t.Parallel()
	a, b := s3test.Start(t), s3test.Start(t)
	if a.Endpoint == b.Endpoint || a.AccessKey == b.AccessKey {
		t.Fatalf("two servers share endpoint or credentials: %s %s", a.Endpoint, b.Endpoint)
	}
	if err := newClient(t, a).MakeBucket(t.Context(), "only-in-a", minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("MakeBucket: %v", err)
	}
	ok, err := newClient(t, b).BucketExists(t.Context(), "only-in-a")
	if err != nil || ok {
		t.Errorf("BucketExists on the other server = %v, %v; want false", ok, err)
	}
}

func TestStopTwiceIsHarmless(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	srv.Stop()
	srv.Stop()
}
