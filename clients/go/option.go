package fieldsync

import (
	"log/slog"
	"net/http"
	"time"
)

// Protocol is the RPC protocol the client speaks to the server.
type Protocol int

const (
	// ProtocolConnect is the Connect protocol over HTTP/1.1 or HTTP/2 (the default).
	ProtocolConnect Protocol = iota
	// ProtocolGRPC is gRPC; it needs HTTP/2 (h2c for http:// servers, which
	// the default HTTP client supports).
	ProtocolGRPC
	// ProtocolGRPCWeb is gRPC-Web.
	ProtocolGRPCWeb
)

// Defaults of the options.
const (
	DefaultBatchSize = 100
	// DefaultPullLimit is the first page's size when WithPullLimit is not
	// given; while the server has more, each next page of the same pull
	// asks for twice as many, up to the server's limit (5000).
	DefaultPullLimit      = 1000
	DefaultBackoffMin     = 200 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	DefaultRequestTimeout = time.Minute
	// DefaultConnectTimeout bounds connecting to the server and then
	// waiting for it to start answering a call (see WithConnectTimeout).
	DefaultConnectTimeout = 10 * time.Second
	// DefaultUnreachableAfter is how long Sync keeps retrying a server it
	// cannot reach before it returns ErrUnreachable (see WithUnreachableAfter).
	DefaultUnreachableAfter = 10 * time.Second
	// DefaultChunkSize is how many photo bytes one PutChunk carries: 256 KiB,
	// a few seconds on a weak mobile link, so little is sent again after a
	// dropped connection.
	DefaultChunkSize = 256 << 10
	// DefaultUploadWindow is how many chunks of a photo are in flight at
	// once (see WithUploadWindow): the second is sent before the answer to
	// the first, so a link's latency is paid about once per two chunks.
	DefaultUploadWindow = 2
	// maxBatchSize is the server's limit on mutations per push.
	maxBatchSize = 500
	// maxPullLimit is the server's limit on records per pull page.
	maxPullLimit = 5000
	// maxChunkSize is the server's limit on the bytes of one PutChunk.
	maxChunkSize = 4 << 20
	// maxUploadWindow bounds the chunks of a photo in flight: the server
	// holds at most 4 chunks of an upload waiting for the ones before them.
	maxUploadWindow = 4
)

// Option configures a Client. Each option documents its default.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// config is the resolved configuration of a Client.
type config struct {
	server         string
	token          string
	httpClient     *http.Client
	batchSize      int
	pullLimit      int
	pullGrow       bool // pages after the first ask for twice as many
	backoffMin     time.Duration
	backoffMax     time.Duration
	requestTimeout time.Duration
	connectTimeout time.Duration
	unreachable    time.Duration
	logger         *slog.Logger
	now            func() time.Time
	protocol       Protocol
	chunkSize      int
	uploadWindow   int
	photoProgress  func(sha256 string, sent, total int64)
	photoDir       string
	keepPhotos     bool
	appVersion     string
}

func newConfig(opts []Option) *config {
	c := &config{
		batchSize:      DefaultBatchSize,
		pullLimit:      DefaultPullLimit,
		pullGrow:       true,
		backoffMin:     DefaultBackoffMin,
		backoffMax:     DefaultBackoffMax,
		requestTimeout: DefaultRequestTimeout,
		connectTimeout: DefaultConnectTimeout,
		unreachable:    DefaultUnreachableAfter,
		chunkSize:      DefaultChunkSize,
		uploadWindow:   DefaultUploadWindow,
		logger:         slog.New(slog.DiscardHandler),
		now:            time.Now,
	}
	for _, o := range opts {
		o.apply(c)
	}
	return c
}

// WithServer sets the base URL of the fieldsync server, e.g.
// "https://sync.example.com". Default: none; the client then works offline
// only and Sync and Watch return ErrNoServer.
func WithServer(url string) Option {
	return optionFunc(func(c *config) { c.server = url })
}

// WithToken sets the device token sent as "Authorization: Bearer <token>"
// on every call. Default: none (every sync call fails Unauthenticated).
func WithToken(token string) Option {
	return optionFunc(func(c *config) { c.token = token })
}

// WithHTTPClient sets the HTTP client for every call. Default: a client
// with its own transport that speaks HTTP/1.1 and HTTP/2, including
// unencrypted HTTP/2 (h2c) when the protocol is gRPC; it has no overall
// timeout (Watch is a long stream; see WithRequestTimeout). A nil client
// keeps the default.
func WithHTTPClient(client *http.Client) Option {
	return optionFunc(func(c *config) {
		if client != nil {
			c.httpClient = client
		}
	})
}

// WithBatchSize sets how many outbox mutations one Push carries. Default
// DefaultBatchSize (100); values below 1 keep the default and values above
// the server's limit (500) are lowered to it.
func WithBatchSize(n int) Option {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.batchSize = min(n, maxBatchSize)
		}
	})
}

// WithPullLimit sets the most records one Pull page may carry, for every
// page. Without it a pull's first page carries up to DefaultPullLimit
// (1000) and each next page twice the one before, up to the server's
// limit (5000), so a device that is nearly up to date gets a small page
// and one with a backlog (a first sync) fewer, larger ones. Values below
// 1 keep the default and values above the server's limit are lowered to
// it.
func WithPullLimit(n int) Option {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.pullLimit = min(n, maxPullLimit)
			c.pullGrow = false
		}
	})
}

// WithBackoff sets the delays between retries of a failed sync call: the
// first wait is about lo, each next one doubles up to hi, and every wait is
// drawn at random between half and all of its nominal value (jitter).
// Default DefaultBackoffMin (200 ms) and DefaultBackoffMax (30 s). A lo
// below 1 ms counts as 1 ms; a hi below lo counts as lo.
func WithBackoff(lo, hi time.Duration) Option {
	return optionFunc(func(c *config) {
		c.backoffMin = max(lo, time.Millisecond)
		c.backoffMax = max(hi, c.backoffMin)
	})
}

// WithRequestTimeout bounds each unary call (one Push or one Pull page), so
// a connection that silently died fails and is retried instead of hanging
// Sync. Default DefaultRequestTimeout (1 min); 0 or less disables it.
func WithRequestTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.requestTimeout = d })
}

// WithConnectTimeout bounds how long a call waits to connect to the
// server (TCP and TLS) and then for the server to start answering, so a
// server that is down, or accepts connections and never answers, fails the
// call within d instead of after WithRequestTimeout. Default
// DefaultConnectTimeout (10 s); 0 or less keeps the default. It applies to
// the default HTTP client only: with WithHTTPClient, set the transport's
// dial, TLS handshake and response header timeouts yourself.
func WithConnectTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.connectTimeout = d
		}
	})
}

// WithUnreachableAfter sets how long Sync keeps retrying while the server
// cannot be reached (no connection, no answer, or Unavailable) before it
// gives up with ErrUnreachable: d after the Sync started or last made
// progress. Default DefaultUnreachableAfter (10 s); 0 or less keeps the
// default. Watch does not give up: it keeps reconnecting (see Watch).
func WithUnreachableAfter(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.unreachable = d
		}
	})
}

// WithLogger sets where the client logs retries (at debug level), resyncs
// (info) and Watch's reconnects while the server is unreachable (warn). Default: no logging. A nil logger keeps the default.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		if l != nil {
			c.logger = l
		}
	})
}

// WithClock sets the wall clock behind the device's hybrid logical clock,
// record ids, write times and Status ages. Default time.Now. A nil func
// keeps the default.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) {
		if now != nil {
			c.now = now
		}
	})
}

// WithProtocol sets the RPC protocol. Default ProtocolConnect.
func WithProtocol(p Protocol) Option {
	return optionFunc(func(c *config) { c.protocol = p })
}

// WithChunkSize sets how many bytes of a photo one PutChunk call carries.
// Default DefaultChunkSize (256 KiB): smaller chunks send less again after
// a dropped connection, larger ones need fewer round trips. Values below 1
// keep the default and values above the server's limit (4 MiB) are
// lowered to it.
func WithChunkSize(n int) Option {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.chunkSize = min(n, maxChunkSize)
		}
	})
}

// WithUploadWindow sets how many chunks of a photo Sync keeps in flight:
// it sends the next chunks before the answer to the first (each on its own
// call; the server applies them in order), so over a link with latency a
// photo takes about one round trip per n chunks instead of one per chunk.
// 1 sends one chunk at a time, waiting for each answer. Whatever n, local
// writes go before any chunk sent after them, and the upload resumes from
// the offset the server holds. Default DefaultUploadWindow (2); values
// below 1 keep the default and values above 4 are lowered to 4.
func WithUploadWindow(n int) Option {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.uploadWindow = min(n, maxUploadWindow)
		}
	})
}

// WithPhotoProgress sets a function Sync calls while it uploads a photo,
// for a progress bar: once the server's upload is created or found, and
// after every chunk the server acknowledged, with the photo's SHA-256, the
// bytes the server holds and the photo's size (sent == total once it is
// stored). sent never goes back within a Sync's upload of the photo, nor
// over total. It runs on the goroutine that called Sync and should return
// quickly. Default: none.
func WithPhotoProgress(fn func(sha256 string, sent, total int64)) Option {
	return optionFunc(func(c *config) { c.photoProgress = fn })
}

// WithPhotoDir sets the folder where AddPhoto keeps the local copies of
// photos, one file per photo named by its SHA-256. Default: the device
// database's path with ".photos" appended (device.db → device.db.photos),
// created by the first AddPhoto. An empty dir keeps the default.
func WithPhotoDir(dir string) Option {
	return optionFunc(func(c *config) { c.photoDir = dir })
}

// WithKeepPhotos keeps a photo's local copy after the server stored it,
// e.g. to show it offline. Default false: the copy is deleted once
// CompleteUpload succeeded (PhotoURL reads the photo back from the server).
func WithKeepPhotos(keep bool) Option {
	return optionFunc(func(c *config) { c.keepPhotos = keep })
}

// WithAppVersion names the app's version (e.g. "2.4.1"), which the client
// reports to the server with its sync status so an admin sees which
// devices run which version (AdminService.ListDevices). Characters other
// than printable ASCII become '_' and it is cut to 64 bytes. Default: "".
func WithAppVersion(v string) Option {
	return optionFunc(func(c *config) { c.appVersion = v })
}
