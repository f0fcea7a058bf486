package fieldsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Limits of one photo's upload within a Sync, past which it is put off.
const (
	maxRestarts    = 3 // uploads the server ended (expired, cancelled) or found short
	maxCRCFailures = 3 // chunks refused in a row for a CRC32C mismatch (damaged in transit)
	// Calls refused for the caller's rate or calls in progress are tried
	// again after the server's hinted wait (at most maxThrottleWait), up to
	// maxThrottleWaits times per photo; past that the photo is put off.
	maxThrottleWaits = 16
	maxThrottleWait  = 5 * time.Second
)

var (
	// errYield: local writes wait to be pushed. The photo pass stops
	// between chunks so that records always go first.
	errYield = errors.New("local writes wait to be pushed")
	// errRestart: the server's upload ended or lacks bytes: create (or
	// find) it again and go on from its offset.
	errRestart = errors.New("the server's upload must be created again")
)

// photoFailure is a refusal that retrying cannot fix: the photo fails.
type photoFailure struct{ err error }

func (f *photoFailure) Error() string { return f.err.Error() }
func (f *photoFailure) Unwrap() error { return f.err }

func failf(format string, args ...any) error { return &photoFailure{fmt.Errorf(format, args...)} }

// uploadPhotos uploads the due photos of the queue, oldest first, each
// from the offset its server upload holds. A photo the server refuses for
// good fails, one it cannot take now is put off (photoPutOff); neither
// stops the others. It returns again when Sync should push and pull once
// more: local writes wait (the pass stopped for them), or a photo was
// stored (the server re-delivers the records that refer to it). Network
// failures and store errors are returned for Sync to retry.
func (c *Client) uploadPhotos(ctx context.Context, b *backoff) (again bool, err error) {
	queue, err := duePhotos(ctx, c.db.read, c.cfg.now())
	if err != nil {
		return false, err
	}
	for i := range queue {
		err := c.uploadPhoto(ctx, &queue[i])
		switch {
		case err == nil:
			again = true
			b.reset()
		case errors.Is(err, errYield):
			return true, nil
		default:
			if err := c.settle(ctx, &queue[i], err); err != nil {
				return again, err
			}
		}
	}
	return again, nil
}

// settle records a failed photo upload: a photoFailure fails the photo;
// a refusal from the server it may get over (Unavailable while its object
// store is down, an upload restarted too often, …) puts the photo off. A
// network failure, an authentication refusal (the device's, not the
// photo's) or a store error is returned.
func (c *Client) settle(ctx context.Context, p *Photo, err error) error {
	var pf *photoFailure
	switch code := wireCode(err); {
	case errors.As(err, &pf):
		c.cfg.logger.InfoContext(ctx, "fieldsync: photo failed", "sha256", p.SHA256, "err", err)
		return c.photoFailed(ctx, p, err)
	case code == connect.CodeUnauthenticated || code == connect.CodePermissionDenied:
		return err
	case code == 0 && !errors.Is(err, errRestart):
		return err
	}
	c.cfg.logger.DebugContext(ctx, "fieldsync: photo upload put off", "sha256", p.SHA256, "err", err)
	return c.photoPutOff(ctx, p, err)
}

// photoUpload is one photo's upload from its local copy.
type photoUpload struct {
	c     *Client
	p     *Photo
	f     *os.File
	free  [][]byte     // chunk buffers no call uses
	crcs  int          // CRC32C refusals in a row
	waits atomic.Int32 // throttled calls waited out (chunks in flight wait on their own)
	shown int64        // the last progress reported
}

// call runs fn, calling it again after the hinted wait while the server
// refuses it for the caller's rate or calls in progress (see throttled), at
// most maxThrottleWaits times per photo. It returns fn's last error.
func (u *photoUpload) call(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		d, ok := throttled(err)
		if !ok || u.waits.Add(1) > maxThrottleWaits {
			return err
		}
		if err := sleep(ctx, min(d, maxThrottleWait)); err != nil {
			return err
		}
	}
}

// throttled reports whether err is the server's refusal of a call for the
// caller's request rate or calls in progress, and how long it asks to wait:
// ResourceExhausted with a google.rpc.RetryInfo detail or a Retry-After
// header. The refusal of a photo larger than the server accepts carries
// neither, and is the photo's for good.
func throttled(err error) (time.Duration, bool) {
	var ce *connect.Error
	if wireCode(err) != connect.CodeResourceExhausted || !errors.As(err, &ce) {
		return 0, false
	}
	for _, d := range ce.Details() {
		if v, derr := d.Value(); derr == nil {
			if ri, ok := v.(*errdetails.RetryInfo); ok {
				return max(ri.GetRetryDelay().AsDuration(), 0), true
			}
		}
	}
	if secs, err := strconv.Atoi(ce.Meta().Get("Retry-After")); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second, true
	}
	return 0, false
}

// uploadPhoto uploads a queued photo: it creates or finds the server's
// upload, sends the chunks from the server's offset and completes it,
// starting over when the server's upload ended.
func (c *Client) uploadPhoto(ctx context.Context, p *Photo) error {
	f, err := os.Open(c.photoPath(p.SHA256))
	if err != nil {
		return failf("open the local copy: %w", err)
	}
	defer f.Close()
	u := &photoUpload{c: c, p: p, f: f}
	for range maxRestarts {
		if err := u.attempt(ctx); !errors.Is(err, errRestart) {
			return err
		}
	}
	return fmt.Errorf("upload photo %s: %w %d times", p.SHA256, errRestart, maxRestarts)
}

// attempt runs create → chunks → complete once.
func (u *photoUpload) attempt(ctx context.Context) error {
	if err := u.c.yieldToRecords(ctx); err != nil {
		return err
	}
	up, err := u.create(ctx)
	if err != nil {
		return err
	}
	if up.GetState() == fieldsyncv1.UploadState_UPLOAD_STATE_COMPLETE {
		return u.done(ctx) // the tenant holds the photo already
	}
	u.progress(up.GetOffset())
	if err := u.send(ctx, up.GetUploadId(), up.GetOffset()); err != nil {
		return err
	}
	return u.complete(ctx, up.GetUploadId())
}

// create starts the server's upload, or finds the device's upload of the
// photo in progress with its durable offset.
func (u *photoUpload) create(ctx context.Context) (*fieldsyncv1.Upload, error) {
	p := u.p
	var res *connect.Response[fieldsyncv1.CreateUploadResponse]
	err := u.call(ctx, func() (err error) {
		res, err = u.c.media.CreateUpload(ctx, connect.NewRequest(&fieldsyncv1.CreateUploadRequest{
			Sha256: p.SHA256, SizeBytes: p.Size, ContentType: p.ContentType,
			RecordId: p.RecordID, Slot: p.Slot, DeviceHlc: p.hlc,
		}))
		return err
	})
	if _, busy := throttled(err); !busy {
		switch wireCode(err) {
		case connect.CodeInvalidArgument, connect.CodeResourceExhausted, connect.CodeFailedPrecondition:
			return nil, failf("create upload: %w", err) // a size the server does not take
		}
	}
	if err != nil {
		return nil, fmt.Errorf("create upload: %w", err)
	}
	up := res.Msg.GetUpload()
	if err := u.c.photoStarted(ctx, p, up.GetUploadId(), up.GetOffset()); err != nil {
		return nil, err
	}
	return up, nil
}

// send puts the chunks from off to the end, with up to the configured
// window (WithUploadWindow) in flight: each chunk goes on its own call
// before the answers to the ones before it; the server applies them in
// order. Answers are taken in the order the chunks were sent. Local
// writes go before any chunk sent after them: once they wait, no chunk is
// sent, the answers to those in flight are taken, and send yields. An
// answer that leaves the upload elsewhere than the chunk's end (a refusal,
// an offset told) drops the chunks in flight after it and goes on from
// where the server stands. send returns only once no call of it is left.
func (u *photoUpload) send(ctx context.Context, id string, off int64) error {
	var flight []*chunkCall
	defer func() {
		for _, cc := range flight {
			cc.cancel()
		}
		for _, cc := range flight {
			<-cc.done
		}
	}()
	for next := off; ; {
		for len(flight) < u.c.cfg.uploadWindow && next < u.p.Size {
			if err := u.c.yieldToRecords(ctx); err != nil {
				if !errors.Is(err, errYield) || len(flight) == 0 {
					return err
				}
				break // the answers to the chunks in flight first
			}
			cc, err := u.put(ctx, id, next)
			if err != nil {
				return err
			}
			flight = append(flight, cc)
			next += int64(len(cc.data))
		}
		if len(flight) == 0 {
			return nil
		}
		head := flight[0]
		<-head.done
		flight = flight[1:]
		u.free = append(u.free, head.data[:0])
		end := head.off + int64(len(head.data))
		o, err := u.afterChunk(ctx, id, head.off, head.res, head.err)
		if err != nil {
			return err
		}
		if o != end { // the chunks in flight after it are not where the server goes on
			for _, cc := range flight {
				cc.cancel()
			}
			for _, cc := range flight {
				<-cc.done
				u.free = append(u.free, cc.data[:0])
			}
			flight, next = nil, o
		}
	}
}

// chunkCall is one PutChunk in flight.
type chunkCall struct {
	off    int64
	data   []byte
	cancel context.CancelFunc
	done   chan struct{} // closed once res and err are set
	res    *connect.Response[fieldsyncv1.PutChunkResponse]
	err    error
}

// put sends the chunk at off on its own goroutine, waiting out throttling.
func (u *photoUpload) put(ctx context.Context, id string, off int64) (*chunkCall, error) {
	data, err := u.chunk(off)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	cc := &chunkCall{off: off, data: data, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(cc.done)
		defer cancel()
		cc.err = u.call(cctx, func() (err error) {
			cc.res, err = u.c.media.PutChunk(cctx, connect.NewRequest(&fieldsyncv1.PutChunkRequest{
				UploadId: id, Offset: off, Data: data, Crc32C: crc32.Checksum(data, castagnoli),
			}))
			return err
		})
	}()
	return cc, nil
}

// chunk reads the chunk at off from the local copy into a buffer of its
// own (one per chunk in flight).
func (u *photoUpload) chunk(off int64) ([]byte, error) {
	n := min(int64(u.c.cfg.chunkSize), u.p.Size-off)
	var buf []byte
	if k := len(u.free); k > 0 {
		buf, u.free = u.free[k-1], u.free[:k-1]
	}
	if int64(cap(buf)) < n {
		buf = make([]byte, u.c.cfg.chunkSize)
	}
	data := buf[:n]
	if _, err := u.f.ReadAt(data, off); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, failf("the local copy is shorter than the photo's %d bytes", u.p.Size)
		}
		return nil, failf("read the local copy: %w", err)
	}
	return data, nil
}

// afterChunk returns the offset to go on from after a PutChunk at off.
func (u *photoUpload) afterChunk(ctx context.Context, id string, off int64, res *connect.Response[fieldsyncv1.PutChunkResponse], err error) (int64, error) {
	if err == nil {
		u.crcs = 0
		return u.acked(ctx, res.Msg.GetOffset())
	}
	if o, ok := uploadOffset(err); ok {
		return u.acked(ctx, o) // the server holds more (an answer was lost) or less
	}
	switch wireCode(err) {
	case connect.CodeAborted:
		return u.serverOffset(ctx, id)
	case connect.CodeFailedPrecondition, connect.CodeNotFound:
		return 0, errRestart
	case connect.CodeDataLoss:
		if u.crcs++; u.crcs < maxCRCFailures {
			return off, nil // damaged on the way: send it again
		}
	}
	return 0, fmt.Errorf("put chunk at %d: %w", off, err)
}

// serverOffset asks the server where its upload stands.
func (u *photoUpload) serverOffset(ctx context.Context, id string) (int64, error) {
	var res *connect.Response[fieldsyncv1.GetUploadResponse]
	err := u.call(ctx, func() (err error) {
		res, err = u.c.media.GetUpload(ctx, connect.NewRequest(&fieldsyncv1.GetUploadRequest{UploadId: id}))
		return err
	})
	switch {
	case wireCode(err) == connect.CodeNotFound:
		return 0, errRestart
	case err != nil:
		return 0, fmt.Errorf("get upload: %w", err)
	case res.Msg.GetUpload().GetState() != fieldsyncv1.UploadState_UPLOAD_STATE_IN_PROGRESS:
		return 0, errRestart
	}
	return u.acked(ctx, res.Msg.GetUpload().GetOffset())
}

// acked records the server's offset and reports it.
func (u *photoUpload) acked(ctx context.Context, off int64) (int64, error) {
	if err := u.c.photoAcked(ctx, u.p, off); err != nil {
		return 0, err
	}
	u.progress(off)
	return off, nil
}

// progress reports the bytes the server holds, unless a report went past
// them already: an offset told by an answer to a chunk sent ahead may be
// older than one already acknowledged (the device then learns the newer
// one again from its next chunk), and the server may have lost chunks it
// acknowledged before a crash.
func (u *photoUpload) progress(sent int64) {
	if sent < u.shown {
		return
	}
	u.shown = min(sent, u.p.Size)
	if fn := u.c.cfg.photoProgress; fn != nil {
		fn(u.p.SHA256, u.shown, u.p.Size)
	}
}

// complete asks the server to verify and store the photo.
func (u *photoUpload) complete(ctx context.Context, id string) error {
	err := u.call(ctx, func() error {
		_, err := u.c.media.CompleteUpload(ctx, connect.NewRequest(&fieldsyncv1.CompleteUploadRequest{UploadId: id}))
		return err
	})
	switch wireCode(err) {
	case 0:
		if err != nil {
			return fmt.Errorf("complete upload: %w", err)
		}
		return u.done(ctx)
	case connect.CodeFailedPrecondition, connect.CodeNotFound:
		return errRestart // bytes are missing, or the upload ended
	case connect.CodeDataLoss, connect.CodeInvalidArgument:
		return u.refused(ctx, id, err)
	}
	return fmt.Errorf("complete upload: %w", err)
}

// refused answers a completion refused for the bytes received: the upload
// is cancelled and, once per photo, sent again from the start. The photo
// fails at the second refusal, or at once when its local copy no longer
// hashes to it (sending it again cannot help).
func (u *photoUpload) refused(ctx context.Context, id string, cause error) error {
	err := u.call(ctx, func() error {
		_, err := u.c.media.CancelUpload(ctx, connect.NewRequest(&fieldsyncv1.CancelUploadRequest{UploadId: id}))
		return err
	})
	if err != nil && wireCode(err) == 0 {
		return fmt.Errorf("cancel upload: %w", err)
	}
	if err := u.checkCopy(); err != nil {
		return err
	}
	if u.p.recreated > 0 {
		return failf("complete upload (sent twice): %w", cause)
	}
	if err := u.c.photoRecreated(ctx, u.p); err != nil {
		return err
	}
	return errRestart
}

// checkCopy fails the photo when its local copy does not hash to it.
func (u *photoUpload) checkCopy() error {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(u.f, 0, u.p.Size+1)); err != nil {
		return failf("read the local copy: %w", err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != u.p.SHA256 {
		return failf("the local copy is damaged: its bytes hash to %s", sum)
	}
	return nil
}

// done marks the photo stored and drops its local copy (WithKeepPhotos).
func (u *photoUpload) done(ctx context.Context) error {
	if err := u.c.photoDone(ctx, u.p); err != nil {
		return err
	}
	u.progress(u.p.Size)
	u.c.dropCopy(ctx, u.p.SHA256, true)
	return nil
}

// yieldToRecords returns errYield when local writes wait to be pushed.
func (c *Client) yieldToRecords(ctx context.Context) error {
	var pending bool
	if err := c.db.read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM outbox WHERE acked = 0)`).Scan(&pending); err != nil {
		return fmt.Errorf("read outbox: %w", err)
	}
	if pending {
		return errYield
	}
	return nil
}
