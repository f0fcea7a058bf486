package insights

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"time"
	_ "time/tzdata" // PHI days are calendar days of any IANA zone, also where the host has no zoneinfo

	"github.com/fieldsync/fieldsync/insights/insightstore"
	"github.com/fieldsync/fieldsync/syncengine"
)

// Config is a tenant's PHI and rule configuration. It is stored per tenant
// as JSON (sqlite insights_config); fields absent from the stored JSON, and
// tenants without a row, take the values of DefaultConfig.
type Config struct {
	Phi   PhiConfig  `json:"phi"`
	Rules RuleConfig `json:"rules"`
}

// PhiConfig configures the Process Health Index.
type PhiConfig struct {
	// TimeZone is the IANA zone whose calendar days PHI, A3 and A4 use. Default "UTC".
	TimeZone string `json:"time_zone"`
	// KeyActionWindow: a key action is on time when its first submitted
	// version is committed at most this long after the action. Default 24h.
	KeyActionWindow Duration `json:"key_action_window"`
	// DeliveryWindow: campaign material is on time on a rep's device at most
	// this long after its release. Default 2h.
	DeliveryWindow Duration `json:"delivery_window"`
	// FeedbackWindow: a rep's feedback is on time at most this long after the
	// material reached the rep. Default 24h.
	FeedbackWindow Duration `json:"feedback_window"`
	// QuoteMinParameters is the quality bar of a quote: this many non-empty
	// technical parameters. Default 7.
	QuoteMinParameters int `json:"quote_min_parameters"`
	// HighValueTags are the visit tags that make a visit high-value. Default
	// price_negotiation, technical_demo, decision_maker_confirmed.
	HighValueTags []string `json:"high_value_tags"`
	// Targets are the components' targets, each in (0, 1]. Default key action
	// 0.95, quality 0.90, collaboration 0.90.
	Targets Components `json:"targets"`
	// Weights weigh the components in the index, each ≥ 0, not all 0.
	// Default key action 0.4, quality 0.3, collaboration 0.3.
	Weights Components `json:"weights"`
}

// Components holds one number per PHI component.
type Components struct {
	KeyAction     float64 `json:"key_action"`
	Quality       float64 `json:"quality"`
	Collaboration float64 `json:"collaboration"`
}

// RuleConfig configures the alert rules A1–A6.
type RuleConfig struct {
	// ConflictWindow (A1): two different conclusions at most this far apart
	// conflict. Default 72h.
	ConflictWindow Duration `json:"conflict_window"`
	// InterventionDrop (A3): a day-over-day fall of more than this fraction
	// of the previous day's index counts. Default 0.15.
	InterventionDrop float64 `json:"intervention_drop"`
	// InterventionDays (A3): this many falls in a row trigger. Default 3.
	InterventionDays int `json:"intervention_days"`
	// GrantDuration (A3): how long the director may read the logs. Default 72h.
	GrantDuration Duration `json:"grant_duration"`
	// AbnormalRecords (A3): how many of the region's latest abnormal records
	// the alert names. Default 3.
	AbnormalRecords int `json:"abnormal_records"`
	// ProspectingTag (A4). Default "first_contact".
	ProspectingTag string `json:"prospecting_tag"`
	// ProspectingShare (A4): more than this share of a week's tags on
	// ProspectingTag counts. Default 0.6.
	ProspectingShare float64 `json:"prospecting_share"`
	// ProspectingWeeks (A4): this many ISO weeks running trigger. Default 2.
	ProspectingWeeks int `json:"prospecting_weeks"`
	// StallTag (A5). Default "decision_maker_confirmed".
	StallTag string `json:"stall_tag"`
	// StallWindow (A5): no progress for this long after the visit triggers.
	// Default 14 days.
	StallWindow Duration `json:"stall_window"`
	// StaleDeviceAge: a device whose last status report held a write made
	// longer ago than this, still unsynced, alerts its user's store manager
	// or regional director. Default 24h.
	StaleDeviceAge Duration `json:"stale_device_age"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Phi: PhiConfig{
			TimeZone:           "UTC",
			KeyActionWindow:    Duration(24 * time.Hour),
			DeliveryWindow:     Duration(2 * time.Hour),
			FeedbackWindow:     Duration(24 * time.Hour),
			QuoteMinParameters: 7,
			HighValueTags:      []string{"price_negotiation", "technical_demo", "decision_maker_confirmed"},
			Targets:            Components{KeyAction: 0.95, Quality: 0.90, Collaboration: 0.90},
			Weights:            Components{KeyAction: 0.4, Quality: 0.3, Collaboration: 0.3},
		},
		Rules: RuleConfig{
			ConflictWindow:   Duration(72 * time.Hour),
			InterventionDrop: 0.15,
			InterventionDays: 3,
			GrantDuration:    Duration(72 * time.Hour),
			AbnormalRecords:  3,
			ProspectingTag:   "first_contact",
			ProspectingShare: 0.6,
			ProspectingWeeks: 2,
			StallTag:         "decision_maker_confirmed",
			StallWindow:      Duration(14 * 24 * time.Hour),
			StaleDeviceAge:   Duration(24 * time.Hour),
		},
	}
}

// MaxGrantDuration bounds A3's grant_duration: an intervention's read
// access to a rep's operation logs is time-boxed, never standing.
const MaxGrantDuration = Duration(30 * 24 * time.Hour)

// Validate reports the first setting out of range, as CodeInvalid.
func (c Config) Validate() error {
	p, r := c.Phi, c.Rules
	for _, check := range []struct {
		ok   bool
		what string
	}{
		{p.KeyActionWindow > 0 && p.DeliveryWindow > 0 && p.FeedbackWindow > 0, "phi windows must be positive"},
		{p.QuoteMinParameters >= 0, "quote_min_parameters must be ≥ 0"},
		{inTarget(p.Targets.KeyAction) && inTarget(p.Targets.Quality) && inTarget(p.Targets.Collaboration), "targets must be in (0, 1]"},
		{p.Weights.KeyAction >= 0 && p.Weights.Quality >= 0 && p.Weights.Collaboration >= 0, "phi.weights must be ≥ 0"},
		{p.Weights.KeyAction+p.Weights.Quality+p.Weights.Collaboration > 0, "phi.weights must not all be 0"},
		{finite(p.Weights.KeyAction + p.Weights.Quality + p.Weights.Collaboration), "phi.weights must be finite, and so must their sum"},
		{r.ConflictWindow > 0 && r.GrantDuration > 0 && r.StallWindow > 0, "rule windows must be positive"},
		{r.GrantDuration <= MaxGrantDuration, "grant_duration must be at most 720h (A3 grants are time-boxed)"},
		{r.StaleDeviceAge > 0, "stale_device_age must be positive"},
		{r.InterventionDrop >= 0 && r.InterventionDrop < 1 && r.InterventionDays >= 1, "intervention_drop must be in [0, 1), intervention_days ≥ 1"},
		{r.AbnormalRecords >= 1, "abnormal_records must be ≥ 1"},
		{r.ProspectingShare >= 0 && r.ProspectingShare < 1 && r.ProspectingWeeks >= 1, "prospecting_share must be in [0, 1), prospecting_weeks ≥ 1"},
		{r.ProspectingTag != "" && r.StallTag != "", "prospecting_tag and stall_tag are required"},
	} {
		if !check.ok {
			return syncengine.Errorf(syncengine.CodeInvalid, "insights config: %s", check.what)
		}
	}
	if _, err := location(p.TimeZone); err != nil {
		return syncengine.Errorf(syncengine.CodeInvalid, "insights config: time_zone %q: %v", p.TimeZone, err)
	}
	return nil
}

func inTarget(v float64) bool { return v > 0 && v <= 1 }

func finite(v float64) bool { return !math.IsInf(v, 0) && !math.IsNaN(v) }

// ParseConfig decodes a configuration over the defaults and validates it.
// A key the configuration does not have, at any level, is CodeInvalid
// naming it (a misspelt key must not silently leave the default), as is
// anything after the JSON object.
func ParseConfig(data []byte) (Config, error) {
	cfg, err := decodeConfig(data)
	if err != nil {
		return Config{}, err
	}
	return cfg, cfg.Validate()
}

// parseStoredConfig is ParseConfig for a configuration already stored: one
// saved before grant_duration was bounded keeps working, its grants cut to
// MaxGrantDuration, where refusing it would stop the tenant's consumer.
func parseStoredConfig(data []byte) (Config, error) {
	cfg, err := decodeConfig(data)
	if err != nil {
		return Config{}, err
	}
	cfg.Rules.GrantDuration = min(cfg.Rules.GrantDuration, MaxGrantDuration)
	return cfg, cfg.Validate()
}

// decodeConfig decodes a configuration over the defaults, unvalidated.
func decodeConfig(data []byte) (Config, error) {
	cfg := DefaultConfig()
	if len(data) == 0 {
		return cfg, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, syncengine.Errorf(syncengine.CodeInvalid, "insights config: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Config{}, syncengine.Errorf(syncengine.CodeInvalid, "insights config: unexpected data after the JSON object")
	}
	return cfg, nil
}

// LoadConfig returns a tenant's configuration (the defaults when none is stored).
func LoadConfig(ctx context.Context, db insightstore.Configs, tenantID string) (Config, error) {
	data, err := db.InsightsConfig(ctx, tenantID)
	if err != nil {
		return Config{}, err
	}
	return parseStoredConfig(data)
}

// SaveConfig validates and stores a tenant's configuration. Recompute
// re-derives stored PHI days under a new configuration.
func SaveConfig(ctx context.Context, db insightstore.Configs, tenantID string, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("save insights config: %w", err)
	}
	return db.SetInsightsConfig(ctx, tenantID, data)
}

// Duration is a time.Duration written in JSON as a Go duration string ("24h").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

var zones sync.Map // name → *time.Location

// location loads an IANA zone once.
func location(name string) (*time.Location, error) {
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	zones.Store(name, l)
	return l, nil
}

// loc returns the PHI zone; Validate guarantees it loads.
func (p PhiConfig) loc() *time.Location {
	l, err := location(p.TimeZone)
	if err != nil {
		return time.UTC
	}
	return l
}

// ConfigStore serves a tenant's configuration as JSON for the admin API.
type ConfigStore struct {
	DB insightstore.Configs
}

// InsightsConfigJSON returns the tenant's configuration, defaults filled in.
func (s ConfigStore) InsightsConfigJSON(ctx context.Context, tenantID string) ([]byte, error) {
	cfg, err := LoadConfig(ctx, s.DB, tenantID)
	if err != nil {
		return nil, err
	}
	return json.Marshal(cfg)
}

// SetInsightsConfigJSON validates and stores a configuration given as JSON
// (fields left out keep their defaults) and returns what was stored.
// Errors: CodeInvalid for malformed JSON or out-of-range values.
func (s ConfigStore) SetInsightsConfigJSON(ctx context.Context, tenantID string, data []byte) ([]byte, error) {
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, err
	}
	if err := SaveConfig(ctx, s.DB, tenantID, cfg); err != nil {
		return nil, err
	}
	return json.Marshal(cfg)
}

// countingKey names the settings the stored action tallies of a PHI day
// depend on (insightstore.PhiCounts.Config): the day boundaries, the key
// action window, the quote bar and the high-value tags. Targets and
// weights only weigh the tallies, and collaboration is counted afresh on
// every recompute, so they are left out.
func (p PhiConfig) countingKey() string {
	tags := slices.Clone(p.HighValueTags)
	slices.Sort(tags)
	h := sha256.Sum256(fmt.Appendf(nil, "%q %d %d %q", p.TimeZone, p.KeyActionWindow, p.QuoteMinParameters, tags))
	return hex.EncodeToString(h[:8])
}
