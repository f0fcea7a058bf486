package mediatest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/fieldsync/fieldsync/storage/media"
)

// mustPut stores o or fails the test.
func mustPut(t *testing.T, s media.Store, o Object, contentType string) {
	t.Helper()
	if err := s.Put(t.Context(), o.Key, bytes.NewReader(o.Data), int64(len(o.Data)), contentType); err != nil {
		t.Fatalf("Put %d bytes: %v", len(o.Data), err)
	}
}

// checkContents opens o's key and compares bytes, size and content type.
func checkContents(t *testing.T, s media.Store, o Object, contentType string) {
	t.Helper()
	rc, info, err := s.Open(t.Context(), o.Key)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read opened object: %v", err)
	}
	if !bytes.Equal(got, o.Data) {
		t.Errorf("opened object has %d bytes that differ from the %d put", len(got), len(o.Data))
	}
	want := media.Info{Key: o.Key, Size: int64(len(o.Data)), ContentType: contentType}
	if info != want {
		t.Errorf("Open info = %+v, want %+v", info, want)
	}
}

// checkRejected checks that a Put failed with target and left nothing under key.
func checkRejected(t *testing.T, s media.Store, key string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("Put: err = %v, want %v", err, target)
	}
	if _, err := s.Stat(t.Context(), key); !errors.Is(err, media.ErrNotFound) {
		t.Errorf("Stat after failed Put: err = %v, want ErrNotFound", err)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// slowReader returns at most 4 KiB per Read, so concurrent writers interleave.
type slowReader struct{ r io.Reader }

func (s slowReader) Read(p []byte) (int, error) {
	if len(p) > 4096 {
		p = p[:4096]
	}
	return s.r.Read(p)
}

// cancellingReader cancels a context once after bytes have been read.
type cancellingReader struct {
	r      io.Reader
	after  int
	n      int
	cancel context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	if c.n >= c.after {
		c.cancel()
	}
	return n, err
}
