package insights

import (
	"buf.build/go/protovalidate"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// TestA1ManyDiagnosesOneAlertPerCustomerAndWindow is the alert storm: many
// conflicting diagnoses of few customers raise one alert per customer,
// window and recipient, whose evidence grows, not one per pair.
func TestA1ManyDiagnosesOneAlertPerCustomerAndWindow(t *testing.T) {
	e := newEnv(t)
	const customers, perCustomer = 5, 30
	start := at(2, 8, 0)
	for i := range perCustomer {
		for c := range customers {
			made := start.Add(time.Duration(i) * time.Hour) // all within 72h of the next
			conclusion := []string{"brake pads worn", "rotor warped", "caliper stuck"}[i%3]
			e.handle(e.upsertAt(fmt.Sprintf("d-%d-%02d", c, i), e.diagnosis("alice", fmt.Sprintf("c%d", c), conclusion, photo(fmt.Sprint(c, i))),
				made, made.Add(time.Minute)))
		}
	}
	alerts := e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_CONFLICTING_DIAGNOSES)
	if len(alerts) != customers*2 {
		t.Fatalf("%d A1 alerts, want %d: one per customer for mgr1 and one for techN", len(alerts), customers*2)
	}
	for _, a := range alerts {
		c := strings.TrimPrefix(a.Title, "Conflicting diagnoses for customer ")
		last := fmt.Sprintf("d-%s-%02d", strings.TrimPrefix(c, "c"), perCustomer-1)
		if !strings.HasPrefix(a.Body, fmt.Sprintf("%d diagnoses of customer %s", perCustomer, c)) ||
			len(a.RelatedRecordIds) != maxShown || a.RelatedRecordIds[maxShown-1] != last || len(a.Photos) != maxShown {
			t.Errorf("alert for %s: %q related %v, want the evidence of all %d diagnoses, the latest %d shown ending with %s",
				c, a.Body, a.RelatedRecordIds, perCustomer, maxShown, last)
		}
	}
	if e.sink.updates == 0 {
		t.Error("no alert was updated with new evidence")
	}
	// A conflict more than a window after the last one is a new finding.
	later := start.Add(time.Duration(perCustomer-1)*time.Hour + 73*time.Hour)
	e.handle(e.upsertAt("d-0-new-a", e.diagnosis("alice", "c0", "gearbox"), later, later))
	e.handle(e.upsertAt("d-0-new-b", e.diagnosis("alice", "c0", "clutch"), later.Add(time.Hour), later.Add(time.Hour)))
	alerts = e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_CONFLICTING_DIAGNOSES)
	var c0 []string
	for _, a := range alerts {
		if strings.HasSuffix(a.Title, " c0") && e.names[a.RecipientUserId] == "mgr1" {
			c0 = append(c0, strings.Join(a.RelatedRecordIds, ","))
		}
	}
	if len(alerts) != customers*2+2 || len(c0) != 2 || !slices.Contains(c0, "d-0-new-a,d-0-new-b") {
		t.Errorf("after a conflict in a later window: %d alerts, mgr1's for c0 %v; want one more per recipient, about the new pair", len(alerts), c0)
	}
}

// TestA2OneAlertPerTerminal: two products of one terminal below safety
// stock make one alert listing both; it closes when both are refilled.
func TestA2OneAlertPerTerminal(t *testing.T) {
	e := newEnv(t)
	e.upsert("h1", &fieldsyncv1.Customer{Name: "City Hospital", AssignedRepId: e.id("bob"), RegionId: e.id("north")}, at(1, 8, 0))
	stock := func(product string, onHand int64) *fieldsyncv1.StockLevel {
		return &fieldsyncv1.StockLevel{RegionId: e.id("north"), TerminalId: "h1", ProductId: product, OnHand: onHand, SafetyStock: 10}
	}
	list := func() []*fieldsyncv1.Alert { return e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_REPLENISHMENT) }
	e.upsert("st-a", stock("stent", 2), at(2, 8, 0))
	e.upsert("st-b", stock("balloon", 1), at(2, 9, 0))
	got := list()
	if len(got) != 1 || !strings.Contains(got[0].Body, "stent at City Hospital") || !strings.Contains(got[0].Body, "balloon at City Hospital") {
		t.Fatalf("alerts %v, want one for the terminal listing both products", got)
	}
	e.upsert("st-a", stock("stent", 20), at(3, 8, 0))
	if got = list(); len(got) != 1 || strings.Contains(got[0].Body, "stent") {
		t.Fatalf("after the stent refill: %v, want the one alert listing only the balloon", got)
	}
	e.upsert("st-b", stock("balloon", 20), at(3, 9, 0))
	e.upsert("st-a", stock("stent", 3), at(4, 8, 0))
	if n := len(list()); n != 2 {
		t.Fatalf("below again after both were refilled: %d alerts, want a second one", n)
	}
}

// TestA6OneAlertPerPhoto: one photo on four records is one alert (per
// recipient) listing them all, not one per pair.
func TestA6OneAlertPerPhoto(t *testing.T) {
	e := newEnv(t)
	p := photo("same")
	for i := range 4 {
		e.upsert(fmt.Sprintf("d%d", i), e.diagnosis("alice", fmt.Sprint("c", i), "worn", p), at(2, 8+i, 0))
	}
	got := e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_REPEAT_PHOTO)
	if len(got) != 1 || !slices.Equal(got[0].RelatedRecordIds, []string{"d0", "d1", "d2", "d3"}) {
		t.Fatalf("alerts %v, want one for mgr1 about d0–d3", got)
	}
}

// TestA2ManyProductsBelowSafetyListsAFewAndCountsAll: a terminal with more
// products below safety stock than Alert's lists hold raises one valid
// alert, listing the first maxReplenishShown and counting every one.
func TestA2ManyProductsBelowSafetyListsAFewAndCountsAll(t *testing.T) {
	e := newEnv(t)
	e.upsert("h1", &fieldsyncv1.Customer{Name: "City Hospital", AssignedRepId: e.id("bob"), RegionId: e.id("north")}, at(1, 8, 0))
	const products = 1200
	for i := range products {
		e.upsert(fmt.Sprintf("st-%04d", i), &fieldsyncv1.StockLevel{RegionId: e.id("north"), TerminalId: "h1", ProductId: fmt.Sprint("p", i), OnHand: 1, SafetyStock: 10}, at(2, 8, 0))
	}
	got := e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_REPLENISHMENT)
	if len(got) != 1 {
		t.Fatalf("%d alerts, want one for the terminal", len(got))
	}
	a := got[0]
	if err := protovalidate.Validate(a); err != nil {
		t.Fatalf("the alert breaks Alert's rules: %v", err)
	}
	if a.Title != "Replenish 1200 products at City Hospital" || len(a.RelatedRecordIds) != maxReplenishShown+1 ||
		a.RelatedRecordIds[maxReplenishShown] != "h1" || !strings.HasSuffix(a.Body, fmt.Sprintf("…and %d more products below their safety stock.", products-maxReplenishShown)) {
		t.Fatalf("alert %q, %d related records, body ending %q: want all 1200 counted, %d listed", a.Title, len(a.RelatedRecordIds), a.Body[max(0, len(a.Body)-80):], maxReplenishShown)
	}
}
