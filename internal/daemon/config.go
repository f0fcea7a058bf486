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
	"strconv"
	"time"
)

// Config is fieldsyncd's configuration. Every field has a flag and an
// environment variable (FIELDSYNC_<FLAG>, upper-case, dashes as underscores);
// flags win over the environment.
type Config struct {
	Addr            string
	DataDir         string
	Demo            bool
	LogLevel        string
	LogFormat       string
	MaxMessageBytes int
	MaxClockSkew    time.Duration

	// External NATS (default: embedded server under DataDir).
	NATSURL   string
	NATSCreds string
	// NATSPort is the embedded server's loopback port (-1: random).
	NATSPort int
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
	// PublicURL is the base of signed links to locally stored photos.
	PublicURL string
	// OperatorTokenFile holds the operator token guarding SystemService
	// (default: <data-dir>/operator-token, generated at first start).
	OperatorTokenFile string

	// Logger overrides the logger built from LogLevel/LogFormat (tests).
	Logger *slog.Logger
}

// DefaultConfig returns the embedded-defaults configuration.
func DefaultConfig() Config {
	return Config{
		Addr:            "127.0.0.1:8080",
		DataDir:         "./data",
		LogLevel:        "info",
		LogFormat:       "text",
		MaxMessageBytes: 8 << 20,
		MaxClockSkew:    5 * time.Minute,
		NATSPort:        -1,
		Consumers:       true,
		Serve:           true,
		S3Bucket:        "fieldsync-photos",
		MaxPhotoBytes:   25 << 20,
		UploadExpiry:    24 * time.Hour,
	}
}

// RegisterFlags binds the config's fields to flags on fs, with defaults
// taken from the environment where set.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	str := func(p *string, name, usage string) { fs.StringVar(p, name, env(name, *p), usage) }
	str(&c.Addr, "addr", "listen address (HTTP/1.1 and h2c: Connect, gRPC, gRPC-Web)")
	str(&c.DataDir, "data-dir", "folder for the SQLite file, embedded NATS storage and local photos")
	fs.BoolVar(&c.Demo, "demo", envBool("demo", c.Demo), "create the demo organisation (idempotent) and write demo-credentials.json")
	str(&c.LogLevel, "log-level", "debug, info, warn or error")
	str(&c.LogFormat, "log-format", "text or json")
	fs.IntVar(&c.MaxMessageBytes, "max-message-bytes", envInt("max-message-bytes", c.MaxMessageBytes), "largest request message accepted")
	fs.DurationVar(&c.MaxClockSkew, "max-clock-skew", envDuration("max-clock-skew", c.MaxClockSkew), "device clocks further ahead are clamped")
	str(&c.NATSURL, "nats-url", "external NATS server URL (default: embedded server)")
	str(&c.NATSCreds, "nats-creds", "NATS credentials file for --nats-url")
	fs.IntVar(&c.NATSPort, "nats-port", envInt("nats-port", c.NATSPort), "embedded NATS loopback port (-1: random)")
	fs.BoolVar(&c.Consumers, "consumers", envBool("consumers", c.Consumers), "run the PHI and alert consumers in this process")
	fs.BoolVar(&c.Serve, "serve", envBool("serve", c.Serve), "serve the API (false: consumers only, e.g. as a separate process with --nats-url)")
	str(&c.S3Endpoint, "s3-endpoint", "S3-compatible endpoint host:port (default: local photo folder)")
	str(&c.S3Bucket, "s3-bucket", "S3 bucket for photos (created if missing)")
	str(&c.S3AccessKey, "s3-access-key", "S3 access key")
	str(&c.S3SecretKey, "s3-secret-key", "S3 secret key")
	fs.BoolVar(&c.S3UseTLS, "s3-tls", envBool("s3-tls", c.S3UseTLS), "use TLS to reach the S3 endpoint")
	str(&c.S3Region, "s3-region", "S3 region")
	fs.Int64Var(&c.MaxPhotoBytes, "max-photo-bytes", int64(envInt("max-photo-bytes", int(c.MaxPhotoBytes))), "largest photo accepted")
	fs.DurationVar(&c.UploadExpiry, "upload-expiry", envDuration("upload-expiry", c.UploadExpiry), "unfinished uploads expire after this")
	str(&c.PublicURL, "public-url", "base URL of signed photo links (default: http://<addr>)")
	str(&c.OperatorTokenFile, "operator-token-file", "file with the operator token for tenant management (default: <data-dir>/operator-token, generated)")
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
	if c.MaxMessageBytes < 1<<10 {
		errs = append(errs, fmt.Errorf("max-message-bytes: %d is below 1 KiB", c.MaxMessageBytes))
	}
	if c.MaxClockSkew <= 0 {
		errs = append(errs, errors.New("max-clock-skew: must be positive"))
	}
	if c.S3Endpoint != "" && (c.S3Bucket == "" || c.S3AccessKey == "" || c.S3SecretKey == "") {
		errs = append(errs, errors.New("s3-endpoint: needs s3-bucket, s3-access-key and s3-secret-key"))
	}
	if !c.Serve && !c.Consumers {
		errs = append(errs, errors.New("serve and consumers: at least one must be on"))
	}
	if c.MaxPhotoBytes <= 0 {
		errs = append(errs, errors.New("max-photo-bytes: must be positive"))
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
