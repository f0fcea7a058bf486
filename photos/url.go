package photos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/storage/media"
	"github.com/fieldsync/fieldsync/syncengine"
)

// MediaURL returns a URL that reads a photo until the returned expiry
// (Config.LinkTTL). The caller must be allowed to see (syncengine.FilterFor)
// at least one live record on which the photo is available: a user who
// attached it to that record uploaded its bytes (see Store.PhotoRecords).
// Knowing a hash, or citing it in one's own record, grants nothing; the
// uploader gets no URL for a photo no visible record uses. Errors: CodeNotFound otherwise, whatever the reason, so the
// answer reveals nothing about photos the caller may not see; CodeInvalid
// for a malformed hash.
func (s *Service) MediaURL(ctx context.Context, p *syncengine.Principal, sha256 string) (string, time.Time, error) {
	if !media.ValidKey(sha256) {
		return "", time.Time{}, syncengine.Errorf(syncengine.CodeInvalid, "sha256: want 64 lower-case hex digits")
	}
	ok, err := s.mayRead(ctx, p, sha256)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("media url: %w", err)
	}
	if !ok {
		return "", time.Time{}, syncengine.Errorf(syncengine.CodeNotFound, "photo %s not found", sha256)
	}
	expires := s.cfg.Now().Add(s.cfg.LinkTTL).Truncate(time.Second)
	u, err := s.cfg.Links.Link(ctx, sha256, expires)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("media url: %w", err)
	}
	return u, expires, nil
}

// mayRead reports whether p sees a record on which the photo is available.
func (s *Service) mayRead(ctx context.Context, p *syncengine.Principal, sha256 string) (bool, error) {
	f := syncengine.FilterFor(p)
	if f.TenantID == "" {
		return false, nil
	}
	refs, err := s.cfg.Store.PhotoRecords(ctx, f.TenantID, sha256)
	if err != nil {
		return false, err
	}
	for _, ref := range refs {
		if rt, ok := s.cfg.Registry.Lookup(ref.Type); ok && ref.Available && f.Matches(rt, ref.Scope) {
			return true, nil
		}
	}
	return false, nil
}

// PresignedLinks is a Linker over a store that presigns its own URLs (S3).
type PresignedLinks struct {
	Presigner media.Presigner
	// Now is the clock the expiry is measured from (default time.Now).
	Now func() time.Time
}

var _ Linker = PresignedLinks{}

// Link presigns a GET of key valid until expires (at least one second).
func (l PresignedLinks) Link(ctx context.Context, key string, expires time.Time) (string, error) {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	ttl := max(expires.Sub(now()), time.Second)
	return l.Presigner.PresignGet(ctx, key, ttl)
}

// SignedLinks is a Linker to fieldsyncd's own media.NewHandler, for stores
// that cannot presign (the local folder).
type SignedLinks struct {
	Signer *media.URLSigner
	// Base returns the server's public origin ("https://fieldsync.example").
	Base func() string
}

var _ Linker = SignedLinks{}

// Link returns Base() + "/media/<key>?exp=…&sig=…".
func (l SignedLinks) Link(_ context.Context, key string, expires time.Time) (string, error) {
	if l.Signer == nil || l.Base == nil {
		return "", errors.New("signed links: Signer and Base are required")
	}
	return strings.TrimSuffix(l.Base(), "/") + l.Signer.Path(key, expires), nil
}
