package postgres_test

import (
	"testing"

	"github.com/fieldsync/fieldsync/server/ratingtest"
)

// TestRatingConformance runs the rating link suite on PostgreSQL.
func TestRatingConformance(t *testing.T) {
	t.Parallel()
	ratingtest.Run(t, func(t *testing.T) ratingtest.Store { return open(t) })
}
