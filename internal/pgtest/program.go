package pgtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Program returns the path of a PostgreSQL program (pg_dump, pg_restore,
// psql) of the installation the servers run from, so client and server
// versions match.
func Program(t testing.TB, name string) string {
	t.Helper()
	initdb, err := exec.LookPath("initdb")
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("pgtest: initdb not found on $PATH, and %s=1", RequireEnv)
		}
		t.Skip("pgtest: initdb not found on $PATH")
	}
	if real, err := filepath.EvalSymlinks(initdb); err == nil {
		initdb = real
	}
	path := filepath.Join(filepath.Dir(initdb), name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("pgtest: %s not beside initdb: %v", name, err)
	}
	return path
}
