package insightstore

import (
	"context"
	"time"

	"github.com/fieldsync/fieldsync/syncengine"
)

// Store is the storage the insights consumers need.
type Store interface {
	Writer
	EffectQueue
	Configs
	Tenants
	Photos
}

// Writer runs the consumers' write transactions.
type Writer interface {
	// InsightsWrite runs fn in one write transaction and commits it when fn
	// returns nil.
	InsightsWrite(ctx context.Context, fn func(tx Tx) error) error
}

// EffectQueue hands out the effects queued by Tx.EnqueueEffect once their
// transaction committed.
type EffectQueue interface {
	// PendingInsightEffects returns up to limit effects not yet done and due
	// at now (not waiting for a retry: DeferInsightEffect), oldest first.
	PendingInsightEffects(ctx context.Context, now time.Time, limit int) ([]*Effect, error)
	// MarkInsightEffectsDone records, in one transaction, that effects were
	// performed: each in the revision read, so one replaced since stays queued.
	MarkInsightEffectsDone(ctx context.Context, effects []*Effect) error
	// DeferInsightEffect records a failed try of an effect (in the revision
	// read) and leaves it until retryAt: other effects go on meanwhile.
	DeferInsightEffect(ctx context.Context, e *Effect, retryAt time.Time) error
}

// Configs stores each tenant's insights configuration.
type Configs interface {
	// InsightsConfig returns a tenant's stored insights configuration
	// (JSON), or nil when the tenant uses the defaults.
	InsightsConfig(ctx context.Context, tenantID string) ([]byte, error)
	// SetInsightsConfig stores a tenant's insights configuration (JSON).
	SetInsightsConfig(ctx context.Context, tenantID string, config []byte) error
}

// Tenants lists the tenants, for the sweeps.
type Tenants interface {
	// TenantIDs returns every tenant's id.
	TenantIDs(ctx context.Context) ([]string, error)
}

// Photos says which photos of records are available (A6 counts only those).
type Photos interface {
	// PhotoStates is syncengine.Store.PhotoStates.
	PhotoStates(ctx context.Context, tenantID string, recordIDs []string) (map[syncengine.PhotoKey]bool, error)
}
