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
