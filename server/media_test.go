package server_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/fieldsync/fieldsync/internal/demo"
	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/photos/photostest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/storage/media"
	"github.com/fieldsync/fieldsync/storage/media/local"
	"github.com/fieldsync/fieldsync/storage/sqlite"
	"github.com/fieldsync/fieldsync/syncengine"
)

// mediaServer is the server with the media service over a real photo
// service (SQLite, local folder) on an HTTP/2-capable test server.
type mediaServer struct {
	t     *testing.T
	srv   *httptest.Server
	db    *sqlite.DB
	creds *demo.Credentials
	store media.Store
}

func newMediaServer(t *testing.T) *mediaServer { return newMediaServerWith(t, nil) }

// newMediaServerWith is newMediaServer with its server config changed by
// with, when set.
func newMediaServerWith(t *testing.T, with func(*server.Config)) *mediaServer {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "fs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	creds, err := demo.Seed(ctx, db, filepath.Join(dir, "creds.json"))
	if err != nil {
		t.Fatal(err)
	}
	engine, err := syncengine.New(syncengine.Config{Store: db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(engine.Close)
	store, err := local.New(filepath.Join(dir, "photos"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := media.NewURLSigner(make([]byte, media.MinSecretSize))
	if err != nil {
		t.Fatal(err)
	}
	m := &mediaServer{t: t, db: db, creds: creds, store: store}
	svc, err := photos.New(photos.Config{
		Store: db, Objects: store, Records: engine, StagingDir: filepath.Join(dir, "uploads"), MaxBytes: 1 << 20,
		Links: photos.SignedLinks{Signer: signer, Base: func() string { return m.srv.URL }},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Before the staging folder goes: no flush timer fires into it afterwards.
	t.Cleanup(func() { svc.Shutdown(context.Background()) })
	cfg := server.Config{Auth: db, Identity: db, Sync: engine, Media: svc,
		Extra: map[string]http.Handler{media.PathPrefix: media.NewHandler(store, signer)}}
	if with != nil {
		with(&cfg)
	}
	h, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.srv = httptest.NewUnstartedServer(h)
	m.srv.EnableHTTP2 = true
	m.srv.StartTLS()
	t.Cleanup(m.srv.Close)
	return m
}

// client returns a MediaService client for a demo role's device over
// transport (the test server's own when nil), speaking gRPC when asked.
func (m *mediaServer) client(role string, grpc bool, transport http.RoundTripper) fieldsyncv1connect.MediaServiceClient {
	m.t.Helper()
	token := ""
	if role != "" {
		token = m.token(role)
	}
	hc := m.srv.Client()
	if transport != nil {
		hc = &http.Client{Transport: transport}
	}
	opts := []connect.ClientOption{connect.WithInterceptors(bearer(token))}
	if grpc {
		opts = append(opts, connect.WithGRPC())
	}
	return fieldsyncv1connect.NewMediaServiceClient(hc, m.srv.URL, opts...)
}

// token returns the device token of a demo user by role, "rep2" being the
// second rep.
func (m *mediaServer) token(role string) string {
	m.t.Helper()
	want, nth := role, 1
	if role == "rep2" {
		want, nth = "rep", 2
	}
	for _, u := range m.creds.Users {
		if u.Role == want {
			if nth--; nth == 0 {
				return u.DeviceToken
			}
		}
	}
	m.t.Fatalf("no demo %s", role)
	return ""
}

func bearer(token string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if token != "" {
				req.Header().Set("Authorization", "Bearer "+token)
			}
			return next(ctx, req)
		}
	}
}

func create(t *testing.T, c fieldsyncv1connect.MediaServiceClient, data []byte) *fieldsyncv1.Upload {
	t.Helper()
	res, err := c.CreateUpload(context.Background(), connect.NewRequest(&fieldsyncv1.CreateUploadRequest{
		Sha256: photostest.Key(data), SizeBytes: int64(len(data)), ContentType: "image/jpeg",
	}))
	if err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	return res.Msg.Upload
}

func putChunk(c fieldsyncv1connect.MediaServiceClient, id string, off int64, chunk []byte) (int64, error) {
	res, err := c.PutChunk(context.Background(), connect.NewRequest(&fieldsyncv1.PutChunkRequest{
		UploadId: id, Offset: off, Data: chunk, Crc32C: photos.CRC32C(chunk),
	}))
	if err != nil {
		return 0, err
	}
	return res.Msg.Offset, nil
}

// sendAll puts data from off in chunks of n bytes.
func sendAll(t *testing.T, c fieldsyncv1connect.MediaServiceClient, id string, data []byte, off int64, n int) {
	t.Helper()
	for off < int64(len(data)) {
		next, err := putChunk(c, id, off, data[off:min(off+int64(n), int64(len(data)))])
		if err != nil {
			t.Fatalf("PutChunk at %d: %v", off, err)
		}
		off = next
	}
}

func complete(t *testing.T, c fieldsyncv1connect.MediaServiceClient, id string) *fieldsyncv1.CompleteUploadResponse {
	t.Helper()
	res, err := c.CompleteUpload(context.Background(), connect.NewRequest(&fieldsyncv1.CompleteUploadRequest{UploadId: id}))
	if err != nil {
		t.Fatalf("CompleteUpload: %v", err)
	}
	return res.Msg
}

func wantCode(t *testing.T, err error, code connect.Code) {
	t.Helper()
	if got := connect.CodeOf(err); err == nil || got != code {
		t.Fatalf("err = %v (%v), want %v", err, got, code)
	}
}

func TestMediaServiceUploadsOverConnectAndGRPC(t *testing.T) {
	t.Parallel()
	m := newMediaServer(t)
	for i, grpc := range []bool{false, true} {
		c := m.client("rep", grpc, nil)
		data := photostest.JPEG(100_000, uint64(i))
		req := connect.NewRequest(&fieldsyncv1.CreateUploadRequest{
			Sha256: photostest.Key(data), SizeBytes: int64(len(data)), ContentType: "image/heic", RecordId: "r1", Slot: "pre_op_photo",
			DeviceHlc: 123456789,
		})
		res, err := c.CreateUpload(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		u := res.Msg.Upload
		if u.State != fieldsyncv1.UploadState_UPLOAD_STATE_IN_PROGRESS || u.ExpireTime == nil || u.Slot != "pre_op_photo" {
			t.Fatalf("grpc=%v: created %v", grpc, u)
		}
		sendAll(t, c, u.UploadId, data, 0, 32<<10)
		done := complete(t, c, u.UploadId)
		ph := done.Photo
		if done.Upload.State != fieldsyncv1.UploadState_UPLOAD_STATE_COMPLETE || ph.ContentType != "image/jpeg" ||
			ph.CaptureTime.AsTime().Format("2006-01-02T15:04:05Z") != photostest.CaptureTime || !ph.HasLocation || ph.ReceiveTime == nil {
			t.Fatalf("grpc=%v: completed %v", grpc, done)
		}
		if _, err := m.store.Stat(context.Background(), photostest.Key(data)); err != nil {
			t.Fatalf("grpc=%v: object not stored: %v", grpc, err)
		}
	}
}

func TestMediaErrorsCarryTheirConnectCodes(t *testing.T) {
	t.Parallel()
	m := newMediaServer(t)
	ctx := context.Background()
	for i, grpc := range []bool{false, true} {
		c := m.client("rep", grpc, nil)
		data := photostest.JPEG(5000, 10+uint64(i))
		u := create(t, c, data)
		sendAll(t, c, u.UploadId, data[:1000], 0, 1000)

		_, err := putChunk(c, u.UploadId, 0, data[:1000])
		wantCode(t, err, connect.CodeAborted)
		if got := offsetDetail(t, err); got != 1000 {
			t.Fatalf("grpc=%v: UploadOffset detail %d, want 1000", grpc, got)
		}
		_, err = c.PutChunk(ctx, connect.NewRequest(&fieldsyncv1.PutChunkRequest{UploadId: u.UploadId, Offset: 1000, Data: data[1000:2000], Crc32C: 1}))
		wantCode(t, err, connect.CodeDataLoss)
		_, err = c.CompleteUpload(ctx, connect.NewRequest(&fieldsyncv1.CompleteUploadRequest{UploadId: u.UploadId}))
		wantCode(t, err, connect.CodeFailedPrecondition)
		_, err = m.client("rep2", grpc, nil).GetUpload(ctx, connect.NewRequest(&fieldsyncv1.GetUploadRequest{UploadId: u.UploadId}))
		wantCode(t, err, connect.CodeNotFound)
		_, err = c.CreateUpload(ctx, connect.NewRequest(&fieldsyncv1.CreateUploadRequest{Sha256: photostest.Key([]byte("big")), SizeBytes: 2 << 20}))
		wantCode(t, err, connect.CodeResourceExhausted)
		_, err = c.CreateUpload(ctx, connect.NewRequest(&fieldsyncv1.CreateUploadRequest{Sha256: "not-a-hash", SizeBytes: 10}))
		wantCode(t, err, connect.CodeInvalidArgument)
		_, err = m.client("", grpc, nil).GetUpload(ctx, connect.NewRequest(&fieldsyncv1.GetUploadRequest{UploadId: u.UploadId}))
		wantCode(t, err, connect.CodeUnauthenticated)
		_, err = c.GetMediaURL(ctx, connect.NewRequest(&fieldsyncv1.GetMediaURLRequest{Sha256: photostest.Key(data)}))
		wantCode(t, err, connect.CodeNotFound)
	}
	c := m.client("rep", false, nil)
	req := connect.NewRequest(&fieldsyncv1.CreateUploadRequest{Sha256: "not-a-hash", SizeBytes: 1})
	_, err := c.CreateUpload(ctx, req)
	wantCode(t, err, connect.CodeInvalidArgument)
	junk := photostest.NotAnImage(3000, 1)
	u := create(t, c, junk)
	sendAll(t, c, u.UploadId, junk, 0, 3000)
	_, err = c.CompleteUpload(ctx, connect.NewRequest(&fieldsyncv1.CompleteUploadRequest{UploadId: u.UploadId}))
	wantCode(t, err, connect.CodeInvalidArgument)
}

func offsetDetail(t *testing.T, err error) int64 {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("%v is not a connect error", err)
	}
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if off, ok := v.(*fieldsyncv1.UploadOffset); ok {
				return off.Offset
			}
		}
	}
	t.Fatalf("%v has no UploadOffset detail", err)
	return 0
}

// faultyTransport cuts the next request's body after cutAfter bytes (the
// connection is torn down mid-chunk), or lets the next request through and
// drops its response (the server acted, the device never heard).
type faultyTransport struct {
	base     http.RoundTripper
	cutAfter atomic.Int64 // > 0: cut the next request body there
	dropNext atomic.Bool
	requests atomic.Int64
}

var errCut = errors.New("connection cut by the test")

func (f *faultyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	f.requests.Add(1)
	if n := f.cutAfter.Swap(0); n > 0 && req.Body != nil {
		req = req.Clone(req.Context())
		req.Body = &cutBody{r: req.Body, left: n}
		req.GetBody = nil
	}
	resp, err := f.base.RoundTrip(req)
	if err == nil && f.dropNext.Swap(false) {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, errCut
	}
	return resp, err
}

type cutBody struct {
	r    io.ReadCloser
	left int64
}

func (c *cutBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errCut
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *cutBody) Close() error { return c.r.Close() }

func TestDroppedConnectionsLoseNothingAndDuplicateNothing(t *testing.T) {
	t.Parallel()
	m := newMediaServer(t)
	ft := &faultyTransport{base: m.srv.Client().Transport}
	c := m.client("rep", false, ft)
	data := photostest.JPEG(300_000, 20)
	u := create(t, c, data)
	sendAll(t, c, u.UploadId, data[:100_000], 0, 100_000)

	ft.cutAfter.Store(30_000) // mid-chunk: the server gets a torn request
	_, err := putChunk(c, u.UploadId, 100_000, data[100_000:200_000])
	if !errors.Is(err, errCut) {
		t.Fatalf("cut chunk: err = %v", err)
	}
	got, err := c.GetUpload(context.Background(), connect.NewRequest(&fieldsyncv1.GetUploadRequest{UploadId: u.UploadId}))
	if err != nil || got.Msg.Upload.Offset != 100_000 {
		t.Fatalf("GetUpload after the cut = %v, %v; want offset 100000", got, err)
	}

	ft.dropNext.Store(true) // the chunk lands, the answer is lost
	if _, err := putChunk(c, u.UploadId, 100_000, data[100_000:200_000]); err == nil {
		t.Fatal("dropped response: no error")
	}
	_, err = putChunk(c, u.UploadId, 100_000, data[100_000:200_000]) // the device resends
	wantCode(t, err, connect.CodeAborted)
	off := offsetDetail(t, err)
	if off != 200_000 {
		t.Fatalf("resent chunk: server offset %d, want 200000", off)
	}
	sendAll(t, c, u.UploadId, data, off, 100_000)
	if done := complete(t, c, u.UploadId); done.Photo.SizeBytes != int64(len(data)) {
		t.Fatalf("completed %v", done)
	}
}

func TestKnownPhotoTakesOneRoundTrip(t *testing.T) {
	t.Parallel()
	m := newMediaServer(t)
	data := photostest.JPEG(50_000, 30)
	first := m.client("rep", false, nil)
	u := create(t, first, data)
	sendAll(t, first, u.UploadId, data, 0, 50_000)
	complete(t, first, u.UploadId)

	ft := &faultyTransport{base: m.srv.Client().Transport}
	tablet := m.secondDevice("rep", ft)
	again := create(t, tablet, data)
	if again.State != fieldsyncv1.UploadState_UPLOAD_STATE_COMPLETE || again.Offset != int64(len(data)) || ft.requests.Load() != 1 {
		t.Fatalf("create of a known photo = %v after %d requests; want complete after 1", again, ft.requests.Load())
	}
	// Another user proves possession: the photo is not complete at once.
	if other := create(t, m.client("rep2", false, nil), data); other.State != fieldsyncv1.UploadState_UPLOAD_STATE_IN_PROGRESS {
		t.Fatalf("another user's create of a stored photo = %v, want in progress", other)
	}
}

// secondDevice enrolls another device of a demo role's user and returns
// its MediaService client over transport.
func (m *mediaServer) secondDevice(role string, transport http.RoundTripper) fieldsyncv1connect.MediaServiceClient {
	m.t.Helper()
	ctx := context.Background()
	p, err := m.db.Authenticate(ctx, m.token(role))
	if err != nil {
		m.t.Fatal(err)
	}
	code, _, err := m.db.IssueEnrollmentCode(ctx, p.TenantID, p.UserID, "", time.Hour)
	if err != nil {
		m.t.Fatal(err)
	}
	_, token, err := m.db.Enroll(ctx, code, "tablet", "test")
	if err != nil {
		m.t.Fatal(err)
	}
	return fieldsyncv1connect.NewMediaServiceClient(&http.Client{Transport: transport}, m.srv.URL,
		connect.WithInterceptors(bearer(token)))
}
