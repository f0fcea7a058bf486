// Package server is fieldsync's network edge: Connect handlers (serving the
// Connect, gRPC and gRPC-Web protocols on one port, HTTP/1.1 and h2c), the
// auth and validation interceptors, health, reflection and metrics. Handlers
// translate between the wire types and the domain, and map domain errors to
// Connect codes in one place (errors.go).
package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// DefaultMaxMessageBytes bounds a single request message (8 MiB): larger
// ones are refused with ResourceExhausted before they are read into memory.
const DefaultMaxMessageBytes = 8 << 20

// Config holds the server's dependencies. Identity and Auth are required;
// each optional service is mounted only when its backend is set.
type Config struct {
	Logger   *slog.Logger
	Auth     Authenticator
	Identity IdentityStore
	// Sync serves SyncService when set.
	Sync SyncBackend
	// Media serves MediaService when set.
	Media MediaBackend
	// Insights serves InsightsService when set.
	Insights InsightsBackend
	// InsightsConfig serves AdminService's insights configuration calls.
	InsightsConfig InsightsConfigStore
	// System serves SystemService (operator token only) when set.
	System *SystemConfig
	// Extra HTTP handlers mounted on the mux by pattern (e.g. signed media links).
	Extra map[string]http.Handler
	// MaxMessageBytes bounds one request message; 0 means DefaultMaxMessageBytes.
	MaxMessageBytes int
	// Registry receives the RPC metrics; /metrics serves Gatherer.
	Registry prometheus.Registerer
	Gatherer prometheus.Gatherer
}

func (c *Config) validate() error {
	if c.Auth == nil || c.Identity == nil {
		return errors.New("server: Auth and Identity are required")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.Registry == nil {
		reg := prometheus.NewRegistry()
		c.Registry, c.Gatherer = reg, reg
	}
	if c.Gatherer == nil {
		c.Gatherer = prometheus.DefaultGatherer
	}
	return nil
}

// New returns the HTTP handler for every service. Serve it with h2c (see
// Serve) so gRPC clients work without TLS.
func New(cfg Config) (http.Handler, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	vi, err := newValidateInterceptor()
	if err != nil {
		return nil, err
	}
	opts := []connect.HandlerOption{
		connect.WithInterceptors(m, &authInterceptor{auth: cfg.Auth}, vi),
		connect.WithReadMaxBytes(cfg.MaxMessageBytes),
		connect.WithSendMaxBytes(4 * cfg.MaxMessageBytes),
	}
	mux := http.NewServeMux()
	services := []string{fieldsyncv1connect.IdentityServiceName, fieldsyncv1connect.AdminServiceName}
	mux.Handle(fieldsyncv1connect.NewIdentityServiceHandler(&identityHandler{cfg: &cfg}, opts...))
	mux.Handle(fieldsyncv1connect.NewAdminServiceHandler(&adminHandler{cfg: &cfg}, opts...))
	if cfg.Sync != nil {
		services = append(services, fieldsyncv1connect.SyncServiceName)
		mux.Handle(fieldsyncv1connect.NewSyncServiceHandler(&syncHandler{cfg: &cfg}, opts...))
	}
	if cfg.Insights != nil {
		services = append(services, fieldsyncv1connect.InsightsServiceName)
		mux.Handle(fieldsyncv1connect.NewInsightsServiceHandler(&insightsHandler{cfg: &cfg}, opts...))
	}
	if cfg.Media != nil {
		services = append(services, fieldsyncv1connect.MediaServiceName)
		mux.Handle(fieldsyncv1connect.NewMediaServiceHandler(&mediaHandler{cfg: &cfg}, opts...))
	}
	if cfg.System != nil {
		path, h, err := newSystemHandler(&cfg, m, vi)
		if err != nil {
			return nil, err
		}
		services = append(services, fieldsyncv1connect.SystemServiceName)
		mux.Handle(path, h)
	}
	mux.Handle(grpchealth.NewHandler(grpchealth.NewStaticChecker(services...)))
	reflector := grpcreflect.NewStaticReflector(services...)
	path, h := grpcreflect.NewHandlerV1(reflector)
	mux.Handle(path, requireToken(cfg.Auth, h))
	path, h = grpcreflect.NewHandlerV1Alpha(reflector)
	mux.Handle(path, requireToken(cfg.Auth, h))
	mux.Handle("/metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	for pattern, h := range cfg.Extra {
		mux.Handle(pattern, h)
	}
	return mux, nil
}

// requireToken guards a plain handler (reflection) with the bearer-token
// check the interceptor applies to RPCs.
func requireToken(auth Authenticator, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := authenticateHeader(r.Context(), auth, r.Header); err != nil {
			code := connect.CodeOf(err)
			if code == connect.CodeUnknown {
				code = connect.CodeUnauthenticated
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(connectHTTPStatus(code))
			fmt.Fprintf(w, `{"code":%q,"message":"authentication required"}`, code.String())
			return
		}
		next.ServeHTTP(w, r)
	})
}

// connectHTTPStatus is the HTTP status Connect uses for the auth codes.
func connectHTTPStatus(code connect.Code) int {
	if code == connect.CodeUnauthenticated {
		return http.StatusUnauthorized
	}
	return http.StatusForbidden
}
