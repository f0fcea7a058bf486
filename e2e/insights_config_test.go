package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// TestRuleThresholdsAreConfigurablePerTenant sets A1's window to one hour
// through the admin API: two conflicting diagnoses two hours apart (by
// their HLC) then raise no alert, which they would under the default 72 h.
func TestRuleThresholdsAreConfigurablePerTenant(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	ctx := context.Background()
	admin := e.admin(e.creds.AdminToken)
	got, err := admin.GetInsightsConfig(ctx, connect.NewRequest(&fieldsyncv1.GetInsightsConfigRequest{}))
	if err != nil || !strings.Contains(got.Msg.ConfigJson, `"conflict_window":"72h0m0s"`) {
		t.Fatalf("default config: %v %v", got, err)
	}
	for _, bad := range []string{`{"rules":{"conflict_window":"-1h"}}`, `{"phi":`, `{"phi":{"targets":{"key_action":2}}}`} {
		_, err := admin.SetInsightsConfig(ctx, connect.NewRequest(&fieldsyncv1.SetInsightsConfigRequest{ConfigJson: bad}))
		wantCode(t, err, connect.CodeInvalidArgument)
	}
	_, err = e.admin(e.token("rep")).SetInsightsConfig(ctx, connect.NewRequest(&fieldsyncv1.SetInsightsConfigRequest{ConfigJson: `{}`}))
	wantCode(t, err, connect.CodePermissionDenied)
	set, err := admin.SetInsightsConfig(ctx, connect.NewRequest(&fieldsyncv1.SetInsightsConfigRequest{ConfigJson: `{"rules":{"conflict_window":"1h"}}`}))
	if err != nil {
		t.Fatal(err)
	}
	var stored map[string]map[string]any
	if err := json.Unmarshal([]byte(set.Msg.ConfigJson), &stored); err != nil || stored["rules"]["conflict_window"] != "1h0m0s" || stored["phi"] == nil {
		t.Fatalf("stored config: %s (%v)", set.Msg.ConfigJson, err)
	}

	staff := e.token("store_staff")
	fields := &fieldmaskpb.FieldMask{Paths: []string{"status", "customer_id", "conclusion", "vehicle_model", "photos"}}
	first := time.Now().Add(-2 * time.Hour)
	early := ids.New()
	for i, at := range []time.Time{first, time.Now()} {
		id := ids.New()
		if i == 0 {
			id = early
		}
		r, err := pushOne(t, e, staff, &fieldsyncv1.Mutation{Seq: uint64(i + 1), RecordType: "fieldsync.v1.Diagnosis", RecordId: id,
			Value: anyOf(t, diagnosis("cust-wu", []string{"worn pads", "warped discs"}[i], byte(i))), FieldMask: fields, Hlc: uint64(at.UnixMilli()) << 16})
		if err != nil || r.Outcome != applied {
			t.Fatalf("push diagnosis %d: %v %v", i, r, err)
		}
	}
	// A later diagnosis within the hour of the second one does raise the alert,
	// which also shows the consumer has handled the first two.
	r, err := pushOne(t, e, staff, &fieldsyncv1.Mutation{Seq: 3, RecordType: "fieldsync.v1.Diagnosis", RecordId: ids.New(),
		Value: anyOf(t, diagnosis("cust-wu", "a third opinion", 3)), FieldMask: fields, Hlc: uint64(time.Now().UnixMilli()) << 16})
	if err != nil || r.Outcome != applied {
		t.Fatalf("push diagnosis 3: %v %v", r, err)
	}
	var alerts []*fieldsyncv1.Alert
	eventually(t, "the A1 alert for the close pair", func() bool {
		alerts = nil
		for _, rec := range ofType(pullAll(t, e, e.token("store_manager")), "fieldsync.v1.Alert") {
			var a fieldsyncv1.Alert
			if rec.Value.UnmarshalTo(&a) == nil && a.Kind == fieldsyncv1.AlertKind_ALERT_KIND_CONFLICTING_DIAGNOSES {
				alerts = append(alerts, &a)
			}
		}
		return len(alerts) > 0
	})
	for _, a := range alerts {
		for _, id := range a.RelatedRecordIds {
			if id == early {
				t.Fatalf("the diagnosis two hours earlier is in an alert under a one-hour window: %v", a)
			}
		}
	}
}
