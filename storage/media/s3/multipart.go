package s3

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/minio/minio-go/v7"

	"github.com/fieldsync/fieldsync/storage/media"
)

// multipartClient is the part of minio.Core the store uses: multipart
// uploads and single puts with a known payload hash.
type multipartClient interface {
	NewMultipartUpload(ctx context.Context, bucket, object string, opts minio.PutObjectOptions) (string, error)
	PutObjectPart(ctx context.Context, bucket, object, uploadID string, partID int, data io.Reader, size int64, opts minio.PutObjectPartOptions) (minio.ObjectPart, error)
	CompleteMultipartUpload(ctx context.Context, bucket, object, uploadID string, parts []minio.CompletePart, opts minio.PutObjectOptions) (minio.UploadInfo, error)
	AbortMultipartUpload(ctx context.Context, bucket, object, uploadID string) error
	// PutObject puts an object in one request, sha256Hex signed as its
	// payload hash (Store.Put).
	PutObject(ctx context.Context, bucket, object string, data io.Reader, size int64, md5Base64, sha256Hex string, opts minio.PutObjectOptions) (minio.UploadInfo, error)
}

// maxParts is S3's limit on the parts of one upload.
const maxParts = 10000

// PutFile stores the first size bytes of the file at path under key with
// one PutObject, without asking S3 first and without hashing the bytes:
// the caller vouches for them (see media.FilePutter), and key is signed as
// the payload's SHA-256, which S3 checks the body against (instead of
// minio-go hashing the body for a streaming signature over plain HTTP, or
// sending it unsigned over HTTPS). Errors wrap
// media.ErrInvalidKey, media.ErrSizeMismatch (a file shorter than size),
// media.ErrUnavailable or ctx's error.
func (s *Store) PutFile(ctx context.Context, key, path string, size int64, contentType string) error {
	if !media.ValidKey(key) {
		return fmt.Errorf("put %s: %w", key, media.ErrInvalidKey)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	defer f.Close()
	if err := checkFileSize(f, size); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if contentType == "" {
		contentType = media.DefaultContentType
	}
	_, err = s.core.PutObject(ctx, s.bucket, key, io.NewSectionReader(f, 0, size), size, "", key,
		minio.PutObjectOptions{ContentType: contentType, DisableContentSha256: true})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, mapError(err))
	}
	return nil
}

// checkFileSize fails with media.ErrSizeMismatch unless f has at least size bytes.
func checkFileSize(f *os.File, size int64) error {
	fi, err := f.Stat()
	switch {
	case err != nil:
		return err
	case size < 0 || fi.Size() < size:
		return fmt.Errorf("%w: file of %d bytes, %d announced", media.ErrSizeMismatch, fi.Size(), size)
	}
	return nil
}

// StartMultipart begins a multipart upload under key (see media.Multipart).
func (s *Store) StartMultipart(ctx context.Context, key, contentType string) (string, error) {
	if !media.ValidKey(key) {
		return "", fmt.Errorf("start multipart %s: %w", key, media.ErrInvalidKey)
	}
	if contentType == "" {
		contentType = media.DefaultContentType
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	id, err := s.core.NewMultipartUpload(ctx, s.bucket, key, minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return "", fmt.Errorf("start multipart %s: %w", key, mapError(err))
	}
	return id, nil
}

// PutPart uploads one part of a multipart upload (see media.Multipart).
func (s *Store) PutPart(ctx context.Context, key, id string, number int, r io.Reader, size int64) (media.Part, error) {
	switch {
	case !media.ValidKey(key):
		return media.Part{}, fmt.Errorf("put part %s: %w", key, media.ErrInvalidKey)
	case number < 1 || number > maxParts:
		return media.Part{}, fmt.Errorf("put part %s: part number %d is not in 1..%d", key, number, maxParts)
	case size < 0:
		return media.Part{}, fmt.Errorf("put part %s: %w: negative size %d", key, media.ErrSizeMismatch, size)
	}
	p, err := s.core.PutObjectPart(ctx, s.bucket, key, id, number, r, size, minio.PutObjectPartOptions{})
	if err != nil {
		return media.Part{}, fmt.Errorf("put part %d of %s: %w", number, key, mapError(err))
	}
	return media.Part{Number: number, ETag: p.ETag}, nil
}

// CompleteMultipart makes the parts the object under key (see media.Multipart).
func (s *Store) CompleteMultipart(ctx context.Context, key, id string, parts []media.Part) error {
	if !media.ValidKey(key) {
		return fmt.Errorf("complete multipart %s: %w", key, media.ErrInvalidKey)
	}
	cp := make([]minio.CompletePart, len(parts))
	for i, p := range parts {
		cp[i] = minio.CompletePart{PartNumber: p.Number, ETag: p.ETag}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if _, err := s.core.CompleteMultipartUpload(ctx, s.bucket, key, id, cp, minio.PutObjectOptions{}); err != nil {
		return fmt.Errorf("complete multipart %s: %w", key, mapError(err))
	}
	return nil
}

// AbortMultipart discards a multipart upload and its parts (see media.Multipart).
func (s *Store) AbortMultipart(ctx context.Context, key, id string) error {
	if !media.ValidKey(key) {
		return fmt.Errorf("abort multipart %s: %w", key, media.ErrInvalidKey)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := s.core.AbortMultipartUpload(ctx, s.bucket, key, id)
	if err != nil && minio.ToErrorResponse(err).Code != "NoSuchUpload" {
		return fmt.Errorf("abort multipart %s: %w", key, mapError(err))
	}
	return nil
}
