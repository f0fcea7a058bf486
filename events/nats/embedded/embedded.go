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
}

// Server is a NATS server with JetStream running in this process.
//
// Every JetStream write is fsynced before it is acknowledged (sync_interval:
// always). Jepsen's 2025 analysis of NATS found acknowledged writes lost on
// power failure under the default two-minute fsync interval, and an
// acknowledged publish is what lets the relay mark an event sent.
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
		ServerName: cfg.ServerName,
		Host:       cfg.Host,
		Port:       cfg.Port,
		DontListen: cfg.Port == 0,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		SyncAlways: true,
		NoSigs:     true,
		NoLog:      cfg.Logger == nil,
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
