package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// CORS lets a web app served from another origin call the API from a
// browser: Connect (unary over POST or GET), gRPC-Web and the raw chunk
// route (PUT, its Fieldsync-Crc32c header asked, Fieldsync-Offset read;
// see chunkPut). Only the listed
// origins, matched exactly, get CORS headers; the others get none, so the
// browser keeps their pages out. A preflight (OPTIONS with
// Access-Control-Request-Method) from an allowed origin is answered here,
// before authentication, rate limits and body limits, and without reading
// a body; a preflight from another origin is refused with 403. Credentials
// (cookies) are not allowed: callers send their token in Authorization,
// which a preflight allows.
type CORS struct {
	origins map[string]bool
	next    http.Handler
}

// corsMaxAge is how long a browser may keep a preflight's answer (2 h, the
// most Chromium honours).
const corsMaxAge = 7200

var (
	corsMethods = "GET, POST, PUT" // PUT: the raw chunk route
	// corsAllowHeaders are what Connect and gRPC-Web clients send, and
	// the raw chunk route's CRC32C.
	corsAllowHeaders = strings.Join([]string{"Authorization", "Content-Type", "Connect-Protocol-Version",
		"Connect-Timeout-Ms", "Connect-Content-Encoding", "Connect-Accept-Encoding", "Grpc-Timeout",
		"X-Grpc-Web", "X-User-Agent", "Content-Encoding", "Accept-Encoding", CRC32CHeader}, ", ")
	// corsExposeHeaders are the response headers their clients read,
	// and the raw chunk route's new offset.
	corsExposeHeaders = strings.Join([]string{"Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin",
		"Content-Encoding", "Connect-Content-Encoding", "Retry-After", OffsetHeader}, ", ")
)

// ParseCORSOrigins reads a comma-separated list of origins
// ("https://app.example.com,http://localhost:5173"): each a scheme and a
// host with an optional port, nothing else. "*" is refused: the API
// answers with the caller's token, and a wildcard would open it to every
// site.
func ParseCORSOrigins(list string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(list, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if err := checkOrigin(o); err != nil {
			return nil, fmt.Errorf("cors-origins: %q: %w", o, err)
		}
		out = append(out, o)
	}
	return out, nil
}

func checkOrigin(o string) error {
	if o == "*" {
		return errors.New("a wildcard is not allowed; list the origins")
	}
	u, err := url.Parse(o)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("want scheme://host[:port], e.g. https://app.example.com")
	}
	if strings.ToLower(o) != o {
		return errors.New("write it in lower case, as browsers send it")
	}
	return nil
}

// NewCORS wraps next with CORS for origins (see ParseCORSOrigins); with no
// origins it returns next unchanged.
func NewCORS(origins []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	c := &CORS{origins: map[string]bool{}, next: next}
	for _, o := range origins {
		c.origins[o] = true
	}
	return c
}

func (c *CORS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	h := w.Header()
	h.Add("Vary", "Origin")
	if !c.origins[origin] {
		if preflight {
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		c.next.ServeHTTP(w, r)
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	if !preflight {
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		c.next.ServeHTTP(w, r)
		return
	}
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	h.Set("Access-Control-Allow-Methods", corsMethods)
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", strconv.Itoa(corsMaxAge))
	w.WriteHeader(http.StatusNoContent)
}
