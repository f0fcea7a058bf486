package server

import (
	"context"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fieldsync/fieldsync/photos"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// MediaBackend is the photo service as the media service uses it. Its
// errors are domain errors (see photos.Service for which each returns).
type MediaBackend interface {
	CreateUpload(ctx context.Context, p *syncengine.Principal, req photos.CreateRequest) (*photos.Upload, error)
	PutChunk(ctx context.Context, p *syncengine.Principal, uploadID string, offset int64, data []byte, crc32c uint32) (int64, error)
	// PutChunkThen is PutChunk calling release once data is no longer
	// used (see photos.Service.PutChunkThen): the raw chunk route reads
	// chunks into pooled buffers.
	PutChunkThen(ctx context.Context, p *syncengine.Principal, uploadID string, offset int64, data []byte, crc32c uint32, release func()) (int64, error)
	GetUpload(ctx context.Context, p *syncengine.Principal, uploadID string) (*photos.Upload, error)
	CompleteUpload(ctx context.Context, p *syncengine.Principal, uploadID string) (*photos.Upload, *photos.Photo, error)
	CancelUpload(ctx context.Context, p *syncengine.Principal, uploadID string) error
	MediaURL(ctx context.Context, p *syncengine.Principal, sha256 string) (string, time.Time, error)
}

var _ MediaBackend = (*photos.Service)(nil)

// mediaHandler serves MediaService. Uploads belong to the device that
// created them: another caller naming an upload id gets NotFound.
type mediaHandler struct {
	cfg *Config
}

func (h *mediaHandler) CreateUpload(ctx context.Context, req *connect.Request[fieldsyncv1.CreateUploadRequest]) (*connect.Response[fieldsyncv1.CreateUploadResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	u, err := h.cfg.Media.CreateUpload(ctx, p, photos.CreateRequest{
		SHA256: m.GetSha256(), Size: m.GetSizeBytes(), ContentType: m.GetContentType(),
		RecordID: m.GetRecordId(), Slot: m.GetSlot(), DeviceHLC: m.GetDeviceHlc(),
	})
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	return connect.NewResponse(&fieldsyncv1.CreateUploadResponse{Upload: uploadToWire(u)}), nil
}

func (h *mediaHandler) PutChunk(ctx context.Context, req *connect.Request[fieldsyncv1.PutChunkRequest]) (*connect.Response[fieldsyncv1.PutChunkResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	off, err := h.cfg.Media.PutChunk(ctx, p, m.GetUploadId(), m.GetOffset(), m.GetData(), m.GetCrc32C())
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	return connect.NewResponse(&fieldsyncv1.PutChunkResponse{Offset: off}), nil
}

func (h *mediaHandler) GetUpload(ctx context.Context, req *connect.Request[fieldsyncv1.GetUploadRequest]) (*connect.Response[fieldsyncv1.GetUploadResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	u, err := h.cfg.Media.GetUpload(ctx, p, req.Msg.GetUploadId())
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	return connect.NewResponse(&fieldsyncv1.GetUploadResponse{Upload: uploadToWire(u)}), nil
}

func (h *mediaHandler) CompleteUpload(ctx context.Context, req *connect.Request[fieldsyncv1.CompleteUploadRequest]) (*connect.Response[fieldsyncv1.CompleteUploadResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	u, ph, err := h.cfg.Media.CompleteUpload(ctx, p, req.Msg.GetUploadId())
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	return connect.NewResponse(&fieldsyncv1.CompleteUploadResponse{Upload: uploadToWire(u), Photo: photoToWire(ph)}), nil
}

func (h *mediaHandler) CancelUpload(ctx context.Context, req *connect.Request[fieldsyncv1.CancelUploadRequest]) (*connect.Response[fieldsyncv1.CancelUploadResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.cfg.Media.CancelUpload(ctx, p, req.Msg.GetUploadId()); err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	return connect.NewResponse(&fieldsyncv1.CancelUploadResponse{}), nil
}

func (h *mediaHandler) GetMediaURL(ctx context.Context, req *connect.Request[fieldsyncv1.GetMediaURLRequest]) (*connect.Response[fieldsyncv1.GetMediaURLResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	url, expires, err := h.cfg.Media.MediaURL(ctx, p, req.Msg.GetSha256())
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	return connect.NewResponse(&fieldsyncv1.GetMediaURLResponse{Url: url, ExpireTime: timestamppb.New(expires)}), nil
}

func uploadToWire(u *photos.Upload) *fieldsyncv1.Upload {
	w := &fieldsyncv1.Upload{
		UploadId: u.ID, Sha256: u.SHA256, SizeBytes: u.Size, ContentType: u.ContentType,
		Offset: u.Offset, State: fieldsyncv1.UploadState(u.State), RecordId: u.RecordID, Slot: u.Slot,
	}
	if u.State == photos.StateInProgress {
		w.ExpireTime = timestamp(u.ExpiresAt)
	}
	return w
}

func photoToWire(ph *photos.Photo) *fieldsyncv1.PhotoMetadata {
	return &fieldsyncv1.PhotoMetadata{
		Sha256: ph.SHA256, SizeBytes: ph.Size, ContentType: ph.ContentType,
		CaptureTime: timestamp(ph.CaptureTime), HasLocation: ph.HasLocation,
		Latitude: ph.Latitude, Longitude: ph.Longitude, ReceiveTime: timestamp(ph.ReceivedAt),
	}
}
