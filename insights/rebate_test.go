package insights

import (
	"slices"
	"strings"
	"testing"
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

func (e *env) rebateRule(region string, perUnit int64) *fieldsyncv1.RebateRule {
	return &fieldsyncv1.RebateRule{RegionId: e.id(region), Name: "Stent tiers", ProductIds: []string{"stent-3x18"},
		Basis: fieldsyncv1.RebateBasis_REBATE_BASIS_QUANTITY, Revision: 2,
		Tiers:     []*fieldsyncv1.RebateTier{{Min: 10, PerUnitCents: perUnit}, {Min: 50, PerUnitCents: perUnit + 50}},
		ValidFrom: ts(at(1, 0, 0)), State: fieldsyncv1.RebateRuleState_REBATE_RULE_STATE_ACTIVE}
}

// TestA7RebateRuleAlertsItsRegionsSellersOncePerVersion: a regional rule
// alerts the reps and store roles of its region only, once each however
// often its event is delivered; renaming it alerts nobody again, a change
// of its tiers alerts everyone once more.
func TestA7RebateRuleAlertsItsRegionsSellersOncePerVersion(t *testing.T) {
	e := newEnv(t)
	list := func() []*fieldsyncv1.Alert { return e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_RULE_CHANGE) }
	ev := e.upsert("rule1", e.rebateRule("north", 100), at(2, 8, 0))
	want := []string{"alice", "bob", "dave", "mgr1"}
	if got := e.recipients(list()); !slices.Equal(got, want) {
		t.Fatalf("recipients %v, want %v", got, want)
	}
	a := list()[0]
	if a.Title != "Rebate rule changed: Stent tiers (v2)" || !strings.Contains(a.Body, "From 50 units: 1.50 per unit") ||
		!slices.Equal(a.RelatedRecordIds, []string{"rule1"}) {
		t.Errorf("alert %v: title, body or related record wrong", a)
	}
	e.handle(ev) // redelivered
	renamed := e.rebateRule("north", 100)
	renamed.Name = "Stent tiers 2026"
	e.upsert("rule1", renamed, at(2, 9, 0))
	if n := len(list()); n != 4 {
		t.Fatalf("after a redelivery and a rename: %d alerts, want 4", n)
	}
	e.upsert("rule1", e.rebateRule("north", 120), at(2, 10, 0))
	if n := len(list()); n != 8 {
		t.Fatalf("after new tiers: %d alerts, want 8 (one more each)", n)
	}
}

func TestA7TenantWideRuleAlertsEveryRegion(t *testing.T) {
	e := newEnv(t)
	e.upsert("rule1", e.rebateRule("", 100), at(2, 8, 0))
	want := []string{"alice", "bob", "carol", "dave", "mgr1", "mgr2"}
	if got := e.recipients(e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_RULE_CHANGE)); !slices.Equal(got, want) {
		t.Fatalf("recipients %v, want %v", got, want)
	}
}

func TestA7RuleNotInForceAlertsNobody(t *testing.T) {
	e := newEnv(t)
	withdrawn := e.rebateRule("north", 100)
	withdrawn.State = fieldsyncv1.RebateRuleState_REBATE_RULE_STATE_WITHDRAWN
	e.upsert("rule1", withdrawn, at(2, 8, 0))
	expired := e.rebateRule("north", 100)
	expired.ValidTo = ts(at(2, 0, 0))
	e.upsert("rule2", expired, at(2, 8, 0))
	if got := e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_RULE_CHANGE); len(got) != 0 {
		t.Fatalf("alerts %v, want none", got)
	}
	future := e.rebateRule("north", 100)
	future.ValidFrom = ts(at(2, 0, 0).Add(30 * 24 * time.Hour))
	e.upsert("rule3", future, at(2, 8, 0))
	if n := len(e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_RULE_CHANGE)); n != 4 {
		t.Fatalf("a rule starting later: %d alerts, want 4 (told ahead)", n)
	}
}
