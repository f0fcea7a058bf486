package insights

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
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
	if p := paramMap(a); !maps.Equal(p, map[string]string{"rule": "Stent tiers", "revision": "2", "valid_from": at(1, 0, 0).Format(time.DateOnly)}) {
		t.Errorf("params %v: want the rule, its revision and validity", p)
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

// quoteStore is an AlertWriter and RecordReader over one tenant's quotes
// and rebate rules, recording the server's writes to quotes.
type quoteStore struct {
	quotes map[string]*fieldsyncv1.Quote
	rules  []*syncengine.StoredRecord
	writes int
}

func (s *quoteStore) ServerWrite(_ context.Context, _, recordType, id string, value proto.Message, fields []string) (bool, error) {
	q, ok := s.quotes[id]
	if recordType != quoteType || !ok {
		return false, fmt.Errorf("unexpected write of %s %s", recordType, id)
	}
	v := value.(*fieldsyncv1.Quote)
	q.RebateServerCents, q.RebateServerRuleId, q.RebateRecordedTime = v.RebateServerCents, v.RebateServerRuleId, v.RebateRecordedTime
	s.writes++
	return true, nil
}

func (s *quoteStore) RecordsByType(context.Context, string, string, int) ([]*syncengine.StoredRecord, error) {
	return s.rules, nil
}

func (s *quoteStore) GetRecords(_ context.Context, _ string, ids []string) (map[string]*syncengine.StoredRecord, error) {
	out := map[string]*syncengine.StoredRecord{}
	for _, id := range ids {
		if q, ok := s.quotes[id]; ok {
			out[id] = &syncengine.StoredRecord{ID: id, State: &syncengine.State{Value: q}}
		}
	}
	return out, nil
}

// TestA7ServerRecordsASubmittedQuotesRebateOnceAndCountsDisagreement: the
// server records what a submitted quote earns under the rules it holds at
// the submit's commit; a device figure that differs is counted once; a
// redelivery, or the rules changing later, leaves the recorded figure
// alone; a draft records nothing.
func TestA7ServerRecordsASubmittedQuotesRebateOnceAndCountsDisagreement(t *testing.T) {
	e := newEnv(t)
	rule := e.rebateRule("north", 100)
	store := &quoteStore{quotes: map[string]*fieldsyncv1.Quote{}, rules: []*syncengine.StoredRecord{{ID: "rule1", State: &syncengine.State{Value: rule}}}}
	e.c.Alerts, e.c.Records = store, store
	e.c.RebateDisagreements = prometheus.NewCounter(prometheus.CounterOpts{Name: "test_disagreements"})
	quote := func(status fieldsyncv1.RecordStatus, deviceCents int64) *fieldsyncv1.Quote {
		return &fieldsyncv1.Quote{Status: status, RegionId: e.id("north"), RebateDeviceCents: deviceCents, RebateDeviceRuleId: "rule1",
			Lines: []*fieldsyncv1.QuoteLine{{ProductId: "stent-3x18", Quantity: 49, UnitPriceCents: 5000}}}
	}
	store.quotes["draft"] = quote(fieldsyncv1.RecordStatus_RECORD_STATUS_DRAFT, 0)
	e.upsert("draft", store.quotes["draft"], at(3, 8, 0))
	store.quotes["q1"] = quote(fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED, 4900)
	store.quotes["q2"] = quote(fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED, 1)
	e.upsert("q1", proto.Clone(store.quotes["q1"]), at(3, 9, 0))
	ev := e.upsert("q2", proto.Clone(store.quotes["q2"]), at(3, 9, 0))
	for _, id := range []string{"q1", "q2"} {
		if q := store.quotes[id]; q.RebateServerCents != 4900 || q.RebateServerRuleId != "rule1" || !q.RebateRecordedTime.AsTime().Equal(at(3, 9, 0)) {
			t.Fatalf("%s: server rebate %d under %q at %v, want 4900 under rule1 at the commit", id, q.RebateServerCents, q.RebateServerRuleId, q.RebateRecordedTime)
		}
	}
	rule.Tiers[0].PerUnitCents = 120
	e.handle(ev)
	if store.writes != 2 || store.quotes["draft"].RebateRecordedTime != nil || store.quotes["q2"].RebateServerCents != 4900 {
		t.Fatalf("%d writes, draft recorded %v, q2 %d: want 2 writes, the draft alone, q2 kept", store.writes, store.quotes["draft"].RebateRecordedTime, store.quotes["q2"].RebateServerCents)
	}
	var m dto.Metric
	must(t, e.c.RebateDisagreements.Write(&m))
	if n := m.GetCounter().GetValue(); n != 1 {
		t.Fatalf("disagreements %v, want 1 (q2)", n)
	}
}
