package server

import (
	"bytes"
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
	files fs.FS
	csp   string
	mu    sync.Mutex
	etags map[string]string
}

// NewWebUI serves files (index.html at its root). mediaOrigins are the
// origins of photo links other than the app's own (an S3 endpoint, a
// public URL), allowed as image and fetch sources.
func NewWebUI(files fs.FS, mediaOrigins ...string) *WebUI {
	return &WebUI{files: files, csp: webCSP(mediaOrigins), etags: map[string]string{}}
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
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", u.csp)
	h.Set("Referrer-Policy", "same-origin")
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

// serveFile answers with the regular file name, reporting false when
// there is none.
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
	data, err := io.ReadAll(f)
	if err != nil {
		return false
	}
	h := w.Header()
	h.Set("Content-Type", webContentType(name))
	h.Set("Cache-Control", webCacheControl(name))
	h.Set("ETag", u.etag(name, st, data))
	if path.Base(name) == "sw.js" {
		h.Set("Service-Worker-Allowed", "/")
	}
	http.ServeContent(w, r, name, st.ModTime(), bytes.NewReader(data))
	return true
}

// etag is the quoted SHA-256 prefix of a file's content, kept per name,
// size and modification time (a file on disk may change under --web-dir).
func (u *WebUI) etag(name string, st fs.FileInfo, data []byte) string {
	key := name + "\x00" + st.ModTime().String() + "\x00" + strconv.FormatInt(st.Size(), 10)
	u.mu.Lock()
	defer u.mu.Unlock()
	if e, ok := u.etags[key]; ok {
		return e
	}
	sum := sha256.Sum256(data)
	e := `"` + hex.EncodeToString(sum[:12]) + `"`
	if len(u.etags) > 4096 {
		clear(u.etags)
	}
	u.etags[key] = e
	return e
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
