package pgtest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fieldsync/fieldsync/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestDBIsFreshPerTest checks that each test gets its own empty database
// on a server that answers.
func TestDBIsFreshPerTest(t *testing.T) {
	ctx := context.Background()
	urls := []string{pgtest.DB(t), pgtest.DB(t)}
	if urls[0] == urls[1] {
		t.Fatalf("two calls returned the same database %s", urls[0])
	}
	for _, u := range urls {
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		var version int
		if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
			t.Fatal(err)
		}
		if version < 150000 {
			t.Errorf("server version %d, want PostgreSQL 15 or later", version)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE only_here (x int)"); err != nil {
			t.Errorf("the database is not fresh: %v", err)
		}
		conn.Close(ctx)
	}
}

// TestTheServerStopsWhenTheBinaryDies runs this test binary again as a
// child that takes a database and exits without Main (as a crash or a
// timeout would): the watchdog stops its server and removes its folder.
func TestTheServerStopsWhenTheBinaryDies(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") == "1" {
		fmt.Println("URL", pgtest.DB(t))
		os.Exit(0)
	}
	pgtest.DB(t) // skips without PostgreSQL
	child := exec.Command(os.Args[0], "-test.run=^TestTheServerStopsWhenTheBinaryDies$")
	child.Env = append(os.Environ(), "PGTEST_CHILD=1")
	out, _ := child.CombinedOutput() // it exits in the middle of a test: no verdict
	var url string
	for _, line := range strings.Split(string(out), "\n") {
		if u, ok := strings.CutPrefix(line, "URL "); ok {
			url = u
		}
	}
	if url == "" {
		t.Fatalf("the child printed no URL:\n%s", out)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, url)
		cancel()
		if err != nil {
			return // stopped
		}
		conn.Close(context.Background())
		if time.Now().After(deadline) {
			t.Fatal("the child's server still runs a minute after the child exited")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRestartKeepsAcknowledgedCommits: a server of the test's own, stopped
// immediately (as a crash of postgres) and started again, answers on the
// same URL and still holds every commit it acknowledged.
func TestRestartKeepsAcknowledgedCommits(t *testing.T) {
	ctx := context.Background()
	s := pgtest.Start(t)
	url, err := s.CreateDB(ctx, "restart")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := conn.Exec(ctx, "INSERT INTO t VALUES ($1)", i); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := conn.Ping(ctx); err == nil {
		t.Fatal("a connection from before the restart still answers: the server was not stopped")
	}
	conn.Close(ctx)
	conn, err = pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 100 {
		t.Fatalf("after the restart: %d rows (%v), want 100", n, err)
	}
}
