// Package daemon wires fieldsyncd together: storage, the sync engine, media,
// events and insights, and the HTTP server. cmd/fieldsyncd only parses flags
// into a Config and handles signals; tests start the real thing on :0 and a
// temp dir through this package.
package daemon

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/fieldsync/fieldsync/internal/datadir"
	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncengine"
)

// Config is fieldsyncd's configuration. Every field has a flag and an
// environment variable (FIELDSYNC_<FLAG>, upper-case, dashes as underscores);
// flags win over the environment.
type Config struct {
	Addr    string
	DataDir string
	// Database is a PostgreSQL URL (postgres://…): the state lives there
	// instead of the SQLite file in DataDir, so several nodes can share it.
	Database        string
	Demo            bool
	LogLevel        string
	LogFormat       string
	MaxMessageBytes int
	MaxClockSkew    time.Duration
	// MetricsAddr is the Prometheus /metrics listener ("" switches it off);
	// the API port does not serve metrics.
	MetricsAddr string
	// Limits bound callers (see server.Limits).
	WatchPerPrincipal int
	WatchTotal        int
	WatchPerTenant    int
	RateLimit         float64
	RateBurst         int
	InFlight          int
	BodyReadTimeout   time.Duration

	// External NATS (default: embedded server under DataDir).
	NATSURL   string
	NATSCreds string
	// NATSPort is the embedded server's loopback port (-1: random).
	NATSPort int
	// NATSReplicas is the replica count of the streams and the lease
	// bucket on an external NATS cluster (--nats-url).
	NATSReplicas int
	// NATSSyncAlways makes the embedded server fsync every message before
	// acknowledging it, as it did before the outbox became the events'
	// durable copy (docs/events.md, "Durability"); benchmarks compare the
	// two. No flag: nothing needs it.
	NATSSyncAlways bool
	// SQLitePath is the SQLite file; default <DataDir>/fieldsync.db. Nodes
	// on one machine, each with its own data dir, may share one file.
	SQLitePath string
	// Consumers runs the PHI and alert consumers in this process.
	Consumers bool
	// Serve runs the API; false runs only the consumers (a separate
	// consumer process next to an API process, sharing NATS and the data dir).
	Serve bool

	// S3-compatible photo store (default: local folder under DataDir).
	S3Endpoint  string
	S3Bucket    string
	S3AccessKey string
	S3SecretKey string
	S3UseTLS    bool
	S3Region    string

	MaxPhotoBytes int64
	UploadExpiry  time.Duration
	// MaxDeviceUploads bounds one device's uploads in progress (see
	// photos.Config.MaxDeviceUploads).
	MaxDeviceUploads int
	// PublicURL is the base of signed links to locally stored photos.
	PublicURL string
	// ProbeInterval is how often the database, NATS and the photo store
	// are checked for health and metrics (an unreachable S3 is retried
	// then too); photo calls refused while S3 is down suggest it as the
	// retry delay.
	ProbeInterval time.Duration
	// TombstoneRetention is how long deletes and scope exits are kept for
	// devices to pull; older ones are purged hourly and devices whose cursor
	// is older resync (0: never purge).
	TombstoneRetention time.Duration
	// OperatorTokenFile holds the operator token guarding SystemService
	// (default: <data-dir>/operator-token, generated at first start).
	OperatorTokenFile string

	// WebDir serves the web app from this folder instead of the files
	// built into the binary (development).
	WebDir string
	// CORSOrigins lists the origins (comma-separated, exact) whose pages
	// may call the API from a browser; empty switches CORS off.
	CORSOrigins string
	// TrustedProxies lists the addresses or CIDR prefixes (comma-separated)
	// of the reverse proxies in front of the server, whose X-Forwarded-For
	// names the client (server.NewClientIP); empty trusts none.
	TrustedProxies string

	// Logger overrides the logger built from LogLevel/LogFormat (tests).
	Logger *slog.Logger
	// Now is the clock of the insights consumer and its sweeps and of the
	// engine's HLC (nil: time.Now). Tests replaying history set a manual
	// clock (internal/daemon/insightstest) and sweep with Daemon.Sweep.
	Now func() time.Time
}

// DefaultConfig returns the embedded-defaults configuration.
func DefaultConfig() Config {
	l := server.DefaultLimits()
	return Config{
		Addr:             "127.0.0.1:8080",
		DataDir:          datadir.Default,
		LogLevel:         "info",
		LogFormat:        "text",
		MaxMessageBytes:  8 << 20,
		MaxClockSkew:     syncengine.DefaultMaxClockSkew,
		MetricsAddr:      "127.0.0.1:9464",
		NATSPort:         -1,
		NATSReplicas:     1,
		Consumers:        true,
		Serve:            true,
		S3Bucket:         "fieldsync-photos",
		MaxPhotoBytes:    25 << 20,
		UploadExpiry:     24 * time.Hour,
		MaxDeviceUploads: photos.DefaultMaxDeviceUploads,
		ProbeInterval:    5 * time.Second,
		// A device offline longer than this resyncs instead of catching up.
		TombstoneRetention: 90 * 24 * time.Hour,

		WatchPerPrincipal: l.WatchPerPrincipal,
		WatchTotal:        l.WatchTotal,
		WatchPerTenant:    l.WatchPerTenant,
		RateLimit:         l.Rate,
		RateBurst:         l.Burst,
		InFlight:          l.InFlight,
		BodyReadTimeout:   l.BodyReadTimeout,
	}
}

// RegisterFlags binds the config's fields to flags on fs, with defaults
// taken from the environment where set.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	str := func(p *string, name, usage string) { fs.StringVar(p, name, env(name, *p), usage) }
	str(&c.Addr, "addr", "listen address (HTTP/1.1 and h2c: Connect, gRPC, gRPC-Web)")
	str(&c.DataDir, "data-dir", "folder for the SQLite file, embedded NATS storage and local photos")
	str(&c.Database, "database", "PostgreSQL URL (postgres://user@host/db) to keep the state in instead of SQLite in --data-dir")
	fs.BoolVar(&c.Demo, "demo", envBool("demo", c.Demo), "create the demo organisation (idempotent) and write demo-credentials.json")
	str(&c.LogLevel, "log-level", "debug, info, warn or error")
	str(&c.LogFormat, "log-format", "text or json")
	fs.IntVar(&c.MaxMessageBytes, "max-message-bytes", envInt("max-message-bytes", c.MaxMessageBytes), "largest request message accepted")
	fs.DurationVar(&c.MaxClockSkew, "max-clock-skew", envDuration("max-clock-skew", c.MaxClockSkew), "device clocks further ahead are clamped")
	c.registerLimitFlags(fs)
	str(&c.NATSURL, "nats-url", "external NATS server URL (default: embedded server)")
	str(&c.NATSCreds, "nats-creds", "NATS credentials file for --nats-url")
	fs.IntVar(&c.NATSPort, "nats-port", envInt("nats-port", c.NATSPort), "embedded NATS loopback port (-1: random)")
	fs.IntVar(&c.NATSReplicas, "nats-replicas", envInt("nats-replicas", c.NATSReplicas), "replicas of the streams and leases on an external NATS cluster (1-5)")
	str(&c.SQLitePath, "sqlite-path", "SQLite file (default <data-dir>/fieldsync.db; nodes on one machine may share one)")
	fs.BoolVar(&c.Consumers, "consumers", envBool("consumers", c.Consumers), "run the PHI and alert consumers in this process")
	fs.BoolVar(&c.Serve, "serve", envBool("serve", c.Serve), "serve the API (false: consumers only, e.g. as a separate process with --nats-url)")
	str(&c.S3Endpoint, "s3-endpoint", "S3-compatible endpoint host:port (default: local photo folder)")
	str(&c.S3Bucket, "s3-bucket", "S3 bucket for photos (created if missing)")
	str(&c.S3AccessKey, "s3-access-key", "S3 access key")
	str(&c.S3SecretKey, "s3-secret-key", "S3 secret key (prefer the environment: command lines are visible to other users)")
	fs.BoolVar(&c.S3UseTLS, "s3-tls", envBool("s3-tls", c.S3UseTLS), "use TLS to reach the S3 endpoint")
	str(&c.S3Region, "s3-region", "S3 region")
	fs.Int64Var(&c.MaxPhotoBytes, "max-photo-bytes", int64(envInt("max-photo-bytes", int(c.MaxPhotoBytes))), "largest photo accepted")
	fs.DurationVar(&c.UploadExpiry, "upload-expiry", envDuration("upload-expiry", c.UploadExpiry), "unfinished uploads expire after this")
	fs.IntVar(&c.MaxDeviceUploads, "max-device-uploads", envInt("max-device-uploads", c.MaxDeviceUploads), "uploads one device may have in progress; a new one ends its least recently used")
	str(&c.PublicURL, "public-url", "base URL of signed photo links (default: http://<addr>)")
	fs.DurationVar(&c.ProbeInterval, "probe-interval", envDuration("probe-interval", c.ProbeInterval), "how often the database, NATS and the photo store are checked (health, metrics, S3 reconnect)")
	fs.DurationVar(&c.TombstoneRetention, "tombstone-retention", envDuration("tombstone-retention", c.TombstoneRetention), "how long deletes are kept for offline devices; older ones are purged and such devices resync (0: keep forever)")
	str(&c.OperatorTokenFile, "operator-token-file", "file with the operator token for tenant management (default: <data-dir>/operator-token, generated)")
	str(&c.WebDir, "web-dir", "serve the web app from this folder (e.g. clients/web/dist) instead of the one built in")
	str(&c.CORSOrigins, "cors-origins", "comma-separated origins (e.g. https://app.example.com) whose web pages may call the API (default: none)")
	str(&c.TrustedProxies, "trusted-proxies", "comma-separated addresses or CIDR prefixes of the reverse proxies in front of the server: their X-Forwarded-For names the client for per-IP limits and logs (default: none)")
	hideDefaults(fs, "s3-secret-key", "s3-access-key", "nats-url", "nats-creds", "database")
}

// hideDefaults keeps help from printing the defaults of flags that may
// carry secrets (a key, a URL with a password, where credentials live),
// which the environment may have set.
func hideDefaults(fs *flag.FlagSet, names ...string) {
	for _, name := range names {
		f := fs.Lookup(name)
		if f.DefValue != "" {
			f.DefValue = ""
			f.Usage += " (set from " + EnvName(name) + ")"
		}
	}
}

func (c *Config) registerLimitFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.MetricsAddr, "metrics-addr", env("metrics-addr", c.MetricsAddr), "Prometheus /metrics listen address, separate from --addr (empty: off)")
	fs.IntVar(&c.WatchPerPrincipal, "watch-per-principal", envInt("watch-per-principal", c.WatchPerPrincipal), "open Watch streams per device or API key; a newer one ends the oldest (0: no cap)")
	fs.IntVar(&c.WatchTotal, "watch-total", envInt("watch-total", c.WatchTotal), "open Watch streams on the server; more are refused (0: no cap)")
	fs.IntVar(&c.WatchPerTenant, "watch-per-tenant", envInt("watch-per-tenant", c.WatchPerTenant), "open Watch streams of one tenant's devices and keys together; more are refused (0: no cap)")
	fs.Float64Var(&c.RateLimit, "rate-limit", envFloat("rate-limit", c.RateLimit), "requests per second per device, API key or (unauthenticated) client IP (0: no limit)")
	fs.IntVar(&c.RateBurst, "rate-burst", envInt("rate-burst", c.RateBurst), "requests a caller may make at once above --rate-limit")
	fs.IntVar(&c.InFlight, "inflight-per-principal", envInt("inflight-per-principal", c.InFlight), "calls one device, API key or client IP may have in progress at once, Watch aside (0: no cap)")
	fs.DurationVar(&c.BodyReadTimeout, "body-read-timeout", envDuration("body-read-timeout", c.BodyReadTimeout), "time a request body may take to arrive in full (0: no limit)")
}

// Limits returns the server limits the configuration sets.
func (c *Config) Limits() server.Limits {
	return server.Limits{
		WatchPerPrincipal: c.WatchPerPrincipal, WatchTotal: c.WatchTotal, WatchPerTenant: c.WatchPerTenant,
		Rate: c.RateLimit, Burst: c.RateBurst, InFlight: c.InFlight, BodyReadTimeout: c.BodyReadTimeout,
	}
}

// EnvName returns the environment variable of a flag: FIELDSYNC_DATA_DIR for data-dir.
func EnvName(flagName string) string {
	b := []byte("FIELDSYNC_" + flagName)
	for i, ch := range b {
		switch {
		case ch == '-':
			b[i] = '_'
		case ch >= 'a' && ch <= 'z':
			b[i] = ch - 'a' + 'A'
		}
	}
	return string(b)
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(EnvName(name)); ok {
		return v
	}
	return def
}

func envBool(name string, def bool) bool {
	v, err := strconv.ParseBool(env(name, strconv.FormatBool(def)))
	if err != nil {
		return def
	}
	return v
}

func envInt(name string, def int) int {
	v, err := strconv.Atoi(env(name, strconv.Itoa(def)))
	if err != nil {
		return def
	}
	return v
}

func envFloat(name string, def float64) float64 {
	v, err := strconv.ParseFloat(env(name, strconv.FormatFloat(def, 'g', -1, 64)), 64)
	if err != nil {
		return def
	}
	return v
}

func envDuration(name string, def time.Duration) time.Duration {
	v, err := time.ParseDuration(env(name, def.String()))
	if err != nil {
		return def
	}
	return v
}

// Validate checks the configuration and fills derived defaults.
func (c *Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("addr: required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data-dir: required"))
	}
	if c.Database != "" && !isPostgresURL(c.Database) {
		errs = append(errs, errors.New("database: want a postgres:// or postgresql:// URL"))
	}
	if c.Database != "" && c.SQLitePath != "" {
		errs = append(errs, errors.New("database and sqlite-path: the state lives in one of them; set one"))
	}
	if c.MaxMessageBytes < 1<<10 {
		errs = append(errs, fmt.Errorf("max-message-bytes: %d is below 1 KiB", c.MaxMessageBytes))
	}
	if c.MaxClockSkew <= 0 {
		errs = append(errs, errors.New("max-clock-skew: must be positive"))
	}
	if c.WatchPerPrincipal < 0 || c.WatchTotal < 0 || c.WatchPerTenant < 0 || c.RateLimit < 0 || c.RateBurst < 0 || c.InFlight < 0 || c.BodyReadTimeout < 0 {
		errs = append(errs, errors.New("watch-per-principal, watch-total, watch-per-tenant, rate-limit, rate-burst, inflight-per-principal, body-read-timeout: must not be negative"))
	}
	if c.RateLimit > 0 && c.RateBurst < 1 {
		errs = append(errs, errors.New("rate-burst: must be at least 1 with a rate limit"))
	}
	if c.S3Endpoint != "" && (c.S3Bucket == "" || c.S3AccessKey == "" || c.S3SecretKey == "") {
		errs = append(errs, errors.New("s3-endpoint: needs s3-bucket, s3-access-key and s3-secret-key"))
	}
	if c.NATSReplicas < 1 || c.NATSReplicas > 5 || (c.NATSReplicas > 1 && c.NATSURL == "") {
		errs = append(errs, fmt.Errorf("nats-replicas: %d is not 1-5 (above 1 needs --nats-url)", c.NATSReplicas))
	}
	if !c.Serve && !c.Consumers {
		errs = append(errs, errors.New("serve and consumers: at least one must be on"))
	}
	if c.ProbeInterval <= 0 {
		errs = append(errs, errors.New("probe-interval: must be positive"))
	}
	if c.TombstoneRetention != 0 && c.TombstoneRetention < time.Hour {
		errs = append(errs, fmt.Errorf("tombstone-retention: %v is under an hour (0 keeps deletes forever); every device offline longer would resync", c.TombstoneRetention))
	}
	if c.MaxPhotoBytes <= 0 {
		errs = append(errs, errors.New("max-photo-bytes: must be positive"))
	}
	if c.MaxDeviceUploads <= 0 {
		errs = append(errs, errors.New("max-device-uploads: must be positive"))
	}
	if _, err := server.ParseCORSOrigins(c.CORSOrigins); err != nil {
		errs = append(errs, err)
	}
	if _, err := server.ParseTrustedProxies(c.TrustedProxies); err != nil {
		errs = append(errs, err)
	}
	if c.WebDir != "" {
		if st, err := os.Stat(c.WebDir); err != nil || !st.IsDir() {
			errs = append(errs, fmt.Errorf("web-dir: %q is not a folder", c.WebDir))
		}
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log-format: %q is not text or json", c.LogFormat))
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		errs = append(errs, fmt.Errorf("log-level: %w", err))
	}
	return errors.Join(errs...)
}

// logger builds the configured logger.
func (c *Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	return c.loggerAt(lvl)
}

// quietLogger is for chatty embedded parts (the NATS server): warnings and
// errors only, unless debug logging is on.
func (c *Config) quietLogger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	if c.LogLevel == "debug" {
		return c.logger()
	}
	return c.loggerAt(slog.LevelWarn)
}

func (c *Config) loggerAt(lvl slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// sqlitePath is the SQLite file: SQLitePath or the data dir's.
func (c *Config) sqlitePath() string {
	if c.SQLitePath != "" {
		return c.SQLitePath
	}
	return filepath.Join(c.DataDir, "fieldsync.db")
}
