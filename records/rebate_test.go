package records_test

import (
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"
	"pgregory.net/rapid"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/records"
)

// rebateCases is testdata/rebate/cases.json, which the TypeScript SDK's
// test runs too.
type rebateCases struct {
	Rules map[string]json.RawMessage `json:"rules"`
	Cases []struct {
		Name  string          `json:"name"`
		Rules []string        `json:"rules"`
		Quote json.RawMessage `json:"quote"`
		At    time.Time       `json:"at"`
		Want  struct {
			EarnedCents    string `json:"earnedCents"`
			RuleID         string `json:"ruleId"`
			Tier           int    `json:"tier"`
			NextTier       int    `json:"nextTier"`
			NextMin        string `json:"nextMin"`
			NextNeeded     string `json:"nextNeeded"`
			NextExtraCents string `json:"nextExtraCents"`
		} `json:"want"`
	} `json:"cases"`
}

func loadRebateCases(t *testing.T) rebateCases {
	t.Helper()
	b, err := os.ReadFile("../testdata/rebate/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var c rebateCases
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func parseRule(t *testing.T, raw json.RawMessage) *fieldsyncv1.RebateRule {
	t.Helper()
	r := &fieldsyncv1.RebateRule{}
	if err := protojson.Unmarshal(raw, r); err != nil {
		t.Fatal(err)
	}
	return r
}

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRebateSharedCases(t *testing.T) {
	c := loadRebateCases(t)
	if len(c.Cases) < 25 {
		t.Fatalf("%d cases, want at least 25", len(c.Cases))
	}
	for _, tc := range c.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			var rules []records.RebateRuleRecord
			for _, id := range tc.Rules {
				rules = append(rules, records.RebateRuleRecord{ID: id, Rule: parseRule(t, c.Rules[id])})
			}
			q := &fieldsyncv1.Quote{}
			if err := protojson.Unmarshal(tc.Quote, q); err != nil {
				t.Fatal(err)
			}
			w := tc.Want
			want := records.RebateResult{EarnedCents: atoi(t, w.EarnedCents), RuleID: w.RuleID, Tier: w.Tier, NextTier: w.NextTier,
				NextMin: atoi(t, w.NextMin), NextNeeded: atoi(t, w.NextNeeded), NextExtraCents: atoi(t, w.NextExtraCents)}
			if got := records.Rebate(q, rules, tc.At); got != want {
				t.Errorf("Rebate = %+v, want %+v", got, want)
			}
		})
	}
}

// TestRebateCaseRulesAreValid: the shared table's rules pass the
// RebateRule's validation, so the cases describe rules a writer can sync.
func TestRebateCaseRulesAreValid(t *testing.T) {
	c := loadRebateCases(t)
	for id, raw := range c.Rules {
		if err := protovalidate.Validate(parseRule(t, raw)); err != nil {
			t.Errorf("rule %s: %v", id, err)
		}
	}
}

func TestRebateRuleValidation(t *testing.T) {
	ok := func() *fieldsyncv1.RebateRule {
		return &fieldsyncv1.RebateRule{Name: "r", ProductIds: []string{"p1"}, Basis: fieldsyncv1.RebateBasis_REBATE_BASIS_QUANTITY,
			Tiers:     []*fieldsyncv1.RebateTier{{Min: 10, PerUnitCents: 100}, {Min: 50, PerUnitCents: 150}},
			ValidFrom: timestamppb.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), State: fieldsyncv1.RebateRuleState_REBATE_RULE_STATE_ACTIVE}
	}
	for name, tc := range map[string]struct {
		edit func(r *fieldsyncv1.RebateRule)
		want string
	}{
		"valid_to before valid_from": {func(r *fieldsyncv1.RebateRule) { r.ValidTo = timestamppb.New(r.ValidFrom.AsTime().Add(-time.Hour)) }, "valid_to must be after valid_from"},
		"valid_to equal valid_from":  {func(r *fieldsyncv1.RebateRule) { r.ValidTo = r.ValidFrom }, "valid_to must be after valid_from"},
		"no valid_from":              {func(r *fieldsyncv1.RebateRule) { r.ValidFrom = nil }, "valid_from"},
		"duplicate tier min":         {func(r *fieldsyncv1.RebateRule) { r.Tiers[1].Min = 10 }, "distinct min"},
		"rate falls":                 {func(r *fieldsyncv1.RebateRule) { r.Tiers[1].PerUnitCents = 50 }, "higher min must not pay a lower rate"},
		"two rates":                  {func(r *fieldsyncv1.RebateRule) { r.Tiers[0].BasisPoints = 10 }, "exactly one of per_unit_cents and basis_points"},
		"no rate":                    {func(r *fieldsyncv1.RebateRule) { r.Tiers[0].PerUnitCents = 0 }, "exactly one of per_unit_cents and basis_points"},
		"zero min":                   {func(r *fieldsyncv1.RebateRule) { r.Tiers[0].Min = 0 }, "tiers[0].min"},
		"over 100%":                  {func(r *fieldsyncv1.RebateRule) { r.Tiers[0] = &fieldsyncv1.RebateTier{Min: 1, BasisPoints: 10001} }, "basis_points"},
		"no products":                {func(r *fieldsyncv1.RebateRule) { r.ProductIds = nil }, "product_ids"},
		"duplicate products":         {func(r *fieldsyncv1.RebateRule) { r.ProductIds = []string{"p1", "p1"} }, "product_ids"},
		"no tiers":                   {func(r *fieldsyncv1.RebateRule) { r.Tiers = nil }, "tiers"},
		"no basis":                   {func(r *fieldsyncv1.RebateRule) { r.Basis = 0 }, "basis"},
		"no state":                   {func(r *fieldsyncv1.RebateRule) { r.State = 0 }, "state"},
		"no name":                    {func(r *fieldsyncv1.RebateRule) { r.Name = "" }, "name"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := protovalidate.Validate(ok()); err != nil {
				t.Fatalf("base rule: %v", err)
			}
			r := ok()
			tc.edit(r)
			err := protovalidate.Validate(r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

// TestRebateMonotonicProperty: under a single valid rule, adding units to
// an order never earns less, and what it earns never exceeds what the top
// tier would pay.
func TestRebateMonotonicProperty(t *testing.T) {
	at := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	rapid.Check(t, func(t *rapid.T) {
		rule := genRule(t)
		lines := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) *fieldsyncv1.QuoteLine {
			return &fieldsyncv1.QuoteLine{ProductId: rapid.SampledFrom([]string{"p1", "p2", "p3"}).Draw(t, "product"),
				Quantity: rapid.Int64Range(0, 1_000_000).Draw(t, "qty"), UnitPriceCents: rapid.Int64Range(0, 10_000_000_000).Draw(t, "price")}
		}), 0, 20).Draw(t, "lines")
		q := &fieldsyncv1.Quote{Lines: lines}
		rules := []records.RebateRuleRecord{{ID: "r", Rule: rule}}
		before := records.Rebate(q, rules, at)
		i := rapid.IntRange(0, len(lines)).Draw(t, "line")
		more := rapid.Int64Range(1, 1_000_000).Draw(t, "more")
		if i == len(lines) {
			q.Lines = append(q.Lines, &fieldsyncv1.QuoteLine{ProductId: "p1", Quantity: more, UnitPriceCents: rapid.Int64Range(0, 10_000_000_000).Draw(t, "newprice")})
		} else {
			q.Lines[i].Quantity = min(q.Lines[i].Quantity+more, 1_000_000)
		}
		after := records.Rebate(q, rules, at)
		if after.EarnedCents < before.EarnedCents {
			t.Fatalf("more units earn less: %+v then %+v", before, after)
		}
		if after.Tier < before.Tier {
			t.Fatalf("more units reach a lower tier: %+v then %+v", before, after)
		}
	})
}

// genRule draws a valid single rule over products p1 and p2.
func genRule(t *rapid.T) *fieldsyncv1.RebateRule {
	basis := rapid.SampledFrom([]fieldsyncv1.RebateBasis{fieldsyncv1.RebateBasis_REBATE_BASIS_QUANTITY, fieldsyncv1.RebateBasis_REBATE_BASIS_AMOUNT}).Draw(t, "basis")
	perUnit := rapid.Bool().Draw(t, "perUnit")
	n := rapid.IntRange(1, 5).Draw(t, "tiers")
	mins := rapid.SliceOfNDistinct(rapid.Int64Range(1, 2_000_000), n, n, func(v int64) int64 { return v }).Draw(t, "mins")
	rates := rapid.SliceOfN(rapid.Int64Range(1, 10_000), n, n).Draw(t, "rates")
	slices.Sort(mins)
	slices.Sort(rates)
	r := &fieldsyncv1.RebateRule{Name: "r", ProductIds: []string{"p1", "p2"}, Basis: basis,
		ValidFrom: timestamppb.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), State: fieldsyncv1.RebateRuleState_REBATE_RULE_STATE_ACTIVE}
	for i := range n {
		tier := &fieldsyncv1.RebateTier{Min: mins[i]}
		if perUnit {
			tier.PerUnitCents = rates[i]
		} else {
			tier.BasisPoints = int32(rates[i])
		}
		r.Tiers = append(r.Tiers, tier)
	}
	if err := protovalidate.Validate(r); err != nil {
		t.Fatalf("generated an invalid rule: %v", err)
	}
	return r
}
