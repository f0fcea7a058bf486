package fieldsync

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fieldsync/fieldsync/internal/daemon"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	rectypes "github.com/fieldsync/fieldsync/records"
)

const (
	rebateRuleType = "fieldsync.v1.RebateRule"
	alertType      = "fieldsync.v1.Alert"
)

// stentRule is a quantity-tiered rule on one product: 1.00 per unit from
// 10 units, 1.50 from 50.
func stentRule(region string) *fieldsyncv1.RebateRule {
	return &fieldsyncv1.RebateRule{RegionId: region, Name: "Stent tiers", ProductIds: []string{"stent"},
		Basis: fieldsyncv1.RebateBasis_REBATE_BASIS_QUANTITY, Currency: "CNY",
		Tiers:     []*fieldsyncv1.RebateTier{{Min: 10, PerUnitCents: 100}, {Min: 50, PerUnitCents: 150}},
		ValidFrom: timestamppb.New(time.Now().Add(-time.Hour)), State: fieldsyncv1.RebateRuleState_REBATE_RULE_STATE_ACTIVE}
}

func draftQuote(qty int64) *fieldsyncv1.Quote {
	return &fieldsyncv1.Quote{Status: fieldsyncv1.RecordStatus_RECORD_STATUS_DRAFT, DiagnosisId: "d1",
		DiagnosisPhotoSha256S: []string{strings.Repeat("ab", 32)},
		Lines:                 []*fieldsyncv1.QuoteLine{{ProductId: "stent", Quantity: qty, UnitPriceCents: 5000}}}
}

// waitIdle waits for the insights consumer to catch up.
func (e *env) waitIdle() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.d.WaitIdle(ctx); err != nil {
		e.t.Fatalf("wait idle: %v", err)
	}
}

func alertsOfKind(t *testing.T, c *Client, kind fieldsyncv1.AlertKind) []*fieldsyncv1.Alert {
	t.Helper()
	var out []*fieldsyncv1.Alert
	for _, r := range records(t, c, alertType) {
		if a := r.Value.(*fieldsyncv1.Alert); a.Kind == kind {
			out = append(out, a)
		}
	}
	return out
}

// TestRebateRuleReachesTheRegionPreviewsLocallyAndTheServerAgrees: an
// admin's regional rule syncs to the store staff of that region, who gets
// an A7 alert and previews from its local store what a draft quote earns and what the
// next tier adds; the submitted quote carries the device's figure and the
// server records the same one. A user of another region holds neither the
// rule nor an alert.
func TestRebateRuleReachesTheRegionPreviewsLocallyAndTheServerAgrees(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := start(t)
	admin := e.device(e.creds.AdminToken)
	staff := e.user("store_staff", 0)
	otherToken := e.userInNewRegion("West China", fieldsyncv1.Role_ROLE_STORE_STAFF)

	ruleID := admin.NewID()
	mustPut(t, admin, ruleID, stentRule(staff.RegionID))
	mustSync(t, admin)
	e.waitIdle()

	s := e.device(staff.DeviceToken)
	mustSync(t, s)
	if got := alertsOfKind(t, s, fieldsyncv1.AlertKind_ALERT_KIND_RULE_CHANGE); len(got) != 1 || got[0].RelatedRecordIds[0] != ruleID {
		t.Fatalf("store staff's A7 alerts %v, want one about %s", got, ruleID)
	}
	qid := s.NewID()
	mustPut(t, s, qid, draftQuote(49))
	res, err := s.QuoteRebate(ctx, qid, time.Now())
	want := rectypes.RebateResult{EarnedCents: 4900, RuleID: ruleID, Tier: 1, NextTier: 2, NextMin: 50, NextNeeded: 1, NextExtraCents: 2450}
	if err != nil || res != want {
		t.Fatalf("QuoteRebate = %+v, %v; want %+v", res, err, want)
	}
	if res, err = s.SubmitQuote(ctx, qid); err != nil || res.EarnedCents != 4900 {
		t.Fatalf("SubmitQuote = %+v, %v", res, err)
	}
	mustSync(t, s)
	e.waitIdle()
	mustSync(t, s)
	q := &fieldsyncv1.Quote{}
	if _, err := s.Get(ctx, quoteType, qid, q); err != nil {
		t.Fatal(err)
	}
	if q.RebateDeviceCents != 4900 || q.RebateServerCents != 4900 || q.RebateServerRuleId != ruleID || q.RebateRecordedTime == nil {
		t.Fatalf("quote rebate device %d server %d rule %q recorded %v; want both 4900 under %s",
			q.RebateDeviceCents, q.RebateServerCents, q.RebateServerRuleId, q.RebateRecordedTime, ruleID)
	}

	other := e.device(otherToken)
	mustSync(t, other)
	if got := records(t, other, rebateRuleType); len(got) != 0 {
		t.Errorf("a user of another region holds rules %v", got)
	}
	if got := alertsOfKind(t, other, fieldsyncv1.AlertKind_ALERT_KIND_RULE_CHANGE); len(got) != 0 {
		t.Errorf("a user of another region got A7 alerts %v", got)
	}
}

// TestRebateRuleWritersAndValidation: store staff and reps may not write a
// rule; an admin's rule with valid_to before valid_from, or tiers whose
// rate falls, is refused naming the rule broken.
func TestRebateRuleWritersAndValidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := start(t)
	for _, role := range []string{"store_staff", "rep"} {
		c := e.device(e.token(role))
		mustPut(t, c, c.NewID(), stentRule(""))
		mustSync(t, c)
		rj, err := c.Rejections(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rj) != 1 || rj[0].Code != fieldsyncv1.RejectCode_REJECT_CODE_PERMISSION_DENIED || !strings.Contains(rj[0].Reason, "may not write") {
			t.Errorf("%s's rule: rejections %+v, want permission denied", role, rj)
		}
	}
	admin := e.device(e.creds.AdminToken)
	backwards := stentRule("")
	backwards.ValidTo = timestamppb.New(backwards.ValidFrom.AsTime().Add(-time.Minute))
	falling := stentRule("")
	falling.Tiers[1].PerUnitCents = 50
	mustPut(t, admin, "bad-dates", backwards)
	mustPut(t, admin, "bad-tiers", falling)
	mustSync(t, admin)
	rj, err := admin.Rejections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, r := range rj {
		reasons[r.RecordID] = r.Reason
	}
	if !strings.Contains(reasons["bad-dates"], "valid_to must be after valid_from") || !strings.Contains(reasons["bad-tiers"], "tiers") {
		t.Errorf("rejections %v, want bad-dates naming valid_to and bad-tiers naming tiers", reasons)
	}
}

// TestRebateDisagreementIsRecordedAndCounted: a device that claims another
// rebate than the rules give gets the server's figure recorded beside its
// own, and the disagreement metric counts it.
func TestRebateDisagreementIsRecordedAndCounted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := startWith(t, t.TempDir(), func(c *daemon.Config) { c.MetricsAddr = "127.0.0.1:0" })
	admin := e.device(e.creds.AdminToken)
	mustPut(t, admin, "rule", stentRule(""))
	mustSync(t, admin)
	s := e.device(e.token("store_staff"))
	qid := s.NewID()
	q := draftQuote(60)
	q.Status, q.RebateDeviceCents, q.RebateDeviceRuleId = fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED, 1, "rule"
	mustPut(t, s, qid, q)
	mustSync(t, s)
	e.waitIdle()
	mustSync(t, s)
	got := &fieldsyncv1.Quote{}
	if _, err := s.Get(ctx, quoteType, qid, got); err != nil {
		t.Fatal(err)
	}
	if got.RebateDeviceCents != 1 || got.RebateServerCents != 9000 {
		t.Fatalf("device %d server %d, want 1 and 9000", got.RebateDeviceCents, got.RebateServerCents)
	}
	if m := metrics(t, e.d.MetricsURL()); !strings.Contains(m, "fieldsync_rebate_disagreements_total 1\n") {
		t.Errorf("metrics lack one disagreement:\n%s", m)
	}
}

func metrics(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// userInNewRegion creates a region and a user of role there (store roles
// get a store), and returns a device token of the user.
func (e *env) userInNewRegion(name string, role fieldsyncv1.Role) string {
	e.t.Helper()
	ctx := context.Background()
	admin := fieldsyncv1connect.NewAdminServiceClient(http.DefaultClient, e.d.URL(), connect.WithInterceptors(authInterceptor(e.creds.AdminToken)))
	reg, err := admin.CreateRegion(ctx, connect.NewRequest(&fieldsyncv1.CreateRegionRequest{Name: name}))
	if err != nil {
		e.t.Fatalf("create region: %v", err)
	}
	regionID := reg.Msg.GetRegion().GetId()
	st, err := admin.CreateStore(ctx, connect.NewRequest(&fieldsyncv1.CreateStoreRequest{Name: name + " store", RegionId: regionID}))
	if err != nil {
		e.t.Fatalf("create store: %v", err)
	}
	u, err := admin.CreateUser(ctx, connect.NewRequest(&fieldsyncv1.CreateUserRequest{DisplayName: "other", Role: role,
		RegionId: regionID, StoreId: st.Msg.GetStore().GetId()}))
	if err != nil {
		e.t.Fatalf("create user: %v", err)
	}
	token, _ := e.enroll(u.Msg.GetUser().GetId(), "other")
	return token
}
