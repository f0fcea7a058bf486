package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fieldsync/fieldsync/insights"
	"github.com/fieldsync/fieldsync/internal/demo"
	"github.com/fieldsync/fieldsync/records"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncengine"
)

// Daemon is a running fieldsyncd.
type Daemon struct {
	cfg      Config
	log      *slog.Logger
	db       Store
	engine   *syncengine.Engine
	deps     *dependencies
	http     *http.Server
	listener net.Listener
	metrics  *http.Server
	metricsL net.Listener
	closers  []func() error // run in reverse order by Close
	wg       sync.WaitGroup
	cancel   context.CancelFunc
	serveErr chan error
	js       jetstream.JetStream // for WaitIdle
	insights *insights.Consumer  // nil when the consumers run elsewhere
	cluster  clusterParts        // leases and pokes on a cluster (leader.go)
	hold     relayHold           // HoldRelay (idle.go)
	activity *server.Activity    // the API's calls in progress, which the relay makes way for (yield.go)
	calls    calls               // the HTTP requests being served, named when a shutdown runs out of time
}

// Start opens storage, starts every component and begins serving. It
// returns once the listener is bound; Addr tells where.
func Start(ctx context.Context, cfg Config) (_ *Daemon, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	d := &Daemon{cfg: cfg, log: cfg.logger(), serveErr: make(chan error, 1), activity: &server.Activity{}}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if err := makeDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	unlock, err := lockDataDir(cfg.DataDir, cfg.lockName())
	if err != nil {
		return nil, err
	}
	d.closers = append(d.closers, unlock)
	if err := tightenModes(cfg.DataDir, d.log); err != nil {
		return nil, err
	}
	if d.db, err = openStore(ctx, cfg); err != nil {
		return nil, err
	}
	d.closers = append(d.closers, d.db.Close)
	runCtx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	handler, err := d.wire(ctx, runCtx)
	if err != nil {
		return nil, err
	}
	if cfg.Demo {
		if err := d.seedDemo(ctx); err != nil {
			return nil, err
		}
	}
	if !cfg.Serve {
		d.log.Info("fieldsyncd running consumers only (no API)", "data_dir", cfg.DataDir)
		return d, nil
	}
	if err := d.listen(handler); err != nil {
		return nil, err
	}
	d.log.Info("fieldsyncd serving", "addr", d.Addr(), "data_dir", cfg.DataDir)
	return d, nil
}

// wire builds every component and returns the HTTP handler.
func (d *Daemon) wire(ctx, runCtx context.Context) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d.deps = newDependencies(d.log)
	d.deps.add(DepDatabase, d.db.Ping)
	js, kick, err := d.wireEvents(ctx, runCtx, reg)
	if err != nil {
		return nil, err
	}
	d.js = js
	engine, err := syncengine.New(syncengine.Config{
		Store:        d.db,
		Logger:       d.log,
		Hooks:        records.Hooks{},
		MaxClockSkew: d.cfg.MaxClockSkew,
		OnCommit:     d.held(kick),
		Clock:        syncengine.NewClock(d.cfg.Now),
		OnPoke:       d.wirePokes(js.Conn()),
	})
	if err != nil {
		return nil, err
	}
	d.engine = engine
	if err := d.subscribePokes(runCtx, engine); err != nil {
		return nil, err
	}
	d.closers = append(d.closers, func() error { engine.Close(); return nil })
	if d.cfg.Consumers {
		if err := d.wireInsights(ctx, runCtx, js, reg); err != nil {
			return nil, err
		}
	}
	d.wirePurge(runCtx)
	if err := d.serveMetrics(reg); err != nil {
		return nil, err
	}
	if !d.cfg.Serve {
		return nil, nil // consumers only
	}
	mediaBackend, extra, err := d.wireMedia(ctx, runCtx)
	if err != nil {
		return nil, err
	}
	if err := d.deps.register(reg); err != nil {
		return nil, err
	}
	d.deps.checkAll(ctx)
	d.goRun("dependency checks", func() error { return d.deps.run(runCtx, d.cfg.ProbeInterval) })
	limits := d.cfg.Limits()
	if err := d.setupOperatorToken(ctx); err != nil {
		return nil, err
	}
	if extra == nil {
		extra = map[string]http.Handler{}
	}
	if extra["/"], err = d.webUI(); err != nil {
		return nil, err
	}
	return server.New(server.Config{
		Logger:          d.log,
		Auth:            d.db,
		Identity:        d.db,
		Fleet:           d.db,
		Sync:            engine,
		Media:           mediaBackend,
		Insights:        d.db,
		Dashboard:       d.db,
		Query:           d.db,
		InsightsConfig:  insights.ConfigStore{DB: d.db},
		System:          &server.SystemConfig{Tenants: d.db, OperatorTokenSHA256: d.operatorTokenSHA256, Phi: d.phiRecomputer()},
		Ratings:         &server.RatingConfig{Store: d.db},
		Extra:           extra,
		MaxMessageBytes: d.cfg.MaxMessageBytes,
		Registry:        reg,
		Health:          d.deps.health,
		Limits:          &limits,
		Activity:        d.activity,
	})
}

// listen binds the address and serves HTTP/1.1 and unencrypted HTTP/2 (h2c).
func (d *Daemon) listen(handler http.Handler) error {
	origins, err := server.ParseCORSOrigins(d.cfg.CORSOrigins)
	if err != nil {
		return err
	}
	proxies, err := server.ParseTrustedProxies(d.cfg.TrustedProxies)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", d.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", d.cfg.Addr, err)
	}
	d.listener = ln
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	// No ReadTimeout or WriteTimeout: Watch streams live for hours. The
	// server's handler sets a deadline on each request body instead
	// (--body-read-timeout).
	d.http = &http.Server{
		Handler:           d.calls.wrap(server.NewClientIP(proxies, server.NewCORS(origins, handler))),
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
		ConnState:         d.calls.connState,
	}
	go func() {
		err := d.http.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) { // Close closes ln first
			err = nil
		}
		d.serveErr <- err
	}()
	return nil
}

// serveMetrics serves /metrics on its own listener (MetricsAddr), away from
// the public API port; an empty MetricsAddr serves none.
func (d *Daemon) serveMetrics(g prometheus.Gatherer) error {
	if d.cfg.MetricsAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", d.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("listen metrics %s: %w", d.cfg.MetricsAddr, err)
	}
	d.metricsL = ln
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	d.metrics = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.metrics.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("metrics listener failed", "err", err)
		}
	}()
	d.log.Info("metrics served", "addr", ln.Addr().String())
	if !loopback(ln.Addr()) {
		d.log.Warn("metrics are served without authentication on an address other hosts may reach: limit who reaches it (firewall, or --metrics-addr on loopback or a private interface)",
			"addr", ln.Addr().String())
	}
	return nil
}

// loopback reports whether a listener's address is reachable from this
// host alone.
func loopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// MetricsURL is the URL of /metrics, or "" when not served.
func (d *Daemon) MetricsURL() string {
	if d.metricsL == nil {
		return ""
	}
	return "http://" + d.metricsL.Addr().String() + "/metrics"
}

// seedDemo creates the demo organisation once and writes its credentials.
func (d *Daemon) seedDemo(ctx context.Context) error {
	path := filepath.Join(d.cfg.DataDir, "demo-credentials.json")
	creds, err := demo.Seed(ctx, d.db, path)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := demo.SeedRecords(ctx, d.db, d.engine, creds); err != nil {
		return fmt.Errorf("demo records: %w", err)
	}
	d.log.Info("demo organisation ready", "credentials", path)
	return nil
}

// Addr is the address the server listens on.
func (d *Daemon) Addr() string {
	if d.listener == nil {
		return ""
	}
	return d.listener.Addr().String()
}

// URL is the server's base URL.
func (d *Daemon) URL() string { return "http://" + d.Addr() }

// Engine is the daemon's sync engine (tests and tools).
func (d *Daemon) Engine() *syncengine.Engine { return d.engine }

// DataDir is the daemon's data folder.
func (d *Daemon) DataDir() string { return d.cfg.DataDir }

// Store is the daemon's database, SQLite or PostgreSQL (tests and tools).
func (d *Daemon) Store() Store { return d.db }

// Wait blocks until ctx is done or the server fails.
func (d *Daemon) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-d.serveErr:
		return err
	}
}

// shutdownGrace is how long Close lets calls in progress finish.
const shutdownGrace = 5 * time.Second

// Close stops serving (letting in-flight calls finish for a few seconds,
// then closing the connections of those that did not), stops background
// work and closes storage. Calls still running after the grace period are
// logged and named in the error.
func (d *Daemon) Close() error {
	var errs []error
	if d.engine != nil {
		d.engine.Close() // ends Watch streams so the HTTP shutdown is not held up
	}
	if d.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		d.listener.Close() // no new connections; Shutdown's own close then reports net.ErrClosed
		d.calls.closeNew()
		if err := d.http.Shutdown(ctx); err != nil && !errors.Is(err, net.ErrClosed) {
			running := d.calls.running()
			d.log.Warn("calls still running after the shutdown's grace period; closing their connections",
				"grace", shutdownGrace, "calls", running)
			errs = append(errs, fmt.Errorf("http shutdown: %w; still running: %s", err, running), d.http.Close())
		}
		cancel()
	}
	if d.metrics != nil {
		errs = append(errs, d.metrics.Close())
	}
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
	for i := len(d.closers) - 1; i >= 0; i-- {
		errs = append(errs, d.closers[i]())
	}
	d.closers = nil
	return errors.Join(errs...)
}

// Run starts the daemon and serves until ctx is cancelled.
func Run(ctx context.Context, cfg Config) error {
	d, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	werr := d.Wait(ctx)
	d.log.Info("fieldsyncd shutting down")
	return errors.Join(werr, d.Close())
}
