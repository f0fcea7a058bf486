package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/fieldsync/fieldsync/storage/media"
)

// Put stores size bytes from r under key (see media.Store). It asks S3
// first and returns nil without reading r when the object exists. The
// upload holds back its last byte until size and digest are verified, so a
// wrong or short reader aborts the request and S3 stores nothing (S3 also
// checks the body against the key, signed as the payload's SHA-256). Errors
// wrap media.ErrInvalidKey, media.ErrSizeMismatch,
// media.ErrDigestMismatch, media.ErrUnavailable or ctx's error.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	return s.put(ctx, key, r, size, contentType, true)
}

var _ media.VerifiedPutter = (*Store)(nil)

// PutVerified is Put without hashing r (see media.VerifiedPutter): the
// caller verifies the bytes against key before r yields its last byte,
// and S3 checks the body against key, signed as the payload's SHA-256
// (TestServerRefusesABodyThatDoesNotHashToTheSignedPayloadHash), so the
// bytes are hashed once in this process instead of twice. Errors are
// Put's, except that a body S3 refuses for its hash may wrap
// media.ErrDigestMismatch or S3's own error.
func (s *Store) PutVerified(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	return s.put(ctx, key, r, size, contentType, false)
}

func (s *Store) put(ctx context.Context, key string, r io.Reader, size int64, contentType string, check bool) error {
	switch {
	case !media.ValidKey(key):
		return fmt.Errorf("put %s: %w", key, media.ErrInvalidKey)
	case size < 0:
		return fmt.Errorf("put %s: %w: negative size %d", key, media.ErrSizeMismatch, size)
	}
	_, err := s.stat(ctx, key)
	switch err = mapError(err); {
	case err == nil:
		return nil // same key, same bytes
	case !errors.Is(err, media.ErrNotFound):
		return fmt.Errorf("put %s: stat: %w", key, err)
	}
	if contentType == "" {
		contentType = media.DefaultContentType
	}
	// The key is the bytes' SHA-256: it is signed as the payload hash, which
	// S3 checks the body against, instead of minio-go hashing the body
	// once more for a streaming signature.
	if check {
		r = media.CheckedReader(ctx, r, key, size)
	}
	body := &checked{r: r}
	_, err = s.core.PutObject(ctx, s.bucket, key, body, size, "", key,
		minio.PutObjectOptions{ContentType: contentType, DisableContentSha256: true})
	if err != nil {
		if rerr := body.error(); rerr != nil { // the reader's verdict beats the transport's words for it
			err = rerr
		}
		return fmt.Errorf("put %s: %w", key, mapError(err))
	}
	return nil
}

// Stat returns the object's Info, media.ErrNotFound when it is absent,
// media.ErrInvalidKey or an error wrapping media.ErrUnavailable.
func (s *Store) Stat(ctx context.Context, key string) (media.Info, error) {
	if !media.ValidKey(key) {
		return media.Info{}, fmt.Errorf("stat %s: %w", key, media.ErrInvalidKey)
	}
	oi, err := s.stat(ctx, key)
	if err != nil {
		return media.Info{}, fmt.Errorf("stat %s: %w", key, mapError(err))
	}
	return info(key, oi), nil
}

// Open returns the object's contents and Info, media.ErrNotFound when it is
// absent, media.ErrInvalidKey or an error wrapping media.ErrUnavailable;
// read errors of the returned body wrap media.ErrUnavailable too when the
// connection fails.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, media.Info, error) {
	if !media.ValidKey(key) {
		return nil, media.Info{}, fmt.Errorf("open %s: %w", key, media.ErrInvalidKey)
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, media.Info{}, fmt.Errorf("open %s: %w", key, mapError(err))
	}
	oi, err := obj.Stat() // GetObject is lazy: this sends the request
	if err != nil {
		obj.Close()
		return nil, media.Info{}, fmt.Errorf("open %s: %w", key, mapError(err))
	}
	return body{obj}, info(key, oi), nil
}

// PresignGet returns a URL that reads key's object for ttl (1 s to 7 days),
// signed locally without asking S3 once the bucket's region is known.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if !media.ValidKey(key) {
		return "", fmt.Errorf("presign %s: %w", key, media.ErrInvalidKey)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout) // asks S3 only while the region is unknown
	defer cancel()
	u, err := s.client.PresignedGetObject(ctx, s.bucket, key, ttl, nil)
	if err != nil {
		return "", fmt.Errorf("presign %s: %w", key, mapError(err))
	}
	return u.String(), nil
}

// stat asks S3 about key within the call timeout.
func (s *Store) stat(ctx context.Context, key string) (minio.ObjectInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
}

func info(key string, oi minio.ObjectInfo) media.Info {
	ct := oi.ContentType
	if ct == "" {
		ct = media.DefaultContentType
	}
	return media.Info{Key: key, Size: oi.Size, ContentType: ct}
}

// mapError turns a missing object into media.ErrNotFound and an unreachable
// service into an error wrapping both media.ErrUnavailable and err.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == minio.NoSuchKey:
		return media.ErrNotFound
	case resp.Code == "XAmzContentSHA256Mismatch" || resp.Code == "BadDigest":
		return fmt.Errorf("%w: %w", media.ErrDigestMismatch, err) // the body did not hash to the signed key
	case resp.StatusCode == http.StatusBadGateway,
		resp.StatusCode == http.StatusServiceUnavailable,
		resp.StatusCode == http.StatusGatewayTimeout,
		resp.Code == "SlowDown",
		resp.Code == "" && (minio.IsNetworkOrHostDown(err, false) || connectionLost(err)):
		return fmt.Errorf("%w: %w", media.ErrUnavailable, err)
	}
	return err
}

// connectionLost reports the errors of a connection the service closed or
// reset before answering, which minio.IsNetworkOrHostDown does not count:
// net/http's "server closed idle connection" (a reused connection dropped)
// and a cut response.
func connectionLost(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		strings.Contains(err.Error(), "server closed idle connection")
}

// checked remembers the error a media.CheckedReader returned, which the
// HTTP transport may report in its own words. The transport reads it on
// its own goroutine.
type checked struct {
	r   io.Reader
	mu  sync.Mutex
	err error
}

func (c *checked) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
	}
	return n, err
}

func (c *checked) error() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// body maps read errors of an S3 object.
type body struct{ obj *minio.Object }

func (b body) Read(p []byte) (int, error) {
	n, err := b.obj.Read(p)
	if err != nil && err != io.EOF {
		err = mapError(err)
	}
	return n, err
}

func (b body) Close() error { return b.obj.Close() }
