package syncengine

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/records"
)

// Config holds the engine's dependencies and settings.
type Config struct {
	Store    Store
	Registry *Registry // default: DefaultRegistry()
	Clock    *Clock    // default: NewClock(nil)
	Logger   *slog.Logger
	// Hooks computes the server fields of record types (default records.Hooks{}).
	Hooks TypeHooks
	// MaxClockSkew bounds how far ahead of the server a device HLC may be;
	// further ahead is clamped and the skew recorded (default
	// DefaultMaxClockSkew).
	MaxClockSkew time.Duration
	// HeartbeatInterval is the Watch heartbeat period (default
	// DefaultHeartbeatInterval).
	HeartbeatInterval time.Duration
	// OnCommit runs after every commit that wrote events (kicks the relay).
	OnCommit func()
	// OnPoke, when set, receives each commit's poke before the local
	// watchers get it (other nodes' watchers: see Engine.Poke). It must
	// not block.
	OnPoke func(events.Poke)
	// DeliveryTypes are the record types whose first delivery to each device
	// is published as an event (PHI collaboration timeliness); default: the
	// types with the delivery_events option (Registry.DeliveryTypes).
	DeliveryTypes []string
}

// The engine's default limits: New uses them for Config fields left zero.
// DefaultPullLimit (pull.go) and the conflict list limits (conflicts.go)
// apply per call.
const (
	// DefaultMaxClockSkew is how far ahead of the server's clock a device's
	// HLC may be before it is clamped.
	DefaultMaxClockSkew = 5 * time.Minute
	// DefaultHeartbeatInterval is the period of Watch heartbeats.
	DefaultHeartbeatInterval = 15 * time.Second
)

// Engine is the sync engine: push, pull, watch and the conflict log.
type Engine struct {
	cfg       Config
	store     Store
	reg       *Registry
	clock     *Clock
	validator *recordValidator
	hub       *hub
	receipts  receiptCache
	log       *slog.Logger
	// noPrepare turns off preparing creates ahead of a push's
	// transaction (tests compare both paths).
	noPrepare bool

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
	if cfg.Hooks == nil {
		cfg.Hooks = records.Hooks{}
	}
	if cfg.Clock == nil {
		cfg.Clock = NewClock(nil)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxClockSkew <= 0 {
		cfg.MaxClockSkew = DefaultMaxClockSkew
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.DeliveryTypes == nil {
		cfg.DeliveryTypes = cfg.Registry.DeliveryTypes()
	}
	v, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("protovalidate: %w", err)
	}
	var types []protoreflect.MessageDescriptor
	for _, rt := range cfg.Registry.Types() {
		types = append(types, rt.msgType.Descriptor())
	}
	// A field whose rules the native text check lacks stays protovalidate's
	// (slower, same answer); TestEveryPrintableFieldIsCheckedNatively
	// refuses such a schema.
	rv, _ := newRecordValidator(v, types)
	return &Engine{
		cfg: cfg, store: cfg.Store, reg: cfg.Registry, clock: cfg.Clock,
		validator: rv, hub: newHub(), log: cfg.Logger,
	}, nil
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
// Other nodes' watchers are told first: their poke has further to go, and
// this node's own fan-out would otherwise run ahead of it.
func (e *Engine) committed(tenantID string, version uint64, scopes []changedScope) {
	if len(scopes) > 0 {
		if e.cfg.OnPoke != nil {
			e.cfg.OnPoke(pokeOf(tenantID, version, scopes))
		}
		e.hub.publish(tenantID, version, scopes)
	}
	if e.cfg.OnCommit != nil {
		e.cfg.OnCommit()
	}
}
