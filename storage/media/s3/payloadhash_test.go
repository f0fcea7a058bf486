package s3_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/fieldsync/fieldsync/internal/s3test"
	"github.com/fieldsync/fieldsync/storage/media"
)

// TestServerRefusesABodyThatDoesNotHashToTheSignedPayloadHash: Put signs
// the photo's SHA-256 (its key) as the request's payload hash instead of
// hashing the body again for a streaming signature; the server then checks
// the body against it and stores nothing when they differ.
func TestServerRefusesABodyThatDoesNotHashToTheSignedPayloadHash(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	_, bucket := newStore(t, srv)
	core := minio.Core{Client: newClient(t, srv)}
	good, bad := []byte("the bytes that were verified"), []byte("other bytes, same length!!!!")
	sum := sha256.Sum256(good)
	key := hex.EncodeToString(sum[:])
	opts := minio.PutObjectOptions{DisableContentSha256: true}
	if _, err := core.PutObject(t.Context(), bucket, key, bytes.NewReader(bad), int64(len(bad)), "", key, opts); err == nil {
		t.Fatal("PutObject of bytes that do not hash to the signed payload hash succeeded")
	}
	if _, err := core.Client.StatObject(t.Context(), bucket, key, minio.StatObjectOptions{}); err == nil {
		t.Fatal("the refused body was stored")
	}
	if _, err := core.PutObject(t.Context(), bucket, key, bytes.NewReader(good), int64(len(good)), "", key, opts); err != nil {
		t.Fatalf("PutObject of the right bytes: %v", err)
	}
}

// TestPutVerifiedOfWrongBytesStoresNothing: PutVerified does not hash the
// body (the caller verified it); bytes that do not hash to the key are
// still refused by S3, with media.ErrDigestMismatch, and nothing is stored.
func TestPutVerifiedOfWrongBytesStoresNothing(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	st, _ := newStore(t, srv)
	good, bad := []byte("the bytes that were verified"), []byte("other bytes, same length!!!!")
	sum := sha256.Sum256(good)
	key := hex.EncodeToString(sum[:])
	err := st.PutVerified(t.Context(), key, bytes.NewReader(bad), int64(len(bad)), "image/jpeg")
	if !errors.Is(err, media.ErrDigestMismatch) {
		t.Fatalf("PutVerified of wrong bytes = %v, want ErrDigestMismatch", err)
	}
	if _, err := st.Stat(t.Context(), key); !errors.Is(err, media.ErrNotFound) {
		t.Fatalf("Stat after the refused put = %v, want ErrNotFound", err)
	}
	if err := st.PutVerified(t.Context(), key, bytes.NewReader(good), int64(len(good)), "image/jpeg"); err != nil {
		t.Fatalf("PutVerified of the right bytes: %v", err)
	}
}
