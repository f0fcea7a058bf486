// Package local keeps media objects in a folder: the embedded default for a
// single machine. Object <key> lives at <dir>/<key[0:2]>/<key[2:4]>/<key>,
// with its content type in a small JSON sidecar "<key>.meta" beside it.
// Writes go to <dir>/.tmp first and are fsynced before an atomic rename, so
// a crash or a failed Put never leaves a partial object visible.
package local

import (
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

var _ media.Store = (*Store)(nil)

// tmpDir is the folder, inside the store, that holds writes in progress.
const tmpDir = ".tmp"

// staleAfter is how old a leftover temporary file must be for New to remove it.
const staleAfter = time.Hour

// Store is a media.Store over a local folder. It is safe for concurrent use,
// also by several Stores on the same folder.
type Store struct {
	dir string
}

// meta is the sidecar stored beside each object.
type meta struct {
	ContentType string `json:"content_type"`
}

// New returns a Store keeping objects under dir, creating it if needed and
// removing temporary files older than an hour that a crash left behind.
func New(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("local media store: empty dir")
	}
	if err := os.MkdirAll(filepath.Join(dir, tmpDir), 0o750); err != nil {
		return nil, fmt.Errorf("local media store: %w", err)
	}
	s := &Store{dir: dir}
	if err := s.removeStale(time.Now().Add(-staleAfter)); err != nil {
		return nil, fmt.Errorf("local media store: %w", err)
	}
	return s, nil
}

// Stat returns the object's Info, media.ErrNotFound when it is absent, or
// media.ErrInvalidKey.
func (s *Store) Stat(ctx context.Context, key string) (media.Info, error) {
	if err := check(ctx, key); err != nil {
		return media.Info{}, fmt.Errorf("stat %s: %w", key, err)
	}
	fi, err := os.Stat(s.path(key))
	if err != nil {
		return media.Info{}, fmt.Errorf("stat %s: %w", key, notFound(err))
	}
	return s.info(key, fi.Size())
}

// Open returns the object's contents (an *os.File, so it can seek) and
// Info, media.ErrNotFound when it is absent, or media.ErrInvalidKey.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, media.Info, error) {
	if err := check(ctx, key); err != nil {
		return nil, media.Info{}, fmt.Errorf("open %s: %w", key, err)
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		return nil, media.Info{}, fmt.Errorf("open %s: %w", key, notFound(err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, media.Info{}, fmt.Errorf("open %s: %w", key, err)
	}
	info, err := s.info(key, fi.Size())
	if err != nil {
		f.Close()
		return nil, media.Info{}, err
	}
	return f, info, nil
}

// info completes an object's Info from its sidecar. An object without a
// readable sidecar gets media.DefaultContentType.
func (s *Store) info(key string, size int64) (media.Info, error) {
	info := media.Info{Key: key, Size: size, ContentType: media.DefaultContentType}
	b, err := os.ReadFile(s.path(key) + ".meta")
	if errors.Is(err, fs.ErrNotExist) {
		return info, nil
	} else if err != nil {
		return media.Info{}, fmt.Errorf("read meta %s: %w", key, err)
	}
	var m meta
	if json.Unmarshal(b, &m) == nil && m.ContentType != "" {
		info.ContentType = m.ContentType
	}
	return info, nil
}

// path returns where key's object lives.
func (s *Store) path(key string) string {
	return filepath.Join(s.dir, key[0:2], key[2:4], key)
}

// check returns the context's error or media.ErrInvalidKey, if any.
func check(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !media.ValidKey(key) {
		return media.ErrInvalidKey
	}
	return nil
}

// notFound turns a missing file into media.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return media.ErrNotFound
	}
	return err
}
