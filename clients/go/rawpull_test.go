package fieldsync

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// pullClients are, for a server, the SDK's client (its Pull its own call)
// and a plain Connect client with the SDK's options: the reference.
func pullClients(t testing.TB, server, token string) (sdk, plain fieldsyncv1connect.SyncServiceClient) {
	t.Helper()
	cfg := newConfig([]Option{WithServer(server), WithToken(token), WithRequestTimeout(time.Minute)})
	sdk = newSyncClient(cfg)
	if _, ok := sdk.(*rawPuller); !ok {
		t.Fatalf("the Connect protocol's sync client is %T, want *rawPuller", sdk)
	}
	hc, opts := clientSetup(cfg)
	return sdk, fieldsyncv1connect.NewSyncServiceClient(hc, server, opts...)
}

// sameError fails unless got is the error Connect's client returned (want):
// the same code, both wire errors or neither, and for a wire error the same
// message and details.
func sameError(t *testing.T, got, want error) {
	t.Helper()
	if got == nil || want == nil {
		t.Fatalf("raw pull: %v; Connect: %v; want both to fail", got, want)
	}
	if connect.CodeOf(got) != connect.CodeOf(want) || connect.IsWireError(got) != connect.IsWireError(want) {
		t.Fatalf("raw pull: %v (wire %t); Connect: %v (wire %t)", got, connect.IsWireError(got), want, connect.IsWireError(want))
	}
	if !connect.IsWireError(want) {
		return
	}
	var g, w *connect.Error
	errors.As(got, &g)
	errors.As(want, &w)
	gd, wd := knownDetails(g), knownDetails(w)
	if g.Message() != w.Message() || len(gd) != len(wd) {
		t.Fatalf("raw pull: %q with %d details; Connect: %q with %d", g.Message(), len(gd), w.Message(), len(wd))
	}
	for i := range wd {
		if !proto.Equal(gd[i], wd[i]) {
			t.Fatalf("detail %d: raw pull %v; Connect %v", i, gd[i], wd[i])
		}
	}
	if g.Meta().Get("Retry-After") != w.Meta().Get("Retry-After") {
		t.Fatalf("Retry-After: raw pull %q; Connect %q", g.Meta().Get("Retry-After"), w.Meta().Get("Retry-After"))
	}
}

// knownDetails are the details of ce this client can decode (the raw pull
// drops the others, which no caller could read).
func knownDetails(ce *connect.Error) []proto.Message {
	var ms []proto.Message
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			ms = append(ms, v)
		}
	}
	return ms
}

func TestRawPullReturnsTheServersPagesAsConnect(t *testing.T) {
	t.Parallel()
	e := start(t)
	seedVisits(t, e, 2_500)
	sdk, plain := pullClients(t, e.d.URL(), e.token("rep"))
	ctx := context.Background()
	cursor := ""
	var pages, wants []*fieldsyncv1.PullResponse
	for i, limit := range []uint32{1, 1000, 400, 2000} {
		req := &fieldsyncv1.PullRequest{Cursor: cursor, Limit: limit, Ahead: true}
		got, err := sdk.Pull(ctx, connect.NewRequest(req))
		if err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		want, err := plain.Pull(ctx, connect.NewRequest(req))
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got.Msg, want.Msg) {
			t.Fatalf("page %d (limit %d): raw pull and Connect differ", i, limit)
		}
		if got.Header().Get("Content-Type") != "application/proto" {
			t.Errorf("page %d: headers %v", i, got.Header())
		}
		cursor = got.Msg.GetNextCursor()
		pages, wants = append(pages, got.Msg), append(wants, want.Msg)
	}
	if len(cursor) == 0 {
		t.Fatal("no cursor")
	}
	for i := range pages { // a page shares its answer's bytes: no later pull may reuse them
		if !proto.Equal(pages[i], wants[i]) {
			t.Fatalf("page %d changed after the pulls that followed it", i)
		}
	}
}

func TestRawPullReturnsTheServersErrorsAsConnect(t *testing.T) {
	t.Parallel()
	e := start(t)
	cases := map[string]struct {
		token string
		req   *fieldsyncv1.PullRequest
	}{
		"a token the server does not know": {"nope", &fieldsyncv1.PullRequest{}},
		"a cursor it never issued":         {e.token("rep"), &fieldsyncv1.PullRequest{Cursor: "garbage"}},
		"a limit beyond the page":          {e.token("rep"), &fieldsyncv1.PullRequest{Limit: 1 << 30}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			sdk, plain := pullClients(t, e.d.URL(), tc.token)
			_, got := sdk.Pull(context.Background(), connect.NewRequest(tc.req))
			_, want := plain.Pull(context.Background(), connect.NewRequest(tc.req))
			if want == nil {
				t.Skipf("the server answers %s", name)
			}
			sameError(t, got, want)
		})
	}
}

// pullHandler answers every Pull with err.
type pullHandler struct {
	fieldsyncv1connect.UnimplementedSyncServiceHandler
	err error
}

func (h pullHandler) Pull(context.Context, *connect.Request[fieldsyncv1.PullRequest]) (*connect.Response[fieldsyncv1.PullResponse], error) {
	return nil, h.err
}

func TestRawPullReturnsEachCodeWithItsDetailsAsConnect(t *testing.T) {
	t.Parallel()
	for c := connect.CodeCanceled; c <= connect.CodeUnauthenticated; c++ {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			ce := connect.NewError(c, errors.New("the server says no"))
			d, _ := connect.NewErrorDetail(&fieldsyncv1.ResyncRequired{})
			ce.AddDetail(d)
			ce.Meta().Set("Retry-After", "7")
			_, h := fieldsyncv1connect.NewSyncServiceHandler(pullHandler{err: ce},
				connect.WithCompression("gzip", nil, nil)) // no gzip
			srv := httptest.NewServer(h)
			defer srv.Close()
			sdk, plain := pullClients(t, srv.URL, "t")
			_, got := sdk.Pull(context.Background(), connect.NewRequest(&fieldsyncv1.PullRequest{}))
			_, want := plain.Pull(context.Background(), connect.NewRequest(&fieldsyncv1.PullRequest{}))
			sameError(t, got, want)
			if c == connect.CodeFailedPrecondition && !isResync(got) {
				t.Errorf("%v is not taken for a resync", got)
			}
		})
	}
}

// gz is data gzipped.
func gz(data []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	zw.Close()
	return b.Bytes()
}

// aPage is an encoded page of n visits.
func aPage(n int) []byte {
	page := &fieldsyncv1.PullResponse{NextCursor: "c1", HasMore: true}
	for i := range n {
		v, _ := anypb.New(&fieldsyncv1.Visit{CustomerId: "customer-" + strconv.Itoa(i), Notes: "notes of the visit"})
		page.Records = append(page.Records, &fieldsyncv1.Record{RecordType: visitType, Id: "v" + strconv.Itoa(i), Value: v, Version: 1, Hlc: uint64(i + 1)})
	}
	b, _ := proto.Marshal(page)
	return b
}

// answer is a handler that sends status, headers and body, then (cut) drops
// the connection.
func answer(status int, header map[string]string, body []byte, cut bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		w.Write(body)
		if cut {
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
	}
}

func TestRawPullAnswersWhatConnectAnswers(t *testing.T) {
	t.Parallel()
	page := aPage(300)
	zpage := gz(page)
	lyingISIZE := bytes.Clone(zpage)
	binary.LittleEndian.PutUint32(lyingISIZE[len(lyingISIZE)-4:], 1<<32-1)
	shortISIZE := bytes.Clone(zpage)
	binary.LittleEndian.PutUint32(shortISIZE[len(shortISIZE)-4:], 10)
	twoMembers := append(gz(page[:len(page)/2]), gz(page[len(page)/2:])...) // the trailer's ISIZE is the second half's
	badCRC := bytes.Clone(zpage)
	badCRC[len(badCRC)-8] ^= 1
	plainCT := map[string]string{"Content-Type": "application/proto"}
	gzipped := map[string]string{"Content-Type": "application/proto", "Content-Encoding": "gzip"}
	withLength := func(h map[string]string, n int) map[string]string {
		c := map[string]string{"Content-Length": strconv.Itoa(n)}
		for k, v := range h {
			c[k] = v
		}
		return c
	}
	cases := map[string]http.HandlerFunc{
		"a page":                                 answer(200, plainCT, page, false),
		"a gzipped page":                         answer(200, gzipped, zpage, false),
		"a gzipped page with its length":         answer(200, withLength(gzipped, len(zpage)), zpage, false),
		"an empty page":                          answer(200, plainCT, nil, false),
		"a page in two gzip members":             answer(200, gzipped, twoMembers, false),
		"a trailer's length too large":           answer(200, gzipped, lyingISIZE, false),
		"a trailer's length too small":           answer(200, gzipped, shortISIZE, false),
		"a CRC that does not match":              answer(200, gzipped, badCRC, false),
		"not gzip":                               answer(200, gzipped, page, false),
		"an unknown encoding":                    answer(200, map[string]string{"Content-Type": "application/proto", "Content-Encoding": "br"}, zpage, false),
		"JSON":                                   answer(200, map[string]string{"Content-Type": "application/json"}, []byte(`{}`), false),
		"a web page":                             answer(200, map[string]string{"Content-Type": "text/html"}, []byte("<html>"), false),
		"not a page":                             answer(200, plainCT, []byte{0xff, 0xff, 0xff}, false),
		"a body cut short":                       answer(200, gzipped, zpage[:len(zpage)/2], true),
		"a body cut short, its length announced": answer(200, withLength(gzipped, len(zpage)), zpage[:len(zpage)/2], true),
		"a Content-Length shorter than the body": answer(200, withLength(gzipped, len(zpage)/2), zpage, false),
		"a Content-Length far beyond the body":   answer(200, withLength(gzipped, 60<<20), zpage, true),
		"a proxy's 502":                          answer(502, map[string]string{"Content-Type": "text/html"}, []byte("<h1>Bad Gateway</h1>"), false),
		"a proxy's 503 in JSON without a code":   answer(503, map[string]string{"Content-Type": "application/json"}, []byte(`{"error":"busy"}`), false),
		"a proxy's 404":                          answer(404, nil, []byte("not found"), false),
		"a proxy's 429":                          answer(429, nil, nil, false),
		"a Connect error cut short":              answer(503, map[string]string{"Content-Type": "application/json"}, []byte(`{"code":"unavail`), true),
		"a gzipped Connect error":                answer(429, map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip", "Retry-After": "3"}, gz([]byte(`{"code":"resource_exhausted","message":"slow down"}`)), false),
		"a Connect error with an unknown detail": answer(400, map[string]string{"Content-Type": "application/json"}, []byte(`{"code":"invalid_argument","message":"m","details":[{"type":"x.Y","value":"AAA"}]}`), false),
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(h)
			defer srv.Close()
			sdk, plain := pullClients(t, srv.URL, "t")
			got, gerr := sdk.Pull(context.Background(), connect.NewRequest(&fieldsyncv1.PullRequest{}))
			want, werr := plain.Pull(context.Background(), connect.NewRequest(&fieldsyncv1.PullRequest{}))
			if name == "a proxy's 503 in JSON without a code" {
				// Connect takes any JSON body for the server's error (a
				// wire error of the status's code); without a code it is
				// not, and a proxy's answer is the network's (not a wire
				// error: Sync retries it as unreachable), as on the raw
				// chunk route.
				if connect.CodeOf(gerr) != connect.CodeUnavailable || connect.IsWireError(gerr) {
					t.Fatalf("raw pull: %v (wire %t), want Unavailable, not a wire error", gerr, connect.IsWireError(gerr))
				}
				return
			}
			if werr != nil || gerr != nil {
				sameError(t, gerr, werr)
				return
			}
			if !proto.Equal(got.Msg, want.Msg) {
				t.Fatal("raw pull and Connect decoded different pages")
			}
		})
	}
}

func TestRawPullPagesKeepTheirBytesThroughLaterPulls(t *testing.T) {
	t.Parallel()
	plainCT := map[string]string{"Content-Type": "application/proto"}
	gzipped := map[string]string{"Content-Type": "application/proto", "Content-Encoding": "gzip"}
	var bodies [][]byte
	var handlers []http.HandlerFunc
	for i, n := range []int{300, 200, 250, 100, 280, 50} { // pages of other sizes: a reused buffer shows
		page := aPage(n)
		bodies = append(bodies, page)
		if i%2 == 0 {
			handlers = append(handlers, answer(200, plainCT, page, false))
		} else {
			handlers = append(handlers, answer(200, gzipped, gz(page), false))
		}
	}
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers[int(calls.Add(1)-1)%len(handlers)](w, r)
	}))
	defer srv.Close()
	sdk, _ := pullClients(t, srv.URL, "t")
	var got []*fieldsyncv1.PullResponse
	for range 2 * len(bodies) {
		res, err := sdk.Pull(context.Background(), connect.NewRequest(&fieldsyncv1.PullRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, res.Msg)
	}
	for i, page := range got { // a page shares its answer's bytes: no later pull may reuse them
		want := &fieldsyncv1.PullResponse{}
		if err := proto.Unmarshal(bodies[i%len(bodies)], want); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(page, want) {
			t.Fatalf("page %d changed after the pulls that followed it", i)
		}
	}
}

// endlessGzip sends gzip members of 1 MiB of zeros (1 KB each on the wire)
// until the client goes away, then closes gone.
func endlessGzip(gone chan<- struct{}) http.HandlerFunc {
	member := gz(make([]byte, 1<<20))
	burst := bytes.Repeat(member, 64)
	return func(w http.ResponseWriter, r *http.Request) {
		defer close(gone)
		w.Header().Set("Content-Type", "application/proto")
		w.Header().Set("Content-Encoding", "gzip")
		for r.Context().Err() == nil {
			if _, err := w.Write(burst); err != nil {
				return
			}
		}
	}
}

func TestRawPullStopsInflatingAnEndlessGzipBomb(t *testing.T) {
	t.Parallel()
	gone := make(chan struct{})
	srv := httptest.NewServer(endlessGzip(gone))
	defer srv.Close()
	sdk, _ := pullClients(t, srv.URL, "t")
	_, err := sdk.Pull(context.Background(), connect.NewRequest(&fieldsyncv1.PullRequest{}))
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("an endless gzip bomb: %v, want ResourceExhausted", err)
	}
	<-gone // the call dropped the connection: the server stops sending
}

func TestRawPullEndsWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	gone := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(gone)
		w.Header().Set("Content-Type", "application/proto")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gz(aPage(100))[:100]) // headers and part of the body, then nothing
		w.(http.Flusher).Flush()
		close(started)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	sdk, _ := pullClients(t, srv.URL, "t")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	_, err := sdk.Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{}))
	if connect.CodeOf(err) != connect.CodeCanceled || !errors.Is(err, context.Canceled) {
		t.Fatalf("a pull cancelled while its body arrives: %v, want Canceled wrapping context.Canceled", err)
	}
	<-gone // the connection closed with the call, before release
}

func TestRawPullEndsAtItsTimeoutWhileTheBodyStalls(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/proto")
		w.Write([]byte{0x0a})
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	cfg := newConfig([]Option{WithServer(srv.URL), WithToken("t"), WithRequestTimeout(50 * time.Millisecond)})
	_, err := newSyncClient(cfg).Pull(context.Background(), connect.NewRequest(&fieldsyncv1.PullRequest{}))
	if connect.CodeOf(err) != connect.CodeDeadlineExceeded || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a pull whose body stalls past the request timeout: %v, want DeadlineExceeded", err)
	}
}

func TestRawPullSendsWhatConnectSends(t *testing.T) {
	t.Parallel()
	var seen http.Header
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, body = r.Header.Clone(), must(io.ReadAll(r.Body))
		if r.Method != http.MethodPost || r.URL.Path != "/fieldsync.v1.SyncService/Pull" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		w.Header().Set("Content-Type", "application/proto")
	}))
	defer srv.Close()
	sdk, _ := pullClients(t, srv.URL+"/", "tok")
	req := connect.NewRequest(&fieldsyncv1.PullRequest{Cursor: "c", Limit: 7, Ahead: true})
	req.Header().Set("X-Extra", "1")
	if _, err := sdk.Pull(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"Content-Type": "application/proto", "Connect-Protocol-Version": "1",
		"Accept-Encoding": "gzip", "Authorization": "Bearer tok", "X-Extra": "1"} {
		if seen.Get(k) != v {
			t.Errorf("%s: %q, want %q", k, seen.Get(k), v)
		}
	}
	if ms, err := strconv.Atoi(seen.Get("Connect-Timeout-Ms")); err != nil || ms <= 0 || ms > 60_000 {
		t.Errorf("Connect-Timeout-Ms %q, want the request timeout's", seen.Get("Connect-Timeout-Ms"))
	}
	var got fieldsyncv1.PullRequest
	if err := proto.Unmarshal(body, &got); err != nil || !proto.Equal(&got, req.Msg) {
		t.Errorf("the body decodes to %v (%v), want %v", &got, err, req.Msg)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestInflatedSizeTrustsTheTrailerOnlyWithinBounds(t *testing.T) {
	t.Parallel()
	trailer := func(n int, isize uint32) []byte {
		b := make([]byte, n)
		binary.LittleEndian.PutUint32(b[n-4:], isize)
		return b
	}
	cases := []struct {
		name string
		gz   []byte
		want int
	}{
		{"too short for a trailer", []byte{1, 2, 3}, 0},
		{"an honest length", trailer(1000, 5000), 5001},
		{"beyond deflate's ratio", trailer(100, 1<<32-1), 1032*100 + 1},
		{"beyond the answer's bound", trailer(1<<20, 1<<32-1), maxAnswerBytes + 1},
	}
	for _, tc := range cases {
		if got := inflatedSize(tc.gz); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// FuzzInflate checks inflateInto against the standard library's gzip
// reader: the same bytes or both refuse, never past the limit.
func FuzzInflate(f *testing.F) {
	page := aPage(20)
	f.Add(gz(page), 1<<20)
	f.Add(gz(page), 100)
	f.Add(append(gz(page[:10]), gz(page[10:])...), 1<<20)
	f.Add(gz(nil), 10)
	f.Add(gz(page)[:30], 1<<20)
	f.Add([]byte{0x1f, 0x8b}, 10)
	f.Add([]byte{}, 10)
	f.Fuzz(func(t *testing.T, data []byte, limit int) {
		limit = max(0, limit%(1<<20))
		got, err := inflateInto(nil, data, limit)
		if len(got) > limit+1 {
			t.Fatalf("inflated %d bytes past the limit %d", len(got), limit)
		}
		if len(data) > 3 && data[3]&0xe0 != 0 && err != nil {
			return // reserved header flags: klauspost refuses them, the standard library not
		}
		var want []byte
		zr, werr := gzip.NewReader(bytes.NewReader(data))
		if werr == nil {
			want, werr = io.ReadAll(io.LimitReader(zr, int64(limit)+1))
			if werr == nil {
				_, werr = io.Copy(io.Discard, io.LimitReader(zr, 64<<20)) // to the checksum at the end
			}
		}
		switch {
		case len(want) > limit && (werr == nil || err == nil):
			if connect.CodeOf(err) != connect.CodeResourceExhausted {
				t.Fatalf("%d bytes past the limit %d: %v, want ResourceExhausted", len(want), limit, err)
			}
		case len(want) > limit:
			// invalid past the limit: refused either way
		case werr == nil:
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("inflated %d bytes (%v), want %d", len(got), err, len(want))
			}
		case err == nil:
			t.Fatalf("inflated %d bytes of what the standard library refuses (%v)", len(got), werr)
		}
	})
}
