package pgtest_test

import (
	"context"
	"testing"

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
