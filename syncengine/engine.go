package syncengine

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"buf.build/go/protovalidate"
)

// Config holds the engine's dependencies and settings.
type Config struct {
	Store    Store
	Registry *Registry // default: DefaultRegistry()
	Clock    *Clock    // default: NewClock(nil)
	Logger   *slog.Logger
	// MaxClockSkew bounds how far ahead of the server a device HLC may be;
	// further ahead is clamped and the skew recorded (default 5 min).
	MaxClockSkew time.Duration
	// HeartbeatInterval is the Watch heartbeat period (default 15 s).
	HeartbeatInterval time.Duration
	// ChangeSubject names the event subject of a record change (default
	// "fieldsync.<tenant>.changes.<Type>").
	ChangeSubject func(tenantID, recordType string) string
	// AlertSubject names the subject alerts are also published on.
	AlertSubject func(tenantID, kind string) string
	// OnCommit runs after every commit that wrote events (kicks the relay).
	OnCommit func()
	// DeliveryTypes are the record types whose first delivery to each device
	// is published as an event (PHI collaboration timeliness).
	DeliveryTypes []string
}

// Engine is the sync engine: push, pull, watch and the conflict log.
type Engine struct {
	cfg       Config
	store     Store
	reg       *Registry
	clock     *Clock
	validator protovalidate.Validator
	hub       *hub
	receipts  receiptCache
	served    servedLog
	log       *slog.Logger

	closeOnce sync.Once
}

// New returns an engine over cfg.Store.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil {
		return nil, errors.New("syncengine: Store is required")
	}
	if cfg.Registry == nil {
		cfg.Registry = DefaultRegistry()
	}
	if cfg.Clock == nil {
		cfg.Clock = NewClock(nil)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxClockSkew <= 0 {
		cfg.MaxClockSkew = 5 * time.Minute
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 15 * time.Second
	}
	if cfg.ChangeSubject == nil {
		cfg.ChangeSubject = func(t, rt string) string { return "fieldsync." + t + ".changes." + shortType(rt) }
	}
	if cfg.AlertSubject == nil {
		cfg.AlertSubject = func(t, kind string) string { return "fieldsync." + t + ".alerts." + kind }
	}
	if cfg.DeliveryTypes == nil {
		cfg.DeliveryTypes = []string{"fieldsync.v1.CampaignMaterial", "fieldsync.v1.Alert"}
	}
	v, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("protovalidate: %w", err)
	}
	return &Engine{
		cfg: cfg, store: cfg.Store, reg: cfg.Registry, clock: cfg.Clock,
		validator: v, hub: newHub(), log: cfg.Logger,
	}, nil
}

// shortType is the last element of a full protobuf name.
func shortType(fullName string) string {
	return fullName[strings.LastIndexByte(fullName, '.')+1:]
}

// Registry returns the engine's record types.
func (e *Engine) Registry() *Registry { return e.reg }

// Clock returns the server's HLC clock.
func (e *Engine) Clock() *Clock { return e.clock }

// Close ends every Watch stream cleanly.
func (e *Engine) Close() {
	e.closeOnce.Do(e.hub.close)
}

// committed runs after a successful commit: pokes watchers, kicks the relay.
func (e *Engine) committed(tenantID string, version uint64, scopes []changedScope) {
	if len(scopes) > 0 {
		e.hub.publish(tenantID, version, scopes)
	}
	if e.cfg.OnCommit != nil {
		e.cfg.OnCommit()
	}
}
