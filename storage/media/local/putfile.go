package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/fieldsync/fieldsync/storage/media"
)

var _ media.FilePutter = (*Store)(nil)

// PutFile stores the first size bytes of the file at path under key
// without copying or hashing them (see media.FilePutter): a file of
// exactly size bytes on the store's file system is hard-linked into
// place, so the object shares the file's bytes (fsynced first: the caller
// need not have); any other file is copied. The caller vouches that the
// bytes hash to key. Errors wrap
// media.ErrInvalidKey, media.ErrSizeMismatch (a file shorter than size),
// ctx's error or the file system's.
func (s *Store) PutFile(ctx context.Context, key, path string, size int64, contentType string) error {
	if err := check(ctx, key); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if contentType == "" {
		contentType = media.DefaultContentType
	}
	if err := s.putFile(key, path, size, contentType); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

func (s *Store) putFile(key, path string, size int64, contentType string) error {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return err
	case size < 0 || fi.Size() < size:
		return fmt.Errorf("%w: file of %d bytes, %d announced", media.ErrSizeMismatch, fi.Size(), size)
	}
	data, err := s.linkTemp(key, path, size, fi.Size() == size)
	if err != nil {
		return err
	}
	sidecar, err := json.Marshal(meta{ContentType: contentType})
	if err != nil {
		os.Remove(data)
		return err
	}
	return s.place(key, data, sidecar)
}

// linkTemp gives the file at path a new name in the temporary folder: a
// hard link when whole says the file is the object and the file system
// allows, else a copy of its first size bytes.
func (s *Store) linkTemp(key, path string, size int64, whole bool) (string, error) {
	if whole {
		// The caller may not have fsynced the file (a photo upload's
		// staged bytes are acknowledged before they are durable): the
		// object must be before it is placed.
		if err := syncFile(path); err != nil {
			return "", err
		}
		var b [8]byte
		rand.Read(b[:])
		tmp := filepath.Join(s.dir, tmpDir, key+"."+hex.EncodeToString(b[:]))
		if err := os.Link(path, tmp); err == nil {
			now := time.Now() // not stale for removeStale, however old the file
			os.Chtimes(tmp, now, now)
			return tmp, nil
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return s.writeTemp(key, io.LimitReader(f, size))
}

// syncFile fsyncs the file at path.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
