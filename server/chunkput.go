package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"connectrpc.com/connect"
)

// The raw chunk route: the chunk's bytes as the whole body of
//
//	PUT /photos/v1/uploads/{upload_id}?offset=N
//	Authorization: Bearer <device token>
//	Content-Length: <the chunk's size>
//	Fieldsync-Crc32c: <the chunk's CRC32C, decimal>
//
// It is MediaService.PutChunk without the protobuf envelope: neither side
// encodes, decodes or copies the bytes (the server reads them straight
// into a pooled buffer), and everything else is PutChunk's: the same
// authentication, rate limit and calls-in-progress cap as every RPC, the
// same photo service call (its tenant and owner checks, limits and
// resumability), the same errors. A success answers 200 with the upload's
// new offset in the Fieldsync-Offset header and as PutChunkResponse's JSON
// body ({"offset":"N"}); an error is Connect's JSON error body
// ({"code":"aborted","message":...,"details":[...]}) with Connect's HTTP
// status for the code, so a client maps both exactly as PutChunk's.
const (
	chunkPutPattern = "PUT " + ChunkPutPath + "{id}"
	// ChunkPutPath is the path of the raw chunk route up to the upload id.
	ChunkPutPath = "/photos/v1/uploads/"
	// CRC32CHeader carries the chunk's CRC32C (Castagnoli) in decimal, as
	// PutChunkRequest.crc32c.
	CRC32CHeader = "Fieldsync-Crc32c"
	// OffsetHeader carries the upload's offset after the chunk in a
	// success answer, as PutChunkResponse.offset.
	OffsetHeader = "Fieldsync-Offset"
	// MaxChunkBytes is the largest chunk, as PutChunkRequest.data's max_len.
	MaxChunkBytes = 4 << 20
)

// chunkPutProcedure names the route in metrics and rate-limit logs.
const chunkPutProcedure = "PUT " + ChunkPutPath

// chunkPut serves the raw chunk route.
type chunkPut struct {
	cfg     *Config
	auth    *authInterceptor
	metrics *metrics
	ew      *connect.ErrorWriter
}

func newChunkPut(cfg *Config, auth *authInterceptor, m *metrics) *chunkPut {
	return &chunkPut{cfg: cfg, auth: auth, metrics: m, ew: connect.NewErrorWriter()}
}

func (h *chunkPut) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	// Answers name uploads and offsets: no cache may keep them.
	w.Header().Set("Cache-Control", "no-store")
	if h.cfg.Activity != nil {
		defer h.cfg.Activity.Enter()()
	}
	status, err := h.serve(w, r)
	if h.metrics != nil {
		h.metrics.observe(chunkPutProcedure, start, err)
	}
	if err == nil {
		return
	}
	err = clipError(toConnect(r.Context(), h.cfg.Logger, err))
	if status != 0 {
		writeErrorStatus(w, status, err, h.cfg.Logger)
		return
	}
	_ = h.ew.Write(w, r, err) // Connect's JSON error and HTTP status: a PUT is no other protocol
}

// serve handles one chunk: authenticate and count the caller, check the
// request, read the body and hand it to the photo service. It returns the
// error to answer and, when Connect's status for its code would not say
// it (a missing Content-Length), the HTTP status to answer it with.
func (h *chunkPut) serve(w http.ResponseWriter, r *http.Request) (int, error) {
	// The caller first, as for every RPC (authFirst): a caller without a
	// valid token costs no more than its header, and learns nothing about
	// upload ids.
	ctx, err := h.auth.authenticate(r.Context(), chunkPutProcedure, r.Header, r.RemoteAddr)
	if err != nil {
		return 0, err
	}
	leave, err := h.auth.inFlight.enter(callerKey(ctx, r.RemoteAddr))
	if err != nil {
		return 0, err
	}
	defer leave()
	p, err := caller(ctx)
	if err != nil {
		return 0, err
	}
	req, status, err := parseChunkPut(r.PathValue("id"), r.URL.RawQuery, r.Header.Values(CRC32CHeader), r.ContentLength)
	if err != nil {
		return status, err
	}
	buf := getChunkBuf(int(req.size))
	data := (*buf)[:req.size]
	// Never more than declared (the server's own framing stops there
	// already; this holds whatever the transport).
	if err := readChunk(http.MaxBytesReader(w, r.Body, req.size), data); err != nil {
		putChunkBuf(buf)
		return 0, err
	}
	off, err := h.cfg.Media.PutChunkThen(ctx, p, req.id, req.offset, data, req.crc32c, func() { putChunkBuf(buf) })
	if err != nil {
		return 0, err
	}
	w.Header().Set(OffsetHeader, strconv.FormatInt(off, 10))
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"offset":"%d"}`, off) // PutChunkResponse in protojson
	return 0, nil
}

// chunkPutRequest is a raw chunk's request, parsed.
type chunkPutRequest struct {
	id     string
	offset int64
	crc32c uint32
	size   int64
}

// parseChunkPut checks a raw chunk's request line and headers (its upload
// id, raw query, CRC32C header values and Content-Length, -1 when
// unknown) before any byte of the body is read. It returns
// InvalidArgument errors, with http.StatusLengthRequired as status when
// the length is unknown.
func parseChunkPut(id, rawQuery string, crcs []string, contentLength int64) (chunkPutRequest, int, error) {
	invalid := func(format string, args ...any) (chunkPutRequest, int, error) {
		return chunkPutRequest{}, 0, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf(format, args...))
	}
	switch {
	case contentLength < 0:
		return chunkPutRequest{}, http.StatusLengthRequired, connect.NewError(connect.CodeInvalidArgument,
			errors.New("a chunk needs a Content-Length header (its size in bytes; chunked bodies are refused)"))
	case contentLength == 0:
		return invalid("data: a chunk needs at least one byte")
	case contentLength > MaxChunkBytes:
		return invalid("a chunk of %d bytes is over the %d bytes one chunk may hold", contentLength, MaxChunkBytes)
	case id == "":
		return invalid("upload_id: the path needs an upload id")
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return invalid("malformed query string")
	}
	offsets := q["offset"]
	if len(offsets) != 1 {
		return invalid("offset: the query needs exactly one offset=N")
	}
	offset, ok := decimal(offsets[0], 63)
	if !ok {
		return invalid("offset: want a decimal number of bytes from 0")
	}
	if len(crcs) != 1 {
		return invalid("%s: the request needs exactly one such header", CRC32CHeader)
	}
	crc, ok := decimal(crcs[0], 32)
	if !ok {
		return invalid("%s: want the chunk's CRC32C as a decimal number", CRC32CHeader)
	}
	return chunkPutRequest{id: id, offset: int64(offset), crc32c: uint32(crc), size: contentLength}, 0, nil
}

// decimal parses digits only (no sign, no spaces) into a number of at
// most bits bits.
func decimal(s string, bits int) (uint64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, bits)
	return n, err == nil
}

// readChunk fills data from body: a body that ends sooner is refused.
func readChunk(body io.Reader, data []byte) error {
	n, err := io.ReadFull(body, data)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("the body ended after %d of its %d bytes", n, len(data)))
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return err
	}
	// The connection failed or its read deadline passed: the caller is
	// most likely gone, and nothing was written.
	return connect.NewError(connect.CodeCanceled, fmt.Errorf("the body stopped after %d of its %d bytes", n, len(data)))
}

// writeErrorStatus answers a Connect error as Connect's JSON error body
// with the given HTTP status instead of the code's.
func writeErrorStatus(w http.ResponseWriter, status int, err error, log *slog.Logger) {
	body, merr := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message,omitempty"`
	}{connect.CodeOf(err).String(), connectMessage(err)})
	if merr != nil {
		log.Error("marshal error answer", "err", merr)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// connectMessage is the message of a Connect error without its code prefix.
func connectMessage(err error) string {
	if ce, ok := errors.AsType[*connect.Error](err); ok {
		return ce.Message()
	}
	return err.Error()
}

// Chunk buffers are pooled by size class, powers of two from
// minChunkBuf to MaxChunkBytes, so the usual chunk sizes (256 KiB to
// 4 MiB) each reuse buffers of their own size.
const minChunkBuf = 64 << 10

var chunkBufs [7]sync.Pool // minChunkBuf << i

func chunkClass(n int) int {
	i := 0
	for minChunkBuf<<i < n {
		i++
	}
	return i
}

// getChunkBuf returns a buffer of at least n (≤ MaxChunkBytes) bytes.
func getChunkBuf(n int) *[]byte {
	i := chunkClass(n)
	if b, ok := chunkBufs[i].Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, minChunkBuf<<i)
	return &b
}

// putChunkBuf gives back a buffer from getChunkBuf.
func putChunkBuf(b *[]byte) { chunkBufs[chunkClass(cap(*b))].Put(b) }
