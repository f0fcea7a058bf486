// Package media declares how fieldsync keeps photos: a content-addressed
// Store (one object per SHA-256), an optional Presigner for stores that hand
// out direct URLs, and, for stores that cannot, a URLSigner and an
// http.Handler that serve short-lived signed links. Implementations live in
// media/local (a folder) and media/s3 (any S3-compatible service).
package media

import (
	"context"
	"errors"
	"io"
	"time"
)

// Store keeps photo objects under their key (lower-case hex SHA-256).
//
// Every method fails with ErrInvalidKey when key is not 64 lower-case hex
// digits, and with an error wrapping ErrUnavailable when the backend cannot
// be reached (a caller may retry those later).
type Store interface {
	// Put stores size bytes from r under key. Putting an existing key again
	// succeeds and leaves one object; r is then not read.
	//
	// r must yield exactly size bytes whose SHA-256 is key: otherwise Put
	// fails with ErrSizeMismatch or ErrDigestMismatch and nothing becomes
	// visible. A partly written object is never visible.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
	// Stat returns ErrNotFound when the key is absent.
	Stat(ctx context.Context, key string) (Info, error)
	// Open returns the object's bytes, which the caller must close, and its
	// Info. It returns ErrNotFound when the key is absent.
	Open(ctx context.Context, key string) (io.ReadCloser, Info, error)
}

// Info describes a stored object.
type Info struct {
	Key         string
	Size        int64
	ContentType string
}

// Presigner is implemented by stores that can hand out direct, expiring URLs (S3).
type Presigner interface {
	// PresignGet returns a URL that reads key's object without further
	// credentials until ttl has passed. It does not check that key exists.
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// DefaultContentType is kept for objects put without a content type.
const DefaultContentType = "application/octet-stream"

var (
	// ErrNotFound means no object is stored under the key.
	ErrNotFound = errors.New("media: object not found")
	// ErrUnavailable means the backend could not be reached; the same call
	// may succeed later. Stores wrap the underlying network error with it.
	ErrUnavailable = errors.New("media: backend unavailable")
	// ErrInvalidKey means a key is not a lower-case hex SHA-256.
	ErrInvalidKey = errors.New("media: invalid key")
	// ErrSizeMismatch means a reader did not yield the announced size.
	ErrSizeMismatch = errors.New("media: size mismatch")
	// ErrDigestMismatch means the bytes' SHA-256 is not their key.
	ErrDigestMismatch = errors.New("media: digest mismatch")
)

// ValidKey reports whether key is a lower-case hex SHA-256 (64 characters).
func ValidKey(key string) bool {
	if len(key) != 64 {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// FilePutter is implemented by stores that can take an object straight
// from a local file whose bytes the caller has already checked against key
// (a verified upload's staged file), without hashing them a second time.
type FilePutter interface {
	// PutFile stores the first size bytes of the file at path under key.
	// The caller vouches that they hash to key: the store checks the size
	// only. The file need not be fsynced: the stored object is durable
	// when PutFile returns. Putting an existing key again succeeds and leaves one object.
	// The file stays where it is, but the store may share it (a hard
	// link): the caller must not write to it afterwards, only remove it.
	// A partly written object is never visible.
	PutFile(ctx context.Context, key, path string, size int64, contentType string) error
}

// VerifiedPutter is implemented by stores that can take a body without
// hashing it themselves, because the caller checks the bytes against key
// and holds back the body's last byte until it has (a streamed photo
// upload, see photos), and the store's backend checks them too.
type VerifiedPutter interface {
	// PutVerified is Put (see Store) of a body whose bytes the caller
	// vouches for: the store does not hash them, but its backend refuses
	// a body that does not hash to key (S3: key is signed as the
	// payload's SHA-256), so wrong bytes are never stored. A body that
	// fails before its last byte stores nothing.
	PutVerified(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
}

// Multipart is implemented by stores that take an object in parts (an S3
// multipart upload), so a large upload is written once, as it arrives.
// Nothing is visible under key until CompleteMultipart; a started upload
// that is never completed must be aborted to free its parts.
type Multipart interface {
	// StartMultipart begins an upload of an object under key and returns its id.
	StartMultipart(ctx context.Context, key, contentType string) (id string, err error)
	// PutPart stores part number (1 to 10,000) of upload id: size bytes
	// from r. Every part but the last must be at least MinPartSize bytes.
	// Putting a part number again replaces it.
	PutPart(ctx context.Context, key, id string, number int, r io.Reader, size int64) (Part, error)
	// CompleteMultipart makes the parts, in order, the object under key.
	// The caller vouches that their bytes hash to key.
	CompleteMultipart(ctx context.Context, key, id string, parts []Part) error
	// AbortMultipart discards upload id and its parts; aborting an unknown
	// or finished upload is no error.
	AbortMultipart(ctx context.Context, key, id string) error
}

// MinPartSize is the smallest part of a multipart upload but the last (S3's limit).
const MinPartSize = 5 << 20

// Part is a stored part of a multipart upload.
type Part struct {
	Number int    `json:"n"`
	ETag   string `json:"etag"`
}
