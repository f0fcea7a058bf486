package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fieldsync/fieldsync/internal/datadir"
)

// Lock files in the data dir. The API process holds APILockFile: it owns
// the SQLite writer's outbox relay, the embedded NATS server and nats.url,
// so two of them on one data dir would lose change events. A consumers-only
// process (--serve=false) shares the data dir with an API process by design
// and holds ConsumersLockFile instead, unless it starts its own embedded
// NATS server, which makes it an owner of the dir like the API.
const (
	APILockFile       = datadir.APILockFile
	ConsumersLockFile = datadir.ConsumersLockFile
)

// Modes of everything under the data dir: it holds every record and the
// photo-link signing key, so only the owner may read it.
const (
	dirMode  fs.FileMode = 0o700
	fileMode fs.FileMode = 0o600
)

// ErrDataDirLocked is returned by Start when another fieldsyncd holds the
// data dir's lock.
var ErrDataDirLocked = errors.New("data dir is in use")

// lockName is the lock file this configuration takes.
func (c *Config) lockName() string {
	if !c.Serve && c.NATSURL != "" {
		return ConsumersLockFile
	}
	return APILockFile
}

// lockDataDir takes the exclusive lock on the data dir and writes this
// process's pid into the lock file. The lock lasts until the returned
// release is called or the process ends.
func lockDataDir(dir, name string) (release func() error, err error) {
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, fileMode)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := datadir.TryLock(f); err != nil {
		f.Close()
		if errors.Is(err, datadir.ErrWouldBlock) {
			return nil, fmt.Errorf("%w: %s is held by fieldsyncd pid %s; stop it or pass another --data-dir",
				ErrDataDirLocked, path, holderPID(path))
		}
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := f.Truncate(0); err == nil { // the pid only helps the next one's error message
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f.Close, nil // closing the file releases the lock
}

// holderPID reads the pid the lock's holder wrote.
func holderPID(path string) string {
	b, err := os.ReadFile(path)
	if pid := strings.TrimSpace(string(b)); err == nil && pid != "" {
		return pid
	}
	return "unknown"
}

// makeDataDir creates the data dir readable by the owner only, and makes
// every file this process creates from now on owner-only too.
func makeDataDir(dir string) error {
	restrictUmask()
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	return nil
}

// tightenModes removes group and other access from everything under dir
// (files 0600, dirs 0700), warning once about what it changed.
func tightenModes(dir string, log *slog.Logger) error {
	var fixed int
	var first string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return ignoreNotExist(err)
		}
		want := fileMode
		switch {
		case d.IsDir():
			want = dirMode
		case !d.Type().IsRegular():
			return nil // sockets, symlinks: left alone
		}
		info, err := d.Info()
		if err != nil || info.Mode().Perm()&^want == 0 {
			return ignoreNotExist(err)
		}
		if fixed++; first == "" {
			first = path
		}
		return ignoreNotExist(os.Chmod(path, info.Mode().Perm()&want))
	})
	if err != nil {
		return fmt.Errorf("data dir modes: %w", err)
	}
	if fixed > 0 {
		log.Warn("data dir: group/other access removed (it holds every record and the photo-link key)",
			"count", fixed, "first", first)
	}
	return nil
}

// ignoreNotExist drops the error of a file removed meanwhile (by the API
// process a consumers-only process shares the dir with).
func ignoreNotExist(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
