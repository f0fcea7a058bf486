package main

import (
	"path/filepath"
	"testing"
)

// device runs `fieldsync device <args>` as the device whose store is db.
func device(t *testing.T, db, server, token string, args ...string) map[string]any {
	t.Helper()
	return cli(t, 0, append(append([]string{"device"}, args...), "--db="+db, "--server="+server, "--token="+token)...)
}

func records(t *testing.T, out map[string]any) map[string]map[string]any {
	t.Helper()
	got := map[string]map[string]any{}
	for _, r := range out["records"].([]any) {
		rec := r.(map[string]any)
		got[rec["id"].(string)] = rec
	}
	return got
}

func TestDeviceCreatesOfflineSyncsAndSeesConflicts(t *testing.T) {
	t.Parallel()
	d, creds := startServer(t)
	rep, _ := creds.User("rep")
	director, _ := creds.User("regional_director")
	repDB, dirDB := filepath.Join(t.TempDir(), "rep.db"), filepath.Join(t.TempDir(), "director.db")
	srv := d.URL()

	visit := device(t, repDB, srv, rep.DeviceToken, "visit", "create", "--customer=hospital-1", "--notes=first visit", "--tags=first_contact")
	id := visit["id"].(string)
	if visit["pending"] != true {
		t.Fatalf("a new visit is not pending: %v", visit)
	}
	if st := device(t, repDB, srv, rep.DeviceToken, "status"); st["outboxDepth"] != 1.0 {
		t.Fatalf("status before sync: %v", st)
	}
	if st := device(t, repDB, srv, rep.DeviceToken, "sync"); st["outboxDepth"] != 0.0 || st["lastSync"] == nil {
		t.Fatalf("status after sync: %v", st)
	}
	device(t, dirDB, srv, director.DeviceToken, "sync")
	got := records(t, device(t, dirDB, srv, director.DeviceToken, "list", "--type=Visit"))
	if v := got[id]["value"].(map[string]any); v["notes"] != "first visit" || v["ownerUserId"] != rep.UserID {
		t.Fatalf("the director sees %v", got)
	}

	// Both edit the notes offline; the director's edit is later and wins.
	device(t, repDB, srv, rep.DeviceToken, "visit", "edit", id, "--notes=rep's notes")
	device(t, dirDB, srv, director.DeviceToken, "visit", "edit", id, "--notes=director's notes", "--tags=technical_demo")
	device(t, dirDB, srv, director.DeviceToken, "sync")
	device(t, repDB, srv, rep.DeviceToken, "sync")
	v := records(t, device(t, repDB, srv, rep.DeviceToken, "list"))[id]["value"].(map[string]any)
	if v["notes"] != "director's notes" || len(v["actionTags"].([]any)) != 2 {
		t.Fatalf("after the merge the rep sees %v", v)
	}
	cs := device(t, repDB, srv, rep.DeviceToken, "conflicts")["conflicts"].([]any)
	if len(cs) != 1 || cs[0].(map[string]any)["field"] != "notes" || cs[0].(map[string]any)["losing"].(map[string]any)["notes"] != "rep's notes" {
		t.Fatalf("rep conflicts: %v", cs)
	}
}

func TestDeviceRejectionIsListed(t *testing.T) {
	t.Parallel()
	d, creds := startServer(t)
	rep, _ := creds.User("rep")
	db := filepath.Join(t.TempDir(), "rep.db")
	device(t, db, d.URL(), rep.DeviceToken, "visit", "create", "--customer=h1", "--kind=clinical_director", "--status=submitted")
	if st := device(t, db, d.URL(), rep.DeviceToken, "sync"); st["rejections"] != 1.0 {
		t.Fatalf("status after sync: %v", st)
	}
	rj := device(t, db, d.URL(), rep.DeviceToken, "rejections")["rejections"].([]any)
	if len(rj) != 1 || rj[0].(map[string]any)["code"] != "REJECT_CODE_INVALID" {
		t.Fatalf("rejections: %v", rj)
	}
	id := rj[0].(map[string]any)["recordId"].(string)
	if _, listed := records(t, device(t, db, d.URL(), rep.DeviceToken, "list", "--type=Visit"))[id]; listed {
		t.Fatalf("the rejected visit %s is still listed", id)
	}
}

func TestDeviceUsageErrors(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "d.db")
	cli(t, 2, "device", "fly")
	cli(t, 2, "device", "visit", "create", "--db="+db)
	cli(t, 2, "device", "visit", "edit", "--db="+db, "--notes=x")
	cli(t, 1, "device", "visit", "create", "--db="+db, "--customer=c", "--kind=nope")
}
