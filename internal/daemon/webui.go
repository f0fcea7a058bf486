package daemon

import (
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"

	web "github.com/fieldsync/fieldsync/clients/web"
	"github.com/fieldsync/fieldsync/server"
)

// webUI is the web app at "/" of the API port: the files built into the
// binary (clients/web/dist), or --web-dir's for development.
func (d *Daemon) webUI() (http.Handler, error) {
	var files fs.FS = web.Dist()
	if d.cfg.WebDir != "" {
		dir, err := server.WebDir(d.cfg.WebDir)
		if err != nil {
			return nil, fmt.Errorf("web-dir: %w", err)
		}
		files = dir
	}
	return server.NewWebUI(files, d.mediaOrigins()...), nil
}

// mediaOrigins are where photo links may point besides the page's own
// origin: --public-url, the loopback names of --addr's port (signed links
// name 127.0.0.1 while the browser may say localhost), the S3 endpoint.
func (d *Daemon) mediaOrigins() []string {
	var out []string
	if u, err := url.Parse(d.cfg.PublicURL); err == nil && u.Scheme != "" && u.Host != "" {
		out = append(out, u.Scheme+"://"+u.Host)
	}
	if _, port, err := net.SplitHostPort(d.cfg.Addr); err == nil && port != "0" && port != "" {
		out = append(out, "http://127.0.0.1:"+port, "http://localhost:"+port)
	}
	if d.cfg.S3Endpoint != "" {
		scheme := "http://"
		if d.cfg.S3UseTLS {
			scheme = "https://"
		}
		out = append(out, scheme+d.cfg.S3Endpoint)
	}
	return out
}
