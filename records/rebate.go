package records

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// RebateRuleType is the full name of the RebateRule record type.
var RebateRuleType = string((*fieldsyncv1.RebateRule)(nil).ProtoReflect().Descriptor().FullName())

// QuoteType is the full name of the Quote record type.
var QuoteType = string((*fieldsyncv1.Quote)(nil).ProtoReflect().Descriptor().FullName())

// RebateRuleRecord is a synced rebate rule with its record id.
type RebateRuleRecord struct {
	ID   string
	Rule *fieldsyncv1.RebateRule
}

// RebateResult is what an order earns under the best rebate rule for it
// (A7), and what the rule's next tier would add.
type RebateResult struct {
	// EarnedCents is the rebate in fen; 0 when no rule applies.
	EarnedCents int64
	// RuleID is the rule applied; empty when no rule applies to the order.
	RuleID string
	// Tier is the 1-based tier reached (tiers ordered by min); 0 for none.
	Tier int
	// NextTier is the 1-based next tier up; 0 when there is none.
	NextTier int
	// NextMin is the next tier's threshold (units or fen, by the rule's
	// basis); NextNeeded is how many more units or fen reach it.
	NextMin, NextNeeded int64
	// NextExtraCents is how much more this order would earn at the next
	// tier's rate: the next tier's rebate on the order's qualifying units
	// and amount, less EarnedCents (never negative).
	NextExtraCents int64
}

// Rebate computes the rebate an order (a quote's lines, in the quote's
// region) earns at time at under rules (A7). It is a pure function, the
// same as the TypeScript SDK's rebate() (testdata/rebate/cases.json holds
// the cases both run):
//
//   - A rule applies when it is ACTIVE, valid_from <= at < valid_to (no
//     valid_to: open-ended), its region is empty or the quote's, and it
//     names a product of a line.
//   - Its volume is the qualifying lines' units (basis QUANTITY) or amount
//     (quantity × unit price, basis AMOUNT); negative values count as 0.
//   - The tier reached is the one with the highest min at or below the
//     volume; it pays on every qualifying unit or fen (not only above the
//     threshold): units × per_unit_cents + amount × basis_points / 10000,
//     the percentage rounded down to the fen.
//   - Rules do not stack: the result is the rule earning most, then the
//     one whose next tier adds most, then the smallest id.
//   - Every sum and product saturates at math.MaxInt64 rather than
//     overflow (a validated quote never reaches it).
func Rebate(q *fieldsyncv1.Quote, rules []RebateRuleRecord, at time.Time) RebateResult {
	var best RebateResult
	found := false
	for _, r := range rules {
		res, ok := ruleRebate(q, r, at)
		if ok && (!found || better(res, best)) {
			best, found = res, true
		}
	}
	return best
}

func better(a, b RebateResult) bool {
	return cmp.Or(cmp.Compare(b.EarnedCents, a.EarnedCents), cmp.Compare(b.NextExtraCents, a.NextExtraCents), cmp.Compare(a.RuleID, b.RuleID)) < 0
}

// RuleInForce reports whether a rule is active at time at.
func RuleInForce(r *fieldsyncv1.RebateRule, at time.Time) bool {
	return r.GetState() == fieldsyncv1.RebateRuleState_REBATE_RULE_STATE_ACTIVE &&
		(r.ValidFrom == nil || !at.Before(r.ValidFrom.AsTime())) &&
		(r.ValidTo == nil || at.Before(r.ValidTo.AsTime()))
}

func ruleRebate(q *fieldsyncv1.Quote, rec RebateRuleRecord, at time.Time) (RebateResult, bool) {
	r := rec.Rule
	if !RuleInForce(r, at) || (r.GetRegionId() != "" && r.GetRegionId() != q.GetRegionId()) {
		return RebateResult{}, false
	}
	units, amount, ok := qualifying(q, r.GetProductIds())
	if !ok {
		return RebateResult{}, false
	}
	volume := units
	if r.GetBasis() == fieldsyncv1.RebateBasis_REBATE_BASIS_AMOUNT {
		volume = amount
	}
	tiers := sortedTiers(r.GetTiers())
	res := RebateResult{RuleID: rec.ID}
	for i, t := range tiers {
		if t.GetMin() <= volume {
			res.Tier = i + 1
			continue
		}
		res.NextTier, res.NextMin, res.NextNeeded = i+1, t.GetMin(), t.GetMin()-volume
		break
	}
	if res.Tier > 0 {
		res.EarnedCents = tierRebate(tiers[res.Tier-1], units, amount)
	}
	if res.NextTier > 0 {
		res.NextExtraCents = max(0, tierRebate(tiers[res.NextTier-1], units, amount)-res.EarnedCents)
	}
	return res, true
}

// qualifying sums the units and amount of the lines selling products; ok
// reports whether any line does.
func qualifying(q *fieldsyncv1.Quote, products []string) (units, amount int64, ok bool) {
	for _, l := range q.GetLines() {
		if !slices.Contains(products, l.GetProductId()) {
			continue
		}
		n, price := max(0, l.GetQuantity()), max(0, l.GetUnitPriceCents())
		units, amount, ok = satAdd(units, n), satAdd(amount, satMul(n, price)), true
	}
	return units, amount, ok
}

// sortedTiers orders tiers by min (stable, so equal mins keep their order).
func sortedTiers(tiers []*fieldsyncv1.RebateTier) []*fieldsyncv1.RebateTier {
	out := slices.Clone(tiers)
	slices.SortStableFunc(out, func(a, b *fieldsyncv1.RebateTier) int { return cmp.Compare(a.GetMin(), b.GetMin()) })
	return out
}

// tierRebate is units × per_unit_cents + floor(amount × basis_points /
// 10000), saturating; negative rates count as 0.
func tierRebate(t *fieldsyncv1.RebateTier, units, amount int64) int64 {
	bp := int64(max(0, t.GetBasisPoints()))
	pct := satAdd(satMul(amount/10000, bp), (amount%10000)*bp/10000)
	return satAdd(satMul(units, max(0, t.GetPerUnitCents())), pct)
}

// satAdd adds non-negative a and b, saturating at math.MaxInt64.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// satMul multiplies non-negative a and b, saturating at math.MaxInt64.
func satMul(a, b int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(lo)
}
