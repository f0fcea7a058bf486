package fieldsync

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	kgzip "github.com/klauspost/compress/gzip"
	"google.golang.org/protobuf/proto"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// pullPath is SyncService.Pull's route.
const pullPath = "/" + fieldsyncv1connect.SyncServiceName + "/Pull"

// rawPuller is the sync client with Pull made as a Connect-protocol unary
// call of its own, over the same HTTP client, token and timeout. Connect
// read a gzipped page into one buffer and inflated it into a second that
// grew from 512 bytes (a first sync's answers copied and zeroed several
// times over); here the answer is read into a pooled buffer sized by its
// Content-Length, inflated into one sized by the gzip trailer's length,
// and decoded by pageCodec in place: the page's strings and values share
// the inflated bytes, which the page owns (no copy of the answer, whose
// fresh pages cost a first sync more than the copying). Everything else a
// Connect client does for Pull holds: the same headers, codes, details and metadata, the
// same bound on an answer after inflating (maxAnswerBytes), and the call
// ends with ctx. Only for the Connect protocol.
type rawPuller struct {
	fieldsyncv1connect.SyncServiceClient
	hc      *http.Client
	url     string
	token   string
	timeout time.Duration
}

func (p *rawPuller) Pull(ctx context.Context, req *connect.Request[fieldsyncv1.PullRequest]) (*connect.Response[fieldsyncv1.PullResponse], error) {
	if p.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	hreq, err := p.request(ctx, req)
	if err != nil {
		return nil, err
	}
	res, err := p.hc.Do(hreq)
	if err != nil {
		return nil, callError(ctx, "pull", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, answerError(ctx, res)
	}
	msg := &fieldsyncv1.PullResponse{}
	if err := readAnswer(ctx, res, msg); err != nil {
		return nil, err
	}
	out := connect.NewResponse(msg)
	for k, v := range res.Header {
		if t, ok := strings.CutPrefix(k, "Trailer-"); ok {
			out.Trailer()[t] = v
		} else {
			out.Header()[k] = v
		}
	}
	return out, nil
}

// request is the HTTP request of a Pull call: what a Connect client sends.
func (p *rawPuller) request(ctx context.Context, req *connect.Request[fieldsyncv1.PullRequest]) (*http.Request, error) {
	body, err := proto.Marshal(req.Msg)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("marshal message: %w", err))
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return nil, connect.NewError(connect.CodeUnknown, err)
	}
	for k, v := range req.Header() {
		hreq.Header[k] = v
	}
	h := hreq.Header
	h.Set("Content-Type", "application/proto")
	h.Set("Connect-Protocol-Version", "1")
	h.Set("Accept-Encoding", "gzip")
	h.Set("User-Agent", rawPullUserAgent)
	if p.token != "" {
		h.Set("Authorization", "Bearer "+p.token)
	}
	if d, ok := ctx.Deadline(); ok {
		ms := max(time.Until(d).Milliseconds(), 1)
		h.Set("Connect-Timeout-Ms", strconv.FormatInt(ms, 10))
	}
	return hreq, nil
}

// rawPullUserAgent names the SDK's own calls the way Connect names its.
var rawPullUserAgent = "connect-go/fieldsync (" + runtime.Version() + ")"

// callError is the error of the SDK's own call op (its raw pull, a raw
// chunk PUT) that failed before an answer: Canceled or DeadlineExceeded
// when ctx ended, else Unavailable, not a wire error (Sync retries it as
// the network's), as a Connect client returns.
func callError(ctx context.Context, op string, err error) error {
	if ce := ctxError(ctx, op, err); ce != nil {
		return ce
	}
	return connect.NewError(connect.CodeUnavailable, fmt.Errorf("%s: %w", op, err))
}

// ctxError is Canceled or DeadlineExceeded when ctx ended, wrapping both
// ctx's error (errors.Is(err, context.Canceled) holds, as for Connect's
// calls) and err.
func ctxError(ctx context.Context, op string, err error) *connect.Error {
	cerr := ctx.Err()
	switch {
	case errors.Is(cerr, context.Canceled):
		return connect.NewError(connect.CodeCanceled, fmt.Errorf("%s: %w: %w", op, cerr, err))
	case errors.Is(cerr, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, fmt.Errorf("%s: %w: %w", op, cerr, err))
	}
	return nil
}

// errorBodyMax bounds the JSON error body read from a non-200 answer.
const errorBodyMax = 1 << 20

// answerError is the error of a non-200 answer: the server's Connect error
// (its code, message, details and headers), or for any other body (a
// proxy's page) an error of the code Connect derives from the HTTP status,
// not a wire error.
func answerError(ctx context.Context, res *http.Response) error {
	fallback := connect.NewError(httpCode(res.StatusCode), errors.New(res.Status))
	ct := res.Header.Get("Content-Type")
	if ct != "application/json" && ct != "application/json; charset=utf-8" {
		return fallback
	}
	data, err := readErrorBody(ctx, res, errorBodyMax)
	if err == nil && isGzip(res.Header) {
		data, err = inflate(data, errorBodyMax)
	}
	if err != nil {
		if connect.CodeOf(err) == connect.CodeResourceExhausted || ctx.Err() != nil {
			return err
		}
		return fallback
	}
	if ce, ok := decodeConnectError(res.Header, data); ok {
		return ce
	}
	return fallback
}

// httpCode is the code Connect gives an HTTP status without a Connect
// error (the gRPC mapping).
func httpCode(status int) connect.Code {
	switch status {
	case 400:
		return connect.CodeInternal
	case 401:
		return connect.CodeUnauthenticated
	case 403:
		return connect.CodePermissionDenied
	case 404:
		return connect.CodeUnimplemented
	case 429, 502, 503, 504:
		return connect.CodeUnavailable
	}
	return connect.CodeUnknown
}

func isGzip(h http.Header) bool { return h.Get("Content-Encoding") == "gzip" }

// readAnswer reads, inflates and decodes a 200 answer into msg.
func readAnswer(ctx context.Context, res *http.Response, msg *fieldsyncv1.PullResponse) error {
	ct := res.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/") {
		return connect.NewError(connect.CodeUnknown, fmt.Errorf("invalid content-type: %q; expecting \"application/proto\"", ct))
	}
	if ct != "application/proto" {
		return connect.NewError(connect.CodeInternal, fmt.Errorf("invalid content-type: %q; expecting \"application/proto\"", ct))
	}
	switch enc := res.Header.Get("Content-Encoding"); enc {
	case "", "identity", "gzip":
	default:
		return connect.NewError(connect.CodeInternal, fmt.Errorf("unknown encoding %q: accepted encodings are gzip", enc))
	}
	wire := getBuf(wireSize(res.ContentLength))
	data, err := readInto(ctx, res.Body, (*wire)[:0], maxAnswerBytes)
	*wire = data
	if err != nil {
		putBuf(wire)
		return err
	}
	if len(data) > 0 && isGzip(res.Header) {
		defer putBuf(wire)
		data, err = inflate(data, maxAnswerBytes)
		if err != nil {
			return err
		}
	} // else the page takes the wire buffer: it is not pooled
	if err := (pageCodec{}).unmarshalOwned(data, msg); err != nil {
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("unmarshal message: %w", err))
	}
	return nil
}

// wireFirstMax bounds the buffer allocated ahead from a Content-Length:
// beyond it the buffer grows as the bytes arrive, so a lying header costs
// no more memory than the bytes sent.
const wireFirstMax = 4 << 20

// wireSize is the first capacity of an answer's buffer: its
// Content-Length and one byte (to see the end without growing), else
// 64 KiB.
func wireSize(contentLength int64) int {
	if contentLength < 0 {
		return 64 << 10
	}
	return int(min(contentLength+1, wireFirstMax))
}

// inflatedSize is the first capacity of the buffer a gzipped answer
// inflates into: the gzip trailer's ISIZE (the last member's length mod
// 2³²) and one byte, trusted no further than maxAnswerBytes and than
// deflate's largest ratio (1,032 to 1) allows for the bytes received.
func inflatedSize(gz []byte) int {
	if len(gz) < 4 {
		return 0
	}
	isize := int64(binary.LittleEndian.Uint32(gz[len(gz)-4:]))
	return int(min(isize+1, maxAnswerBytes+1, 1032*int64(len(gz))+1))
}

// readErrorBody reads an answer's body, at most limit bytes.
func readErrorBody(ctx context.Context, res *http.Response, limit int) ([]byte, error) {
	return readInto(ctx, res.Body, make([]byte, 0, wireSize(min(res.ContentLength, int64(limit)))), limit)
}

// readInto appends r's bytes to buf until EOF; past limit bytes it stops
// with ResourceExhausted. A failed read is Canceled or DeadlineExceeded
// when ctx ended, else Unknown (a cut answer), as Connect's.
func readInto(ctx context.Context, r io.Reader, buf []byte, limit int) ([]byte, error) {
	buf, err := fill(r, buf, limit)
	switch {
	case err == nil:
		return buf, nil
	case errors.Is(err, errTooLarge):
		return buf, connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("message is larger than configured max %d", limit))
	}
	if ce := ctxError(ctx, "pull", err); ce != nil {
		return buf, ce
	}
	return buf, connect.NewError(connect.CodeUnknown, fmt.Errorf("read message: %w", err))
}

var errTooLarge = errors.New("answer too large")

// fill appends r's bytes to buf until EOF, growing it by doubling; it stops
// with errTooLarge once more than limit bytes arrived.
func fill(r io.Reader, buf []byte, limit int) ([]byte, error) {
	if len(buf) > limit {
		return buf, errTooLarge
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grows by doubling (or 25% when large)
			buf = buf[:len(buf):min(cap(buf), limit+1)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case len(buf) > limit:
			return buf, errTooLarge
		case err == io.EOF:
			return buf, nil
		case err != nil:
			return buf, err
		}
	}
}

// inflate inflates gz, at most limit bytes.
func inflate(gz []byte, limit int) ([]byte, error) {
	return inflateInto(make([]byte, 0, inflatedSize(gz)), gz, limit)
}

// inflateInto appends gz inflated to buf: every member, checked against
// its CRC-32 and length. Past limit bytes it stops with ResourceExhausted
// (a gzip bomb is not inflated whole); an invalid stream is
// InvalidArgument, as Connect's.
func inflateInto(buf, gz []byte, limit int) ([]byte, error) {
	zr, _ := gzipReaders.Get().(*kgzip.Reader)
	if zr == nil {
		zr = new(kgzip.Reader)
	}
	if err := zr.Reset(bytes.NewReader(gz)); err != nil {
		gzipReaders.Put(zr)
		return buf, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("get decompressor: %w", err))
	}
	buf, err := fill(zr, buf, limit)
	gzipReaders.Put(zr)
	switch {
	case errors.Is(err, errTooLarge):
		return buf, connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("message is larger than configured max %d", limit))
	case err != nil:
		return buf, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("decompress: %w", err))
	}
	return buf, nil
}

// gzipReaders are klauspost gzip readers kept for the next answer (a
// reader holds ≈ 40 KB of tables).
var gzipReaders sync.Pool

// answerBufs are the buffers gzipped answers are read into. A buffer
// is kept only up to keepBufMax: a rare huge page is not held for good.
var answerBufs sync.Pool

const keepBufMax = 8 << 20

// getBuf returns an empty buffer of capacity n at least.
func getBuf(n int) *[]byte {
	if b, ok := answerBufs.Get().(*[]byte); ok && cap(*b) >= n {
		*b = (*b)[:0]
		return b
	} // a smaller one is dropped: the pages of a sync grow

	b := make([]byte, 0, n)
	return &b
}

func putBuf(b *[]byte) {
	if cap(*b) <= keepBufMax {
		answerBufs.Put(b)
	}
}
