package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"

	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/syncengine"
)

// Authenticator resolves a bearer token to its principal. It returns a
// *syncengine.Error with CodeUnauthenticated for unknown, revoked or
// malformed tokens.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (*syncengine.Principal, error)
}

// publicProcedures need no token.
var publicProcedures = map[string]bool{
	fieldsyncv1connect.IdentityServiceEnrollProcedure: true,
	// SystemService checks the operator token itself (system.go).
	fieldsyncv1connect.SystemServiceCreateTenantProcedure: true,
	fieldsyncv1connect.SystemServiceListTenantsProcedure:  true,
	fieldsyncv1connect.SystemServiceRecomputePhiProcedure: true,
	"/" + grpchealth.HealthV1ServiceName + "/Check":       true,
	"/" + grpchealth.HealthV1ServiceName + "/Watch":       true,
}

// authInterceptor puts the caller's principal into the context of every
// call except the public ones, or fails the call with Unauthenticated. It
// also spends one request of the caller's rate limit: the principal's, or
// for public calls and failed authentication the client IP's.
type authInterceptor struct {
	log      *slog.Logger
	auth     Authenticator
	limits   *rateLimiter
	inFlight *inFlight
}

func (a *authInterceptor) authenticate(ctx context.Context, procedure string, h http.Header, peer string) (context.Context, error) {
	if ctx.Value(checkedKey{}) != nil {
		return ctx, nil // authFirst did it
	}
	if publicProcedures[procedure] {
		return ctx, a.limits.take(peerKey(peer))
	}
	p, err := authenticateHeader(ctx, a.auth, h)
	if err != nil {
		if lerr := a.limits.take(peerKey(peer)); lerr != nil {
			return nil, lerr
		}
		return nil, err
	}
	if err := a.limits.take(principalKey(p)); err != nil {
		return nil, err
	}
	return syncengine.WithPrincipal(ctx, p), nil
}

// authenticateHeader checks an "Authorization: Bearer <token>" header.
func authenticateHeader(ctx context.Context, auth Authenticator, h http.Header) (*syncengine.Principal, error) {
	token, err := bearerToken(h)
	if err != nil {
		return nil, err
	}
	return authenticateToken(ctx, auth, token)
}

// bearerToken returns the token of an "Authorization: Bearer <token>" header.
func bearerToken(h http.Header) (string, error) {
	v := h.Get("Authorization")
	if v == "" {
		return "", connect.NewError(connect.CodeUnauthenticated, errors.New("missing Authorization: Bearer <token> header"))
	}
	scheme, token, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > 256 {
		return "", connect.NewError(connect.CodeUnauthenticated, errors.New("malformed Authorization header: want Bearer <token>"))
	}
	return strings.TrimSpace(token), nil
}

// authenticateToken resolves a token, answering Unauthenticated for an
// unknown, revoked or malformed one.
func authenticateToken(ctx context.Context, auth Authenticator, token string) (*syncengine.Principal, error) {
	p, err := auth.Authenticate(ctx, token)
	if err != nil {
		if syncengine.IsCode(err, syncengine.CodeUnauthenticated) {
			return nil, connect.NewError(connect.CodeUnauthenticated, errors.New(err.Error()))
		}
		return nil, err
	}
	return p, nil
}

func (a *authInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		ctx, err := a.authenticate(ctx, req.Spec().Procedure, req.Header(), req.Peer().Addr)
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (a *authInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (a *authInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, err := a.authenticate(ctx, conn.Spec().Procedure, conn.RequestHeader(), conn.Peer().Addr)
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}

// caller returns the authenticated principal of a call. Handlers behind the
// interceptor always have one; its absence is an internal error.
func caller(ctx context.Context) (*syncengine.Principal, error) {
	p := syncengine.PrincipalFrom(ctx)
	if p == nil {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("no authenticated caller"))
	}
	return p, nil
}

// requireAdmin returns the caller if it is an admin user's device.
func requireAdmin(ctx context.Context) (*syncengine.Principal, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if !p.IsDevice() || p.Role != roleAdmin {
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("this call needs an admin's device token"))
	}
	return p, nil
}

// checkedKey marks a request the edge has authenticated and charged to a
// rate limit before reading its body.
type checkedKey struct{}

// authFirst authenticates and rate-limits every RPC before its body is
// read, so a caller without a valid token costs no decompression or
// decoding. Errors are written in the caller's protocol; the interceptor
// then finds the work done.
func authFirst(a *authInterceptor, next http.Handler) http.Handler {
	ew := connect.NewErrorWriter()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !rpcPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		// RPC answers carry tokens and records: no cache may keep them.
		w.Header().Set("Cache-Control", "no-store")
		if !ew.IsSupported(r) {
			next.ServeHTTP(w, r) // one its handler refuses unread
			return
		}
		ctx, err := a.authenticate(r.Context(), r.URL.Path, r.Header, r.RemoteAddr)
		leave := func() {}
		if err == nil && r.URL.Path != fieldsyncv1connect.SyncServiceWatchProcedure {
			leave, err = a.inFlight.enter(callerKey(ctx, r.RemoteAddr))
		}
		if err != nil {
			_ = ew.Write(w, r, clipError(toConnect(r.Context(), a.log, err)))
			return
		}
		defer leave()
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, checkedKey{}, true)))
	})
}

// callerKey names the caller of ctx for limits: its principal, else its IP.
func callerKey(ctx context.Context, peer string) string {
	if p := syncengine.PrincipalFrom(ctx); p != nil {
		return principalKey(p)
	}
	return peerKey(peer)
}

// rpcPath reports whether path names a procedure of a service on the port.
func rpcPath(path string) bool {
	for _, prefix := range []string{"/fieldsync.v1.", "/grpc.health.v1.", "/grpc.reflection."} {
		if strings.HasPrefix(path, prefix) {
			return true
		}
	}
	return false
}
