package syncengine

import (
	"testing"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// TestKeptValuesOnlyJudgesAListByTheElementsItChanges: a list item stored
// before the text rules (a consumable model with a line break) does not
// refuse a write that keeps it and adds another. A SET_UNION list cannot
// lose an element, so refusing such a write refused every later write of
// the field, for good. An item the write adds or changes must be valid,
// and a rule of the list itself (max_items) is judged on the whole list.
func TestKeptValuesOnlyJudgesAListByTheElementsItChanges(t *testing.T) {
	t.Parallel()
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	contact := func(name, phone string) *fieldsyncv1.Contact { return &fieldsyncv1.Contact{Name: name, Phone: phone} }
	many := make([]string, 101)
	for i := range many {
		many[i] = "m" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	for _, c := range []struct {
		name      string
		cur, next proto.Message
		excused   bool
	}{
		{"union add keeps an old item", &fieldsyncv1.SurgerySupport{ConsumableModels: []string{"XK\r"}},
			&fieldsyncv1.SurgerySupport{ConsumableModels: []string{"XK\r", "AB-1"}}, true},
		{"old item moved", &fieldsyncv1.SurgerySupport{ConsumableModels: []string{"AB-1", "XK\r"}},
			&fieldsyncv1.SurgerySupport{ConsumableModels: []string{"XK\r", "CD-2"}}, true},
		{"an item added", &fieldsyncv1.SurgerySupport{ConsumableModels: []string{"AB-1"}},
			&fieldsyncv1.SurgerySupport{ConsumableModels: []string{"AB-1", "XK\r"}}, false},
		{"an old item and an item added", &fieldsyncv1.SurgerySupport{ConsumableModels: []string{"XK\r"}},
			&fieldsyncv1.SurgerySupport{ConsumableModels: []string{"XK\r", "YZ\n"}}, false},
		{"an item changed", &fieldsyncv1.SurgerySupport{ConsumableModels: []string{"XK\r"}},
			&fieldsyncv1.SurgerySupport{ConsumableModels: []string{"XK\r\r"}}, false},
		{"a kept message item", &fieldsyncv1.Customer{Contacts: []*fieldsyncv1.Contact{contact("Li", "1\n")}},
			&fieldsyncv1.Customer{Contacts: []*fieldsyncv1.Contact{contact("Li", "1\n"), contact("Wang", "2")}}, true},
		{"a message item changed deeper", &fieldsyncv1.Customer{Contacts: []*fieldsyncv1.Contact{contact("Li", "1\n")}},
			&fieldsyncv1.Customer{Contacts: []*fieldsyncv1.Contact{contact("Li Wei", "1\n")}}, false},
		{"a list rule", &fieldsyncv1.SurgerySupport{ConsumableModels: many[:100]},
			&fieldsyncv1.SurgerySupport{ConsumableModels: many}, false},
		{"a field kept whole", &fieldsyncv1.Customer{Name: "A\nB"}, &fieldsyncv1.Customer{Name: "A\nB", Address: "x"}, true},
		{"a field changed", &fieldsyncv1.Customer{Name: "A\nB"}, &fieldsyncv1.Customer{Name: "A\nC"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := v.Validate(c.next)
			if err == nil {
				t.Fatal("next is valid; the case tests nothing")
			}
			cur := &StoredRecord{State: &State{Value: c.cur}}
			if got := keptValuesOnly(err, cur, c.next); got != c.excused {
				t.Fatalf("keptValuesOnly(%v) = %v, want %v", err, got, c.excused)
			}
		})
	}
}
