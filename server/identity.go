package server

import (
	"context"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

const roleAdmin = fieldsyncv1.Role_ROLE_ADMIN

// IdentityStore is the storage the identity and admin services need.
// Lookups of another tenant's entities return CodeNotFound.
type IdentityStore interface {
	Enroll(ctx context.Context, code, name, platform string) (*syncengine.Device, string, error)
	GetUser(ctx context.Context, tenantID, userID string) (*syncengine.User, error)
	GetOrganization(ctx context.Context, tenantID string) (*syncengine.Tenant, []syncengine.Region, []syncengine.Shop, error)
	CreateRegion(ctx context.Context, tenantID, name string) (*syncengine.Region, error)
	CreateStore(ctx context.Context, tenantID, regionID, name string) (*syncengine.Shop, error)
	CreateUser(ctx context.Context, u *syncengine.User) error
	ListUsers(ctx context.Context, tenantID string) ([]*syncengine.User, error)
	// IssueEnrollmentCode makes a user's one-time code; issuedBy is the
	// user who asked for it (kept, so the user is told: an admin's device).
	IssueEnrollmentCode(ctx context.Context, tenantID, userID, issuedBy string, ttl time.Duration) (string, time.Time, error)
	ListDevices(ctx context.Context, tenantID, userID string) ([]*syncengine.Device, error)
	RevokeDevice(ctx context.Context, tenantID, deviceID string) (*syncengine.Device, error)
	CreateAPIKey(ctx context.Context, tenantID, name string, permissions []string) (*syncengine.APIKey, string, error)
	ListAPIKeys(ctx context.Context, tenantID string) ([]*syncengine.APIKey, error)
	RevokeAPIKey(ctx context.Context, tenantID, keyID string) (*syncengine.APIKey, error)
}

type identityHandler struct {
	cfg *Config
}

// Enroll exchanges a code for a device token. A client address that
// failed too often (see enrollFailBurst) is refused with
// ResourceExhausted before its code is looked at.
func (h *identityHandler) Enroll(ctx context.Context, req *connect.Request[fieldsyncv1.EnrollRequest]) (*connect.Response[fieldsyncv1.EnrollResponse], error) {
	peer := peerKey(req.Peer().Addr)
	if err := h.cfg.enrollFails.check(peer); err != nil {
		return nil, err
	}
	d, token, err := h.cfg.Identity.Enroll(ctx, req.Msg.GetEnrollmentCode(), req.Msg.GetDeviceName(), req.Msg.GetPlatform())
	if err != nil {
		if syncengine.IsCode(err, syncengine.CodeUnauthenticated) {
			_ = h.cfg.enrollFails.take(peer) // a failure spends; the next call is refused once the bucket is empty
		}
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	h.cfg.Logger.InfoContext(ctx, "device enrolled", "tenant", d.TenantID, "user", d.UserID, "device", d.ID)
	return connect.NewResponse(&fieldsyncv1.EnrollResponse{
		DeviceId: d.ID, UserId: d.UserID, TenantId: d.TenantID, DeviceToken: token,
	}), nil
}

func (h *identityHandler) WhoAmI(ctx context.Context, _ *connect.Request[fieldsyncv1.WhoAmIRequest]) (*connect.Response[fieldsyncv1.WhoAmIResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	t, _, _, err := h.cfg.Identity.GetOrganization(ctx, p.TenantID)
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	res := &fieldsyncv1.WhoAmIResponse{
		TenantId: p.TenantID, TenantName: t.Name, ServerTime: timestamppb.Now(),
	}
	if p.IsAPIKey() {
		res.Kind = fieldsyncv1.PrincipalKind_PRINCIPAL_KIND_API_KEY
		res.ApiKeyId, res.Permissions = p.APIKeyID, p.Permissions
		return connect.NewResponse(res), nil
	}
	u, err := h.cfg.Identity.GetUser(ctx, p.TenantID, p.UserID)
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	res.Kind = fieldsyncv1.PrincipalKind_PRINCIPAL_KIND_DEVICE
	res.UserId, res.UserName, res.Role = u.ID, u.DisplayName, u.Role
	res.RegionId, res.StoreId, res.DeviceId = u.RegionID, u.StoreID, p.DeviceID
	return connect.NewResponse(res), nil
}

// timestamp converts a time, leaving zero times unset.
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
