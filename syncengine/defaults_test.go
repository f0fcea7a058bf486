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
	if e.cfg.MaxClockSkew != DefaultMaxClockSkew || e.cfg.HeartbeatInterval != DefaultHeartbeatInterval || e.cfg.MaxPullScan != DefaultMaxPullScan {
		t.Errorf("defaults = %v, %v, %d; want %v, %v, %d", e.cfg.MaxClockSkew, e.cfg.HeartbeatInterval, e.cfg.MaxPullScan,
			DefaultMaxClockSkew, DefaultHeartbeatInterval, DefaultMaxPullScan)
	}
	e, err = New(Config{Store: store, MaxClockSkew: time.Second, HeartbeatInterval: time.Minute, MaxPullScan: 7})
	if err != nil {
		t.Fatal(err)
	}
	if e.cfg.MaxClockSkew != time.Second || e.cfg.HeartbeatInterval != time.Minute || e.cfg.MaxPullScan != 7 {
		t.Errorf("set values replaced: %v, %v, %d", e.cfg.MaxClockSkew, e.cfg.HeartbeatInterval, e.cfg.MaxPullScan)
	}
}
