package syncengine

import (
	"testing"
	"time"
)

// TestNewFillsTheExportedDefaults: Config fields left zero get the
// exported defaults; set ones are kept.
func TestNewFillsTheExportedDefaults(t *testing.T) {
	t.Parallel()
	var store struct{ Store } // New does not call the store
	e, err := New(Config{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if e.cfg.MaxClockSkew != DefaultMaxClockSkew || e.cfg.HeartbeatInterval != DefaultHeartbeatInterval {
		t.Errorf("defaults = %v, %v; want %v, %v", e.cfg.MaxClockSkew, e.cfg.HeartbeatInterval,
			DefaultMaxClockSkew, DefaultHeartbeatInterval)
	}
	e, err = New(Config{Store: store, MaxClockSkew: time.Second, HeartbeatInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if e.cfg.MaxClockSkew != time.Second || e.cfg.HeartbeatInterval != time.Minute {
		t.Errorf("set values replaced: %v, %v", e.cfg.MaxClockSkew, e.cfg.HeartbeatInterval)
	}
}
