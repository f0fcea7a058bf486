package daemon

import "testing"

// TestHoldRelayDefersKicksUntilRelease checks the wrapper the engine's
// OnCommit goes through: kicks pass straight to the relay, are held back
// while a benchmark holds the relay, and come out as one kick on release.
func TestHoldRelayDefersKicksUntilRelease(t *testing.T) {
	d := &Daemon{}
	kicks := 0
	onCommit := d.held(func() { kicks++ })
	onCommit()
	if kicks != 1 {
		t.Fatalf("unheld commit: %d kicks, want 1", kicks)
	}
	release := d.HoldRelay()
	onCommit()
	onCommit()
	if kicks != 1 {
		t.Fatalf("held commits kicked the relay (%d kicks)", kicks)
	}
	release()
	if kicks != 2 {
		t.Fatalf("release after held commits: %d kicks, want 2", kicks)
	}
	d.HoldRelay()() // nothing committed meanwhile: no kick
	onCommit()
	if kicks != 3 {
		t.Fatalf("after release: %d kicks, want 3", kicks)
	}
	if (&Daemon{}).held(nil) != nil {
		t.Fatal("no relay here: OnCommit should stay nil")
	}
}
