package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/fieldsync/fieldsync/internal/demo"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/storage/sqlite"
	"github.com/fieldsync/fieldsync/syncengine"
)

// edgeServer is the whole server over SQLite and the demo organisation.
type edgeServer struct {
	t     *testing.T
	srv   *httptest.Server
	db    *sqlite.DB
	creds *demo.Credentials
}

// newEdgeServer starts the server; edit adjusts its config, heartbeat is
// the Watch heartbeat (0: the engine's default), tls serves HTTP/2 over
// TLS (else plain HTTP/1.1).
func newEdgeServer(t *testing.T, heartbeat time.Duration, tls bool, edit func(*server.Config)) *edgeServer {
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
	engine, err := syncengine.New(syncengine.Config{Store: db, HeartbeatInterval: heartbeat})
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{Auth: db, Identity: db, Sync: engine}
	if edit != nil {
		edit(&cfg)
	}
	h, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &edgeServer{t: t, db: db, creds: creds, srv: httptest.NewUnstartedServer(h)}
	if tls {
		e.srv.EnableHTTP2 = true
		e.srv.StartTLS()
	} else {
		e.srv.Start()
	}
	t.Cleanup(func() { engine.Close(); e.srv.Close() })
	return e
}

func (e *edgeServer) token(role string) string {
	e.t.Helper()
	u, ok := e.creds.User(role)
	if !ok {
		e.t.Fatalf("no demo %s", role)
	}
	return u.DeviceToken
}

func (e *edgeServer) sync() fieldsyncv1connect.SyncServiceClient {
	return fieldsyncv1connect.NewSyncServiceClient(e.srv.Client(), e.srv.URL)
}

// watch opens a Watch stream with token and waits for its first message.
func (e *edgeServer) watch(ctx context.Context, token string) *connect.ServerStreamForClient[fieldsyncv1.WatchResponse] {
	e.t.Helper()
	req := connect.NewRequest(&fieldsyncv1.WatchRequest{})
	req.Header().Set("Authorization", "Bearer "+token)
	s, err := e.sync().Watch(ctx, req)
	if err != nil {
		e.t.Fatalf("Watch: %v", err)
	}
	if !s.Receive() {
		e.t.Fatalf("Watch: no first message: %v", s.Err())
	}
	return s
}

// ended waits for the stream's end and returns its error code.
func ended(s *connect.ServerStreamForClient[fieldsyncv1.WatchResponse]) (connect.Code, error) {
	for s.Receive() {
		if s.Msg().GetPoke() != nil {
			continue
		}
		return 0, errors.New("stream still open: got a heartbeat")
	}
	if s.Err() == nil {
		return 0, errors.New("stream ended without an error")
	}
	return connect.CodeOf(s.Err()), nil
}

// gzipBomb is a gzip stream of n zero bytes.
func gzipBomb(t *testing.T, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	chunk := make([]byte, 1<<20)
	for n > 0 {
		k := min(n, len(chunk))
		zw.Write(chunk[:k])
		n -= k
	}
	zw.Close()
	return b.Bytes()
}

// routes lists every path a client could post to: each RPC of the
// fieldsync services, health, reflection, the old metrics path and an
// extra handler.
func routes() []string {
	paths := []string{
		"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch",
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
		"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
		"/metrics", "/extra/upload",
	}
	protoregistry.GlobalFiles.RangeFilesByPackage("fieldsync.v1", func(f protoreflect.FileDescriptor) bool {
		for i := 0; i < f.Services().Len(); i++ {
			s := f.Services().Get(i)
			for j := 0; j < s.Methods().Len(); j++ {
				paths = append(paths, "/"+string(s.FullName())+"/"+string(s.Methods().Get(j).Name()))
			}
		}
		return true
	})
	return paths
}

// TestGzipBombIsRefusedOnEveryRoute posts a 64 MiB gzip bomb (about 64 KiB
// on the wire) to every route, as a Connect unary body and as a gRPC
// message: without a token each is refused having allocated less than one
// message limit (private routes are refused unread, public ones take small
// messages); with a token, a few limits at most.
func TestGzipBombIsRefusedOnEveryRoute(t *testing.T) {
	const inflated, limit = 64 << 20, 1 << 20
	e := newEdgeServer(t, 0, true, func(c *server.Config) {
		c.MaxMessageBytes = limit
		c.Extra = map[string]http.Handler{"/extra/": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.ReadAll(r.Body); err != nil { // a careless later handler
				http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			}
		})}
	})
	bomb := gzipBomb(t, inflated)
	envelope := binary.BigEndian.AppendUint32([]byte{1}, uint32(len(bomb)))
	envelope = append(envelope, bomb...)
	paths := routes()
	if len(paths) < 30 {
		t.Fatalf("found only %d routes", len(paths))
	}
	for _, path := range paths {
		for _, mode := range []string{"connect", "grpc", "connect+token"} {
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(bomb))
			req.Header.Set("Content-Type", "application/proto")
			req.Header.Set("Content-Encoding", "gzip")
			if mode == "grpc" {
				req, _ = http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(envelope))
				req.Header.Set("Content-Type", "application/grpc")
				req.Header.Set("Grpc-Encoding", "gzip")
				req.Header.Set("Te", "trailers")
			}
			bound := uint64(limit)
			if mode == "connect+token" {
				req.Header.Set("Authorization", "Bearer "+e.token("rep"))
				bound = 16 * limit // buffer growth; more under -race
			}
			alloc := allocated(func() {
				res, err := e.srv.Client().Do(req)
				if err != nil {
					return // the server may cut the connection
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode == http.StatusOK && res.Trailer.Get("Grpc-Status") == "0" {
					t.Errorf("%s %s: accepted", mode, path)
				}
				if len(body) > 4<<10 {
					t.Errorf("%s %s: %d-byte answer", mode, path, len(body))
				}
			})
			if alloc > bound {
				t.Errorf("%s %s: allocated %d MiB for a %d MiB bomb (limit %d MiB)", mode, path, alloc>>20, inflated>>20, limit>>20)
			}
		}
	}
}

// allocated returns the bytes the process allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestHealthCheckDoesNotEchoTheService asks about unknown services, short
// and long, and checks the answer never carries the name.
func TestHealthCheckDoesNotEchoTheService(t *testing.T) {
	e := newEdgeServer(t, 0, true, nil)
	c := grpchealth.NewClient(e.srv.Client(), e.srv.URL)
	for _, name := range []string{strings.Repeat("Q", 100), strings.Repeat("Z", 100<<10)} {
		_, err := c.Check(context.Background(), &grpchealth.CheckRequest{Service: name})
		if err == nil {
			t.Fatalf("unknown service %d bytes: served", len(name))
		}
		if msg := err.Error(); strings.Contains(msg, name[:20]) || len(msg) > 200 {
			t.Errorf("unknown service %d bytes: error echoes it: %.300s", len(name), msg)
		}
	}
	res, err := c.Check(context.Background(), &grpchealth.CheckRequest{Service: fieldsyncv1connect.SyncServiceName})
	if err != nil || res.Status != grpchealth.StatusServing {
		t.Fatalf("sync service health: %v %v", res, err)
	}
}

// TestRevokingEndsOpenWatchStreams revokes, through AdminService, a device
// and an API key that each hold a Watch stream: both streams end at once
// with Unauthenticated (the heartbeat is an hour away, so only the
// revocation can end them).
func TestRevokingEndsOpenWatchStreams(t *testing.T) {
	e := newEdgeServer(t, time.Hour, true, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin := fieldsyncv1connect.NewAdminServiceClient(e.srv.Client(), e.srv.URL, connect.WithInterceptors(bearer(e.creds.AdminToken)))
	rep, _ := e.creds.User("rep")
	device := e.watch(ctx, rep.DeviceToken)
	key := e.watch(ctx, e.creds.IntegratorKey)
	other := e.watch(ctx, e.token("store_manager"))
	if _, err := admin.RevokeDevice(ctx, connect.NewRequest(&fieldsyncv1.RevokeDeviceRequest{DeviceId: rep.DeviceID})); err != nil {
		t.Fatal(err)
	}
	if code, err := ended(device); err != nil || code != connect.CodeUnauthenticated {
		t.Fatalf("revoked device's stream: code %v, %v", code, err)
	}
	p, err := e.db.Authenticate(ctx, e.creds.IntegratorKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RevokeApiKey(ctx, connect.NewRequest(&fieldsyncv1.RevokeApiKeyRequest{ApiKeyId: p.APIKeyID})); err != nil {
		t.Fatal(err)
	}
	if code, err := ended(key); err != nil || code != connect.CodeUnauthenticated {
		t.Fatalf("revoked key's stream: code %v, %v", code, err)
	}
	other.Close()
}

// TestWatchSeesARevocationMadeElsewhere revokes a device straight in the
// store (as another process sharing it would): the stream ends with the
// token check of its next heartbeat.
func TestWatchSeesARevocationMadeElsewhere(t *testing.T) {
	e := newEdgeServer(t, 20*time.Millisecond, true, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, _ := e.creds.User("rep")
	s := e.watch(ctx, rep.DeviceToken)
	if _, err := e.db.RevokeDevice(ctx, e.creds.TenantID, rep.DeviceID); err != nil {
		t.Fatal(err)
	}
	for s.Receive() { // heartbeats sent before the revocation
	}
	if code := connect.CodeOf(s.Err()); code != connect.CodeUnauthenticated {
		t.Fatalf("stream ended with %v (%v), want Unauthenticated", code, s.Err())
	}
}

// TestWatchStreamsOfOneTokenAreCapped opens more Watch streams from one
// token than the default cap: each one past it ends the oldest with
// ResourceExhausted, so the token never holds more than the cap.
func TestWatchStreamsOfOneTokenAreCapped(t *testing.T) {
	e := newEdgeServer(t, time.Hour, true, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	capacity := server.DefaultLimits().WatchPerPrincipal
	const extra = 3
	token := e.token("rep")
	var streams []*connect.ServerStreamForClient[fieldsyncv1.WatchResponse]
	for range capacity + extra {
		streams = append(streams, e.watch(ctx, token))
	}
	for i, s := range streams[:extra] {
		if code, err := ended(s); err != nil || code != connect.CodeResourceExhausted {
			t.Fatalf("stream %d: code %v, %v", i, code, err)
		}
	}
	for _, s := range streams[extra:] {
		s.Close()
	}
}

// TestErrorsDoNotEchoLongInput sends long ids where a short one belongs:
// whatever the error says, it stays short.
func TestErrorsDoNotEchoLongInput(t *testing.T) {
	e := newEdgeServer(t, 0, true, nil)
	long := strings.Repeat("x", 64<<10)
	c := fieldsyncv1connect.NewSyncServiceClient(e.srv.Client(), e.srv.URL, connect.WithInterceptors(bearer(e.token("rep"))))
	ctx := context.Background()
	_, err1 := c.ListConflicts(ctx, connect.NewRequest(&fieldsyncv1.ListConflictsRequest{RecordId: long}))
	_, err2 := c.GetDeliveries(ctx, connect.NewRequest(&fieldsyncv1.GetDeliveriesRequest{RecordId: long}))
	_, err3 := c.Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{Cursor: long}))
	for i, err := range []error{err1, err2, err3} {
		if err == nil {
			t.Errorf("call %d: accepted", i)
		} else if len(err.Error()) > 1<<10 {
			t.Errorf("call %d: %d-byte error", i, len(err.Error()))
		}
	}
}
