package sqlite

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite writes each WAL frame of a commit with two pwrite calls, its
// 24-byte header and then its page, and then fsyncs the WAL once: a
// 100-visit push writes about 70 frames, so 140 system calls a commit,
// which cost the push more CPU than its fsync (BENCHMARKS.md, pushcpu5).
// The writer connection opens the database through walBufVFS, SQLite's
// own unix VFS with one change: the writes to a WAL file that follow one
// another are gathered in memory and written with one pwrite before
// anything else is done to that file (a read, a sync, a truncate, its size,
// a file control, closing it) or when they stop following one another.
//
// A commit is as durable as before: SQLite syncs the WAL before it tells
// any reader that the commit's frames exist (synchronous=FULL, which every
// connection's DSN sets and Open checks), and the sync writes what was
// gathered first; a sync that cannot write fails the commit as a failed
// write did. The bytes, their offsets and their order are SQLite's, so a
// crash leaves the WAL as one of SQLite's own writes could have (a torn
// tail that recovery stops at). Only the writer connection uses it: the
// others never write the WAL.
const walBufVFS = "fieldsync-walbuf"

// walBufMax bounds the bytes gathered for one file (512 frames of 4 KiB);
// a longer run of frames (a large transaction's spill) is written in
// pieces of this size.
const walBufMax = 2 << 20

var (
	walBufOnce sync.Once
	walBufErr  error
	// unixVFS and unixMethods are SQLite's unix VFS and the I/O methods
	// of the files it opens; walMethods are those with the WAL's write
	// path replaced.
	unixVFS     uintptr
	unixMethods *sqlite3.Tsqlite3_io_methods
	walVFS      sqlite3.Tsqlite3_vfs
	walMethods  sqlite3.Tsqlite3_io_methods

	walMu    sync.Mutex
	walFiles = map[uintptr]*walFile{} // open WAL files, by their sqlite3_file

	// walWrites counts the writes walBufVFS sent to WAL files (tests).
	walWrites atomic.Int64
)

// walFile is what is gathered for one open WAL file: buf is to be written
// at off.
type walFile struct {
	off int64
	buf []byte
}

// registerWALBufVFS registers walBufVFS once per process.
func registerWALBufVFS() error {
	walBufOnce.Do(func() { walBufErr = doRegisterWALBufVFS() })
	return walBufErr
}

func doRegisterWALBufVFS() error {
	tls := libc.NewTLS()
	defer tls.Close()
	unixVFS = sqlite3.Xsqlite3_vfs_find(tls, 0)
	if unixVFS == 0 {
		return fmt.Errorf("register %s: no default VFS", walBufVFS)
	}
	name, err := libc.CString(walBufVFS) // kept for the life of the process
	if err != nil {
		return fmt.Errorf("register %s: %w", walBufVFS, err)
	}
	walVFS = *(*sqlite3.Tsqlite3_vfs)(cPointer(unixVFS))
	walVFS.FpNext, walVFS.FzName = 0, name
	setFn(&walVFS.FxOpen, walBufOpen)
	if rc := sqlite3.Xsqlite3_vfs_register(tls, uintptr(unsafe.Pointer(&walVFS)), 0); rc != sqlite3.SQLITE_OK {
		return fmt.Errorf("register %s: SQLite error %d", walBufVFS, rc)
	}
	return nil
}

// walBufOpen opens a file as the unix VFS does; a WAL file gets
// walMethods.
func walBufOpen(tls *libc.TLS, pVfs, zName, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	rc := fn[func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32](
		(*sqlite3.Tsqlite3_vfs)(cPointer(unixVFS)).FxOpen)(tls, unixVFS, zName, pFile, flags, pOutFlags)
	if rc != sqlite3.SQLITE_OK || flags&sqlite3.SQLITE_OPEN_WAL == 0 {
		return rc
	}
	f := (*sqlite3.Tsqlite3_file)(cPointer(pFile))
	walMu.Lock()
	defer walMu.Unlock()
	if unixMethods == nil {
		unixMethods = (*sqlite3.Tsqlite3_io_methods)(cPointer(f.FpMethods))
		walMethods = *unixMethods
		setFn(&walMethods.FxClose, walClose)
		setFn(&walMethods.FxRead, walRead)
		setFn(&walMethods.FxWrite, walWrite)
		setFn(&walMethods.FxTruncate, walTruncate)
		setFn(&walMethods.FxSync, walSync)
		setFn(&walMethods.FxFileSize, walFileSize)
		setFn(&walMethods.FxFileControl, walFileControl)
	}
	if f.FpMethods != uintptr(unsafe.Pointer(unixMethods)) {
		return rc // methods of another kind: left as they are
	}
	walFiles[pFile] = &walFile{}
	f.FpMethods = uintptr(unsafe.Pointer(&walMethods))
	return rc
}

// walWrite gathers a write that follows the ones gathered; any other is
// written after them.
func walWrite(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	w := walFileOf(pFile)
	if w.off+int64(len(w.buf)) != iOfst || len(w.buf)+int(iAmt) > walBufMax {
		if rc := w.flush(tls, pFile); rc != sqlite3.SQLITE_OK {
			return rc
		}
		w.off = iOfst
	}
	w.buf = append(w.buf, unsafe.Slice((*byte)(cPointer(zBuf)), iAmt)...)
	return sqlite3.SQLITE_OK
}

// flush writes what is gathered for the file at pFile. What could not be
// written is dropped: SQLite fails the transaction, which never reached
// its sync, on the error.
func (w *walFile) flush(tls *libc.TLS, pFile uintptr) int32 {
	if len(w.buf) == 0 {
		return sqlite3.SQLITE_OK
	}
	rc := int32(sqlite3.SQLITE_OK)
	for b := w.buf; len(b) > 0 && rc == sqlite3.SQLITE_OK; {
		n := min(len(b), unixMaxWrite)
		walWrites.Add(1)
		rc = fn[func(*libc.TLS, uintptr, uintptr, int32, int64) int32](unixMethods.FxWrite)(
			tls, pFile, uintptr(unsafe.Pointer(&b[0])), int32(n), w.off)
		w.off, b = w.off+int64(n), b[n:]
	}
	w.buf = w.buf[:0]
	return rc
}

// unixMaxWrite is the most the unix VFS writes in one call: it keeps the
// low 17 bits of a length (seekAndWriteFd), so a longer write would be
// cut short and reported as a full disk.
const unixMaxWrite = 0x1ffff

func walFileOf(pFile uintptr) *walFile {
	walMu.Lock()
	defer walMu.Unlock()
	return walFiles[pFile]
}

// flushWAL writes what is gathered for pFile before another method runs.
func flushWAL(tls *libc.TLS, pFile uintptr) int32 {
	return walFileOf(pFile).flush(tls, pFile)
}

func walRead(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	if rc := flushWAL(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return fn[func(*libc.TLS, uintptr, uintptr, int32, int64) int32](unixMethods.FxRead)(tls, pFile, zBuf, iAmt, iOfst)
}

func walSync(tls *libc.TLS, pFile uintptr, flags int32) int32 {
	if rc := flushWAL(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return fn[func(*libc.TLS, uintptr, int32) int32](unixMethods.FxSync)(tls, pFile, flags)
}

func walTruncate(tls *libc.TLS, pFile uintptr, size int64) int32 {
	if rc := flushWAL(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return fn[func(*libc.TLS, uintptr, int64) int32](unixMethods.FxTruncate)(tls, pFile, size)
}

func walFileSize(tls *libc.TLS, pFile, pSize uintptr) int32 {
	if rc := flushWAL(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return fn[func(*libc.TLS, uintptr, uintptr) int32](unixMethods.FxFileSize)(tls, pFile, pSize)
}

func walFileControl(tls *libc.TLS, pFile uintptr, op int32, pArg uintptr) int32 {
	if rc := flushWAL(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return fn[func(*libc.TLS, uintptr, int32, uintptr) int32](unixMethods.FxFileControl)(tls, pFile, op, pArg)
}

// walClose writes what is gathered and closes the file; SQLite ignores
// the result of a close.
func walClose(tls *libc.TLS, pFile uintptr) int32 {
	rc := flushWAL(tls, pFile)
	walMu.Lock()
	delete(walFiles, pFile)
	walMu.Unlock()
	if crc := fn[func(*libc.TLS, uintptr) int32](unixMethods.FxClose)(tls, pFile); rc == sqlite3.SQLITE_OK {
		rc = crc
	}
	return rc
}

// fn is the Go function a C function pointer of the transpiled library
// holds (as sqlite3OsWrite calls it).
func fn[F any](p uintptr) F { return *(*F)(unsafe.Pointer(&p)) }

// setFn stores f as the C function pointer at slot.
func setFn[F any](slot *uintptr, f F) { *(*F)(unsafe.Pointer(slot)) = f }

// cPointer is the C memory at p (allocated by the transpiled library,
// outside the Go heap).
func cPointer(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }
