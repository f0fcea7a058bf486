package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/storage/media"
	"github.com/fieldsync/fieldsync/storage/media/s3"
	"github.com/fieldsync/fieldsync/syncengine"
)

// lazyS3 is the S3 photo store, connected when first reachable: fieldsyncd
// starts and syncs records while S3 is down, photo calls that need S3 fail
// with media.ErrUnavailable, and each call or health check tries to
// connect again (one at a time) until it works.
type lazyS3 struct {
	cfg        s3.Config
	connecting sync.Mutex
	st         atomic.Pointer[s3.Store]
}

var (
	_ photos.ObjectStore = (*lazyS3)(nil)
	_ media.Presigner    = (*lazyS3)(nil)
)

// errConnecting answers calls made while another one is connecting.
var errConnecting = fmt.Errorf("%w: connecting to S3", media.ErrUnavailable)

// store returns the connected store, connecting first when needed.
// Failures wrap media.ErrUnavailable.
func (l *lazyS3) store(ctx context.Context) (*s3.Store, error) {
	if st := l.st.Load(); st != nil {
		return st, nil
	}
	if !l.connecting.TryLock() {
		return nil, errConnecting
	}
	defer l.connecting.Unlock()
	if st := l.st.Load(); st != nil {
		return st, nil
	}
	st, err := s3.New(ctx, l.cfg)
	if err != nil {
		if !errors.Is(err, media.ErrUnavailable) {
			err = fmt.Errorf("%w: %w", media.ErrUnavailable, err)
		}
		return nil, err
	}
	l.st.Store(st)
	return st, nil
}

// Put stores an object (see s3.Store.Put).
func (l *lazyS3) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	st, err := l.store(ctx)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return st.Put(ctx, key, r, size, contentType)
}

// PresignGet presigns a read of key (see s3.Store.PresignGet).
func (l *lazyS3) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	st, err := l.store(ctx)
	if err != nil {
		return "", fmt.Errorf("presign %s: %w", key, err)
	}
	return st.PresignGet(ctx, key, ttl)
}

// check connects if needed and asks S3 for the bucket.
func (l *lazyS3) check(ctx context.Context) error {
	st, err := l.store(ctx)
	if err != nil {
		return err
	}
	return st.Check(ctx)
}

// retryHint is the photo service with a retry delay on every answer that
// failed because the photo store is unreachable: the message says when to
// try again and a google.rpc.RetryInfo detail carries it for programs.
type retryHint struct {
	server.MediaBackend
	after time.Duration
}

func (h retryHint) CompleteUpload(ctx context.Context, p *syncengine.Principal, uploadID string) (*photos.Upload, *photos.Photo, error) {
	u, ph, err := h.MediaBackend.CompleteUpload(ctx, p, uploadID)
	return u, ph, h.hint(err)
}

func (h retryHint) MediaURL(ctx context.Context, p *syncengine.Principal, sha256 string) (string, time.Time, error) {
	u, exp, err := h.MediaBackend.MediaURL(ctx, p, sha256)
	return u, exp, h.hint(err)
}

func (h retryHint) PutChunk(ctx context.Context, p *syncengine.Principal, uploadID string, offset int64, data []byte, crc32c uint32) (int64, error) {
	n, err := h.MediaBackend.PutChunk(ctx, p, uploadID, offset, data, crc32c)
	return n, h.hint(err)
}

func (h retryHint) PutChunkThen(ctx context.Context, p *syncengine.Principal, uploadID string, offset int64, data []byte, crc32c uint32, release func()) (int64, error) {
	n, err := h.MediaBackend.PutChunkThen(ctx, p, uploadID, offset, data, crc32c, release)
	return n, h.hint(err)
}

func (h retryHint) CreateUpload(ctx context.Context, p *syncengine.Principal, req photos.CreateRequest) (*photos.Upload, error) {
	u, err := h.MediaBackend.CreateUpload(ctx, p, req)
	return u, h.hint(err)
}

// hint turns an unreachable-store error into CodeUnavailable with the delay.
func (h retryHint) hint(err error) error {
	if !errors.Is(err, media.ErrUnavailable) {
		return err
	}
	msg := "photo storage is unreachable"
	if de := (*syncengine.Error)(nil); errors.As(err, &de) && de.Code == syncengine.CodeUnavailable {
		msg = de.Message
	}
	return &syncengine.Error{
		Code:    syncengine.CodeUnavailable,
		Message: fmt.Sprintf("%s; retry in %s", msg, h.after),
		Detail:  &errdetails.RetryInfo{RetryDelay: durationpb.New(h.after)},
		Err:     err,
	}
}
