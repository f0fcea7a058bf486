// Package mediatest is the conformance suite every media.Store passes
// (perkeep storagetest, nats-server testAllStoreAllPermutations style): a
// store's test calls Run with a constructor, and each behaviour runs as a
// parallel subtest on a fresh store.
package mediatest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/storage/media"
)

// Run runs the suite. newStore returns an empty store for one subtest; it
// may register cleanups on the t it is given.
func Run(t *testing.T, newStore func(t *testing.T) media.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s media.Store)
	}{
		{"PutThenStatAndOpenRoundTrip", testRoundTrip},
		{"PutExistingKeySucceedsWithoutReading", testPutExisting},
		{"ConcurrentPutsOfSameKeyLeaveOneIntactObject", testConcurrentPuts},
		{"StatAndOpenOfAbsentKeyReturnNotFound", testNotFound},
		{"PutShortReaderFailsAndStoresNothing", testShortReader},
		{"PutLongReaderFailsAndStoresNothing", testLongReader},
		{"PutNegativeSizeFailsAndStoresNothing", testNegativeSize},
		{"PutWrongDigestFailsAndStoresNothing", testWrongDigest},
		{"PutLargeObjectRoundTrips", testLargeObject},
		{"PutKeepsContentType", testContentType},
		{"PutEmptyContentTypeKeepsDefault", testDefaultContentType},
		{"InvalidKeyFails", testInvalidKey},
		{"CancelledPutStoresNothing", testCancelledPut},
		{"PresignedURLServesObject", testPresign},
		{"PutFileRoundTripsAndLeavesTheFile", testPutFile},
		{"PutFileOfLongerFileStoresItsFirstBytes", testPutFileLonger},
		{"PutFileShortFileFailsAndStoresNothing", testPutFileShort},
		{"PutFileExistingKeySucceeds", testPutFileExisting},
		{"MultipartRoundTripsAndIsInvisibleUntilComplete", testMultipart},
		{"AbortedMultipartStoresNothing", testAbortMultipart},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

// Object is test content with its key.
type Object struct {
	Key  string
	Data []byte
}

// NewObject returns size random bytes and their key.
func NewObject(size int) Object {
	data := make([]byte, size)
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(rand.Uint32())
	}
	rand.NewChaCha8(seed).Read(data)
	return Object{Key: Key(data), Data: data}
}

// Key returns the media key of data: its lower-case hex SHA-256.
func Key(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func testRoundTrip(t *testing.T, s media.Store) {
	o := NewObject(64 << 10)
	mustPut(t, s, o, "image/jpeg")
	info, err := s.Stat(t.Context(), o.Key)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	want := media.Info{Key: o.Key, Size: int64(len(o.Data)), ContentType: "image/jpeg"}
	if info != want {
		t.Errorf("Stat = %+v, want %+v", info, want)
	}
	checkContents(t, s, o, "image/jpeg")
}

func testPutExisting(t *testing.T, s media.Store) {
	o := NewObject(1000)
	mustPut(t, s, o, "image/png")
	r := &countingReader{r: bytes.NewReader(o.Data)}
	if err := s.Put(t.Context(), o.Key, r, int64(len(o.Data)), "image/png"); err != nil {
		t.Fatalf("second Put: %v", err)
	}
	if r.n != 0 {
		t.Errorf("second Put read %d bytes of an object already stored", r.n)
	}
	checkContents(t, s, o, "image/png")
}

func testConcurrentPuts(t *testing.T, s media.Store) {
	o := NewObject(1 << 20)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			errs <- s.Put(t.Context(), o.Key, slowReader{bytes.NewReader(o.Data)}, int64(len(o.Data)), "image/webp")
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Put: %v", err)
		}
	}
	checkContents(t, s, o, "image/webp")
}

func testNotFound(t *testing.T, s media.Store) {
	key := NewObject(10).Key
	if _, err := s.Stat(t.Context(), key); !errors.Is(err, media.ErrNotFound) {
		t.Errorf("Stat of absent key: err = %v, want ErrNotFound", err)
	}
	rc, _, err := s.Open(t.Context(), key)
	if !errors.Is(err, media.ErrNotFound) {
		t.Errorf("Open of absent key: err = %v, want ErrNotFound", err)
	}
	if rc != nil {
		rc.Close()
	}
}

func testShortReader(t *testing.T, s media.Store) {
	o := NewObject(100 << 10)
	short := bytes.NewReader(o.Data[:len(o.Data)-1])
	err := s.Put(t.Context(), o.Key, short, int64(len(o.Data)), "image/jpeg")
	checkRejected(t, s, o.Key, err, media.ErrSizeMismatch)
}

func testLongReader(t *testing.T, s media.Store) {
	o := NewObject(100 << 10)
	long := io.MultiReader(bytes.NewReader(o.Data), bytes.NewReader([]byte{0}))
	err := s.Put(t.Context(), o.Key, long, int64(len(o.Data)), "image/jpeg")
	checkRejected(t, s, o.Key, err, media.ErrSizeMismatch)
}

func testNegativeSize(t *testing.T, s media.Store) {
	o := NewObject(10)
	err := s.Put(t.Context(), o.Key, bytes.NewReader(o.Data), -1, "image/jpeg")
	checkRejected(t, s, o.Key, err, media.ErrSizeMismatch)
}

func testWrongDigest(t *testing.T, s media.Store) {
	o := NewObject(100 << 10)
	other := NewObject(len(o.Data))
	err := s.Put(t.Context(), o.Key, bytes.NewReader(other.Data), int64(len(other.Data)), "image/jpeg")
	checkRejected(t, s, o.Key, err, media.ErrDigestMismatch)
	if _, err := s.Stat(t.Context(), other.Key); !errors.Is(err, media.ErrNotFound) {
		t.Errorf("Stat under the bytes' own key: err = %v, want ErrNotFound", err)
	}
}

func testLargeObject(t *testing.T, s media.Store) {
	o := NewObject(8 << 20)
	mustPut(t, s, o, "image/heic")
	checkContents(t, s, o, "image/heic")
}

func testContentType(t *testing.T, s media.Store) {
	for _, ct := range []string{"image/jpeg", "image/png", "image/heic", "image/webp"} {
		o := NewObject(512)
		mustPut(t, s, o, ct)
		info, err := s.Stat(t.Context(), o.Key)
		if err != nil {
			t.Fatalf("Stat: %v", err)
		}
		if info.ContentType != ct {
			t.Errorf("Stat content type = %q, want %q", info.ContentType, ct)
		}
		checkContents(t, s, o, ct)
	}
}

func testDefaultContentType(t *testing.T, s media.Store) {
	o := NewObject(512)
	mustPut(t, s, o, "")
	checkContents(t, s, o, media.DefaultContentType)
}

func testInvalidKey(t *testing.T, s media.Store) {
	ctx := t.Context()
	for _, key := range []string{"", "../../etc/passwd", "ABCDEF" + NewObject(1).Key[6:], NewObject(1).Key + "0"} {
		err := s.Put(ctx, key, bytes.NewReader(nil), 0, "")
		if !errors.Is(err, media.ErrInvalidKey) {
			t.Errorf("Put(%q): err = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, media.ErrInvalidKey) {
			t.Errorf("Stat(%q): err = %v, want ErrInvalidKey", key, err)
		}
		if _, _, err := s.Open(ctx, key); !errors.Is(err, media.ErrInvalidKey) {
			t.Errorf("Open(%q): err = %v, want ErrInvalidKey", key, err)
		}
	}
}

func testCancelledPut(t *testing.T, s media.Store) {
	o := NewObject(256 << 10)
	ctx, cancel := context.WithCancel(t.Context())
	r := &cancellingReader{r: bytes.NewReader(o.Data), after: 64 << 10, cancel: cancel}
	err := s.Put(ctx, o.Key, r, int64(len(o.Data)), "image/jpeg")
	checkRejected(t, s, o.Key, err, context.Canceled)
}

func testPresign(t *testing.T, s media.Store) {
	p, ok := s.(media.Presigner)
	if !ok {
		t.Skip("store does not presign URLs")
	}
	o := NewObject(4096)
	mustPut(t, s, o, "image/png")
	u, err := p.PresignGet(t.Context(), o.Key, time.Minute)
	if err != nil {
		t.Fatalf("PresignGet: %v", err)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET presigned URL: %v", err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET presigned URL: status %d, err %v", resp.StatusCode, err)
	}
	if !bytes.Equal(got, o.Data) {
		t.Errorf("presigned URL served %d bytes that differ from the %d put", len(got), len(o.Data))
	}
}
