package postgres_test

import (
	"testing"

	"github.com/fieldsync/fieldsync/server/identitytest"
)

// TestIdentityConformance runs the identity suite on PostgreSQL.
func TestIdentityConformance(t *testing.T) {
	t.Parallel()
	identitytest.Run(t, func(t *testing.T) identitytest.Store { return open(t) })
}
