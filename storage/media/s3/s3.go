// Package s3 keeps media objects in any S3-compatible service (AWS S3,
// MinIO, Ceph, versitygw) through minio-go. Objects are named by their key
// at the top of one bucket; reads can go straight to S3 through presigned
// URLs.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/fieldsync/fieldsync/storage/media"
)

var (
	_ media.Store      = (*Store)(nil)
	_ media.Presigner  = (*Store)(nil)
	_ media.FilePutter = (*Store)(nil)
	_ media.Multipart  = (*Store)(nil)
)

// Config says where the bucket is.
type Config struct {
	// Endpoint is the service's host[:port], without scheme
	// ("s3.eu-west-1.amazonaws.com", "127.0.0.1:7070"). Required.
	Endpoint string
	// Bucket is created by New when missing. Required.
	Bucket string
	// AccessKey and SecretKey are static credentials; both or neither
	// (anonymous access).
	AccessKey, SecretKey string
	// UseTLS selects https.
	UseTLS bool
	// Region is the bucket's region; empty asks the service.
	Region string
	// MaxRetries is how many times a failing call is tried in all; 0
	// means DefaultMaxRetries (minio-go alone would try 10 times, keeping
	// a caller waiting for seconds while S3 is down).
	MaxRetries int
	// CallTimeout bounds each call that moves no object body (bucket
	// checks, Stat, the existence check that starts Put, presigning); 0
	// means DefaultCallTimeout.
	CallTimeout time.Duration
}

// Defaults for Config's retry settings.
const (
	DefaultMaxRetries  = 3
	DefaultCallTimeout = 10 * time.Second
)

// validate reports the first problem with c.
func (c Config) validate() error {
	switch {
	case c.Endpoint == "":
		return errors.New("endpoint is required")
	case strings.Contains(c.Endpoint, "://") || strings.ContainsAny(c.Endpoint, "/?#"):
		return fmt.Errorf("endpoint %q must be host[:port] without scheme or path", c.Endpoint)
	case (c.AccessKey == "") != (c.SecretKey == ""):
		return errors.New("access key and secret key go together")
	}
	if err := s3utils.CheckValidBucketNameStrict(c.Bucket); err != nil {
		return fmt.Errorf("bucket %q: %w", c.Bucket, err)
	}
	return nil
}

// client is the part of *minio.Client the store uses.
type client interface {
	BucketExists(ctx context.Context, bucket string) (bool, error)
	MakeBucket(ctx context.Context, bucket string, opts minio.MakeBucketOptions) error
	StatObject(ctx context.Context, bucket, object string, opts minio.StatObjectOptions) (minio.ObjectInfo, error)
	PutObject(ctx context.Context, bucket, object string, r io.Reader, size int64, opts minio.PutObjectOptions) (minio.UploadInfo, error)
	GetObject(ctx context.Context, bucket, object string, opts minio.GetObjectOptions) (*minio.Object, error)
	PresignedGetObject(ctx context.Context, bucket, object string, expires time.Duration, params url.Values) (*url.URL, error)
}

// Store is a media.Store and media.Presigner over one S3 bucket. It is
// safe for concurrent use.
type Store struct {
	client  client
	core    multipartClient
	bucket  string
	timeout time.Duration // CallTimeout
}

// New checks cfg, connects and creates the bucket when it is missing. It
// fails with an error wrapping media.ErrUnavailable when the service
// cannot be reached (minio-go retries first, within ctx).
func New(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("s3 media store: %w", err)
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:     cfg.UseTLS,
		Region:     cfg.Region,
		MaxRetries: cfg.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 media store: %w", err)
	}
	s := &Store{client: c, core: minio.Core{Client: c}, bucket: cfg.Bucket, timeout: cfg.CallTimeout}
	if err := s.ensureBucket(ctx, cfg.Region); err != nil {
		return nil, fmt.Errorf("s3 media store: bucket %s: %w", cfg.Bucket, err)
	}
	return s, nil
}

// Check asks S3 whether the bucket is there: nil when it is, an error
// wrapping media.ErrUnavailable when the service cannot be reached.
func (s *Store) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ok, err := s.client.BucketExists(ctx, s.bucket)
	switch {
	case err != nil:
		return fmt.Errorf("check bucket %s: %w", s.bucket, mapError(err))
	case !ok:
		return fmt.Errorf("check bucket %s: it is gone", s.bucket)
	}
	return nil
}

// ensureBucket creates the bucket unless it exists.
func (s *Store) ensureBucket(ctx context.Context, region string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return mapError(err)
	}
	if ok {
		return nil
	}
	err = s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: region})
	switch minio.ToErrorResponse(err).Code {
	case "BucketAlreadyOwnedByYou", "BucketAlreadyExists":
		return nil // created concurrently
	}
	return mapError(err)
}
