package daemon

import (
	"context"
	"net/http"

	"github.com/fieldsync/fieldsync/server"
)

// wireMedia builds the photo service: the media store (local folder or
// S3), uploads and signed links. It returns the backend and any extra HTTP
// handlers to mount. (Being built: see the photos issue.)
func (d *Daemon) wireMedia(ctx, runCtx context.Context) (server.MediaBackend, map[string]http.Handler, error) {
	return nil, nil, nil
}
