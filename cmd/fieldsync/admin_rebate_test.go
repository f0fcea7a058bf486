package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const stentRuleJSON = `{"name": "Stent tiers", "productIds": ["stent"], "basis": "REBATE_BASIS_QUANTITY",
 "tiers": [{"min": "10", "perUnitCents": "100"}, {"min": "50", "perUnitCents": "150"}],
 "validFrom": "2020-01-01T00:00:00Z", "state": "REBATE_RULE_STATE_ACTIVE", "currency": "CNY"}`

// TestAdminRebateSetListAndDevicePreview: an admin sets a rule from a JSON
// file and lists it; the store staff's device previews a quote's rebate
// under it; a rule the server refuses fails naming the field, and a
// store staffer may not set one.
func TestAdminRebateSetListAndDevicePreview(t *testing.T) {
	t.Parallel()
	d, creds := startServer(t)
	dir := t.TempDir()
	srv := "--server=" + d.URL()
	file := filepath.Join(dir, "rule.json")
	if err := os.WriteFile(file, []byte(stentRuleJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	adminDB := "--db=" + filepath.Join(dir, "admin.db")
	set := cli(t, 0, "admin", "rebate", "set", "--file="+file, "--id=stent-2026", adminDB, srv, "--token="+creds.AdminToken)
	if set["id"] != "stent-2026" || set["pending"] != false {
		t.Fatalf("set: %v", set)
	}
	list := cli(t, 0, "admin", "rebate", "list", adminDB, srv, "--token="+creds.AdminToken)
	if rules := list["rules"].([]any); len(rules) != 1 || rules[0].(map[string]any)["id"] != "stent-2026" {
		t.Fatalf("list: %v", list)
	}

	staff, _ := creds.User("store_staff")
	staffDB := filepath.Join(dir, "staff.db")
	device(t, staffDB, d.URL(), staff.DeviceToken, "sync")
	q := device(t, staffDB, d.URL(), staff.DeviceToken, "quote", "create", "--lines=stent:49:5000,other:3:100",
		"--diagnosis=d1", "--photos="+strings.Repeat("ab", 32))["id"].(string)
	got := device(t, staffDB, d.URL(), staff.DeviceToken, "rebate", "--quote="+q)
	if got["earnedCents"] != "4900" || got["ruleId"] != "stent-2026" || got["nextExtraCents"] != "2450" ||
		got["summary"] != "earns ¥49.00; 1 more reaches tier 2, about ¥24.50 more" {
		t.Fatalf("device rebate: %v", got)
	}
	sub := device(t, staffDB, d.URL(), staff.DeviceToken, "quote", "submit", q)["value"].(map[string]any)
	if sub["status"] != "RECORD_STATUS_SUBMITTED" || sub["rebateDeviceCents"] != "4900" || sub["rebateDeviceRuleId"] != "stent-2026" {
		t.Fatalf("submitted quote: %v", sub)
	}
	if st := device(t, staffDB, d.URL(), staff.DeviceToken, "sync"); st["rejections"] != 0.0 {
		t.Fatalf("sync after submit: %v", st)
	}

	bad := strings.Replace(stentRuleJSON, `"perUnitCents": "150"`, `"perUnitCents": "50"`, 1)
	if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if msg := cliErr(t, "admin", "rebate", "set", "--file="+file, adminDB, srv, "--token="+creds.AdminToken); !strings.Contains(msg, "tiers: a higher min must not pay a lower rate") {
		t.Errorf("bad rule: %q, want the tier rule named", msg)
	}
	if msg := cliErr(t, "admin", "rebate", "set", "--file="+file, "--db="+staffDB, srv, "--token="+staff.DeviceToken); !strings.Contains(msg, "may not write") {
		t.Errorf("store staff's rule: %q, want permission denied", msg)
	}
}

// cliErr runs the tool, expecting exit 1, and returns its stderr.
func cliErr(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), args, &out, &errOut); code != 1 {
		t.Fatalf("fieldsync %s: exit %d, want 1\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out.String(), errOut.String())
	}
	return errOut.String()
}

func TestAdminRebateUsageErrors(t *testing.T) {
	t.Parallel()
	cli(t, 2, "admin", "rebate")
	cli(t, 2, "admin", "rebate", "set", "--token=x")
	db := "--db=" + filepath.Join(t.TempDir(), "d.db")
	cli(t, 2, "device", "rebate", db)
	cli(t, 2, "device", "quote", "create", db)
	cli(t, 2, "device", "quote", "create", db, "--lines=p1:x:1")
	cli(t, 2, "device", "quote", "submit", db)
	cli(t, 1, "device", "rebate", db, "--quote=nowhere")
}
