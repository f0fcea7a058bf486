package records_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/records"
	"github.com/fieldsync/fieldsync/syncengine"
)

func params(n int, value string) []*fieldsyncv1.TechnicalParameter {
	out := make([]*fieldsyncv1.TechnicalParameter, n)
	for i := range out {
		out[i] = &fieldsyncv1.TechnicalParameter{Name: "p", Value: value}
	}
	return out
}

func TestHooksComputeHighValueVisitsAndCompleteQuotes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in, want proto.Message
	}{
		{"a high-value tag", &fieldsyncv1.Visit{ActionTags: []string{"first_contact", "technical_demo"}},
			&fieldsyncv1.Visit{ActionTags: []string{"first_contact", "technical_demo"}, HighValue: true}},
		{"no high-value tag clears a stale flag", &fieldsyncv1.Visit{ActionTags: []string{"first_contact"}, HighValue: true},
			&fieldsyncv1.Visit{ActionTags: []string{"first_contact"}}},
		{"seven parameters", &fieldsyncv1.Quote{TechnicalParameters: params(7, "x")},
			&fieldsyncv1.Quote{TechnicalParameters: params(7, "x"), Complete: true}},
		{"empty parameters do not count", &fieldsyncv1.Quote{TechnicalParameters: append(params(6, "x"), params(3, "")...), Complete: true},
			&fieldsyncv1.Quote{TechnicalParameters: append(params(6, "x"), params(3, "")...)}},
		{"another type is left alone", &fieldsyncv1.SurgerySupport{PhotosComplete: true}, &fieldsyncv1.SurgerySupport{PhotosComplete: true}},
	}
	for _, tt := range tests {
		records.Hooks{}.ComputeServerFields(tt.in)
		if !proto.Equal(tt.in, tt.want) {
			t.Errorf("%s: got %v; want %v", tt.name, tt.in, tt.want)
		}
	}
}

// TestComputedFieldsAreServerOnly checks the fields Hooks computes are
// SERVER_ONLY, so no device can set them.
func TestComputedFieldsAreServerOnly(t *testing.T) {
	t.Parallel()
	for typ, field := range map[string]string{"fieldsync.v1.Visit": "high_value", "fieldsync.v1.Quote": "complete", records.PhotosCompleteType: "photos_complete"} {
		rt, ok := syncengine.DefaultRegistry().Lookup(typ)
		if !ok || rt.Fields[field] == nil || rt.Fields[field].Merge != fieldsyncv1.MergePolicy_MERGE_POLICY_SERVER_ONLY {
			t.Errorf("%s.%s is not a SERVER_ONLY field", typ, field)
		}
	}
}

// creator records ServerWrite calls.
type creator struct {
	calls   []call
	created map[string]bool
}

type call struct {
	tenant, typ, id string
	value           proto.Message
	fields          []string
}

func (c *creator) ServerWrite(_ context.Context, tenantID, recordType, id string, value proto.Message, fields []string) (bool, error) {
	c.calls = append(c.calls, call{tenantID, recordType, id, value, fields})
	if c.created[id] {
		return false, nil
	}
	c.created[id] = true
	return true, nil
}

func TestRaiseAlertCreatesTheAlertOfItsDedupKey(t *testing.T) {
	t.Parallel()
	c := &creator{created: map[string]bool{}}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	alerts := records.Alerts{Records: c, Now: func() time.Time { return now }}
	in := &fieldsyncv1.Alert{RecipientUserId: "u1", DedupKey: "k", Title: "t"}
	if err := alerts.RaiseAlert(context.Background(), "t1", in); err != nil {
		t.Fatal(err)
	}
	if in.RaisedTime != nil {
		t.Error("RaiseAlert changed the caller's alert")
	}
	got := c.calls[0]
	want := &fieldsyncv1.Alert{RecipientUserId: "u1", DedupKey: "k", Title: "t", RaisedTime: timestamppb.New(now)}
	if got.tenant != "t1" || got.typ != records.AlertType || got.id != records.AlertID("t1", "k") || !proto.Equal(got.value, want) {
		t.Fatalf("ServerWrite(%s, %s, %s, %v); want t1, %s, %s, %v", got.tenant, got.typ, got.id, got.value, records.AlertType, records.AlertID("t1", "k"), want)
	}
	rt, _ := syncengine.DefaultRegistry().Lookup(records.AlertType)
	for name, spec := range rt.Fields {
		if slices.Contains(got.fields, name) != (name != "acknowledged_time") {
			t.Errorf("field %s written: %v; the server writes every field but acknowledged_time", name, slices.Contains(got.fields, name))
		}
		if name != "acknowledged_time" && spec.Merge != fieldsyncv1.MergePolicy_MERGE_POLICY_SERVER_ONLY {
			t.Errorf("Alert.%s is written by the server but not SERVER_ONLY", name)
		}
	}
	raised := timestamppb.New(now.Add(-time.Hour))
	if err := alerts.RaiseAlert(context.Background(), "t1", &fieldsyncv1.Alert{RecipientUserId: "u1", DedupKey: "k2", RaisedTime: raised}); err != nil {
		t.Fatal(err)
	}
	if v := c.calls[1].value.(*fieldsyncv1.Alert); !proto.Equal(v.RaisedTime, raised) {
		t.Errorf("raised_time %v; want the alert's own %v", v.RaisedTime, raised)
	}
}

func TestRaiseAlertRefusesAnAlertWithoutKeyOrRecipient(t *testing.T) {
	t.Parallel()
	c := &creator{created: map[string]bool{}}
	for _, a := range []*fieldsyncv1.Alert{{RecipientUserId: "u1"}, {DedupKey: "k"}, nil} {
		if err := (records.Alerts{Records: c}).RaiseAlert(context.Background(), "t1", a); !errors.Is(err, records.ErrInvalidAlert) {
			t.Errorf("RaiseAlert(%v) = %v; want ErrInvalidAlert", a, err)
		}
	}
	if len(c.calls) != 0 {
		t.Fatalf("an invalid alert was written: %v", c.calls)
	}
}

func TestAlertIDDependsOnTenantAndKeyOnly(t *testing.T) {
	t.Parallel()
	a := records.AlertID("t1", "k")
	if a != records.AlertID("t1", "k") || a == records.AlertID("t2", "k") || a == records.AlertID("t1", "k2") || records.AlertID("t1\x00k", "") == a {
		t.Fatalf("AlertID is not a function of (tenant, key) alone: %s", a)
	}
}

func TestRequiredPhotosAreASurgerySupportsThreeStagedPhotos(t *testing.T) {
	t.Parallel()
	if got := string((*fieldsyncv1.SurgerySupport)(nil).ProtoReflect().Descriptor().FullName()); got != records.PhotosCompleteType {
		t.Fatalf("PhotosCompleteType = %s; the type is %s", records.PhotosCompleteType, got)
	}
	pre, intra, post := &fieldsyncv1.PhotoRef{Sha256: "a"}, &fieldsyncv1.PhotoRef{Sha256: "b"}, &fieldsyncv1.PhotoRef{Sha256: "c"}
	refs, ok := records.RequiredPhotos(&fieldsyncv1.SurgerySupport{PreOpPhoto: pre, IntraOpPhoto: intra, PostOpCountPhoto: post})
	if !ok || len(refs) != 3 || refs[0] != pre || refs[1] != intra || refs[2] != post {
		t.Fatalf("RequiredPhotos = %v, %v", refs, ok)
	}
	if refs, ok := records.RequiredPhotos(&fieldsyncv1.SurgerySupport{}); !ok || len(refs) != 3 || refs[0].GetSha256() != "" {
		t.Fatalf("RequiredPhotos of an empty surgery support = %v, %v; want three unset", refs, ok)
	}
	if _, ok := records.RequiredPhotos(&fieldsyncv1.Visit{}); ok {
		t.Fatal("a visit has no required photos")
	}
	v, fields := records.PhotosCompleteWrite(true)
	if !records.PhotosComplete(v) || !slices.Equal(fields, []string{"photos_complete"}) || records.PhotosComplete(&fieldsyncv1.Visit{}) {
		t.Fatalf("PhotosCompleteWrite(true) = %v, %v", v, fields)
	}
}
