package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/syncengine"
)

// RatingStore keeps the rating links and reads the quotes they rate
// (storage/sqlite implements it). Tokens are stored by their hash only.
type RatingStore interface {
	// RatingSecret returns the signing key of rating tokens, shared by
	// every node of the database.
	RatingSecret(ctx context.Context) ([]byte, error)
	IssueRatingToken(ctx context.Context, hash []byte, tenantID, quoteID, createdBy string, expires time.Time) error
	// RatingToken returns a live token's tenant, quote and issue time;
	// unknown, used and expired tokens are one CodeNotFound.
	RatingToken(ctx context.Context, hash []byte) (tenantID, quoteID string, issued time.Time, err error)
	// Tokens are claimed in the rating's write transaction:
	// syncengine.Tx.ClaimRatingToken.
	GetRecords(ctx context.Context, tenantID string, ids []string) (map[string]*syncengine.StoredRecord, error)
}

// RatingWriter writes a rating record as the server, after a guard in the
// same transaction (syncengine.Engine implements it).
type RatingWriter interface {
	ServerWriteGuarded(ctx context.Context, tenantID, recordType, id string, value proto.Message, fields []string, guard func(tx syncengine.Tx) error) (bool, error)
}

var _ RatingWriter = (*syncengine.Engine)(nil)

// RatingConfig serves RatingService and the public rating page (GET and
// POST /r/{token}) when set as Config.Ratings and Config.Sync is the
// sync engine.
type RatingConfig struct {
	Store RatingStore
	// Rate and Burst bound the page's requests per client IP; GlobalRate
	// and GlobalBurst those of all clients together. Zero means the
	// defaults (DefaultRatingLimits).
	Rate, GlobalRate   float64
	Burst, GlobalBurst int
}

// DefaultRatingLimits are the page's limits: a customer opens the page and
// posts once; a burst of 10 per IP covers a shop's shared Wi-Fi.
func DefaultRatingLimits() (rate float64, burst int, globalRate float64, globalBurst int) {
	return 0.2, 10, 50, 200
}

// defaultRatingTTL is how long a link lives when the caller gives no ttl.
const defaultRatingTTL = 7 * 24 * time.Hour

var (
	quoteType  = string((&fieldsyncv1.Quote{}).ProtoReflect().Descriptor().FullName())
	ratingType = string((&fieldsyncv1.SatisfactionRating{}).ProtoReflect().Descriptor().FullName())
)

// mountRatings mounts RatingService and the rating page when configured,
// and returns the service's name.
func mountRatings(mux *http.ServeMux, cfg *Config, opts []connect.HandlerOption) []string {
	w, ok := cfg.Sync.(RatingWriter)
	if cfg.Ratings == nil || cfg.Ratings.Store == nil || !ok {
		return nil
	}
	r := &ratings{cfg: cfg, store: cfg.Ratings.Store, writer: w}
	mux.Handle(fieldsyncv1connect.NewRatingServiceHandler(&ratingHandler{r: r}, opts...))
	mux.Handle(ratingPagePrefix, newRatingPage(r, *cfg.Ratings))
	return []string{fieldsyncv1connect.RatingServiceName}
}

// ratings is what the RPC and the page share: the store, the writer and
// the signing key, read once.
type ratings struct {
	cfg    *Config
	store  RatingStore
	writer RatingWriter
	mu     sync.Mutex
	secret []byte
}

// key returns the signing key, reading it from the store on first use.
func (r *ratings) key(ctx context.Context) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.secret == nil {
		s, err := r.store.RatingSecret(ctx)
		if err != nil {
			return nil, err
		}
		r.secret = s
	}
	return r.secret, nil
}

// liveQuote returns the tenant's quote with the id, or nil when it is
// missing, deleted or another type.
func (r *ratings) liveQuote(ctx context.Context, tenantID, id string) (*syncengine.StoredRecord, error) {
	recs, err := r.store.GetRecords(ctx, tenantID, []string{id})
	if err != nil {
		return nil, err
	}
	rec := recs[id]
	if rec == nil || rec.Type != quoteType || rec.State.Deleted() {
		return nil, nil
	}
	return rec, nil
}

type ratingHandler struct {
	r *ratings
}

// CreateRatingLink issues a link for a quote the caller, a store staff
// member's or store manager's device, may read.
func (h *ratingHandler) CreateRatingLink(ctx context.Context, req *connect.Request[fieldsyncv1.CreateRatingLinkRequest]) (*connect.Response[fieldsyncv1.CreateRatingLinkResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if !p.IsDevice() || (p.Role != fieldsyncv1.Role_ROLE_STORE_STAFF && p.Role != fieldsyncv1.Role_ROLE_STORE_MANAGER) {
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("CreateRatingLink takes the device of a store staff member or store manager"))
	}
	quoteID := req.Msg.GetQuoteId()
	if err := h.checkQuote(ctx, p, quoteID); err != nil {
		return nil, err
	}
	secret, err := h.r.key(ctx)
	if err != nil {
		return nil, toConnect(ctx, h.r.cfg.Logger, err)
	}
	ttl := defaultRatingTTL
	if req.Msg.GetTtl() != nil {
		ttl = req.Msg.GetTtl().AsDuration()
	}
	token := newRatingToken(secret)
	expires := time.Now().Add(ttl).Truncate(time.Millisecond)
	if err := h.r.store.IssueRatingToken(ctx, ratingTokenHash(token), p.TenantID, quoteID, p.Actor(), expires); err != nil {
		return nil, toConnect(ctx, h.r.cfg.Logger, err)
	}
	return connect.NewResponse(&fieldsyncv1.CreateRatingLinkResponse{
		Path: ratingPagePrefix + token, ExpireTime: timestamppb.New(expires),
	}), nil
}

// checkQuote answers NotFound, the same for each, unless the quote exists,
// is live and the caller may read it.
func (h *ratingHandler) checkQuote(ctx context.Context, p *syncengine.Principal, quoteID string) error {
	rec, err := h.r.liveQuote(ctx, p.TenantID, quoteID)
	if err != nil {
		return toConnect(ctx, h.r.cfg.Logger, err)
	}
	rt, ok := h.r.registry().Lookup(quoteType)
	if rec == nil || !ok || !syncengine.CanRead(p, rt, rec.Scope) {
		return connect.NewError(connect.CodeNotFound, fmt.Errorf("quote_id: no quote %q in your scope", quoteID))
	}
	rated, err := h.r.store.GetRecords(ctx, p.TenantID, []string{RatingRecordID(p.TenantID, quoteID)})
	if err != nil {
		return toConnect(ctx, h.r.cfg.Logger, err)
	}
	for _, r := range rated {
		if !r.State.Deleted() {
			return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("quote_id: quote %q has been rated already", quoteID))
		}
	}
	return nil
}

// registry is the record types of the sync engine.
func (r *ratings) registry() *syncengine.Registry { return r.cfg.Sync.Registry() }
