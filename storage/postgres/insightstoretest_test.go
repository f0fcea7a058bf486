package postgres_test

import (
	"testing"

	"github.com/fieldsync/fieldsync/insights/insightstore/insightstoretest"
)

// TestInsightsStoreConformance runs the insights store suite on PostgreSQL.
func TestInsightsStoreConformance(t *testing.T) {
	t.Parallel()
	insightstoretest.Run(t, func(t *testing.T) insightstoretest.Backend { return open(t) })
}
