package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/photos/photostest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/server"
)

// rawAnswer is an answer of the raw chunk route.
type rawAnswer struct {
	status int
	header http.Header
	code   string // Connect's code of an error answer ("" on success)
	msg    string
	offset int64 // the UploadOffset detail of an error, else the new offset
	body   []byte
}

// rawChunk is one request of the raw chunk route; zero fields take the
// defaults of a well-formed chunk.
type rawChunk struct {
	token    string // "-" for none
	id       string
	query    string // "offset=N" from off unless set
	off      int64
	data     []byte
	crc      string // the CRC32C of data unless set; "-" for no header
	length   int64  // Content-Length: len(data) unless set; -1 for none
	method   string
	override io.Reader // the body sent instead of data
}

func (c rawChunk) request(t *testing.T, base string) *http.Request {
	t.Helper()
	q := c.query
	if q == "" {
		q = "offset=" + strconv.FormatInt(c.off, 10)
	}
	var body io.Reader = bytes.NewReader(c.data)
	if c.override != nil {
		body = c.override
	}
	method := c.method
	if method == "" {
		method = http.MethodPut
	}
	req, err := http.NewRequest(method, base+server.ChunkPutPath+c.id+"?"+q, body)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case c.length == -1:
		req.ContentLength = -1
		req.Body = io.NopCloser(body) // unknown length: sent chunked (HTTP/1.1) or without the header (HTTP/2)
	case c.length > 0:
		req.ContentLength = c.length
	default:
		req.ContentLength = int64(len(c.data))
	}
	if c.token != "-" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	switch c.crc {
	case "":
		req.Header.Set(server.CRC32CHeader, strconv.FormatUint(uint64(photos.CRC32C(c.data)), 10))
	case "-":
	default:
		req.Header.Set(server.CRC32CHeader, c.crc)
	}
	return req
}

// put sends c over HTTP to the test server.
func (m *mediaServer) put(c rawChunk) rawAnswer {
	m.t.Helper()
	res, err := m.srv.Client().Do(c.request(m.t, m.srv.URL))
	if err != nil {
		m.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		m.t.Fatal(err)
	}
	return readRawAnswer(m.t, res.StatusCode, res.Header, body)
}

// serve sends c to the server's handler in process (the body is the
// request's own reader, not a connection's).
func (m *mediaServer) serve(c rawChunk) rawAnswer {
	m.t.Helper()
	rec := httptest.NewRecorder()
	m.srv.Config.Handler.ServeHTTP(rec, c.request(m.t, "http://fieldsync.test"))
	return readRawAnswer(m.t, rec.Code, rec.Header(), rec.Body.Bytes())
}

func readRawAnswer(t *testing.T, status int, h http.Header, body []byte) rawAnswer {
	t.Helper()
	a := rawAnswer{status: status, header: h, body: body}
	if status == http.StatusOK {
		var ok struct {
			Offset string `json:"offset"`
		}
		if err := json.Unmarshal(body, &ok); err != nil {
			t.Fatalf("success body %q: %v", body, err)
		}
		a.offset, _ = strconv.ParseInt(ok.Offset, 10, 64)
		if h.Get(server.OffsetHeader) != ok.Offset {
			t.Fatalf("offset header %q, body %q", h.Get(server.OffsetHeader), body)
		}
		return a
	}
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details []struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"details"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Code == "" {
		t.Fatalf("status %d: body %q is not a Connect error (%v)", status, body, err)
	}
	a.code, a.msg = e.Code, e.Message
	for _, d := range e.Details {
		if d.Type != "fieldsync.v1.UploadOffset" {
			continue
		}
		raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(d.Value, "="))
		var uo fieldsyncv1.UploadOffset
		if err != nil || proto.Unmarshal(raw, &uo) != nil {
			t.Fatalf("UploadOffset detail %q: %v", d.Value, err)
		}
		a.offset = uo.Offset
	}
	return a
}

func (a rawAnswer) want(t *testing.T, status int, code connect.Code) {
	t.Helper()
	wantCodeName := ""
	if code != 0 {
		wantCodeName = code.String()
	}
	if a.status != status || a.code != wantCodeName {
		t.Fatalf("answer %d %q (%s), want %d %q", a.status, a.code, a.body, status, wantCodeName)
	}
	if got := a.header.Get("Cache-Control"); got != "no-store" {
		t.Fatalf("Cache-Control %q, want no-store", got)
	}
}

func TestChunkPutUploadsAPhotoAndResumes(t *testing.T) {
	t.Parallel()
	m := newMediaServer(t)
	c := m.client("rep", false, nil)
	token := m.token("rep")
	data := photostest.JPEG(300_000, 51)
	u := create(t, c, data)
	for off := int64(0); off < 100_000; {
		a := m.put(rawChunk{token: token, id: u.UploadId, off: off, data: data[off : off+50_000]})
		a.want(t, http.StatusOK, 0)
		if a.offset != off+50_000 || a.header.Get("Content-Type") != "application/json" {
			t.Fatalf("chunk at %d: offset %d, header %v", off, a.offset, a.header)
		}
		off = a.offset
	}
	// The answer to the last chunk was lost: the device resends it and
	// learns where the upload continues, as from PutChunk.
	a := m.put(rawChunk{token: token, id: u.UploadId, off: 50_000, data: data[50_000:100_000]})
	a.want(t, http.StatusConflict, connect.CodeAborted)
	if a.offset != 100_000 {
		t.Fatalf("resent chunk: UploadOffset %d, want 100000", a.offset)
	}
	// After a restart of the device it asks (GetUpload) and goes on, the
	// two routes mixed.
	got, err := c.GetUpload(context.Background(), connect.NewRequest(&fieldsyncv1.GetUploadRequest{UploadId: u.UploadId}))
	if err != nil || got.Msg.Upload.Offset != 100_000 {
		t.Fatalf("GetUpload = %v, %v", got, err)
	}
	sendAll(t, c, u.UploadId, data[:200_000], 100_000, 100_000)
	a = m.put(rawChunk{token: token, id: u.UploadId, off: 200_000, data: data[200_000:]})
	a.want(t, http.StatusOK, 0)
	if done := complete(t, c, u.UploadId); done.Photo.Sha256 != photostest.Key(data) {
		t.Fatalf("completed %v", done)
	}
	// A complete upload takes no more chunks.
	m.put(rawChunk{token: token, id: u.UploadId, off: 0, data: data[:10]}).want(t, http.StatusBadRequest, connect.CodeFailedPrecondition)
}

// TestChunkPutAnswersAsPutChunk sends the same refused chunks through
// PutChunk and the raw route: each gets the same Connect code, the raw
// one with Connect's HTTP status for it.
func TestChunkPutAnswersAsPutChunk(t *testing.T) {
	t.Parallel()
	m := newMediaServer(t)
	ctx := context.Background()
	rep := m.token("rep")
	data := photostest.JPEG(20_000, 52)
	u := create(t, m.client("rep", false, nil), data)
	sendAll(t, m.client("rep", false, nil), u.UploadId, data[:1000], 0, 1000)
	otherTenant := m.otherTenantDevice()

	cases := []struct {
		name   string
		token  string
		id     string
		off    int64
		data   []byte
		crc    uint32
		status int
		code   connect.Code
	}{
		{"an acknowledged chunk again", rep, u.UploadId, 0, data[:1000], photos.CRC32C(data[:1000]), http.StatusConflict, connect.CodeAborted},
		{"a chunk past the offset", rep, u.UploadId, 5000, data[5000:6000], photos.CRC32C(data[5000:6000]), http.StatusConflict, connect.CodeAborted},
		{"a wrong CRC32C", rep, u.UploadId, 1000, data[1000:2000], 1, http.StatusInternalServerError, connect.CodeDataLoss},
		{"a chunk past the photo's end", rep, u.UploadId, 1000, make([]byte, 20_000), photos.CRC32C(make([]byte, 20_000)), http.StatusBadRequest, connect.CodeInvalidArgument},
		{"another device's upload", m.token("rep2"), u.UploadId, 1000, data[1000:2000], photos.CRC32C(data[1000:2000]), http.StatusNotFound, connect.CodeNotFound},
		{"another tenant's device", otherTenant, u.UploadId, 1000, data[1000:2000], photos.CRC32C(data[1000:2000]), http.StatusNotFound, connect.CodeNotFound},
		{"a guessed id", rep, "01J00000000000000000000000", 0, data[:1000], photos.CRC32C(data[:1000]), http.StatusNotFound, connect.CodeNotFound},
		{"an invalid token", "fsd_not-a-token", u.UploadId, 1000, data[1000:2000], photos.CRC32C(data[1000:2000]), http.StatusUnauthorized, connect.CodeUnauthenticated},
	}
	for _, tc := range cases {
		_, err := m.clientWithToken(tc.token).PutChunk(ctx, connect.NewRequest(&fieldsyncv1.PutChunkRequest{
			UploadId: tc.id, Offset: tc.off, Data: tc.data, Crc32C: tc.crc,
		}))
		if connect.CodeOf(err) != tc.code {
			t.Fatalf("%s: PutChunk = %v, want %v", tc.name, err, tc.code)
		}
		a := m.put(rawChunk{token: tc.token, id: tc.id, off: tc.off, data: tc.data, crc: strconv.FormatUint(uint64(tc.crc), 10)})
		a.want(t, tc.status, tc.code)
		if tc.code == connect.CodeAborted && a.offset != offsetDetail(t, err) {
			t.Fatalf("%s: raw UploadOffset %d, PutChunk's %d", tc.name, a.offset, offsetDetail(t, err))
		}
	}
	m.put(rawChunk{token: "-", id: u.UploadId, off: 1000, data: data[1000:2000]}).want(t, http.StatusUnauthorized, connect.CodeUnauthenticated)
	// Nothing refused was written.
	got, err := m.client("rep", false, nil).GetUpload(ctx, connect.NewRequest(&fieldsyncv1.GetUploadRequest{UploadId: u.UploadId}))
	if err != nil || got.Msg.Upload.Offset != 1000 {
		t.Fatalf("GetUpload = %v, %v; want offset 1000", got, err)
	}
}

// TestChunkPutRefusesMalformedRequests covers what only the raw route has:
// its length, query and header, checked before the body is read.
func TestChunkPutRefusesMalformedRequests(t *testing.T) {
	t.Parallel()
	m := newMediaServer(t)
	rep := m.token("rep")
	data := photostest.JPEG(20_000, 53)
	u := create(t, m.client("rep", false, nil), data)
	chunk := data[:1000]
	neverRead := func() io.Reader {
		return readerFunc(func([]byte) (int, error) { t.Error("the body was read"); return 0, io.EOF })
	}

	m.put(rawChunk{token: rep, id: u.UploadId, data: chunk, length: -1}).want(t, http.StatusLengthRequired, connect.CodeInvalidArgument)
	m.serve(rawChunk{token: rep, id: u.UploadId, data: chunk, length: server.MaxChunkBytes + 1, override: neverRead()}).
		want(t, http.StatusBadRequest, connect.CodeInvalidArgument)
	for _, q := range []string{"offset=-1", "offset=%2B0", "offset=1&offset=1", "offset= 0", "offset=9223372036854775808", "off=0", "offset=0x0", "offset=%zz"} {
		m.serve(rawChunk{token: rep, id: u.UploadId, query: q, data: chunk, override: neverRead()}).want(t, http.StatusBadRequest, connect.CodeInvalidArgument)
	}
	for _, crc := range []string{"-", "4294967296", "-1", "0x1", "abc"} {
		m.serve(rawChunk{token: rep, id: u.UploadId, data: chunk, crc: crc, override: neverRead()}).want(t, http.StatusBadRequest, connect.CodeInvalidArgument)
	}
	// Without a valid token nothing about the request is looked at.
	m.serve(rawChunk{token: "-", id: u.UploadId, data: chunk, length: -1, override: neverRead()}).want(t, http.StatusUnauthorized, connect.CodeUnauthenticated)
	m.serve(rawChunk{token: "nope", id: u.UploadId, data: chunk, length: server.MaxChunkBytes + 1, override: neverRead()}).want(t, http.StatusUnauthorized, connect.CodeUnauthenticated)

	// A body shorter than declared is refused, nothing written.
	m.serve(rawChunk{token: rep, id: u.UploadId, data: chunk, length: 2000}).want(t, http.StatusBadRequest, connect.CodeInvalidArgument)
	// A body longer than declared: only the declared bytes are read, so a
	// CRC32C of the whole body does not match them...
	m.serve(rawChunk{token: rep, id: u.UploadId, data: data[:2000], length: 1000, crc: strconv.FormatUint(uint64(photos.CRC32C(data[:2000])), 10)}).
		want(t, http.StatusInternalServerError, connect.CodeDataLoss)
	// ...and with theirs the declared bytes are the chunk.
	a := m.serve(rawChunk{token: rep, id: u.UploadId, data: data[:2000], length: 1000, crc: strconv.FormatUint(uint64(photos.CRC32C(chunk)), 10)})
	a.want(t, http.StatusOK, 0)
	if a.offset != 1000 {
		t.Fatalf("longer body: offset %d, want 1000", a.offset)
	}

	// The route takes PUT only; other paths under it are not found.
	req := rawChunk{token: rep, id: u.UploadId, data: chunk, method: http.MethodPost}.request(t, m.srv.URL)
	if res, err := m.srv.Client().Do(req); err != nil || res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST = %v, %v; want 405", res, err)
	}
	rec := httptest.NewRecorder()
	m.srv.Config.Handler.ServeHTTP(rec, rawChunk{token: rep, id: u.UploadId + "/x", off: 1000, data: chunk}.request(t, "http://fieldsync.test"))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("PUT under an upload's path = %d, want 404", rec.Code)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestChunkPutCountsAgainstTheCallersRate: raw chunks spend the caller's
// rate limit as PutChunk calls do, and a throttled caller gets
// ResourceExhausted with Retry-After.
func TestChunkPutCountsAgainstTheCallersRate(t *testing.T) {
	t.Parallel()
	m := newMediaServerWith(t, func(c *server.Config) {
		c.Limits = &server.Limits{Rate: 0.001, Burst: 3}
	})
	rep := m.token("rep")
	data := photostest.JPEG(20_000, 54)
	u := create(t, m.client("rep", false, nil), data) // 1 of 3
	m.put(rawChunk{token: rep, id: u.UploadId, data: data[:1000]}).want(t, http.StatusOK, 0)
	m.put(rawChunk{token: rep, id: u.UploadId, off: 1000, data: data[1000:2000]}).want(t, http.StatusOK, 0)
	a := m.put(rawChunk{token: rep, id: u.UploadId, off: 2000, data: data[2000:3000]})
	a.want(t, http.StatusTooManyRequests, connect.CodeResourceExhausted)
	if a.header.Get("Retry-After") == "" {
		t.Fatalf("throttled answer without Retry-After: %v", a.header)
	}
}

// clientWithToken is a MediaService client sending token.
func (m *mediaServer) clientWithToken(token string) fieldsyncv1connect.MediaServiceClient {
	return fieldsyncv1connect.NewMediaServiceClient(m.srv.Client(), m.srv.URL, connect.WithInterceptors(bearer(token)))
}

// otherTenantDevice returns the device token of the admin of a new tenant.
func (m *mediaServer) otherTenantDevice() string {
	m.t.Helper()
	ctx := context.Background()
	b, err := m.db.CreateTenantWithAdmin(ctx, fmt.Sprintf("Other %d", time.Now().UnixNano()), "Ada", time.Hour)
	if err != nil {
		m.t.Fatal(err)
	}
	_, token, err := m.db.Enroll(ctx, b.EnrollmentCode, "phone", "test")
	if err != nil {
		m.t.Fatal(err)
	}
	return token
}
