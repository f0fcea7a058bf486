package media_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/storage/media"
	"github.com/fieldsync/fieldsync/storage/media/local"
	"github.com/fieldsync/fieldsync/storage/media/mediatest"
)

// served is a local store with one object behind NewHandler.
type served struct {
	srv    *httptest.Server
	signer *media.URLSigner
	obj    mediatest.Object
}

func newServed(t *testing.T) served {
	t.Helper()
	store, err := local.New(t.TempDir())
	if err != nil {
		t.Fatalf("local.New: %v", err)
	}
	o := mediatest.NewObject(10_000)
	if err := store.Put(t.Context(), o.Key, bytes.NewReader(o.Data), int64(len(o.Data)), "image/jpeg"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	signer := newSigner(t, 7)
	srv := httptest.NewServer(media.NewHandler(store, signer))
	t.Cleanup(srv.Close)
	return served{srv: srv, signer: signer, obj: o}
}

func get(t *testing.T, method, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, body
}

func TestHandlerServesSignedLink(t *testing.T) {
	t.Parallel()
	s := newServed(t)
	resp, body := get(t, http.MethodGet, s.srv.URL+s.signer.Path(s.obj.Key, time.Now().Add(time.Minute)))
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, s.obj.Data) {
		t.Fatalf("status %d, %d bytes; want 200 and the object", resp.StatusCode, len(body))
	}
	want := map[string]string{
		"Content-Type":   "image/jpeg",
		"Content-Length": strconv.Itoa(len(s.obj.Data)),
		"Cache-Control":  "private",
		"ETag":           `"` + s.obj.Key + `"`,
		// Served on the web app's origin: a photo opened on its own
		// may run nothing.
		"Content-Security-Policy": "default-src 'none'; sandbox",
		"X-Content-Type-Options":  "nosniff",
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestHandlerServesRangesAndHead(t *testing.T) {
	t.Parallel()
	s := newServed(t)
	url := s.srv.URL + s.signer.Path(s.obj.Key, time.Now().Add(time.Minute))
	resp, body := get(t, http.MethodGet, url, "Range", "bytes=100-199")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, s.obj.Data[100:200]) {
		t.Errorf("range: status %d, %d bytes; want 206 and bytes 100-199", resp.StatusCode, len(body))
	}
	resp, body = get(t, http.MethodHead, url)
	if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.ContentLength != int64(len(s.obj.Data)) {
		t.Errorf("HEAD: status %d, body %d, length %d", resp.StatusCode, len(body), resp.ContentLength)
	}
}

func TestHandlerRefusesBadLinks(t *testing.T) {
	t.Parallel()
	s := newServed(t)
	key := s.obj.Key
	unknown := mediatest.NewObject(1).Key
	future := time.Now().Add(time.Minute)
	tests := map[string]struct {
		method, path string
		want         int
	}{
		"expired":           {"GET", s.signer.Path(key, time.Now().Add(-time.Second)), http.StatusForbidden},
		"unsigned":          {"GET", media.PathPrefix + key, http.StatusForbidden},
		"signed for other":  {"GET", media.PathPrefix + key + "?" + s.signer.Sign(unknown, future), http.StatusForbidden},
		"other secret":      {"GET", newSigner(t, 8).Path(key, future), http.StatusForbidden},
		"unknown key":       {"GET", s.signer.Path(unknown, future), http.StatusNotFound},
		"malformed key":     {"GET", media.PathPrefix + "abc?" + s.signer.Sign("abc", future), http.StatusNotFound},
		"outside prefix":    {"GET", "/other/" + key + "?" + s.signer.Sign(key, future), http.StatusNotFound},
		"method not served": {"POST", s.signer.Path(key, future), http.StatusMethodNotAllowed},
	}
	for name, tt := range tests {
		resp, _ := get(t, tt.method, s.srv.URL+tt.path)
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status %d, want %d", name, resp.StatusCode, tt.want)
		}
	}
}

// failingStore fails every call with err.
type failingStore struct{ err error }

func (f failingStore) Put(context.Context, string, io.Reader, int64, string) error { return f.err }
func (f failingStore) Stat(context.Context, string) (media.Info, error)            { return media.Info{}, f.err }
func (f failingStore) Open(context.Context, string) (io.ReadCloser, media.Info, error) {
	return nil, media.Info{}, f.err
}

func TestHandlerMapsStoreFailures(t *testing.T) {
	t.Parallel()
	signer := newSigner(t, 7)
	tests := map[error]int{
		fmt.Errorf("open: %w: dial tcp: refused", media.ErrUnavailable): http.StatusServiceUnavailable,
		errors.New("disk on fire"):                                      http.StatusInternalServerError,
	}
	for err, want := range tests {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, signer.Path(testKey, time.Now().Add(time.Minute)), nil)
		media.NewHandler(failingStore{err}, signer).ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("store error %q: status %d, want %d", err, rec.Code, want)
		}
	}
}
