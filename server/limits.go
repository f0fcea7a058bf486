package server

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/fieldsync/fieldsync/syncengine"
)

// Limits bounds what one caller, and all callers together, may hold of the
// server. A zero field switches its limit off.
type Limits struct {
	// WatchPerPrincipal caps the open Watch streams of one device or API
	// key; opening one more ends the oldest (a phone that changed networks
	// leaves a dead stream behind until TCP gives up).
	WatchPerPrincipal int
	// WatchTotal caps the open Watch streams of the server; beyond it a new
	// Watch is refused with ResourceExhausted.
	WatchTotal int
	// WatchPerTenant caps the open Watch streams of one tenant's devices and
	// keys together, so one tenant cannot fill WatchTotal; beyond it the
	// tenant's new Watch is refused with ResourceExhausted.
	WatchPerTenant int
	// Rate is the sustained requests per second of one principal (before
	// authentication: of one client IP), with bursts up to Burst. Beyond it
	// calls fail with ResourceExhausted and a Retry-After hint.
	Rate  float64
	Burst int
	// InFlight caps the calls one principal (or client IP) has in progress
	// at once, Watch streams aside; more fail with ResourceExhausted.
	InFlight int
	// BodyReadTimeout is how long a request body may take to arrive in full.
	BodyReadTimeout time.Duration
}

// DefaultLimits are generous for a device (one Watch, a few calls a second)
// and an integrator, and keep one token from holding the server.
func DefaultLimits() Limits {
	return Limits{WatchPerPrincipal: 4, WatchTotal: 10000, WatchPerTenant: 2000, Rate: 100, Burst: 200, InFlight: 32, BodyReadTimeout: 30 * time.Second}
}

// rateLimiter keeps a token bucket per key (principal or client IP).
type rateLimiter struct {
	limit rate.Limit
	burst int
	mu    sync.Mutex
	keys  map[string]*bucket
	swept time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newRateLimiter(l Limits) *rateLimiter {
	if l.Rate <= 0 {
		return nil
	}
	return &rateLimiter{limit: rate.Limit(l.Rate), burst: max(l.Burst, 1), keys: map[string]*bucket{}}
}

// take spends one request of key's bucket, or returns ResourceExhausted
// saying when to retry. A nil limiter allows everything.
func (l *rateLimiter) take(key string) error {
	if l == nil {
		return nil
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.keys[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.keys[key] = b
	}
	b.seen = now
	if b.lim.AllowN(now, 1) {
		return nil
	}
	r := b.lim.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	r.CancelAt(now)
	return rateLimited(float64(l.limit), wait)
}

// check returns ResourceExhausted when key's bucket is empty, without
// spending from it (take spends).
func (l *rateLimiter) check(key string) error {
	if l == nil {
		return nil
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.keys[key]
	if b == nil {
		return nil
	}
	if tokens := b.lim.TokensAt(now); tokens < 1 {
		wait := time.Duration((1 - tokens) / float64(l.limit) * float64(time.Second))
		return rateLimited(float64(l.limit), wait)
	}
	return nil
}

// Failed enrollments: each client address (an IPv6 /64) may fail Enroll
// enrollFailBurst times at once, then once per enrollFailEvery. Codes carry
// 256 random bits, so this is not what keeps them from being guessed; it
// keeps a scanner from hammering the one procedure without a token, and
// answers it plainly. Enrollments that succeed spend nothing, so a team
// enrolling its phones from one office address is never held up.
const (
	enrollFailBurst = 10
	enrollFailEvery = 10 * time.Second
)

func newEnrollFailures() *rateLimiter {
	return newRateLimiter(Limits{Rate: float64(time.Second) / float64(enrollFailEvery), Burst: enrollFailBurst})
}

// sweep forgets buckets idle long enough to be full again, once a minute,
// so the map holds only recent callers.
func (l *rateLimiter) sweep(now time.Time) {
	if now.Sub(l.swept) < time.Minute {
		return
	}
	l.swept = now
	refill := time.Duration(float64(l.burst)/float64(l.limit)*float64(time.Second)) + time.Second
	for k, b := range l.keys {
		if now.Sub(b.seen) > refill {
			delete(l.keys, k)
		}
	}
}

// rateLimited is the ResourceExhausted error of a full bucket, with the wait
// as a Retry-After header (whole seconds) and a google.rpc.RetryInfo detail.
func rateLimited(perSecond float64, wait time.Duration) *connect.Error {
	secs := max(int(math.Ceil(wait.Seconds())), 1)
	err := connect.NewError(connect.CodeResourceExhausted,
		fmt.Errorf("rate limit: more than %g requests per second from this caller; retry after %d s", perSecond, secs))
	err.Meta().Set("Retry-After", strconv.Itoa(secs))
	if d, derr := connect.NewErrorDetail(&errdetails.RetryInfo{RetryDelay: durationpb.New(wait)}); derr == nil {
		err.AddDetail(d)
	}
	return err
}

// principalKey names a principal for limits: its tenant and actor.
func principalKey(p *syncengine.Principal) string { return p.TenantID + "/" + p.Actor() }

// peerKey names an unauthenticated caller by its IP: an IPv4 address
// whole, an IPv6 address by its /64. An IPv6 host is routinely given a
// whole /64, so keying by the full address would hand one caller 2^64
// buckets (fresh failed logins, Enroll tries, rating-page posts) for the
// price of changing its source address.
func peerKey(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	if a, err := netip.ParseAddr(addr); err == nil {
		if a = a.Unmap(); a.Is6() {
			p, _ := a.WithZone("").Prefix(ipv6ClientBits) // a valid address and bit count: no error
			return "ip6:" + p.String()
		}
		return "ip:" + a.String()
	}
	return "ip:" + addr
}

// ipv6ClientBits is the IPv6 prefix one client is assumed to hold.
const ipv6ClientBits = 64

// inFlight counts the calls in progress per key.
type inFlight struct {
	max  int
	mu   sync.Mutex
	keys map[string]int
}

func newInFlight(l Limits) *inFlight {
	if l.InFlight <= 0 {
		return nil
	}
	return &inFlight{max: l.InFlight, keys: map[string]int{}}
}

// enter counts a call of key in, or refuses it at the cap; the returned
// func counts it out. A nil inFlight admits everything.
func (f *inFlight) enter(key string) (func(), error) {
	if f == nil {
		return func() {}, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keys[key] >= f.max {
		err := connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("this caller already has %d calls in progress; retry when one ends", f.max))
		err.Meta().Set("Retry-After", "1")
		return nil, err
	}
	f.keys[key]++
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.keys[key]--; f.keys[key] == 0 {
			delete(f.keys, key)
		}
	}, nil
}

// watchStreams tracks open Watch streams by principal, to cap them and to
// end them when the principal is revoked.
type watchStreams struct {
	perPrincipal, perTenant, total int
	mu                             sync.Mutex
	open                           int
	byKey                          map[string][]*watchStream // oldest first
	byTenant                       map[string]int
}

type watchStream struct {
	tenant string
	cancel context.CancelCauseFunc
}

func newWatchStreams(l Limits) *watchStreams {
	return &watchStreams{perPrincipal: l.WatchPerPrincipal, perTenant: l.WatchPerTenant, total: l.WatchTotal,
		byKey: map[string][]*watchStream{}, byTenant: map[string]int{}}
}

// add registers a stream of key, a principal of tenant, that cancel ends.
// At the principal's cap the oldest stream ends; at the tenant's or the
// server's cap the new one is refused. The returned func unregisters the
// stream.
func (s *watchStreams) add(tenant, key string, cancel context.CancelCauseFunc) (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perPrincipal > 0 && len(s.byKey[key]) >= s.perPrincipal {
		oldest := s.byKey[key][0]
		s.byKey[key] = s.byKey[key][1:]
		s.forget(oldest)
		oldest.cancel(connect.NewError(connect.CodeResourceExhausted,
			fmt.Errorf("watch ended: this caller opened a newer one (at most %d stay open)", s.perPrincipal)))
	}
	if s.perTenant > 0 && s.byTenant[tenant] >= s.perTenant {
		return nil, connect.NewError(connect.CodeResourceExhausted,
			fmt.Errorf("this tenant holds its maximum of %d Watch streams; retry later", s.perTenant))
	}
	if s.total > 0 && s.open >= s.total {
		return nil, connect.NewError(connect.CodeResourceExhausted,
			fmt.Errorf("the server holds its maximum of %d Watch streams; retry later", s.total))
	}
	w := &watchStream{tenant: tenant, cancel: cancel}
	s.byKey[key] = append(s.byKey[key], w)
	s.open++
	s.byTenant[tenant]++
	return func() { s.remove(key, w) }, nil
}

// forget counts a stream taken out of byKey out of the totals.
func (s *watchStreams) forget(w *watchStream) {
	s.open--
	if s.byTenant[w.tenant]--; s.byTenant[w.tenant] <= 0 {
		delete(s.byTenant, w.tenant)
	}
}

func (s *watchStreams) remove(key string, w *watchStream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.byKey[key]
	for i, x := range ws {
		if x == w {
			s.byKey[key] = append(ws[:i:i], ws[i+1:]...)
			s.forget(w)
			break
		}
	}
	if len(s.byKey[key]) == 0 {
		delete(s.byKey, key)
	}
}

// end ends every open stream of key with cause.
func (s *watchStreams) end(key string, cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.byKey[key] {
		w.cancel(cause)
		s.forget(w)
	}
	delete(s.byKey, key)
}

// revoked ends the Watch streams of a revoked device or API key.
func (s *watchStreams) revoked(tenantID string, p syncengine.Principal) {
	p.TenantID = tenantID
	s.end(principalKey(&p), connect.NewError(connect.CodeUnauthenticated, errors.New("watch ended: the token was revoked")))
}

// limitBody bounds every request body on the port: at most maxBytes raw
// bytes, arriving in full within timeout (0: no deadline). The deadline is
// lifted once the body is read, so long response streams are unaffected.
func limitBody(maxBytes int64, timeout time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBytes)
		if timeout > 0 {
			rc := http.NewResponseController(w)
			if rc.SetReadDeadline(time.Now().Add(timeout)) == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody clears the read deadline when the body ends.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// cappedGzip inflates at most limit+1 bytes per message, then fails: Connect
// reads one byte past its limit to refuse the message, and would otherwise
// inflate the rest of a compression bomb just to report its size.
type cappedGzip struct {
	gz   *gzip.Reader
	left int64
	cap  int64
}

var errInflateLimit = errors.New("compressed message inflates past the size limit")

func newCappedGzip(limit int) func() connect.Decompressor {
	return func() connect.Decompressor { return &cappedGzip{cap: int64(limit) + 1} }
}

func (c *cappedGzip) Read(p []byte) (int, error) {
	if c.gz == nil {
		return 0, io.ErrUnexpectedEOF
	}
	if c.left <= 0 {
		return 0, errInflateLimit
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.gz.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *cappedGzip) Reset(r io.Reader) error {
	c.left = c.cap
	if c.gz == nil {
		gz, err := gzip.NewReader(r)
		c.gz = gz
		return err
	}
	return c.gz.Reset(r)
}

func (c *cappedGzip) Close() error {
	if c.gz == nil {
		return nil
	}
	return c.gz.Close()
}

// maxServiceName bounds the service name a health check may ask about.
const maxServiceName = 256

// quietChecker answers health checks without echoing what the caller asked
// for: an unknown service is NotFound with a fixed message.
type quietChecker struct {
	grpchealth.Checker
}

func (q quietChecker) Check(ctx context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	if len(req.Service) > maxServiceName {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("service: longer than %d bytes", maxServiceName))
	}
	res, err := q.Checker.Check(ctx, req)
	if err != nil && connect.CodeOf(err) == connect.CodeNotFound {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("service: unknown"))
	}
	return res, err
}

// maxErrorMessage bounds the message of an error a client receives:
// messages may quote what the caller sent (an id, a field path), never at
// length.
const maxErrorMessage = 512

// boundErrors gives every error a handler or an inner interceptor returns
// a Connect code (toConnect: an error that is not a Connect error is never
// answered as Unknown, nor with its text) and clips its message.
type boundErrors struct{ log *slog.Logger }

func (b boundErrors) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		res, err := next(ctx, req)
		return res, clipError(toConnect(ctx, b.log, err))
	}
}

func (boundErrors) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (b boundErrors) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return clipError(toConnect(ctx, b.log, next(ctx, conn)))
	}
}

// clipError shortens a long error message, keeping code, metadata and details.
func clipError(err error) error {
	if err == nil {
		return nil
	}
	ce, ok := errors.AsType[*connect.Error](err)
	if !ok {
		ce = connect.NewError(connect.CodeUnknown, err)
	}
	msg := ce.Message()
	if len(msg) <= maxErrorMessage {
		return err
	}
	cut := maxErrorMessage
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	out := connect.NewError(ce.Code(), errors.New(msg[:cut]+"…"))
	for k, v := range ce.Meta() {
		out.Meta()[k] = v
	}
	for _, d := range ce.Details() {
		out.AddDetail(d)
	}
	return out
}
