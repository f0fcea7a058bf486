package photos

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/fieldsync/fieldsync/storage/media"
)

// stateSuffix names the file beside an upload's staged bytes that keeps
// its progress.
const stateSuffix = ".state"

// staging keeps the bytes of unfinished uploads, one file per upload named
// by its id. A file may be longer than the upload's recorded offset (a
// crash after the fsync but before the offset was recorded) or, if the
// folder was damaged, shorter: callers reconcile the two.
//
// A staging folder that is not durable (shared staging: the store keeps
// every acknowledged chunk in the transaction that records its offset)
// writes without fsync, so a chunk costs one fsync, the store's commit.
// After a crash such a file may hold anything, so only files this process
// wrote (written) are trusted; the others are staged again from the
// store (see Service.reconcile).
type staging struct {
	dir     string
	durable bool

	mu      sync.Mutex
	written map[string]bool // non-durable staging: ids whose file this process wrote
}

func newStaging(dir string, durable bool) (*staging, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("staging: %w", err)
	}
	return &staging{dir: dir, durable: durable, written: map[string]bool{}}, nil
}

// trusted reports whether an upload's staged bytes are what was written:
// always in a durable folder; otherwise only when this process wrote them.
func (st *staging) trusted(id string) bool {
	if st.durable {
		return true
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.written[id]
}

// wrote records that this process wrote an upload's staged bytes, or
// (ok false) that it removed them.
func (st *staging) wrote(id string, ok bool) {
	if st.durable {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if ok {
		st.written[id] = true
	} else {
		delete(st.written, id)
	}
}

// validID reports whether id can name a staging file: upload ids are
// ULIDs, 26 characters of Crockford base32.
func validID(id string) bool {
	if len(id) != 26 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

func (st *staging) path(id string) (string, error) {
	if !validID(id) {
		return "", fmt.Errorf("staging: invalid upload id %q", id)
	}
	return filepath.Join(st.dir, id), nil
}

// size returns the staged length of an upload; a missing file is 0.
func (st *staging) size(id string) (int64, error) {
	p, err := st.path(id)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("staging: %w", err)
	}
	return fi.Size(), nil
}

// truncate cuts an upload's staged bytes to n and syncs the file.
func (st *staging) truncate(id string, n int64) error {
	f, err := st.openExisting(id)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(n); err != nil {
		return fmt.Errorf("staging: %w", err)
	}
	return f.Sync()
}

// write stores data at offset, which must be the file's length or less
// (anything beyond offset is cut first), and, in a durable folder when
// sync says so, fsyncs the file, and the folder when the file is new,
// before returning. It reports whether it created the file.
func (st *staging) write(id string, offset int64, data []byte, sync bool) (created bool, err error) {
	f, created, err := st.openForWrite(id)
	if err != nil {
		return false, err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("staging: %w", cerr)
		}
	}()
	if err := cutTo(f, offset); err != nil {
		return created, fmt.Errorf("staging: upload %s: %w", id, err)
	}
	if _, err := f.WriteAt(data, offset); err != nil {
		return created, fmt.Errorf("staging: %w", err)
	}
	st.wrote(id, true)
	if !st.durable || !sync {
		return created, nil // the store holds the chunk durably, or the caller syncs later
	}
	if err := f.Sync(); err != nil {
		return created, fmt.Errorf("staging: %w", err)
	}
	if created {
		return created, syncDir(st.dir)
	}
	return created, nil
}

// sync fsyncs an upload's staged file, and the folder when created says
// the file is new since the last sync.
func (st *staging) sync(id string, created bool) error {
	f, err := st.openExisting(id)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("staging: %w", err)
	}
	if created {
		return syncDir(st.dir)
	}
	return nil
}

// openExisting opens an upload's staged file, which must exist, for
// writing.
func (st *staging) openExisting(id string) (*os.File, error) {
	p, err := st.path(id)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("staging: %w", err)
	}
	return f, nil
}

// cutTo makes f exactly offset bytes long, refusing to extend it.
func cutTo(f *os.File, offset int64) error {
	fi, err := f.Stat()
	switch {
	case err != nil:
		return err
	case fi.Size() < offset:
		return fmt.Errorf("%d bytes staged, cannot write at %d", fi.Size(), offset)
	case fi.Size() > offset:
		return f.Truncate(offset)
	}
	return nil
}

func (st *staging) openForWrite(id string) (f *os.File, created bool, err error) {
	p, err := st.path(id)
	if err != nil {
		return nil, false, err
	}
	f, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err == nil {
		return f, true, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return nil, false, fmt.Errorf("staging: %w", err)
	}
	if f, err = os.OpenFile(p, os.O_WRONLY, 0); err != nil {
		return nil, false, fmt.Errorf("staging: %w", err)
	}
	return f, false, nil
}

// open returns an upload's staged bytes for reading.
func (st *staging) open(id string) (*os.File, error) {
	p, err := st.path(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("staging: %w", err)
	}
	return f, nil
}

// remove deletes an upload's staged bytes; a missing file is no error.
func (st *staging) remove(id string) error {
	p, err := st.path(id)
	if err != nil {
		return err
	}
	st.wrote(id, false)
	for _, name := range []string{p, p + stateSuffix} {
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("staging: %w", err)
		}
	}
	return nil
}

// list returns the ids of the uploads with staged bytes or progress.
// Files that cannot be upload ids are not ours and are left alone.
func (st *staging) list() ([]string, error) {
	entries, err := os.ReadDir(st.dir)
	if err != nil {
		return nil, fmt.Errorf("staging: %w", err)
	}
	var ids []string
	seen := map[string]bool{}
	for _, e := range entries {
		id, _, _ := strings.Cut(e.Name(), ".")
		if e.Type().IsRegular() && validID(id) && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// syncDir fsyncs a folder so that a file just created in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("staging: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("staging: sync %s: %w", dir, err)
	}
	return nil
}

// progress is what the service has done with an upload's staged bytes,
// kept beside them in "<id>.state" so that a restarted server goes on
// where it stopped: the SHA-256 of the first Offset bytes (the hash's
// marshalled state) and the object store's multipart upload, whose Parts
// hold the first PartEnd bytes. The file is written without fsync: after
// a crash it may be behind the staged bytes (the gap is hashed again) or
// unreadable (all of them are, and a multipart upload it named is left
// to the bucket's lifecycle rules).
type progress struct {
	Offset    int64        `json:"offset"`
	Hash      []byte       `json:"hash"`
	Multipart string       `json:"multipart,omitempty"`
	Parts     []media.Part `json:"parts,omitempty"`
	PartEnd   int64        `json:"part_end,omitempty"`
}

// loadProgress returns an upload's progress; a missing or unreadable
// file is a fresh one.
func (st *staging) loadProgress(id string) (*progress, error) {
	p, err := st.path(id)
	if err != nil {
		return nil, err
	}
	pr := &progress{}
	b, err := os.ReadFile(p + stateSuffix)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return pr, nil
	case err != nil:
		return nil, fmt.Errorf("staging: %w", err)
	}
	if json.NewDecoder(bytes.NewReader(b)).Decode(pr) != nil || pr.Offset < 0 || pr.PartEnd < 0 {
		return &progress{}, nil
	}
	return pr, nil
}

// saveProgress writes an upload's progress over the old, in place (no
// truncation or rename, which would make ext4 flush the file on close),
// and fsyncs it when durable says so (a multipart upload that changed,
// whose parts must not be forgotten). A shorter record leaves the old
// one's end behind it, which loadProgress does not read.
func (st *staging) saveProgress(id string, pr *progress, durable bool) error {
	p, err := st.path(id)
	if err != nil {
		return err
	}
	b, err := json.Marshal(pr)
	if err != nil {
		return fmt.Errorf("staging: %w", err)
	}
	f, err := os.OpenFile(p+stateSuffix, os.O_WRONLY|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("staging: %w", err)
	}
	_, err = f.WriteAt(append(b, '\n'), 0)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("staging: %w", err)
	}
	return nil
}
