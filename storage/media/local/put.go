package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fieldsync/fieldsync/storage/media"
)

// Put stores size bytes from r under key (see media.Store). It returns nil
// at once, without reading r, when the object exists. Otherwise the bytes
// and the sidecar are written to temporary files, checked against key and
// size, fsynced and renamed into place, sidecar first; concurrent Puts of
// the same key each rename a complete copy, so one intact object remains.
// Errors wrap media.ErrInvalidKey, media.ErrSizeMismatch,
// media.ErrDigestMismatch, ctx's error or the file system's.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := check(ctx, key); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	dst := s.path(key)
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	if contentType == "" {
		contentType = media.DefaultContentType
	}
	if err := s.put(ctx, key, r, size, contentType); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

func (s *Store) put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	sidecar, err := json.Marshal(meta{ContentType: contentType})
	if err != nil {
		return err
	}
	data, err := s.writeTemp(key, media.CheckedReader(ctx, r, key, size))
	if err != nil {
		return err
	}
	return s.place(key, data, sidecar)
}

// place renames the complete temporary file data into key's place, after
// writing its sidecar there; it removes data when it fails.
func (s *Store) place(key, data string, sidecar []byte) error {
	dst := s.path(key)
	metaTmp, err := s.writeTemp(key+".meta", bytes.NewReader(sidecar))
	if err != nil {
		os.Remove(data)
		return err
	}
	// Remove only what was not renamed: a freed temporary name may be reused.
	if err := s.mkdirs(filepath.Dir(dst)); err != nil {
		os.Remove(metaTmp)
		os.Remove(data)
		return err
	}
	if err := os.Rename(metaTmp, dst+".meta"); err != nil {
		os.Remove(metaTmp)
		os.Remove(data)
		return err
	}
	if err := os.Rename(data, dst); err != nil {
		os.Remove(data)
		return err
	}
	return syncDir(filepath.Dir(dst))
}

// writeTemp copies r into a new fsynced file in the temporary folder and
// returns its path. Nothing is left behind on error.
func (s *Store) writeTemp(name string, r io.Reader) (path string, err error) {
	f, err := os.CreateTemp(filepath.Join(s.dir, tmpDir), name+".*")
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	if _, err := io.Copy(f, r); err != nil {
		return "", err
	}
	return f.Name(), f.Sync()
}

// mkdirs creates dir and its missing parents inside the store, syncing
// each parent that gained an entry so the new folders survive a crash.
func (s *Store) mkdirs(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != s.dir {
		if err := s.mkdirs(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
}

// syncDir fsyncs a folder so the entries just renamed into it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// removeStale deletes temporary files last modified before cutoff: the
// leftovers of writes a crash interrupted.
func (s *Store) removeStale(cutoff time.Time) error {
	dir := filepath.Join(s.dir, tmpDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() || fi.ModTime().After(cutoff) {
			continue // vanished, odd or possibly still being written
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
