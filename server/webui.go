package server

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
)

// WebUI serves the built web app (clients/web/dist) at "/" of the API port,
// as a single-page app: a path that names no file and looks like a screen
// (no file extension, not under /assets/) answers index.html, so the app's
// router takes over. It never answers for the API's own paths (RPCs,
// health, reflection, rating and media links, metrics): a request there
// that no other route took is a plain 404.
//
// index.html, sw.js and the manifest are revalidated on every load
// (Cache-Control: no-cache, with an ETag); files under /assets/ carry a
// content hash in their names and are cached for a year. Every answer
// carries a Content-Security-Policy that lets the app talk to its own
// origin (and to mediaOrigins, where photo links point) and nothing else.
type WebUI struct {
	files   fs.FS
	csp     string
	mu      sync.Mutex
	entries map[string]webEntry
	cached  int // bytes of gzipped content in entries
}

// NewWebUI serves files (index.html at its root). mediaOrigins are the
// origins of photo links other than the app's own (an S3 endpoint, a
// public URL), allowed as image and fetch sources.
func NewWebUI(files fs.FS, mediaOrigins ...string) *WebUI {
	return &WebUI{files: files, csp: webCSP(mediaOrigins), entries: map[string]webEntry{}}
}

// webCSP is the policy of a Preact app served from this origin: scripts,
// workers and data only from 'self'; inline styles (chart libraries set
// them); images also from data:, blob: (camera previews) and the media
// origins.
func webCSP(mediaOrigins []string) string {
	media := ""
	for _, o := range mediaOrigins {
		if o != "" && !strings.ContainsAny(o, " ;,'\"") {
			media += " " + o
		}
	}
	return "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:" + media +
		"; connect-src 'self'" + media + "; worker-src 'self'; manifest-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
}

// webPermissions lets the app's own pages use the camera (the QR
// scanner) and location, and no page, framed or not, anything else.
const webPermissions = "camera=(self), geolocation=(self), microphone=(), payment=(), usb=(), serial=(), hid=(), bluetooth=()"

// WebDir opens a folder of the app's files (--web-dir, for development):
// no path, symbolic links included, leads out of it.
func WebDir(dir string) (fs.FS, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return root.FS(), nil
}

// apiPrefixes are the paths the web app must never answer.
var apiPrefixes = []string{"/fieldsync.", "/grpc.", "/r/", "/media/", "/metrics"}

// notBuiltPage answers / when the app has not been built.
const notBuiltPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fieldsync</title></head>
<body><h1>fieldsync</h1>
<p>The web app is not built into this server. Run <code>make web</code> (or <code>make run</code>, which builds it) and rebuild fieldsyncd, or start fieldsyncd with <code>--web-dir clients/web/dist</code>.</p>
<p>The API (Connect, gRPC, gRPC-Web) is served on this port either way.</p>
</body></html>
`

func (u *WebUI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Every answer, the 404s and 405s a browser may render included.
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", u.csp)
	h.Set("X-Frame-Options", "DENY") // frame-ancestors for browsers without CSP 2
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", webPermissions)
	h.Set("Referrer-Policy", "same-origin")
	for _, p := range apiPrefixes {
		if strings.HasPrefix(r.URL.Path, p) {
			http.NotFound(w, r)
			return
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name != "" && u.serveFile(w, r, name) {
		return
	}
	if name == "assets" || strings.HasPrefix(name, "assets/") || strings.Contains(name[strings.LastIndex(name, "/")+1:], ".") {
		http.NotFound(w, r) // a missing file, not a screen: never index.html
		return
	}
	if !u.serveFile(w, r, "index.html") {
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, notBuiltPage)
	}
}

// serveFile answers with the regular file name, gzipped when the client
// takes it and the type compresses, reporting false when there is none.
func (u *WebUI) serveFile(w http.ResponseWriter, r *http.Request, name string) bool {
	if !fs.ValidPath(name) || strings.HasPrefix(name, ".") || strings.Contains(name, "/.") {
		return false // no dotfiles (.gitkeep, an editor's leftovers)
	}
	f, err := u.files.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return false
	}
	e, content, err := u.entry(name, st, f)
	if err != nil {
		return false
	}
	h := w.Header()
	h.Set("Content-Type", webContentType(name))
	h.Set("Cache-Control", webCacheControl(name))
	if name == "sw.js" {
		// Only the app's own worker, at the root, may claim the origin:
		// a script deeper down must not register over the API's paths.
		h.Set("Service-Worker-Allowed", "/")
	}
	if compressible(name) {
		h.Add("Vary", "Accept-Encoding")
	}
	etag := e.etag
	switch {
	case e.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")):
		h.Set("Content-Encoding", "gzip")
		etag = strings.TrimSuffix(etag, `"`) + `-gz"`
		content = bytes.NewReader(e.gz)
	case content == nil:
		if content, err = readSeeker(f); err != nil {
			return false
		}
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, name, st.ModTime(), content)
	return true
}

// webEntry is what WebUI keeps of a file: its ETag and, for types that
// compress, its gzipped bytes.
type webEntry struct {
	etag string
	gz   []byte
}

// webCacheBytes bounds the gzipped bytes WebUI keeps in memory.
const webCacheBytes = 64 << 20

// entry returns the file's cached entry, reading and hashing the file on
// a miss (then also returning its content to serve). Entries are keyed by
// name, size and modification time: a file under --web-dir may change.
func (u *WebUI) entry(name string, st fs.FileInfo, f fs.File) (webEntry, io.ReadSeeker, error) {
	key := name + "\x00" + st.ModTime().String() + "\x00" + strconv.FormatInt(st.Size(), 10)
	u.mu.Lock()
	e, ok := u.entries[key]
	u.mu.Unlock()
	if ok {
		return e, nil, nil
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return webEntry{}, nil, err
	}
	sum := sha256.Sum256(data)
	e = webEntry{etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	if compressible(name) && len(data) > 1024 {
		e.gz = gzipped(data)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.cached+len(e.gz) > webCacheBytes || len(u.entries) >= 4096 {
		clear(u.entries)
		u.cached = 0
	}
	u.entries[key] = e
	u.cached += len(e.gz)
	return e, bytes.NewReader(data), nil
}

func gzipped(data []byte) []byte {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	_, _ = zw.Write(data) // writes to a bytes.Buffer do not fail
	_ = zw.Close()
	if b.Len() >= len(data) {
		return nil
	}
	return b.Bytes()
}

// readSeeker is f as an io.ReadSeeker (embedded and on-disk files are).
func readSeeker(f fs.File) (io.ReadSeeker, error) {
	if rs, ok := f.(io.ReadSeeker); ok {
		if _, err := rs.Seek(0, io.SeekStart); err == nil {
			return rs, nil
		}
	}
	data, err := io.ReadAll(f)
	return bytes.NewReader(data), err
}

// acceptsGzip reports whether an Accept-Encoding header takes gzip.
func acceptsGzip(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		coding, params, _ := strings.Cut(part, ";")
		if c := strings.TrimSpace(coding); c != "gzip" && c != "*" {
			continue
		}
		q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q=")
		if !ok {
			return true
		}
		v, err := strconv.ParseFloat(q, 64)
		return err == nil && v > 0
	}
	return false
}

// compressible names the text types worth gzipping.
func compressible(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".html", ".js", ".mjs", ".css", ".json", ".map", ".webmanifest", ".svg", ".txt", ".wasm":
		return true
	}
	return false
}

// webTypes fixes the types a browser insists on (modules, the manifest,
// wasm) rather than trusting the system's MIME table.
var webTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".json":        "application/json",
	".map":         "application/json",
	".webmanifest": "application/manifest+json",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".ico":         "image/x-icon",
	".webp":        "image/webp",
	".woff2":       "font/woff2",
	".wasm":        "application/wasm",
	".txt":         "text/plain; charset=utf-8",
}

func webContentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := webTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// webCacheControl: hashed assets forever, everything else revalidated
// (index.html, sw.js and the manifest must be, or an update never lands).
func webCacheControl(name string) string {
	if strings.HasPrefix(name, "assets/") {
		return "public, max-age=31536000, immutable"
	}
	return "no-cache"
}
