// Package s3test runs a real S3-compatible server, versitygw over a posix
// folder, for tests: no mock stands in for S3. Start gives each test its
// own server on a free loopback port; Stop and Restart cut and restore it
// for fault tests. `make test` installs the pinned binary and passes its
// path in $VERSITYGW.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/freeport"
)

// Server is a running versitygw. Its methods are safe for concurrent use.
type Server struct {
	// Endpoint is the server's host:port, without scheme (plain HTTP).
	Endpoint string
	// AccessKey and SecretKey are the root credentials, random per server.
	AccessKey, SecretKey string

	t       testing.TB
	bin     string
	dataDir string

	mu   sync.Mutex
	proc *process // nil while stopped
}

// startTimeout bounds how long a start or restart may take to answer.
const startTimeout = 30 * time.Second

// healthPath is the health check endpoint the server is started with.
const healthPath = "/health"

// Start starts a versitygw for the test and stops it in t.Cleanup. The
// binary is $VERSITYGW, else <module root>/.tools/bin/versitygw, else
// versitygw on $PATH. Without one the test is skipped (run `make test`),
// or fails when $CI is set.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := findBinary(t)
	s := &Server{
		t:         t,
		bin:       bin,
		dataDir:   filepath.Join(t.TempDir(), "gw"),
		AccessKey: randomHex(t, 10),
		SecretKey: randomHex(t, 20),
	}
	if err := os.Mkdir(s.dataDir, 0o750); err != nil {
		t.Fatalf("s3test: %v", err)
	}
	var err error
	for range 3 { // a port picked free may be taken before the server binds it
		if s.Endpoint, err = freeport.Addr(); err != nil {
			break
		}
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("s3test: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Stop stops the server and waits until it has exited; its data stays. It
// does nothing when the server is stopped.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	if err := s.proc.stop(); err != nil {
		s.t.Logf("s3test: stop versitygw: %v", err)
	}
	s.proc = nil
}

// Restart starts a stopped server again on the same port with the same
// data, and returns once it answers; it stops a running server first.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("s3test: restart: %v", err)
	}
}

// start launches versitygw on s.Endpoint and waits until it answers.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return nil // restarted concurrently
	}
	p, err := launch(s.bin,
		"--port", s.Endpoint,
		"--access", s.AccessKey,
		"--secret", s.SecretKey,
		"--health", healthPath,
		"--quiet",
		"posix", s.dataDir)
	if err != nil {
		return err
	}
	if err := p.waitReady("http://"+s.Endpoint+healthPath, startTimeout); err != nil {
		p.stop()
		return err
	}
	s.proc = p
	return nil
}

// findBinary locates versitygw or skips (fails under CI) the test.
func findBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("VERSITYGW"); p != "" {
		if !isExecutable(p) {
			t.Fatalf("s3test: $VERSITYGW=%s is not an executable file", p)
		}
		return p
	}
	if root, err := moduleRoot(); err == nil {
		if p := filepath.Join(root, ".tools", "bin", "versitygw"); isExecutable(p) {
			return p
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	msg := "s3test: versitygw not found ($VERSITYGW, .tools/bin, $PATH): run `make test`, which installs it"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// moduleRoot returns the nearest folder at or above the working directory
// that holds a go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("s3test: %v", err)
	}
	return hex.EncodeToString(b)
}

// healthy reports whether url answers 200.
func healthy(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
