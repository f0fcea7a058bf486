package fieldsync

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// newMediaClient builds the MediaService client of a configuration, with
// the same HTTP client, token, timeout and protocol as the sync client;
// with the Connect protocol its PutChunk calls go on the server's raw
// chunk route (mediaService).
func newMediaClient(cfg *config) fieldsyncv1connect.MediaServiceClient {
	hc, opts := clientSetup(cfg)
	c := fieldsyncv1connect.NewMediaServiceClient(hc, cfg.server, opts...)
	if cfg.protocol != ProtocolConnect {
		return c // gRPC is chosen for proxies that may pass nothing else
	}
	return &mediaService{MediaServiceClient: c, hc: hc, server: strings.TrimRight(cfg.server, "/"),
		token: cfg.token, timeout: cfg.requestTimeout, now: cfg.now}
}

// wireCode returns the code of an error the server sent; 0 for nil and for
// errors the client made up (a dropped connection, a timeout, ctx ending).
func wireCode(err error) connect.Code {
	var ce *connect.Error
	if !errors.As(err, &ce) || !connect.IsWireError(err) {
		return 0
	}
	return ce.Code()
}

// uploadOffset returns the UploadOffset detail of a server error: the
// offset the server's upload continues at.
func uploadOffset(err error) (int64, bool) {
	var ce *connect.Error
	if !errors.As(err, &ce) || !connect.IsWireError(err) {
		return 0, false
	}
	for _, d := range ce.Details() {
		if v, derr := d.Value(); derr == nil {
			if o, ok := v.(*fieldsyncv1.UploadOffset); ok {
				return o.GetOffset(), true
			}
		}
	}
	return 0, false
}

// photoStatePuller is the sync client with the photo states of every
// pulled record stored (record_photos) as each page arrives, before the
// page itself is applied. A page that fails to apply is pulled again, so
// states stored ahead of their record are overwritten then.
type photoStatePuller struct {
	fieldsyncv1connect.SyncServiceClient
	db *store
}

func (p photoStatePuller) Pull(ctx context.Context, req *connect.Request[fieldsyncv1.PullRequest]) (*connect.Response[fieldsyncv1.PullResponse], error) {
	res, err := p.SyncServiceClient.Pull(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := storePhotoStates(ctx, p.db, res.Msg.GetRecords()); err != nil {
		return nil, fmt.Errorf("store photo states: %w", err)
	}
	return res, nil
}

// storePhotoStates replaces the stored photo states of the pulled records.
// Pages without photos skip the write while nothing is stored.
func storePhotoStates(ctx context.Context, db *store, recs []*fieldsyncv1.Record) error {
	if !anyPhotos(recs) {
		var stored bool
		if err := db.read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM record_photos)`).Scan(&stored); err != nil || !stored {
			return err
		}
	}
	return db.update(ctx, func(tx *sql.Tx) error {
		for _, r := range recs {
			if _, err := tx.ExecContext(ctx, `DELETE FROM record_photos WHERE record_id = ?`, r.GetId()); err != nil {
				return err
			}
			for _, ph := range r.GetPhotos() {
				_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO record_photos (record_id, sha256, available) VALUES (?, ?, ?)`,
					r.GetId(), ph.GetSha256(), ph.GetState() == fieldsyncv1.PhotoState_PHOTO_STATE_AVAILABLE)
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func anyPhotos(recs []*fieldsyncv1.Record) bool {
	for _, r := range recs {
		if len(r.GetPhotos()) > 0 {
			return true
		}
	}
	return false
}

// The server's raw chunk route (server/chunkput.go): PutChunk's chunk as
// the whole body of a PUT, without the protobuf envelope.
const (
	chunkPutPath = "/photos/v1/uploads/"
	crc32cHeader = "Fieldsync-Crc32c"
	offsetHeader = "Fieldsync-Offset"
	// rawRetryAfter is how long a client whose server lacks the raw route
	// sends chunks as PutChunk calls before trying the route again (the
	// server may have been upgraded meanwhile).
	rawRetryAfter = time.Hour
)

// mediaService is the MediaService client with PutChunk sent on the raw
// chunk route when the protocol is Connect: the chunk's bytes are the
// request body as they are, not copied into a protobuf message and out
// again on the server. A server without the route (it answers 404, 405 or
// 501 without a Connect error, or 200 without the offset header, as a host
// answering every path with its page) gets PutChunk calls for rawRetryAfter. Answers
// and errors are PutChunk's: the same codes, details and metadata.
type mediaService struct {
	fieldsyncv1connect.MediaServiceClient
	hc      *http.Client
	server  string
	token   string
	timeout time.Duration
	now     func() time.Time
	rawOff  atomic.Int64 // unix nanoseconds until which chunks go as PutChunk calls
}

func (m *mediaService) PutChunk(ctx context.Context, req *connect.Request[fieldsyncv1.PutChunkRequest]) (*connect.Response[fieldsyncv1.PutChunkResponse], error) {
	if m.now().UnixNano() < m.rawOff.Load() {
		return m.MediaServiceClient.PutChunk(ctx, req)
	}
	res, err := m.putRaw(ctx, req.Msg)
	if errors.Is(err, errNoRawRoute) {
		m.rawOff.Store(m.now().Add(rawRetryAfter).UnixNano())
		return m.MediaServiceClient.PutChunk(ctx, req)
	}
	return res, err
}

// errNoRawRoute: the server has no raw chunk route.
var errNoRawRoute = errors.New("the server has no raw chunk route")

// putRaw sends one chunk on the raw chunk route.
func (m *mediaService) putRaw(ctx context.Context, pc *fieldsyncv1.PutChunkRequest) (*connect.Response[fieldsyncv1.PutChunkResponse], error) {
	if m.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.timeout)
		defer cancel()
	}
	body := newChunkBody(pc.GetData())
	defer body.finish()
	u := m.server + chunkPutPath + url.PathEscape(pc.GetUploadId()) + "?offset=" + strconv.FormatInt(pc.GetOffset(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, body)
	if err != nil {
		return nil, fmt.Errorf("put chunk: %w", err)
	}
	req.ContentLength = int64(len(pc.GetData()))
	req.GetBody = func() (io.ReadCloser, error) { return body.again(), nil }
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set(crc32cHeader, strconv.FormatUint(uint64(pc.GetCrc32C()), 10))
	if m.token != "" {
		req.Header.Set("Authorization", "Bearer "+m.token)
	}
	res, err := m.hc.Do(req)
	if err != nil {
		return nil, callError(ctx, "put chunk", err)
	}
	defer res.Body.Close()
	// Answers are small: an offset, or an error with its details.
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		return nil, callError(ctx, "put chunk", err)
	}
	if res.StatusCode == http.StatusOK {
		// Without the offset it is not the route's answer but a page a
		// host answers every path with: no route. (Were it the server's
		// answer stripped of its header, PutChunk's answer to the same
		// chunk says where the upload stands.)
		off, err := strconv.ParseInt(res.Header.Get(offsetHeader), 10, 64)
		if err != nil {
			return nil, errNoRawRoute
		}
		return connect.NewResponse(&fieldsyncv1.PutChunkResponse{Offset: off}), nil
	}
	ce, ok := decodeConnectError(res.Header, data)
	switch {
	case ok:
		return nil, ce
	case res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusMethodNotAllowed || res.StatusCode == http.StatusNotImplemented:
		return nil, errNoRawRoute
	}
	// Not the server's answer (a proxy's page): the server was not
	// reached, as for a network failure.
	return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("put chunk: %s without a Connect error", res.Status))
}

// decodeConnectError reads Connect's JSON error body ({"code":...,
// "message":..., "details":[{"type":...,"value":...}]}) into the error a
// Connect client returns for it, with the answer's headers as metadata
// (Retry-After). It reports false for any other body.
func decodeConnectError(h http.Header, body []byte) (*connect.Error, bool) {
	var wire struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details []struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"details"`
	}
	if err := json.Unmarshal(body, &wire); err != nil || wire.Code == "" {
		return nil, false
	}
	var code connect.Code
	if err := code.UnmarshalText([]byte(wire.Code)); err != nil {
		return nil, false
	}
	ce := connect.NewWireError(code, errors.New(wire.Message))
	for _, d := range wire.Details {
		raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(d.Value, "="))
		if err != nil {
			continue
		}
		msg, err := anypb.UnmarshalNew(&anypb.Any{TypeUrl: "type.googleapis.com/" + d.Type, Value: raw}, proto.UnmarshalOptions{})
		if err != nil {
			continue // a detail of a type this client does not know
		}
		if detail, err := connect.NewErrorDetail(msg); err == nil {
			ce.AddDetail(detail)
		}
	}
	for k, v := range h {
		ce.Meta()[k] = v
	}
	return ce, true
}

// chunkBody is a request body over a chunk's buffer that stops reading it
// once finish is called: the HTTP transport may still read a body after
// the call returned (an answer before the whole body was sent), and the
// buffer then holds the next chunk.
type chunkBody struct {
	state *chunkBodyState
	r     *bytes.Reader
}

type chunkBodyState struct {
	mu   sync.Mutex
	data []byte
	done bool
}

func newChunkBody(data []byte) *chunkBody {
	return &chunkBody{state: &chunkBodyState{data: data}, r: bytes.NewReader(data)}
}

// again returns a new body over the same chunk (a request sent again).
func (b *chunkBody) again() io.ReadCloser {
	return &chunkBody{state: b.state, r: bytes.NewReader(b.state.data)}
}

func (b *chunkBody) Read(p []byte) (int, error) {
	b.state.mu.Lock()
	defer b.state.mu.Unlock()
	if b.state.done {
		return 0, errBodyDone
	}
	return b.r.Read(p)
}

func (b *chunkBody) Close() error { return nil }

// finish ends every read of the chunk's buffer.
func (b *chunkBody) finish() {
	b.state.mu.Lock()
	b.state.done = true
	b.state.mu.Unlock()
}

var errBodyDone = errors.New("the chunk's call has ended")
