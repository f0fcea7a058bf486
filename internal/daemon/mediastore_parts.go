package daemon

import (
	"context"
	"fmt"
	"io"

	"github.com/fieldsync/fieldsync/storage/media"
)

// The lazy S3 store passes on the calls that let the photo service write
// an upload once: from its staged file, in parts, or streamed.
var (
	_ media.FilePutter     = (*lazyS3)(nil)
	_ media.Multipart      = (*lazyS3)(nil)
	_ media.VerifiedPutter = (*lazyS3)(nil)
)

// PutVerified stores a streamed upload the photo service verifies itself
// (see s3.Store.PutVerified).
func (l *lazyS3) PutVerified(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	st, err := l.store(ctx)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return st.PutVerified(ctx, key, r, size, contentType)
}

// PutFile stores a verified staged file (see s3.Store.PutFile).
func (l *lazyS3) PutFile(ctx context.Context, key, path string, size int64, contentType string) error {
	st, err := l.store(ctx)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return st.PutFile(ctx, key, path, size, contentType)
}

// StartMultipart begins a multipart upload (see s3.Store.StartMultipart).
func (l *lazyS3) StartMultipart(ctx context.Context, key, contentType string) (string, error) {
	st, err := l.store(ctx)
	if err != nil {
		return "", fmt.Errorf("start multipart %s: %w", key, err)
	}
	return st.StartMultipart(ctx, key, contentType)
}

// PutPart uploads a part (see s3.Store.PutPart).
func (l *lazyS3) PutPart(ctx context.Context, key, id string, number int, r io.Reader, size int64) (media.Part, error) {
	st, err := l.store(ctx)
	if err != nil {
		return media.Part{}, fmt.Errorf("put part %s: %w", key, err)
	}
	return st.PutPart(ctx, key, id, number, r, size)
}

// CompleteMultipart makes the parts the object (see s3.Store.CompleteMultipart).
func (l *lazyS3) CompleteMultipart(ctx context.Context, key, id string, parts []media.Part) error {
	st, err := l.store(ctx)
	if err != nil {
		return fmt.Errorf("complete multipart %s: %w", key, err)
	}
	return st.CompleteMultipart(ctx, key, id, parts)
}

// AbortMultipart discards a multipart upload (see s3.Store.AbortMultipart).
func (l *lazyS3) AbortMultipart(ctx context.Context, key, id string) error {
	st, err := l.store(ctx)
	if err != nil {
		return fmt.Errorf("abort multipart %s: %w", key, err)
	}
	return st.AbortMultipart(ctx, key, id)
}
