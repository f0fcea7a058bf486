package insightstest_test

import (
	"testing"

	"github.com/fieldsync/fieldsync/internal/pgtest"
)

// TestMain stops the PostgreSQL server the harness may have started
// (FIELDSYNC_TEST_STORE=postgres).
func TestMain(m *testing.M) { pgtest.Main(m) }
