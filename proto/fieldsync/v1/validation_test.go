package fieldsyncv1_test

import (
	"strings"
	"testing"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

const (
	draft     = fieldsyncv1.RecordStatus_RECORD_STATUS_DRAFT
	submitted = fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED
)

func photo(b byte) *fieldsyncv1.PhotoRef {
	return &fieldsyncv1.PhotoRef{Sha256: strings.Repeat(string("0123456789abcdef"[b%16]), 64), SizeBytes: 1000, ContentType: "image/jpeg"}
}

func completeVisit() *fieldsyncv1.Visit {
	return &fieldsyncv1.Visit{
		Status: submitted, Kind: fieldsyncv1.VisitKind_VISIT_KIND_CLINICAL_DIRECTOR, CustomerId: "c1",
		VisitTime: timestamppb.Now(), CoreProblemSolved: "trial data", FollowUpCommitments: "send plan",
		NextAppointmentTime: timestamppb.Now(), ActionTags: []string{"technical_demo"},
	}
}

func completeSurgery() *fieldsyncv1.SurgerySupport {
	return &fieldsyncv1.SurgerySupport{
		Status: submitted, HospitalId: "h1", SurgeryTime: timestamppb.Now(), ConsumableModels: []string{"XK-200"},
		PreOpPhoto: photo(1), IntraOpPhoto: photo(2), PostOpCountPhoto: photo(3),
	}
}

func completeDiagnosis() *fieldsyncv1.Diagnosis {
	return &fieldsyncv1.Diagnosis{Status: submitted, CustomerId: "c1", Conclusion: "worn pads", Photos: []*fieldsyncv1.PhotoRef{photo(4)}}
}

func completeQuote() *fieldsyncv1.Quote {
	return &fieldsyncv1.Quote{Status: submitted, DiagnosisId: "d1", DiagnosisPhotoSha256S: []string{photo(4).Sha256}}
}

func requestedShipment() *fieldsyncv1.SampleShipment {
	return &fieldsyncv1.SampleShipment{
		Status: submitted, State: fieldsyncv1.ShipmentState_SHIPMENT_STATE_REQUESTED, CustomerId: "c1",
		RecipientAddress: "197 Ruijin Er Rd", Items: []*fieldsyncv1.ShipmentItem{{ProductId: "XK-200", Quantity: 2}},
	}
}

// with returns a clone of m changed by edit.
func with[T proto.Message](m T, edit func(T)) T {
	c := proto.Clone(m).(T)
	edit(c)
	return c
}

func TestSubmittedRecordsMustBeComplete(t *testing.T) {
	t.Parallel()
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		msg     proto.Message
		wantErr string // "" means valid; otherwise the field the message must name
	}{
		{"complete clinical-director visit", completeVisit(), ""},
		{"draft visit may be empty", &fieldsyncv1.Visit{Status: draft}, ""},
		{"routine visit needs no mandatory fields", &fieldsyncv1.Visit{Status: submitted, Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE, CustomerId: "c", VisitTime: timestamppb.Now()}, ""},
		{"visit without core problem", with(completeVisit(), func(m *fieldsyncv1.Visit) { m.CoreProblemSolved = "" }), "core_problem_solved"},
		{"visit without commitments", with(completeVisit(), func(m *fieldsyncv1.Visit) { m.FollowUpCommitments = "" }), "follow_up_commitments"},
		{"visit without next appointment", with(completeVisit(), func(m *fieldsyncv1.Visit) { m.NextAppointmentTime = nil }), "next_appointment_time"},
		{"visit without tags", with(completeVisit(), func(m *fieldsyncv1.Visit) { m.ActionTags = nil }), "action_tags"},
		{"visit without customer", with(completeVisit(), func(m *fieldsyncv1.Visit) { m.CustomerId = "" }), "customer_id"},
		{"visit with a malformed tag", with(completeVisit(), func(m *fieldsyncv1.Visit) { m.ActionTags = []string{"Bad Tag"} }), "action_tags"},
		{"complete surgery support", completeSurgery(), ""},
		{"draft surgery without photos", &fieldsyncv1.SurgerySupport{Status: draft, HospitalId: "h"}, ""},
		{"surgery without pre-op photo", with(completeSurgery(), func(m *fieldsyncv1.SurgerySupport) { m.PreOpPhoto = nil }), "pre_op_photo"},
		{"surgery without intra-op photo", with(completeSurgery(), func(m *fieldsyncv1.SurgerySupport) { m.IntraOpPhoto = nil }), "intra_op_photo"},
		{"surgery without post-op count photo", with(completeSurgery(), func(m *fieldsyncv1.SurgerySupport) { m.PostOpCountPhoto = nil }), "post_op_count_photo"},
		{"surgery without consumables", with(completeSurgery(), func(m *fieldsyncv1.SurgerySupport) { m.ConsumableModels = nil }), "consumable_models"},
		{"surgery with a bad photo hash", with(completeSurgery(), func(m *fieldsyncv1.SurgerySupport) { m.PreOpPhoto.Sha256 = "xyz" }), "pre_op_photo.sha256"},
		{"complete diagnosis", completeDiagnosis(), ""},
		{"diagnosis without conclusion", with(completeDiagnosis(), func(m *fieldsyncv1.Diagnosis) { m.Conclusion = "" }), "conclusion"},
		{"diagnosis without photos", with(completeDiagnosis(), func(m *fieldsyncv1.Diagnosis) { m.Photos = nil }), "photos"},
		{"complete quote", completeQuote(), ""},
		{"quote citing no diagnosis photo", with(completeQuote(), func(m *fieldsyncv1.Quote) { m.DiagnosisPhotoSha256S = nil }), "diagnosis_photo_sha256s"},
		{"quote without diagnosis", with(completeQuote(), func(m *fieldsyncv1.Quote) { m.DiagnosisId = "" }), "diagnosis_id"},
		{"stock level", &fieldsyncv1.StockLevel{TerminalId: "h1", ProductId: "p1", OnHand: 3, SafetyStock: 5}, ""},
		{"stock level without product", &fieldsyncv1.StockLevel{TerminalId: "h1"}, "product_id"},
		{"negative stock", &fieldsyncv1.StockLevel{TerminalId: "h1", ProductId: "p", OnHand: -1}, "on_hand"},
		{"rating out of range", &fieldsyncv1.SatisfactionRating{QuoteId: "q", Score: 6}, "score"},
		{"rating", &fieldsyncv1.SatisfactionRating{QuoteId: "q", Score: 5}, ""},
		{"commitment", &fieldsyncv1.Commitment{Description: "send plan", State: fieldsyncv1.CommitmentState_COMMITMENT_STATE_OPEN}, ""},
		{"customer", &fieldsyncv1.Customer{Name: "Ruijin", Kind: fieldsyncv1.CustomerKind_CUSTOMER_KIND_HOSPITAL}, ""},
		{"opportunity with negative amount", &fieldsyncv1.Opportunity{AmountCents: -5}, "amount_cents"},
		{"campaign feedback rating", &fieldsyncv1.CampaignFeedback{Rating: 9}, "rating"},
		{"requested shipment", requestedShipment(), ""},
		{"draft shipment without address or items", &fieldsyncv1.SampleShipment{Status: draft, State: fieldsyncv1.ShipmentState_SHIPMENT_STATE_DRAFT}, ""},
		{"cancelled draft shipment", &fieldsyncv1.SampleShipment{State: fieldsyncv1.ShipmentState_SHIPMENT_STATE_CANCELLED}, ""},
		{"requested shipment without address", with(requestedShipment(), func(m *fieldsyncv1.SampleShipment) { m.RecipientAddress = "" }), "recipient_address"},
		{"requested-state draft without address", with(requestedShipment(), func(m *fieldsyncv1.SampleShipment) { m.Status, m.RecipientAddress = draft, "" }), "recipient_address"},
		{"shipped shipment without items", with(requestedShipment(), func(m *fieldsyncv1.SampleShipment) {
			m.State, m.Items = fieldsyncv1.ShipmentState_SHIPMENT_STATE_SHIPPED, nil
		}), "items"},
		{"requested shipment without customer", with(requestedShipment(), func(m *fieldsyncv1.SampleShipment) { m.CustomerId = "" }), "customer_id"},
		{"shipment quantity 0", with(requestedShipment(), func(m *fieldsyncv1.SampleShipment) { m.Items[0].Quantity = 0 }), "quantity"},
		{"shipment quantity 1001", with(requestedShipment(), func(m *fieldsyncv1.SampleShipment) { m.Items[0].Quantity = 1001 }), "quantity"},
		{"shipment item without product", with(requestedShipment(), func(m *fieldsyncv1.SampleShipment) { m.Items[0].ProductId = "" }), "product_id"},
		{"shipment address too long", with(requestedShipment(), func(m *fieldsyncv1.SampleShipment) { m.RecipientAddress = strings.Repeat("a", 501) }), "recipient_address"},
		{"shipment state undefined", with(requestedShipment(), func(m *fieldsyncv1.SampleShipment) { m.State = 42 }), "state"},
		{"operation log", &fieldsyncv1.DeviceOperationLog{Entries: []*fieldsyncv1.OperationEntry{{Kind: fieldsyncv1.OperationKind_OPERATION_KIND_FIELD_REEDITED, Field: "notes", Count: 3}}}, ""},
	}
	for _, c := range cases {
		err := v.Validate(c.msg)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: unexpected error %v", c.name, err)
		case c.wantErr != "" && err == nil:
			t.Errorf("%s: accepted, want an error naming %s", c.name, c.wantErr)
		case c.wantErr != "" && !strings.Contains(syncengine.ViolationMessage(err), c.wantErr):
			t.Errorf("%s: %q does not name %s", c.name, syncengine.ViolationMessage(err), c.wantErr)
		}
	}
}

// TestAlertListsAreBounded: an alert's lists have a max_items (a list
// without one let a record hold millions of empty items: clients/go
// answercost.go), generous for what the rules raise.
func TestAlertListsAreBounded(t *testing.T) {
	t.Parallel()
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	alert := func(ids, photos, params int) *fieldsyncv1.Alert {
		a := &fieldsyncv1.Alert{}
		for range ids {
			a.RelatedRecordIds = append(a.RelatedRecordIds, "r")
		}
		for range photos {
			a.Photos = append(a.Photos, photo(1))
		}
		for range params {
			a.Params = append(a.Params, &fieldsyncv1.AlertParam{Name: "n", Value: "v"})
		}
		return a
	}
	for _, c := range []struct {
		a       *fieldsyncv1.Alert
		wantErr string
	}{
		{alert(1000, 500, 32), ""},
		{alert(1001, 0, 0), "related_record_ids"},
		{alert(0, 501, 0), "photos"},
		{alert(0, 0, 33), "params"},
	} {
		err := v.Validate(c.a)
		if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("alert of %d ids, %d photos, %d params: %v, want %q", len(c.a.RelatedRecordIds), len(c.a.Photos), len(c.a.Params), err, c.wantErr)
		}
	}
}
