package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/syncengine"
)

// MinOperatorTokenLen is the shortest operator token SystemService accepts.
const MinOperatorTokenLen = 32

// TenantStore is the storage SystemService needs.
type TenantStore interface {
	CreateTenantWithAdmin(ctx context.Context, name, adminName string, ttl time.Duration) (*syncengine.TenantBootstrap, error)
	ListTenants(ctx context.Context) ([]syncengine.Tenant, error)
}

// SystemConfig serves SystemService: installation-wide calls that belong to
// no tenant. They are guarded by the operator token alone, which in turn no
// tenant service accepts (the Authenticator does not know it).
type SystemConfig struct {
	Tenants TenantStore
	// OperatorToken is the bearer secret of the installation's operator,
	// at least MinOperatorTokenLen characters.
	OperatorToken string
	// OperatorTokenSHA256, when set instead of OperatorToken, returns the
	// SHA-256 of the operator token on each call (nil: none is accepted),
	// so nodes sharing a database accept the one it names, also a new one
	// at once. An error answers Unavailable.
	OperatorTokenSHA256 func(ctx context.Context) ([]byte, error)
	// Phi serves RecomputePhi when set (a daemon running the consumers).
	Phi PhiRecomputer
}

// newSystemHandler mounts SystemService behind the operator-token check
// instead of the tenant authenticator. Its procedures are public to the
// tenant authenticator (publicProcedures: charged to the client IP's rate
// limit) and take small messages, like Enroll, since the operator token is
// checked only once the request is decoded.
func newSystemHandler(cfg *Config, metrics, validate connect.Interceptor) (string, http.Handler, error) {
	op, err := newOperatorInterceptor(cfg.System)
	if err != nil {
		return "", nil, err
	}
	path, h := fieldsyncv1connect.NewSystemServiceHandler(&systemHandler{cfg: cfg},
		append([]connect.HandlerOption{connect.WithInterceptors(metrics, boundErrors{log: cfg.Logger}, op, validate)}, bounds(publicMaxBytes)...)...,
	)
	return path, h, nil
}

// operatorInterceptor admits only calls bearing the operator token. The
// comparison is of SHA-256 digests in constant time, so neither the token's
// content nor its length leaks through timing.
type operatorInterceptor struct {
	want func(ctx context.Context) ([]byte, error)
}

func newOperatorInterceptor(sc *SystemConfig) (*operatorInterceptor, error) {
	switch {
	case sc.Tenants == nil:
		return nil, errors.New("server: System needs Tenants")
	case sc.OperatorTokenSHA256 != nil:
		return &operatorInterceptor{want: sc.OperatorTokenSHA256}, nil
	case len(sc.OperatorToken) < MinOperatorTokenLen:
		return nil, errors.New("server: System needs an operator token of at least 32 characters")
	}
	sum := sha256.Sum256([]byte(sc.OperatorToken))
	return &operatorInterceptor{want: func(context.Context) ([]byte, error) { return sum[:], nil }}, nil
}

func (o *operatorInterceptor) check(ctx context.Context, h http.Header) error {
	scheme, token, ok := strings.Cut(h.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return connect.NewError(connect.CodeUnauthenticated, errors.New("SystemService needs Authorization: Bearer <operator token>"))
	}
	want, err := o.want(ctx)
	if err != nil {
		return connect.NewError(connect.CodeUnavailable, errors.New("operator token: the database is unavailable"))
	}
	token = strings.TrimSpace(token)
	got := sha256.Sum256([]byte(token))
	if len(want) == sha256.Size && subtle.ConstantTimeCompare(got[:], want) == 1 {
		return nil
	}
	if strings.HasPrefix(token, "fsd_") || strings.HasPrefix(token, "fsk_") {
		return connect.NewError(connect.CodePermissionDenied, errors.New("SystemService needs the operator token; device tokens and API keys are refused"))
	}
	return connect.NewError(connect.CodeUnauthenticated, errors.New("wrong operator token"))
}

func (o *operatorInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if err := o.check(ctx, req.Header()); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (o *operatorInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (o *operatorInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if err := o.check(ctx, conn.RequestHeader()); err != nil {
			return err
		}
		return next(ctx, conn)
	}
}

type systemHandler struct {
	cfg *Config
}

func (h *systemHandler) CreateTenant(ctx context.Context, req *connect.Request[fieldsyncv1.CreateTenantRequest]) (*connect.Response[fieldsyncv1.CreateTenantResponse], error) {
	ttl := DefaultEnrollmentTTL
	if d := req.Msg.GetEnrollmentTtl(); d != nil && d.AsDuration() > 0 {
		ttl = d.AsDuration()
	}
	name, admin := strings.TrimSpace(req.Msg.GetName()), strings.TrimSpace(req.Msg.GetAdminDisplayName())
	b, err := h.cfg.System.Tenants.CreateTenantWithAdmin(ctx, name, admin, ttl)
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	h.cfg.Logger.InfoContext(ctx, "tenant created", "tenant", b.Tenant.ID, "admin", b.Admin.ID)
	return connect.NewResponse(&fieldsyncv1.CreateTenantResponse{
		Tenant:                   tenantToWire(&b.Tenant),
		Admin:                    userToWire(&b.Admin),
		EnrollmentCode:           b.EnrollmentCode,
		EnrollmentCodeExpireTime: timestamp(b.CodeExpires),
	}), nil
}

func (h *systemHandler) ListTenants(ctx context.Context, _ *connect.Request[fieldsyncv1.ListTenantsRequest]) (*connect.Response[fieldsyncv1.ListTenantsResponse], error) {
	ts, err := h.cfg.System.Tenants.ListTenants(ctx)
	if err != nil {
		return nil, toConnect(ctx, h.cfg.Logger, err)
	}
	res := &fieldsyncv1.ListTenantsResponse{}
	for i := range ts {
		res.Tenants = append(res.Tenants, tenantToWire(&ts[i]))
	}
	return connect.NewResponse(res), nil
}

func tenantToWire(t *syncengine.Tenant) *fieldsyncv1.Tenant {
	return &fieldsyncv1.Tenant{Id: t.ID, Name: t.Name, CreateTime: timestamp(t.CreatedAt)}
}
