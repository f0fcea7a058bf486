package syncengine

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"

	"github.com/fieldsync/fieldsync/internal/benchenv"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// runes is s repeated and cut to n runes.
func runes(s string, n int) string {
	out := strings.Repeat(s, n/utf8.RuneCountInString(s)+1)
	return string([]rune(out)[:n])
}

// BenchmarkValidateRecordText validates records as the engine does
// ("engine": the printable rules checked natively) and as it did before
// ("guarded": every field's rules through protovalidate): a draft visit,
// a customer with every typed field (ten strings with a rule), and a visit
// with 20,000 characters of notes (the field's max) in Latin and in
// Chinese script. cpu_ns/op is the process's CPU time per validation.
func BenchmarkValidateRecordText(b *testing.B) {
	plain, err := protovalidate.New()
	if err != nil {
		b.Fatal(err)
	}
	types, _ := recordTypes()
	rv, err := newRecordValidator(plain, types)
	if err != nil {
		b.Fatal(err)
	}
	draft := &fieldsyncv1.Visit{Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE, CustomerId: "c1", OwnerUserId: "u1",
		Notes: "discussed the trial results and the next order", ActionTags: []string{"technical_demo"}}
	customer := &fieldsyncv1.Customer{Name: "Shanghai East Hospital", Address: "150 Jimo Road\nPudong, Shanghai",
		VehicleModel: "Sprinter 316", LatestMilestone: "trial order signed",
		Contacts: []*fieldsyncv1.Contact{
			{Name: "Zhang Wei", Title: "Head of procurement", Phone: "+86 21 3880 4999"},
			{Name: "李娜", Title: "护士长", Phone: "138 0013 8000"},
		}}
	long := proto.Clone(draft).(*fieldsyncv1.Visit)
	long.Notes = runes("Discussed the trial results, the next order and the training.\n", 20000)
	longCJK := proto.Clone(draft).(*fieldsyncv1.Visit)
	longCJK.Notes = runes("讨论了试用结果、下一笔订单和培训安排。\n", 20000)
	records := []struct {
		name string
		m    proto.Message
	}{{"draft-visit", draft}, {"customer", customer}, {"long-note", long}, {"long-note-cjk", longCJK}}
	for _, rec := range records { // protovalidate builds a type's evaluators on first use
		if err := errors.Join(rv.Validate(rec.m), rv.guarded.Validate(rec.m)); err != nil {
			b.Fatal(err)
		}
	}
	for _, rec := range records {
		for _, v := range []struct {
			name     string
			validate func(proto.Message) error
		}{{"engine", rv.Validate}, {"guarded", rv.guarded.Validate}} {
			b.Run(rec.name+"/"+v.name, func(b *testing.B) {
				cpu := benchenv.CPUTime()
				for b.Loop() {
					if err := v.validate(rec.m); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64((benchenv.CPUTime()-cpu).Nanoseconds())/float64(b.N), "cpu_ns/op")
				benchenv.ReportLoad(b)
			})
		}
	}
}
