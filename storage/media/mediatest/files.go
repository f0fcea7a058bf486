package mediatest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/fieldsync/fieldsync/storage/media"
)

// filePutter returns s as a media.FilePutter, skipping the test when it is not one.
func filePutter(t *testing.T, s media.Store) media.FilePutter {
	t.Helper()
	fp, ok := s.(media.FilePutter)
	if !ok {
		t.Skip("store does not put files")
	}
	return fp
}

// writeFile writes data to a new file in a test folder and returns its path.
func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "staged")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkFile fails unless the file at path still holds data.
func checkFile(t *testing.T, path string, data []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("the file put: %d bytes (equal %v), %v; want it left as it was", len(got), bytes.Equal(got, data), err)
	}
}

func testPutFile(t *testing.T, s media.Store) {
	fp := filePutter(t, s)
	o := NewObject(300 << 10)
	path := writeFile(t, o.Data)
	if err := fp.PutFile(t.Context(), o.Key, path, int64(len(o.Data)), "image/png"); err != nil {
		t.Fatalf("PutFile: %v", err)
	}
	checkContents(t, s, o, "image/png")
	checkFile(t, path, o.Data)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	checkContents(t, s, o, "image/png") // the object outlives the file
}

func testPutFileLonger(t *testing.T, s media.Store) {
	fp := filePutter(t, s)
	o := NewObject(100 << 10)
	path := writeFile(t, append(append([]byte(nil), o.Data...), "more"...))
	if err := fp.PutFile(t.Context(), o.Key, path, int64(len(o.Data)), ""); err != nil {
		t.Fatalf("PutFile: %v", err)
	}
	checkContents(t, s, o, media.DefaultContentType)
}

func testPutFileShort(t *testing.T, s media.Store) {
	fp := filePutter(t, s)
	o := NewObject(100 << 10)
	path := writeFile(t, o.Data[:len(o.Data)-1])
	err := fp.PutFile(t.Context(), o.Key, path, int64(len(o.Data)), "image/jpeg")
	checkRejected(t, s, o.Key, err, media.ErrSizeMismatch)
	err = fp.PutFile(t.Context(), "../"+o.Key[3:], path, 10, "image/jpeg")
	if !errors.Is(err, media.ErrInvalidKey) {
		t.Errorf("PutFile with an invalid key: err = %v, want ErrInvalidKey", err)
	}
}

func testPutFileExisting(t *testing.T, s media.Store) {
	fp := filePutter(t, s)
	o := NewObject(4096)
	mustPut(t, s, o, "image/webp")
	path := writeFile(t, o.Data)
	if err := fp.PutFile(t.Context(), o.Key, path, int64(len(o.Data)), "image/webp"); err != nil {
		t.Fatalf("PutFile of a stored key: %v", err)
	}
	checkContents(t, s, o, "image/webp")
}

// multipart returns s as a media.Multipart, skipping the test when it is not one.
func multipart(t *testing.T, s media.Store) media.Multipart {
	t.Helper()
	mp, ok := s.(media.Multipart)
	if !ok {
		t.Skip("store does not take parts")
	}
	return mp
}

func testMultipart(t *testing.T, s media.Store) {
	mp := multipart(t, s)
	ctx := t.Context()
	o := NewObject(media.MinPartSize + 100<<10)
	id, err := mp.StartMultipart(ctx, o.Key, "image/heic")
	if err != nil {
		t.Fatalf("StartMultipart: %v", err)
	}
	var parts []media.Part
	for i, p := range [][]byte{o.Data[:media.MinPartSize], o.Data[media.MinPartSize:]} {
		part, err := mp.PutPart(ctx, o.Key, id, i+1, bytes.NewReader(p), int64(len(p)))
		if err != nil {
			t.Fatalf("PutPart %d: %v", i+1, err)
		}
		parts = append(parts, part)
		if _, err := s.Stat(ctx, o.Key); !errors.Is(err, media.ErrNotFound) {
			t.Fatalf("Stat before CompleteMultipart: err = %v, want ErrNotFound", err)
		}
	}
	if err := mp.CompleteMultipart(ctx, o.Key, id, parts); err != nil {
		t.Fatalf("CompleteMultipart: %v", err)
	}
	checkContents(t, s, o, "image/heic")
}

func testAbortMultipart(t *testing.T, s media.Store) {
	mp := multipart(t, s)
	ctx := t.Context()
	o := NewObject(200 << 10)
	id, err := mp.StartMultipart(ctx, o.Key, "image/jpeg")
	if err != nil {
		t.Fatalf("StartMultipart: %v", err)
	}
	if _, err := mp.PutPart(ctx, o.Key, id, 1, bytes.NewReader(o.Data), int64(len(o.Data))); err != nil {
		t.Fatalf("PutPart: %v", err)
	}
	for range 2 { // aborting an aborted upload is no error
		if err := mp.AbortMultipart(ctx, o.Key, id); err != nil {
			t.Fatalf("AbortMultipart: %v", err)
		}
	}
	if err := mp.CompleteMultipart(ctx, o.Key, id, nil); err == nil {
		t.Error("CompleteMultipart of an aborted upload succeeded")
	}
	if _, err := s.Stat(ctx, o.Key); !errors.Is(err, media.ErrNotFound) {
		t.Errorf("Stat after AbortMultipart: err = %v, want ErrNotFound", err)
	}
}
