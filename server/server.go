// Package server is fieldsync's network edge: Connect handlers (serving the
// Connect, gRPC and gRPC-Web protocols on one port, HTTP/1.1 and h2c), the
// auth and validation interceptors, limits (limits.go), health, reflection
// and RPC metrics. Handlers
// translate between the wire types and the domain, and map domain errors to
// Connect codes in one place (errors.go).
package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	kgzip "github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"

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
	// Dashboard serves DashboardService, with Sync, when both are set.
	Dashboard DashboardBackend
	// Query serves QueryService, with Sync's registry, when both are set.
	Query QueryBackend
	// Fleet keeps the devices' status reports (sent with Push and Pull)
	// and exports the fleet gauges on Registry when set.
	Fleet FleetStore
	// InsightsConfig serves AdminService's insights configuration calls.
	InsightsConfig InsightsConfigStore
	// Ratings serves RatingService and the public rating page when set.
	Ratings *RatingConfig
	// System serves SystemService (operator token only) when set.
	System *SystemConfig
	// Extra HTTP handlers mounted on the mux by pattern (e.g. signed media links).
	Extra map[string]http.Handler
	// MaxMessageBytes bounds one request message; 0 means DefaultMaxMessageBytes.
	MaxMessageBytes int
	// Registry receives the RPC metrics (served elsewhere: the daemon's
	// metrics listener, not this handler).
	Registry prometheus.Registerer
	// Health answers grpc.health.v1; nil reports every mounted service as serving.
	Health grpchealth.Checker
	// Limits bounds callers; nil means DefaultLimits.
	Limits *Limits
	// AuthCacheTTL is how long an authenticated token's principal is
	// reused (see AuthCacheTTL, the default when 0); negative: never.
	AuthCacheTTL time.Duration
	// Activity, when set, counts the unary calls in progress (the daemon's
	// outbox relay waits while more are in progress than there are cores).
	Activity *Activity

	watches *watchStreams
	// authCache reuses principals for the calls; RevokeDevice and
	// RevokeApiKey through this server drop it.
	authCache *authCache
	// enrollFails counts failed Enroll calls per client address.
	enrollFails *rateLimiter
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
		c.Registry = prometheus.NewRegistry()
	}
	if c.Limits == nil {
		l := DefaultLimits()
		c.Limits = &l
	}
	c.watches = newWatchStreams(*c.Limits)
	if c.AuthCacheTTL == 0 {
		c.AuthCacheTTL = AuthCacheTTL
	}
	c.authCache = newAuthCache(c.Auth, c.AuthCacheTTL)
	c.enrollFails = newEnrollFailures()
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
	if cfg.Fleet != nil {
		if err := cfg.Registry.Register(newFleetCollector(cfg.Fleet, &cfg)); err != nil {
			return nil, fmt.Errorf("register fleet metrics: %w", err)
		}
	}
	vi, err := newValidateInterceptor()
	if err != nil {
		return nil, err
	}
	auth := &authInterceptor{log: cfg.Logger, auth: cfg.authCache, limits: newRateLimiter(*cfg.Limits), inFlight: newInFlight(*cfg.Limits)}
	edge := append([]connect.HandlerOption{connect.WithInterceptors(m, boundErrors{log: cfg.Logger}, auth)}, bounds(cfg.MaxMessageBytes)...)
	chain := []connect.Interceptor{m, boundErrors{log: cfg.Logger}, auth, vi}
	if cfg.Activity != nil {
		chain = append([]connect.Interceptor{activityInterceptor{cfg.Activity}}, chain...)
	}
	opts := append([]connect.HandlerOption{connect.WithInterceptors(chain...)}, bounds(cfg.MaxMessageBytes)...)
	mux := http.NewServeMux()
	services := mountServices(mux, &cfg, opts)
	if cfg.Media != nil {
		mux.Handle(chunkPutPattern, newChunkPut(&cfg, auth, m)) // PutChunk without the envelope (chunkput.go)
	}
	if cfg.System != nil {
		path, h, err := newSystemHandler(&cfg, m, vi)
		if err != nil {
			return nil, err
		}
		services = append(services, fieldsyncv1connect.SystemServiceName)
		mux.Handle(path, h)
	}
	health := cfg.Health
	if health == nil {
		health = grpchealth.NewStaticChecker(services...)
	}
	// Public procedures take small messages: a caller without a token
	// cannot make the server inflate much.
	_, enroll := fieldsyncv1connect.NewIdentityServiceHandler(&identityHandler{cfg: &cfg}, append(opts, bounds(publicMaxBytes)...)...)
	mux.Handle(fieldsyncv1connect.IdentityServiceEnrollProcedure, enroll)
	mux.Handle(grpchealth.NewHandler(quietChecker{health}, append(edge, bounds(publicMaxBytes)...)...))
	reflector := grpcreflect.NewStaticReflector(services...)
	mux.Handle(grpcreflect.NewHandlerV1(reflector, edge...))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector, edge...))
	for pattern, h := range cfg.Extra {
		mux.Handle(pattern, h)
	}
	return limitBody(int64(cfg.MaxMessageBytes)+bodySlack, cfg.Limits.BodyReadTimeout, authFirst(auth, mux)), nil
}

// mountServices mounts the fieldsync services the config has backends for
// and returns their names.
func mountServices(mux *http.ServeMux, cfg *Config, opts []connect.HandlerOption) []string {
	services := []string{fieldsyncv1connect.IdentityServiceName, fieldsyncv1connect.AdminServiceName}
	mux.Handle(fieldsyncv1connect.NewIdentityServiceHandler(&identityHandler{cfg: cfg}, opts...))
	mux.Handle(fieldsyncv1connect.NewAdminServiceHandler(&adminHandler{cfg: cfg}, opts...))
	if cfg.Sync != nil {
		services = append(services, fieldsyncv1connect.SyncServiceName)
		mux.Handle(fieldsyncv1connect.NewSyncServiceHandler(&syncHandler{cfg: cfg}, opts...))
	}
	if ib, ok := cfg.Sync.(IntegrationBackend); ok {
		services = append(services, fieldsyncv1connect.IntegrationServiceName)
		mux.Handle(fieldsyncv1connect.NewIntegrationServiceHandler(&integrationHandler{cfg: cfg, backend: ib}, opts...))
	}
	if cfg.Insights != nil {
		services = append(services, fieldsyncv1connect.InsightsServiceName)
		mux.Handle(fieldsyncv1connect.NewInsightsServiceHandler(&insightsHandler{cfg: cfg}, opts...))
	}
	if cfg.Query != nil && cfg.Sync != nil {
		services = append(services, fieldsyncv1connect.QueryServiceName)
		mux.Handle(fieldsyncv1connect.NewQueryServiceHandler(&queryHandler{cfg: cfg}, opts...))
	}
	if cfg.Dashboard != nil && cfg.Sync != nil {
		services = append(services, fieldsyncv1connect.DashboardServiceName)
		mux.Handle(fieldsyncv1connect.NewDashboardServiceHandler(&dashboardHandler{cfg: cfg, backend: cfg.Dashboard}, opts...))
	}
	if cfg.Media != nil {
		services = append(services, fieldsyncv1connect.MediaServiceName)
		mux.Handle(fieldsyncv1connect.NewMediaServiceHandler(&mediaHandler{cfg: cfg}, opts...))
	}
	services = append(services, mountRatings(mux, cfg, opts)...)
	return services
}

// bounds are the message limits of a handler: maxBytes per message, after
// decompression, gzip that stops inflating past it, and codecs that refuse
// a message costing far more to decode than its size (codec.go). Answers go out
// gzipped (when the client accepts it) only from compressMinBytes, at
// gzip's fastest level.
func bounds(maxBytes int) []connect.HandlerOption {
	return append(codecs(),
		connect.WithReadMaxBytes(maxBytes),
		connect.WithSendMaxBytes(4*maxBytes),
		connect.WithCompression("gzip", newCappedGzip(maxBytes), newFastGzip),
		connect.WithCompressMinBytes(compressMinBytes),
	)
}

// compressMinBytes is the smallest answer worth gzipping. Below it the
// bytes saved are few and the cost is not: resetting a gzip writer clears
// its tables, which made gzipping each tiny Watch poke a third of the
// server's CPU when a commit poked 1,000 streams.
const compressMinBytes = 1 << 10

// newFastGzip is gzip at its fastest level, from klauspost/compress: for a
// page of 1,000 visits (230 KB) the standard library's fastest level took
// 40-60% less CPU than its default, for output 4% larger (16.0% of the page
// instead of 15.3%); klauspost's writes the same format in about a third of
// the standard library's fastest time (see BENCHMARKS.md, "Answers gzipped
// by klauspost/compress").
func newFastGzip() connect.Compressor {
	w, _ := kgzip.NewWriterLevel(nil, kgzip.BestSpeed) // errors only for an invalid level
	return w
}

// publicMaxBytes bounds a message of a public procedure (Enroll, health).
const publicMaxBytes = 16 << 10

// bodySlack is what a raw request body may carry beyond one message:
// envelope prefixes and compression overhead.
const bodySlack = 64 << 10
