package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/fieldsync/fieldsync/internal/s3test"
	"github.com/fieldsync/fieldsync/storage/media"
	"github.com/fieldsync/fieldsync/storage/media/mediatest"
	"github.com/fieldsync/fieldsync/storage/media/s3"
)

var bucketSeq atomic.Int64

// newBucketName returns a bucket name no other test in this process uses.
func newBucketName() string {
	return fmt.Sprintf("media-test-%d", bucketSeq.Add(1))
}

func config(srv *s3test.Server, bucket string) s3.Config {
	return s3.Config{Endpoint: srv.Endpoint, Bucket: bucket, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}
}

func newStore(t testing.TB, srv *s3test.Server) (*s3.Store, string) {
	t.Helper()
	bucket := newBucketName()
	s, err := s3.New(t.Context(), config(srv, bucket))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, bucket
}

func newClient(t testing.TB, srv *s3test.Server) *minio.Client {
	t.Helper()
	c, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")})
	if err != nil {
		t.Fatalf("minio.New: %v", err)
	}
	return c
}

func TestStoreConformance(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	mediatest.Run(t, func(t *testing.T) media.Store {
		s, _ := newStore(t, srv)
		return s
	})
}

func TestNewCreatesMissingBucketAndReusesExisting(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	_, bucket := newStore(t, srv)
	ok, err := newClient(t, srv).BucketExists(t.Context(), bucket)
	if err != nil || !ok {
		t.Fatalf("BucketExists after New = %v, %v", ok, err)
	}
	if _, err := s3.New(t.Context(), config(srv, bucket)); err != nil {
		t.Errorf("New on an existing bucket: %v", err)
	}
}

func TestPutWritesPlainObjectOtherClientsRead(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	s, bucket := newStore(t, srv)
	o := mediatest.NewObject(2048)
	if err := s.Put(t.Context(), o.Key, bytes.NewReader(o.Data), int64(len(o.Data)), "image/heic"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	oi, err := newClient(t, srv).StatObject(t.Context(), bucket, o.Key, minio.StatObjectOptions{})
	if err != nil {
		t.Fatalf("StatObject: %v", err)
	}
	if oi.Size != int64(len(o.Data)) || oi.ContentType != "image/heic" {
		t.Errorf("object = %d bytes, %q; want %d, image/heic", oi.Size, oi.ContentType, len(o.Data))
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	ok := s3.Config{Endpoint: "127.0.0.1:1", Bucket: "photos", AccessKey: "a", SecretKey: "s"}
	tests := map[string]func(c *s3.Config){
		"no endpoint":          func(c *s3.Config) { c.Endpoint = "" },
		"endpoint with scheme": func(c *s3.Config) { c.Endpoint = "http://127.0.0.1:1" },
		"endpoint with path":   func(c *s3.Config) { c.Endpoint = "127.0.0.1:1/x" },
		"no bucket":            func(c *s3.Config) { c.Bucket = "" },
		"bucket upper case":    func(c *s3.Config) { c.Bucket = "Photos" },
		"access key alone":     func(c *s3.Config) { c.SecretKey = "" },
		"secret key alone":     func(c *s3.Config) { c.AccessKey = "" },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := ok
			mutate(&cfg)
			_, err := s3.New(t.Context(), cfg)
			if err == nil || errors.Is(err, media.ErrUnavailable) {
				t.Errorf("New(%+v) = %v, want a config error", cfg, err)
			}
		})
	}
}

func TestNewFailsUnavailableWhenServerIsDown(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	srv.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, err := s3.New(ctx, config(srv, newBucketName()))
	if !errors.Is(err, media.ErrUnavailable) {
		t.Errorf("New with the server down: err = %v, want ErrUnavailable", err)
	}
}

func TestStoreIsUnavailableWhileServerIsDownAndRecovers(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	s, _ := newStore(t, srv)
	stored, pending := mediatest.NewObject(1000), mediatest.NewObject(1000)
	if err := s.Put(t.Context(), stored.Key, bytes.NewReader(stored.Data), 1000, "image/png"); err != nil {
		t.Fatalf("Put: %v", err)
	}

	srv.Stop()
	checkUnavailable(t, s, stored, pending)

	srv.Restart()
	if _, err := s.Stat(t.Context(), pending.Key); !errors.Is(err, media.ErrNotFound) {
		t.Errorf("Stat of the object put during the outage: err = %v, want ErrNotFound", err)
	}
	if err := s.Put(t.Context(), pending.Key, bytes.NewReader(pending.Data), 1000, "image/png"); err != nil {
		t.Fatalf("Put after restart: %v", err)
	}
	for _, o := range []mediatest.Object{stored, pending} {
		rc, _, err := s.Open(t.Context(), o.Key)
		if err != nil {
			t.Fatalf("Open after restart: %v", err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, o.Data) {
			t.Errorf("object after restart: %d bytes, err %v", len(got), err)
		}
	}
}

// checkUnavailable checks that each call fails with media.ErrUnavailable.
func checkUnavailable(t *testing.T, s *s3.Store, stored, pending mediatest.Object) {
	t.Helper()
	calls := map[string]func(ctx context.Context) error{
		"Stat": func(ctx context.Context) error { _, err := s.Stat(ctx, stored.Key); return err },
		"Open": func(ctx context.Context) error { _, _, err := s.Open(ctx, stored.Key); return err },
		"Put": func(ctx context.Context) error {
			return s.Put(ctx, pending.Key, bytes.NewReader(pending.Data), 1000, "image/png")
		},
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second) // bounds minio-go's retries
	defer cancel()
	var wg sync.WaitGroup
	for name, call := range calls {
		wg.Go(func() {
			if err := call(ctx); !errors.Is(err, media.ErrUnavailable) {
				t.Errorf("%s with the server down: err = %v, want ErrUnavailable", name, err)
			}
		})
	}
	wg.Wait()
}

func TestPresignedURLRejectsTamperedKey(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	s, _ := newStore(t, srv)
	a, b := mediatest.NewObject(100), mediatest.NewObject(100)
	for _, o := range []mediatest.Object{a, b} {
		if err := s.Put(t.Context(), o.Key, bytes.NewReader(o.Data), 100, "image/png"); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	u, err := s.PresignGet(t.Context(), a.Key, time.Minute)
	if err != nil {
		t.Fatalf("PresignGet: %v", err)
	}
	tampered := bytes.Replace([]byte(u), []byte(a.Key), []byte(b.Key), 1)
	resp, err := http.Get(string(tampered))
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET with another key in a presigned URL: status %d, want 403", resp.StatusCode)
	}
}

// TestCallsToAnUnreachableServiceAreTriedAFewTimes points the store at a
// listener that drops every connection (S3 behind a broken network): New
// and Check give up as unavailable after DefaultMaxRetries attempts each,
// not minio-go's ten.
func TestCallsToAnUnreachableServiceAreTriedAFewTimes(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var attempts atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			attempts.Add(1)
			c.Close()
		}
	}()
	cfg := s3.Config{Endpoint: ln.Addr().String(), Bucket: newBucketName(), AccessKey: "k", SecretKey: "s", Region: "us-east-1"}
	if _, err := s3.New(t.Context(), cfg); !errors.Is(err, media.ErrUnavailable) {
		t.Fatalf("New against a dropping listener: %v, want ErrUnavailable", err)
	}
	if n := attempts.Load(); n > s3.DefaultMaxRetries {
		t.Fatalf("New tried %d times, want at most %d", n, s3.DefaultMaxRetries)
	}
}
