package e2e

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

const (
	nameRule = "must contain a non-space character and no control characters"
	textRule = "must contain no control characters other than tabs and line breaks"
)

// recordTextCase is one record field written by a role, with its rule.
type recordTextCase struct {
	role  string
	field string // top-level field in the mask
	rule  string // the rule's message
	list  bool   // a repeated string: an item is never empty
	value func(s string) proto.Message
}

// recordTextCases covers both rules on each kind of field a device writes:
// a record's own string, an item of a repeated string and a nested
// message's string.
var recordTextCases = []recordTextCase{
	{"rep", "name", nameRule, false, func(s string) proto.Message { return &fieldsyncv1.Customer{Name: s} }},
	{"rep", "address", textRule, false, func(s string) proto.Message { return &fieldsyncv1.Customer{Address: s} }},
	{"rep", "contacts", nameRule, false, func(s string) proto.Message {
		return &fieldsyncv1.Customer{Contacts: []*fieldsyncv1.Contact{{Name: "Li Wei", Phone: s}}}
	}},
	{"rep", "notes", textRule, false, func(s string) proto.Message { return &fieldsyncv1.Visit{Notes: s} }},
	{"rep", "title", nameRule, false, func(s string) proto.Message { return &fieldsyncv1.Opportunity{Title: s} }},
	{"rep", "recipient_name", nameRule, false, func(s string) proto.Message { return &fieldsyncv1.SampleShipment{RecipientName: s} }},
	{"rep", "consumable_models", nameRule, true, func(s string) proto.Message {
		return &fieldsyncv1.SurgerySupport{ConsumableModels: []string{"XK-200", s}}
	}},
	{"store_staff", "vehicle_model", nameRule, false, func(s string) proto.Message { return &fieldsyncv1.Diagnosis{VehicleModel: s} }},
	{"store_staff", "fault_symptoms", textRule, false, func(s string) proto.Message { return &fieldsyncv1.Diagnosis{FaultSymptoms: s} }},
	{"store_staff", "work_items", nameRule, true, func(s string) proto.Message { return &fieldsyncv1.Quote{WorkItems: []string{s}} }},
	{"marketing", "body", textRule, false, func(s string) proto.Message { return &fieldsyncv1.CampaignMaterial{Body: s} }},
}

// A device's push with a record whose name or text carries a control
// character, or whose name is blank (spaces, ideographic spaces U+3000,
// other White_Space or zero-width characters only), is refused for that
// mutation alone, with the field and the rule named, and nothing of it is
// stored; the batch's other mutations apply. Line breaks and tabs stay
// allowed in free text, never in a name; a U+3000 inside a name is kept.
func TestPushRefusesRecordTextWithControlCharacters(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	bad := map[string][]string{
		nameRule: {"North\x1b[2J", "Acme\nlevel=ERROR", "A\tB", "\x7f", "Acme\u0085", "   ", "Acme\r",
			"\u3000", "\u3000\u3000", "\u00a0\u2009\u202f", "\u200b\u200d\u2060\ufeff"},
		textRule: {"first\x1b[31m", "a\x00b", "bell\x07", "\x7f", "next line\u0085", "form\x0cfeed", "v\x0btab"},
	}
	good := map[string][]string{
		nameRule: {"华东区 第二店", "Zhang Wei", "Ñandú – Süd", "", "张\u3000伟", "\u3000华东区\u3000"},
		textRule: {"line one\nline two\r\n\tindented", "   ", "华东区\n第二店", "", "\u3000"},
	}
	for _, c := range recordTextCases {
		t.Run(c.role+"/"+string(c.value("").ProtoReflect().Descriptor().Name())+"."+c.field, func(t *testing.T) {
			token := e.token(c.role)
			var muts []*fieldsyncv1.Mutation
			var want []bool // applied?
			for _, s := range bad[c.rule] {
				muts = append(muts, textMutation(t, token, c.value(s), c.field))
				want = append(want, false)
			}
			for _, s := range good[c.rule] {
				if s == "" && c.list {
					continue
				}
				muts = append(muts, textMutation(t, token, c.value(s), c.field))
				want = append(want, true)
			}
			res, err := e.sync(token).Push(context.Background(), connect.NewRequest(&fieldsyncv1.PushRequest{Mutations: muts}))
			if err != nil {
				t.Fatal(err)
			}
			stored := pullAll(t, e, token)
			for i, r := range res.Msg.Results {
				_, there := stored[muts[i].RecordId]
				switch {
				case want[i] && (r.Outcome != applied || !there):
					t.Errorf("mutation %d (%q): %v %q, stored %v; want applied", i, c.field, r.Outcome, r.Reason, there)
				case !want[i] && (r.Outcome != rejectedOutcome || r.RejectCode != fieldsyncv1.RejectCode_REJECT_CODE_INVALID):
					t.Errorf("mutation %d: %v %v %q; want rejected as invalid", i, r.Outcome, r.RejectCode, r.Reason)
				case !want[i] && !strings.Contains(r.Reason, c.field) || !want[i] && !strings.Contains(r.Reason, c.rule):
					t.Errorf("mutation %d: reason %q does not name %s and its rule %q", i, r.Reason, c.field, c.rule)
				case !want[i] && there:
					t.Errorf("mutation %d: refused but stored", i)
				}
			}
		})
	}
}

func textMutation(t *testing.T, token string, v proto.Message, field string) *fieldsyncv1.Mutation {
	t.Helper()
	return &fieldsyncv1.Mutation{
		Seq: nextSeq(token), RecordType: string(v.ProtoReflect().Descriptor().FullName()), RecordId: ids.New(),
		Value: anyOf(t, v), FieldMask: &fieldmaskpb.FieldMask{Paths: []string{field}}, Hlc: uint64(syncengine.MakeHLC(1, 0)),
	}
}

// A record stored before the rules (a customer's name with a line break)
// can still be edited: a push that leaves the name alone is applied and
// keeps it; a push that writes the name must make it printable.
func TestPushEditsARecordStoredBeforeTheTextRules(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	ctx := context.Background()
	token := e.token("rep")
	id := ids.New()
	m := textMutation(t, token, &fieldsyncv1.Customer{Name: "Acme"}, "name")
	m.RecordId = id
	if r, err := pushOne(t, e, token, m); err != nil || r.Outcome != applied {
		t.Fatalf("create: %v %v", r, err)
	}
	tenant := e.creds.TenantID
	legacy := "Acme\nlevel=ERROR"
	err := e.d.Store().Update(ctx, func(tx syncengine.Tx) error {
		rec, err := tx.GetRecord(tenant, id)
		if err != nil || rec == nil {
			t.Fatalf("stored customer: %v %v", rec, err)
		}
		rec.State.Value.(*fieldsyncv1.Customer).Name = legacy
		_, err = tx.PutRecord(rec, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	edit := func(v *fieldsyncv1.Customer, field string) *fieldsyncv1.MutationResult {
		t.Helper()
		m := textMutation(t, token, v, field)
		m.RecordId, m.Hlc = id, uint64(syncengine.MakeHLC(2, 0))
		r, err := pushOne(t, e, token, m)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := edit(&fieldsyncv1.Customer{Address: "197 Ruijin Er Rd\nShanghai"}, "address"); r.Outcome != applied {
		t.Fatalf("editing the address of a customer with a legacy name: %v %q", r.Outcome, r.Reason)
	}
	got := customerOf(t, e, token, id)
	if got.Name != legacy || got.Address != "197 Ruijin Er Rd\nShanghai" {
		t.Fatalf("after the edit: %q, %q", got.Name, got.Address)
	}
	if r := edit(&fieldsyncv1.Customer{Name: "Acme\nlevel=INFO"}, "name"); r.Outcome != rejectedOutcome || !strings.Contains(r.Reason, "name: "+nameRule) {
		t.Fatalf("writing another bad name: %v %q", r.Outcome, r.Reason)
	}
	if r := edit(&fieldsyncv1.Customer{Name: "Acme 医疗"}, "name"); r.Outcome != applied {
		t.Fatalf("fixing the name: %v %q", r.Outcome, r.Reason)
	}
	if got := customerOf(t, e, token, id); got.Name != "Acme 医疗" {
		t.Fatalf("fixed name: %q", got.Name)
	}
}

func customerOf(t *testing.T, e *env, token, id string) *fieldsyncv1.Customer {
	t.Helper()
	r, ok := pullAll(t, e, token)[id]
	if !ok {
		t.Fatalf("customer %s not pulled", id)
	}
	var c fieldsyncv1.Customer
	if err := r.Value.UnmarshalTo(&c); err != nil {
		t.Fatal(err)
	}
	return &c
}
