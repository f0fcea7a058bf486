package pgtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Cluster is a PostgreSQL server of one test's own, for what needs a
// whole cluster rather than a database: a restore from a backup into a
// fresh cluster. It costs an initdb (about a second); prefer DB.
type Cluster struct {
	s *server
}

// NewCluster initialises and starts a new cluster, stopped and removed
// when the test ends. It skips like DB when PostgreSQL is not installed.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	s, skip, err := start()
	if skip != "" {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("pgtest: %s, and %s=1", skip, RequireEnv)
		}
		t.Skip("pgtest: " + skip + " (install PostgreSQL 15)")
	}
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Logf("pgtest: %v", err)
		}
	})
	return &Cluster{s: s}
}

// CreateDB creates an empty database on the cluster and returns its URL.
func (c *Cluster) CreateDB(t testing.TB, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.s.exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	return c.s.url(name)
}

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
