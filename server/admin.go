package server

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// DefaultEnrollmentTTL is how long an enrollment code lasts when the request
// names no TTL.
const DefaultEnrollmentTTL = 24 * time.Hour

type adminHandler struct {
	cfg *Config
}

func (h *adminHandler) fail(ctx context.Context, err error) error {
	return toConnect(ctx, h.cfg.Logger, err)
}

func (h *adminHandler) CreateRegion(ctx context.Context, req *connect.Request[fieldsyncv1.CreateRegionRequest]) (*connect.Response[fieldsyncv1.CreateRegionResponse], error) {
	p, err := requireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	r, err := h.cfg.Identity.CreateRegion(ctx, p.TenantID, req.Msg.GetName())
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return connect.NewResponse(&fieldsyncv1.CreateRegionResponse{Region: regionToWire(r)}), nil
}

func (h *adminHandler) CreateStore(ctx context.Context, req *connect.Request[fieldsyncv1.CreateStoreRequest]) (*connect.Response[fieldsyncv1.CreateStoreResponse], error) {
	p, err := requireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	s, err := h.cfg.Identity.CreateStore(ctx, p.TenantID, req.Msg.GetRegionId(), req.Msg.GetName())
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return connect.NewResponse(&fieldsyncv1.CreateStoreResponse{Store: storeToWire(s)}), nil
}

func (h *adminHandler) GetOrganization(ctx context.Context, _ *connect.Request[fieldsyncv1.GetOrganizationRequest]) (*connect.Response[fieldsyncv1.GetOrganizationResponse], error) {
	p, err := requireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	t, regions, stores, err := h.cfg.Identity.GetOrganization(ctx, p.TenantID)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	res := &fieldsyncv1.GetOrganizationResponse{TenantId: t.ID, TenantName: t.Name}
	for i := range regions {
		res.Regions = append(res.Regions, regionToWire(&regions[i]))
	}
	for i := range stores {
		res.Stores = append(res.Stores, storeToWire(&stores[i]))
	}
	return connect.NewResponse(res), nil
}

// requireDeviceViewer returns the caller if it may list devices: an
// admin's, a store manager's or a regional director's device (the latter
// two see their scope's devices only, see visibleDevices).
func requireDeviceViewer(ctx context.Context) (*syncengine.Principal, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case !p.IsDevice():
	case p.Role == roleAdmin, p.Role == fieldsyncv1.Role_ROLE_STORE_MANAGER, p.Role == fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR:
		return p, nil
	}
	return nil, connect.NewError(connect.CodePermissionDenied, errors.New("listing devices needs an admin's, a store manager's or a regional director's device token"))
}

// roleNeedsRegion and roleNeedsStore say where a user of a role must be placed.
func roleNeedsRegion(r fieldsyncv1.Role) bool {
	return r == fieldsyncv1.Role_ROLE_REP || r == fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR || r == fieldsyncv1.Role_ROLE_TECH_ADVISOR
}

func roleNeedsStore(r fieldsyncv1.Role) bool {
	return r == fieldsyncv1.Role_ROLE_STORE_STAFF || r == fieldsyncv1.Role_ROLE_STORE_MANAGER
}

func (h *adminHandler) CreateUser(ctx context.Context, req *connect.Request[fieldsyncv1.CreateUserRequest]) (*connect.Response[fieldsyncv1.CreateUserResponse], error) {
	p, err := requireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	switch {
	case roleNeedsRegion(m.GetRole()) && m.GetRegionId() == "":
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("region_id: required for role "+m.GetRole().String()))
	case roleNeedsStore(m.GetRole()) && m.GetStoreId() == "":
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("store_id: required for role "+m.GetRole().String()))
	}
	u := &syncengine.User{TenantID: p.TenantID, DisplayName: m.GetDisplayName(), Role: m.GetRole(), RegionID: m.GetRegionId(), StoreID: m.GetStoreId()}
	if err := h.cfg.Identity.CreateUser(ctx, u); err != nil {
		return nil, h.fail(ctx, err)
	}
	return connect.NewResponse(&fieldsyncv1.CreateUserResponse{User: userToWire(u)}), nil
}

func (h *adminHandler) ListUsers(ctx context.Context, _ *connect.Request[fieldsyncv1.ListUsersRequest]) (*connect.Response[fieldsyncv1.ListUsersResponse], error) {
	p, err := requireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	users, err := h.cfg.Identity.ListUsers(ctx, p.TenantID)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	res := &fieldsyncv1.ListUsersResponse{}
	for _, u := range users {
		res.Users = append(res.Users, userToWire(u))
	}
	return connect.NewResponse(res), nil
}

func (h *adminHandler) IssueEnrollmentCode(ctx context.Context, req *connect.Request[fieldsyncv1.IssueEnrollmentCodeRequest]) (*connect.Response[fieldsyncv1.IssueEnrollmentCodeResponse], error) {
	p, err := requireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	ttl := DefaultEnrollmentTTL
	if d := req.Msg.GetTtl(); d != nil && d.AsDuration() > 0 {
		ttl = d.AsDuration()
	}
	code, expires, err := h.cfg.Identity.IssueEnrollmentCode(ctx, p.TenantID, req.Msg.GetUserId(), p.UserID, ttl)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return connect.NewResponse(&fieldsyncv1.IssueEnrollmentCodeResponse{EnrollmentCode: code, ExpireTime: timestamp(expires)}), nil
}

func (h *adminHandler) ListDevices(ctx context.Context, req *connect.Request[fieldsyncv1.ListDevicesRequest]) (*connect.Response[fieldsyncv1.ListDevicesResponse], error) {
	p, err := requireDeviceViewer(ctx)
	if err != nil {
		return nil, err
	}
	devices, err := h.cfg.Identity.ListDevices(ctx, p.TenantID, req.Msg.GetUserId())
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	if p.Role != roleAdmin {
		if devices, err = h.visibleDevices(ctx, p, devices); err != nil {
			return nil, h.fail(ctx, err)
		}
	}
	res := &fieldsyncv1.ListDevicesResponse{}
	for _, d := range devices {
		res.Devices = append(res.Devices, deviceToWire(d))
	}
	return connect.NewResponse(res), nil
}

func (h *adminHandler) RevokeDevice(ctx context.Context, req *connect.Request[fieldsyncv1.RevokeDeviceRequest]) (*connect.Response[fieldsyncv1.RevokeDeviceResponse], error) {
	p, err := requireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	d, err := h.cfg.Identity.RevokeDevice(ctx, p.TenantID, req.Msg.GetDeviceId())
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	h.cfg.authCache.forget()
	h.cfg.watches.revoked(p.TenantID, syncengine.Principal{DeviceID: d.ID})
	h.cfg.Logger.InfoContext(ctx, "device revoked", "tenant", p.TenantID, "device", d.ID, "by", p.UserID)
	return connect.NewResponse(&fieldsyncv1.RevokeDeviceResponse{Device: deviceToWire(d)}), nil
}

func (h *adminHandler) CreateApiKey(ctx context.Context, req *connect.Request[fieldsyncv1.CreateApiKeyRequest]) (*connect.Response[fieldsyncv1.CreateApiKeyResponse], error) {
	p, err := requireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	k, secret, err := h.cfg.Identity.CreateAPIKey(ctx, p.TenantID, req.Msg.GetName(), req.Msg.GetPermissions())
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return connect.NewResponse(&fieldsyncv1.CreateApiKeyResponse{ApiKey: apiKeyToWire(k), Secret: secret}), nil
}

func (h *adminHandler) ListApiKeys(ctx context.Context, _ *connect.Request[fieldsyncv1.ListApiKeysRequest]) (*connect.Response[fieldsyncv1.ListApiKeysResponse], error) {
	p, err := requireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := h.cfg.Identity.ListAPIKeys(ctx, p.TenantID)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	res := &fieldsyncv1.ListApiKeysResponse{}
	for _, k := range keys {
		res.ApiKeys = append(res.ApiKeys, apiKeyToWire(k))
	}
	return connect.NewResponse(res), nil
}

func (h *adminHandler) RevokeApiKey(ctx context.Context, req *connect.Request[fieldsyncv1.RevokeApiKeyRequest]) (*connect.Response[fieldsyncv1.RevokeApiKeyResponse], error) {
	p, err := requireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	k, err := h.cfg.Identity.RevokeAPIKey(ctx, p.TenantID, req.Msg.GetApiKeyId())
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	h.cfg.authCache.forget()
	h.cfg.watches.revoked(p.TenantID, syncengine.Principal{APIKeyID: k.ID})
	return connect.NewResponse(&fieldsyncv1.RevokeApiKeyResponse{ApiKey: apiKeyToWire(k)}), nil
}
