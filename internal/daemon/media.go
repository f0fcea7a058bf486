package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/storage/media"
	"github.com/fieldsync/fieldsync/storage/media/local"
	"github.com/fieldsync/fieldsync/storage/media/s3"
)

// metaLinkSecret is the meta key of the secret that signs links to
// locally stored photos; it is made once and kept, so links survive restarts.
const metaLinkSecret = "media_link_secret"

// wireMedia builds the photo service: the media store (S3 when an endpoint
// is configured, else <data-dir>/photos), staging in <data-dir>/uploads
// (shared through the database when other nodes may share it),
// and for the local store signed links served under media.PathPrefix. The
// upload sweeper runs until runCtx ends; Close waits for it.
func (d *Daemon) wireMedia(ctx, runCtx context.Context) (server.MediaBackend, map[string]http.Handler, error) {
	objects, links, extra, err := d.mediaStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	svc, err := photos.New(photos.Config{
		Store:      d.db,
		Objects:    objects,
		Links:      links,
		Records:    d.engine,
		StagingDir: filepath.Join(d.cfg.DataDir, "uploads"),
		// A database other nodes may share keeps the chunks too, so an
		// upload goes on whichever node its next chunk reaches.
		SharedStaging:    d.cfg.Database != "" || d.cfg.SQLitePath != "",
		MaxBytes:         d.cfg.MaxPhotoBytes,
		Expiry:           d.cfg.UploadExpiry,
		MaxDeviceUploads: d.cfg.MaxDeviceUploads,
		Logger:           d.log,
	})
	if err != nil {
		return nil, nil, err
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := svc.Run(runCtx); err != nil {
			d.log.Error("photo upload sweeper stopped", "err", err)
		}
	}()
	return retryHint{MediaBackend: svc, after: d.cfg.ProbeInterval}, extra, nil
}

// mediaStore opens the configured object store and the links to it.
func (d *Daemon) mediaStore(ctx context.Context) (photos.ObjectStore, photos.Linker, map[string]http.Handler, error) {
	if d.cfg.S3Endpoint != "" {
		st, err := d.connectS3(ctx)
		if err != nil {
			return nil, nil, nil, err
		}
		d.deps.add(DepMedia, st.check)
		return st, photos.PresignedLinks{Presigner: st}, nil, nil
	}
	dir := filepath.Join(d.cfg.DataDir, "photos")
	st, err := local.New(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	d.deps.add(DepMedia, func(context.Context) error { _, err := os.Stat(dir); return err })
	signer, err := d.linkSigner(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	links := photos.SignedLinks{Signer: signer, Base: d.publicURL}
	return st, links, map[string]http.Handler{media.PathPrefix: media.NewHandler(st, signer)}, nil
}

// connectS3 opens the S3 photo store. A configuration S3 refuses (bad
// bucket name, wrong keys) stops the start; an unreachable S3 does not:
// the store connects later, when a photo call or health check reaches it.
func (d *Daemon) connectS3(ctx context.Context) (*lazyS3, error) {
	l := &lazyS3{cfg: s3.Config{
		Endpoint: d.cfg.S3Endpoint, Bucket: d.cfg.S3Bucket, AccessKey: d.cfg.S3AccessKey,
		SecretKey: d.cfg.S3SecretKey, UseTLS: d.cfg.S3UseTLS, Region: d.cfg.S3Region,
	}}
	st, err := s3.New(ctx, l.cfg)
	switch {
	case errors.Is(err, media.ErrUnavailable):
		d.log.Warn("photo store unreachable: records sync on, photo calls answer Unavailable until it is back",
			"s3_endpoint", d.cfg.S3Endpoint, "err", err)
	case err != nil:
		return nil, err
	default:
		l.st.Store(st)
	}
	return l, nil
}

// linkSigner returns the signer keyed with the data dir's secret, making
// the secret on first start.
func (d *Daemon) linkSigner(ctx context.Context) (*media.URLSigner, error) {
	v, err := d.db.Meta(ctx, metaLinkSecret)
	if err != nil {
		return nil, fmt.Errorf("media link secret: %w", err)
	}
	if v == "" {
		b := make([]byte, media.MinSecretSize)
		rand.Read(b)
		v = hex.EncodeToString(b)
		if err := d.db.SetMeta(ctx, metaLinkSecret, v); err != nil {
			return nil, fmt.Errorf("media link secret: %w", err)
		}
	}
	secret, err := hex.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("media link secret: %w", err)
	}
	return media.NewURLSigner(secret)
}

// publicURL is the origin of signed photo links: --public-url, else the
// address served (a wildcard address becomes loopback, so set
// --public-url when devices reach the server by another name).
func (d *Daemon) publicURL() string {
	if d.cfg.PublicURL != "" {
		return d.cfg.PublicURL
	}
	host, port, err := net.SplitHostPort(d.Addr())
	if err != nil {
		return d.URL()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
