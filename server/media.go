package server

import (
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// MediaBackend is what the media service needs. (Being built: see the
// photos issue.)
type MediaBackend interface{}

type mediaHandler struct {
	fieldsyncv1connect.UnimplementedMediaServiceHandler
	cfg *Config
}
