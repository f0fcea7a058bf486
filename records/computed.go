package records

import (
	"slices"

	"google.golang.org/protobuf/proto"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// HighValueTags are the action tags that make a visit high-value (DOMAIN PHI).
var HighValueTags = []string{"price_negotiation", "technical_demo", "decision_maker_confirmed"}

// MinQuoteParameters is how many non-empty technical parameters make a
// quote complete (DOMAIN R4).
const MinQuoteParameters = 7

// Hooks is the record-type behaviour the sync engine calls
// (syncengine.TypeHooks).
type Hooks struct{}

// ComputeServerFields sets the server-only fields derived from the record
// itself: a Visit's high_value, a Quote's complete. Values of other types
// are left alone.
func (Hooks) ComputeServerFields(m proto.Message) {
	switch v := m.(type) {
	case *fieldsyncv1.Visit:
		v.HighValue = slices.ContainsFunc(v.GetActionTags(), func(t string) bool { return slices.Contains(HighValueTags, t) })
	case *fieldsyncv1.Quote:
		v.Complete = QuoteComplete(v)
	}
}

// QuoteComplete reports whether a quote has at least MinQuoteParameters
// non-empty technical parameters.
func QuoteComplete(q *fieldsyncv1.Quote) bool {
	n := 0
	for _, p := range q.GetTechnicalParameters() {
		if p.GetValue() != "" {
			n++
		}
	}
	return n >= MinQuoteParameters
}
