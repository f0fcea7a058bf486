// Package pgtest runs a real PostgreSQL server for tests: no mock stands
// in for PostgreSQL. One server runs per test binary, started on first use
// (initdb into a temporary folder, postgres on a free loopback port) and
// stopped by Main (or, should the binary die first, by a watchdog); each
// DB call gets a fresh database of its own, created from a template,
// dropped when the test ends.
//
// Without initdb on $PATH the tests that need PostgreSQL skip, unless
// FIELDSYNC_REQUIRE_POSTGRES=1 (`make test` sets it), when they fail.
// PostgreSQL refuses to run as root: as root the server runs as the
// postgres user (runuser) in a folder it owns.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fieldsync/fieldsync/internal/freeport"
)

// RequireEnv names the variable that turns a missing PostgreSQL from a
// skip into a failure.
const RequireEnv = "FIELDSYNC_REQUIRE_POSTGRES"

// templateDB is the empty database every test database is copied from.
const templateDB = "fieldsync_template"

var (
	startOnce sync.Once
	shared    *server
	startErr  error
	skipMsg   string
	dbSeq     atomic.Int64
)

// Main runs the package's tests and then stops the server if one was
// started; call it from TestMain: func TestMain(m *testing.M) { pgtest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if err := shared.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	os.Exit(code)
}

// DB returns the URL of a new empty database on the binary's server,
// dropped when the test ends. It skips the test when PostgreSQL is not
// installed (fails with FIELDSYNC_REQUIRE_POSTGRES=1).
func DB(t testing.TB) string {
	t.Helper()
	startOnce.Do(func() { shared, skipMsg, startErr = start(false) })
	if skipMsg != "" {
		skip(t, skipMsg)
	}
	if startErr != nil {
		t.Fatalf("pgtest: %v", startErr)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := shared.exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+templateDB); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := shared.exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop database: %v", err)
		}
	})
	return shared.url(name)
}

// skip skips the test for want of PostgreSQL, or fails it when
// FIELDSYNC_REQUIRE_POSTGRES=1.
func skip(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("pgtest: %s, and %s=1", why, RequireEnv)
	}
	t.Skip("pgtest: " + why + " (install PostgreSQL 15)")
}

// Server is a PostgreSQL server of one test's own, for fault tests that
// stop and restart it (Start); other tests share the binary's server (DB).
type Server struct {
	s *server
}

// Start starts a PostgreSQL server for the test alone, stopped and removed
// when the test ends. Unlike the shared server it commits synchronously,
// so a commit it acknowledged survives Restart (an immediate stop, as a
// crash of postgres would be; the machine stays up, so fsync stays off).
// It skips the test when PostgreSQL is not installed (fails with
// FIELDSYNC_REQUIRE_POSTGRES=1).
func Start(t testing.TB) *Server {
	t.Helper()
	s, why, err := start(true)
	if why != "" {
		skip(t, why)
	}
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Logf("pgtest: %v", err)
		}
	})
	return &Server{s: s}
}

// URL is the connection URL of database db on the server ("postgres" is
// the maintenance database).
func (s *Server) URL(db string) string { return s.s.url(db) }

// CreateDB creates database name and returns its URL.
func (s *Server) CreateDB(ctx context.Context, name string) (string, error) {
	if err := s.s.exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return s.s.url(name), nil
}

// Restart stops the server at once, as a crash would (pg_ctl stop -m
// immediate: no checkpoint, connections cut, recovery from the WAL at the
// next start), and starts it again on the same port.
func (s *Server) Restart() error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.Start()
}

// Stop stops the server at once, as a crash would; connections are cut and
// new ones refused until Start.
func (s *Server) Stop() error {
	out, err := asPostgres(s.s.pgctl, "stop", "-w", "-m", "immediate", "-D", s.s.data()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// Start starts a server that Stop stopped again, on the same port, and
// returns once it accepts connections.
func (s *Server) Start() error { return s.s.launch() }

// server is one running postgres, started and stopped by pg_ctl.
type server struct {
	port    int
	dir     string // removed by stop
	pgctl   string
	durable bool // commits are synchronous (Start)
}

// start initialises a cluster in a temporary folder and starts postgres on
// it. A non-empty skip means PostgreSQL is not installed.
func start(durable bool) (s *server, skip string, err error) {
	initdb, err := exec.LookPath("initdb")
	if err != nil {
		return nil, "initdb not found on $PATH", nil
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, "", err
	}
	s = &server{dir: dir, pgctl: filepath.Join(filepath.Dir(initdb), "pg_ctl"), durable: durable}
	if err := s.initdb(initdb); err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	for range 3 { // a port picked free may be taken before postgres binds it
		var ports []int
		if ports, err = freeport.Ports(1); err != nil {
			break
		}
		s.port = ports[0]
		if err = s.launch(); err == nil {
			break
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	if err := s.watch(); err != nil {
		s.stop()
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.exec(ctx, "CREATE DATABASE "+templateDB); err != nil {
		s.stop()
		return nil, "", err
	}
	return s, "", nil
}

// asPostgres returns the command, run as the postgres user when the test
// runs as root.
func asPostgres(bin string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	}
	return exec.Command(bin, args...)
}

// initdb creates the cluster in s.dir/data, owned by postgres when root.
func (s *server) initdb(bin string) error {
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root needs a postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(s.dir, uid, gid); err != nil {
			return err
		}
	}
	cmd := asPostgres(bin, "-D", s.data(), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	return nil
}

func (s *server) data() string { return filepath.Join(s.dir, "data") }

// launch starts postgres on s.port with pg_ctl, which waits until it
// accepts connections. Durability is off: a test server need not survive
// a crash of the machine. A durable server commits synchronously, so an
// acknowledged commit survives a crash of postgres (Server.Restart).
func (s *server) launch() error {
	sync := "off"
	if s.durable {
		sync = "on"
	}
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s"+
		" -c fsync=off -c synchronous_commit=%s -c full_page_writes=off"+
		" -c max_connections=300 -c shared_buffers=32MB", s.port, s.dir, sync)
	cmd := asPostgres(s.pgctl, "start", "-w", "-t", "60", "-D", s.data(), "-l", s.logFile(), "-o", opts)
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(s.logFile())
		return fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, tail(log))
	}
	return nil
}

func (s *server) logFile() string { return filepath.Join(s.dir, "postgres.log") }

// stop shuts postgres down (fast shutdown) and removes its folder.
func (s *server) stop() error {
	defer os.RemoveAll(s.dir)
	out, err := asPostgres(s.pgctl, "stop", "-w", "-m", "fast", "-D", s.data()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// tail returns the end of a log, for error messages.
func tail(b []byte) []byte {
	if len(b) > 4<<10 {
		return b[len(b)-4<<10:]
	}
	return b
}

// watch starts a watchdog, in a session of its own, that stops the server
// and removes its folder once the test binary has exited, however it
// ended: a panic, a timeout, a package without Main. After a normal
// Main it finds the server stopped already.
func (s *server) watch() error {
	script := fmt.Sprintf(`while kill -0 %d 2>/dev/null; do sleep 1; done; %s; rm -rf %s`,
		os.Getpid(), strings.Join(asPostgres(s.pgctl, "stop", "-m", "immediate", "-D", s.data()).Args, " "), s.dir)
	cmd := exec.Command("sh", "-c", script)
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the watchdog: %w", err)
	}
	go cmd.Wait()
	return nil
}

// url is the connection URL of a database on the server.
func (s *server) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// exec runs one statement on the maintenance database.
func (s *server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.url("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}
