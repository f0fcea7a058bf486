package fieldsync

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/fieldsync/fieldsync/photos/photostest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// pathLog forwards requests, noting their method and path.
type pathLog struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen []string
	// answer, when set, answers a request instead of the server.
	answer func(*http.Request) *http.Response
}

func (p *pathLog) RoundTrip(req *http.Request) (*http.Response, error) {
	p.mu.Lock()
	p.seen = append(p.seen, req.Method+" "+req.URL.Path)
	answer := p.answer
	p.mu.Unlock()
	if answer != nil {
		if res := answer(req); res != nil {
			return res, nil
		}
	}
	return p.base.RoundTrip(req)
}

// count returns how many requests went to paths starting with prefix.
func (p *pathLog) count(prefix string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, s := range p.seen {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

func TestPhotoChunksGoOnTheRawRoute(t *testing.T) {
	t.Parallel()
	e := start(t)
	staff := e.user("store_staff", 0)
	log := &pathLog{base: http.DefaultTransport}
	c := e.device(staff.DeviceToken, WithHTTPClient(&http.Client{Transport: log}), WithChunkSize(testChunk))
	id := c.NewID()
	data := photostest.JPEG(3*testChunk+10, 71)
	mustPut(t, c, id, &fieldsyncv1.Diagnosis{VehicleModel: "van"})
	mustAddPhoto(t, c, diagnosisType, id, "photos", data)
	mustSync(t, c)
	if p := onlyPhoto(t, c); p.State != PhotoDone {
		t.Fatalf("photo %+v", p)
	}
	if raw, rpc := log.count("PUT "+chunkPutPath), log.count("POST /fieldsync.v1.MediaService/PutChunk"); raw != 4 || rpc != 0 {
		t.Fatalf("%d raw chunks and %d PutChunk calls, want 4 and 0", raw, rpc)
	}
}

// TestPhotoChunksFallBackToPutChunk: a server without the raw route (it
// answers 404 as a plain page) gets PutChunk calls, and is not asked for
// the route again for each chunk.
func TestPhotoChunksFallBackToPutChunk(t *testing.T) {
	t.Parallel()
	e := start(t)
	staff := e.user("store_staff", 0)
	// 200: a host answering every path with its page (no offset header).
	for _, status := range []int{http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented, http.StatusOK} {
		log := &pathLog{base: http.DefaultTransport, answer: func(req *http.Request) *http.Response {
			if !strings.HasPrefix(req.URL.Path, chunkPutPath) {
				return nil
			}
			return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: http.Header{"Content-Type": {"text/html"}},
				Body: io.NopCloser(strings.NewReader("<!doctype html><title>app</title>")), Request: req}
		}}
		c := e.device(staff.DeviceToken, WithHTTPClient(&http.Client{Transport: log}), WithChunkSize(testChunk))
		id := c.NewID()
		data := photostest.JPEG(3*testChunk+10, 72+uint64(status))
		mustPut(t, c, id, &fieldsyncv1.Diagnosis{VehicleModel: "van"})
		mustAddPhoto(t, c, diagnosisType, id, "photos", data)
		mustSync(t, c)
		if p := onlyPhoto(t, c); p.State != PhotoDone {
			t.Fatalf("status %d: photo %+v", status, p)
		}
		// Every chunk went as PutChunk; the raw route was tried until its
		// first answer came back: once, or by each chunk already in flight.
		if raw, rpc := log.count("PUT "+chunkPutPath), log.count("POST /fieldsync.v1.MediaService/PutChunk"); raw < 1 || raw > DefaultUploadWindow || rpc != 4 {
			t.Fatalf("status %d: %d raw chunks and %d PutChunk calls, want 1 to %d and 4", status, raw, rpc, DefaultUploadWindow)
		}
	}
}

func TestDecodeConnectErrorKeepsCodeDetailsAndMeta(t *testing.T) {
	t.Parallel()
	body := `{"code":"aborted","message":"chunk at offset 0, but upload u continues at 1000","details":[` +
		`{"type":"fieldsync.v1.UploadOffset","value":"COgH"},{"type":"no.such.Type","value":"AA"},{"type":"google.rpc.RetryInfo","value":"CgIIAg=="}]}`
	ce, ok := decodeConnectError(http.Header{"Retry-After": {"2"}}, []byte(body))
	if !ok || !connect.IsWireError(ce) || wireCode(ce) != connect.CodeAborted {
		t.Fatalf("decoded %v, %v", ce, ok)
	}
	if off, ok := uploadOffset(ce); !ok || off != 1000 {
		t.Fatalf("UploadOffset %d, %v", off, ok)
	}
	if ce.Message() != "chunk at offset 0, but upload u continues at 1000" || ce.Meta().Get("Retry-After") != "2" {
		t.Fatalf("message %q, meta %v", ce.Message(), ce.Meta())
	}
	var retry *errdetails.RetryInfo
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if r, ok := v.(*errdetails.RetryInfo); ok {
				retry = r
			}
		}
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() != 2*time.Second {
		t.Fatalf("RetryInfo %v, want %v", retry, durationpb.New(2*time.Second))
	}
	for _, bad := range []string{"", "404 page not found", `{"code":"nonsense"}`, `{"message":"x"}`, `[1]`} {
		if _, ok := decodeConnectError(nil, []byte(bad)); ok {
			t.Fatalf("decoded %q as a Connect error", bad)
		}
	}
}

// FuzzDecodeConnectError: any answer body decodes to a wire error or to
// nothing, never a panic.
func FuzzDecodeConnectError(f *testing.F) {
	f.Add(`{"code":"aborted","message":"m","details":[{"type":"fieldsync.v1.UploadOffset","value":"COgH"}]}`)
	f.Add(`{"code":"resource_exhausted","details":[{"type":"google.rpc.RetryInfo","value":"CgIIAg"}]}`)
	f.Add(`404 page not found`)
	f.Fuzz(func(t *testing.T, body string) {
		ce, ok := decodeConnectError(http.Header{}, []byte(body))
		if ok && (ce == nil || !connect.IsWireError(ce)) {
			t.Fatalf("decoded %v", ce)
		}
		_, _ = uploadOffset(ce)
	})
}

// TestChunkBodyStopsReadingWhenTheCallEnds: the buffer of a chunk whose
// call returned is not read again (it holds the next chunk).
func TestChunkBodyStopsReadingWhenTheCallEnds(t *testing.T) {
	t.Parallel()
	b := newChunkBody([]byte("abcdef"))
	p := make([]byte, 3)
	if n, err := b.Read(p); n != 3 || err != nil {
		t.Fatalf("read %d, %v", n, err)
	}
	again := b.again()
	b.finish()
	for _, r := range []interface{ Read([]byte) (int, error) }{b, again} {
		if n, err := r.Read(p); n != 0 || !errors.Is(err, errBodyDone) {
			t.Fatalf("read after finish: %d, %v", n, err)
		}
	}
}
