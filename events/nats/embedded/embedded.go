// Package embedded runs a NATS server with JetStream inside the process,
// so that one binary needs no separate NATS. It is its own package because
// it links the whole NATS server: clients of an external server (the CLI,
// a daemon given --nats-url) need only events/nats.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config configures an in-process NATS server with JetStream.
type Config struct {
	// StoreDir is where JetStream keeps its data. Required. Starting again
	// on the same StoreDir finds the streams and messages written before.
	StoreDir string
	// Host is the address to listen on. Default "127.0.0.1" (loopback).
	Host string
	// Port is the client port: -1 picks a free port, 0 opens no TCP
	// listener at all (clients connect in process: ConnConfig.InProcess of
	// events/nats), a positive number is used as given.
	Port int
	// ServerName names the server. Default "fieldsync".
	ServerName string
	// ReadyTimeout bounds the wait for the server to accept clients.
	// Default 10s.
	ReadyTimeout time.Duration
	// Logger receives the server's log at Info and above; nil silences it.
	Logger *slog.Logger
	// SyncInterval is how often JetStream fsyncs the messages it has
	// acknowledged since the last sync. Default DefaultSyncInterval.
	SyncInterval time.Duration
	// SyncAlways fsyncs every message before acknowledging it (NATS's
	// sync_interval: always), about a millisecond per message on an
	// ordinary disk. fieldsync does not need it: see Server.
	SyncAlways bool
}

// DefaultSyncInterval is how often the embedded server fsyncs by default.
// It bounds how many acknowledged messages a crash of the machine can take
// from a stream, all of which the outbox relay publishes again.
const DefaultSyncInterval = time.Second

// Server is a NATS server with JetStream running in this process.
//
// JetStream acknowledges a message once it is written, and fsyncs every
// Config.SyncInterval (unless Config.SyncAlways): a crash of the machine,
// or of this process before the write reached the kernel, can take the
// last acknowledged messages of a stream (Jepsen's 2025 analysis of NATS
// found such losses under the default two-minute interval). fieldsync's
// events survive it because the outbox, not the stream, is their durable
// copy: the relay keeps sent events for a week with the stream sequence
// each was stored at, notices a stream that came back shorter, and
// publishes the missing events again (events/nats.Relay; docs/events.md,
// "Durability"). Fsyncing every message instead cost about 1–1.5 ms per
// event on the development machines and bounded the whole event pipeline
// at under a thousand events a second (BENCHMARKS.md).
type Server struct {
	srv *server.Server
}

// Start starts a server and waits until it accepts clients. It
// returns an error when the configuration is invalid, the port is taken, or
// the server is not ready within ReadyTimeout.
func Start(cfg Config) (*Server, error) {
	opts, err := cfg.serverOptions()
	if err != nil {
		return nil, err
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	if cfg.Logger != nil {
		srv.SetLoggerV2(slogAdapter{cfg.Logger}, false, false, false)
	}
	srv.Start()
	timeout := cfg.ReadyTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if !srv.ReadyForConnections(timeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("embedded nats: not ready after %s", timeout)
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, errors.New("embedded nats: jetstream did not start")
	}
	return &Server{srv: srv}, nil
}

func (cfg Config) serverOptions() (*server.Options, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("embedded nats: StoreDir is required")
	}
	if cfg.Port < -1 {
		return nil, fmt.Errorf("embedded nats: invalid port %d", cfg.Port)
	}
	opts := &server.Options{
		ServerName:   cfg.ServerName,
		Host:         cfg.Host,
		Port:         cfg.Port,
		DontListen:   cfg.Port == 0,
		JetStream:    true,
		StoreDir:     cfg.StoreDir,
		SyncAlways:   cfg.SyncAlways,
		SyncInterval: cfg.SyncInterval,
		NoSigs:       true,
		NoLog:        cfg.Logger == nil,
	}
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = DefaultSyncInterval
	}
	if opts.ServerName == "" {
		opts.ServerName = "fieldsync"
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	return opts, nil
}

// ClientURL returns the URL clients connect to, or "" when the server has
// no TCP listener (Port 0).
func (e *Server) ClientURL() string {
	if e.Port() == 0 {
		return ""
	}
	return e.srv.ClientURL()
}

// Port returns the TCP port the server listens on, 0 when none. Pass it as
// Config.Port to restart on the same address.
func (e *Server) Port() int {
	addr, ok := e.srv.Addr().(*net.TCPAddr)
	if !ok {
		return 0
	}
	return addr.Port
}

// InProcessConn returns a connection to the server that bypasses TCP; it
// makes Server a nats.go InProcessConnProvider.
func (e *Server) InProcessConn() (net.Conn, error) {
	return e.srv.InProcessConn()
}

// Shutdown stops the server and returns once it has stopped and JetStream
// has closed its files. Calling it twice is harmless.
func (e *Server) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// slogAdapter lets the NATS server log through slog.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Noticef(format string, v ...any) { a.log(slog.LevelInfo, format, v) }
func (a slogAdapter) Warnf(format string, v ...any)   { a.log(slog.LevelWarn, format, v) }
func (a slogAdapter) Fatalf(format string, v ...any)  { a.log(slog.LevelError, format, v) }
func (a slogAdapter) Errorf(format string, v ...any)  { a.log(slog.LevelError, format, v) }
func (a slogAdapter) Debugf(format string, v ...any)  { a.log(slog.LevelDebug, format, v) }
func (a slogAdapter) Tracef(format string, v ...any)  { a.log(slog.LevelDebug-4, format, v) }

func (a slogAdapter) log(level slog.Level, format string, v []any) {
	a.l.Log(context.Background(), level, fmt.Sprintf(format, v...), "component", "nats")
}
