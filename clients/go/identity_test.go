package fieldsync

import (
	"context"
	"errors"
	"os"
	"testing"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// TestStoreIsBoundToItsDevice: a device store first used with one device
// token refuses another (a visit written as one rep is never pushed as
// another); Reset starts over, refusing while changes are unsynced unless
// forced.
func TestStoreIsBoundToItsDevice(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	repA, repB := e.user("rep", 0), e.user("rep", 1)
	path := e.devicePath()
	a := openDevice(t, path, WithServer(e.d.URL()), WithToken(repA.DeviceToken))
	mustSync(t, a)
	if id, err := a.Identity(ctx); err != nil || id.DeviceID != repA.DeviceID || id.UserID != repA.UserID || id.TenantID == "" {
		t.Fatalf("Identity = %+v, %v; want rep A's device %s", id, err, repA.DeviceID)
	}
	visitID := a.NewID()
	mustPut(t, a, visitID, &fieldsyncv1.Visit{Notes: "written as rep A"})
	a.Close()

	b, err := Open(ctx, path, WithServer(e.d.URL()), WithToken(repB.DeviceToken))
	if err == nil {
		b.Sync(ctx)
		b.Close()
		t.Fatalf("the store of rep A's device opened with rep B's token (and pushed A's visit as B)")
	}
	if !errors.Is(err, ErrWrongDevice) {
		t.Fatalf("Open with another token = %v, want ErrWrongDevice", err)
	}
	if err := Reset(ctx, path, false); !errors.Is(err, ErrUnsynced) {
		t.Fatalf("Reset with an unsynced visit = %v, want ErrUnsynced", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("a refused Reset touched the store: %v", err)
	}
	if err := Reset(ctx, path, true); err != nil {
		t.Fatalf("forced Reset = %v", err)
	}
	b = openDevice(t, path, WithServer(e.d.URL()), WithToken(repB.DeviceToken))
	if st, err := b.Status(ctx); err != nil || st.OutboxDepth != 0 {
		t.Fatalf("after Reset: status %+v, %v; want an empty outbox", st, err)
	}
	mustSync(t, b)
	if _, found := visit(t, b, visitID); found {
		t.Fatal("rep A's unsynced visit reached the server after all")
	}
	if id, err := b.Identity(ctx); err != nil || id.DeviceID != repB.DeviceID {
		t.Fatalf("Identity after Reset = %+v, %v; want rep B's device", id, err)
	}
}

// TestResetOfASyncedStoreNeedsNoForce: a store with nothing unsynced may
// be reset; a missing one is nothing to reset.
func TestResetOfASyncedStoreNeedsNoForce(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	path := e.devicePath()
	if err := Reset(ctx, path, false); err != nil {
		t.Fatalf("Reset of a missing store = %v", err)
	}
	other := path + ".txt"
	if err := os.WriteFile(other, []byte("not a store"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Reset(ctx, other, true); err == nil {
		t.Fatal("Reset deleted a file that is not a device store")
	}
	if b, err := os.ReadFile(other); err != nil || string(b) != "not a store" {
		t.Fatalf("Reset changed a file that is not a device store: %q, %v", b, err)
	}
	c := openDevice(t, path, WithServer(e.d.URL()), WithToken(e.token("rep")))
	mustPut(t, c, c.NewID(), &fieldsyncv1.Visit{Notes: "synced"})
	mustSync(t, c)
	c.Close()
	if err := Reset(ctx, path, false); err != nil {
		t.Fatalf("Reset of a synced store = %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("after Reset the store is still there: %v", err)
	}
}
