package local_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/storage/media"
	"github.com/fieldsync/fieldsync/storage/media/local"
	"github.com/fieldsync/fieldsync/storage/media/mediatest"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func newStore(t testing.TB, dir string) *local.Store {
	t.Helper()
	s, err := local.New(dir)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestStoreConformance(t *testing.T) {
	t.Parallel()
	mediatest.Run(t, func(t *testing.T) media.Store { return newStore(t, t.TempDir()) })
}

func TestPutLaysObjectOutBySharding(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newStore(t, dir)
	o := mediatest.NewObject(100)
	if err := s.Put(t.Context(), o.Key, bytesReader(o.Data), 100, "image/png"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(dir, o.Key[:2], o.Key[2:4], o.Key))
	if err != nil || string(got) != string(o.Data) {
		t.Fatalf("object file: %d bytes, err %v", len(got), err)
	}
	if _, err := os.Stat(filepath.Join(dir, o.Key[:2], o.Key[2:4], o.Key+".meta")); err != nil {
		t.Errorf("sidecar: %v", err)
	}
}

func TestFailedPutLeavesNoTemporaryFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newStore(t, dir)
	o := mediatest.NewObject(1000)
	if err := s.Put(t.Context(), o.Key, bytesReader(o.Data[:999]), 1000, "image/png"); err == nil {
		t.Fatal("Put of a short reader succeeded")
	}
	entries, err := os.ReadDir(filepath.Join(dir, ".tmp"))
	if err != nil || len(entries) != 0 {
		t.Errorf("temporary folder: %d entries, err %v", len(entries), err)
	}
}

func TestNewRemovesStaleTemporaryFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	newStore(t, dir)
	stale := filepath.Join(dir, ".tmp", "stale.123")
	fresh := filepath.Join(dir, ".tmp", "fresh.456")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	newStore(t, dir)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file still there: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file removed: %v", err)
	}
}

func TestObjectWithoutSidecarGetsDefaultContentType(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newStore(t, dir)
	o := mediatest.NewObject(10)
	if err := s.Put(t.Context(), o.Key, bytesReader(o.Data), 10, "image/png"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, o.Key[:2], o.Key[2:4], o.Key+".meta")); err != nil {
		t.Fatal(err)
	}
	info, err := s.Stat(t.Context(), o.Key)
	if err != nil || info.ContentType != media.DefaultContentType {
		t.Errorf("Stat = %+v, %v; want content type %q", info, err, media.DefaultContentType)
	}
}

func TestNewRejectsEmptyDir(t *testing.T) {
	t.Parallel()
	if _, err := local.New(""); err == nil {
		t.Error("New(\"\") succeeded")
	}
}

func TestPutFileLinksTheFileInsteadOfCopying(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newStore(t, dir)
	o := mediatest.NewObject(64 << 10)
	staged := filepath.Join(dir, "staged")
	if err := os.WriteFile(staged, o.Data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.PutFile(t.Context(), o.Key, staged, int64(len(o.Data)), "image/jpeg"); err != nil {
		t.Fatalf("PutFile: %v", err)
	}
	a, errA := os.Stat(staged)
	b, errB := os.Stat(filepath.Join(dir, o.Key[:2], o.Key[2:4], o.Key))
	if errA != nil || errB != nil || !os.SameFile(a, b) {
		t.Fatalf("the object is not the staged file itself: %v, %v", errA, errB)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, ".tmp")); len(left) != 0 {
		t.Errorf("%d temporary files left", len(left))
	}
}
