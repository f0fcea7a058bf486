package media

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// PathPrefix is where NewHandler serves objects: GET /media/<key>.
const PathPrefix = "/media/"

// NewHandler returns an http.Handler that serves GET and HEAD requests for
// PathPrefix+"<key>?exp=…&sig=…" from store, for stores that cannot
// presign their own URLs (the local folder). Mount it at PathPrefix without
// stripping the prefix. Neither argument may be nil.
//
// A missing, forged or expired signature gets 403 Forbidden (before the
// store is asked, so it reveals nothing), an unknown or malformed key 404,
// another method 405, a store that wraps ErrUnavailable 503 and any other
// store error 500. A served object carries its Content-Type and
// Content-Length, "Cache-Control: private" and its key as ETag; range
// requests work when the store's reader can seek.
func NewHandler(store Store, signer *URLSigner) http.Handler {
	return &handler{store: store, signer: signer, now: time.Now}
}

type handler struct {
	store  Store
	signer *URLSigner
	now    func() time.Time
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	key, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	if !ok || !ValidKey(key) {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	if err := h.signer.Verify(key, q.Get("exp"), q.Get("sig"), h.now()); err != nil {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	rc, info, err := h.store.Open(r.Context(), key)
	if err != nil {
		h.fail(w, r, key, err)
		return
	}
	defer rc.Close()
	serveObject(w, r, rc, info)
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, key string, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		http.NotFound(w, r)
	case errors.Is(err, ErrUnavailable):
		slog.WarnContext(r.Context(), "serve media: store unavailable", "key", key, "err", err)
		http.Error(w, "storage unavailable", http.StatusServiceUnavailable)
	default:
		slog.ErrorContext(r.Context(), "serve media", "key", key, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

// serveObject writes an opened object, with range support when it can seek.
func serveObject(w http.ResponseWriter, r *http.Request, rc io.Reader, info Info) {
	ct := info.ContentType
	if ct == "" {
		ct = DefaultContentType
	}
	hdr := w.Header()
	hdr.Set("Content-Type", ct)
	hdr.Set("Cache-Control", "private")
	hdr.Set("X-Content-Type-Options", "nosniff")
	// The local store's links share the web app's origin, whose scripts
	// hold the device token: a photo opened on its own runs nothing and
	// reaches nothing, whatever bytes an image format lets one carry.
	hdr.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	hdr.Set("ETag", `"`+info.Key+`"`)
	if rs, ok := rc.(io.ReadSeeker); ok {
		http.ServeContent(w, r, "", time.Time{}, rs)
		return
	}
	hdr.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		io.Copy(w, rc) // the client went away or the store failed: nothing left to tell
	}
}
