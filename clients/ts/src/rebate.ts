import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { RebateBasis, RebateRuleState, type Quote, type RebateRule, type RebateTier } from "./gen/fieldsync/v1/records_pb.js";

/** A synced rebate rule with its record id. */
export interface RebateRuleRecord {
  id: string;
  rule: RebateRule;
}

/**
 * What an order earns under the best rebate rule for it (A7), and what the
 * rule's next tier would add. Money is in fen (minor units), as bigint.
 */
export interface RebateResult {
  /** The rebate in fen; 0n when no rule applies. */
  earnedCents: bigint;
  /** The rule applied; "" when no rule applies to the order. */
  ruleId: string;
  /** The 1-based tier reached (tiers ordered by min); 0 for none. */
  tier: number;
  /** The 1-based next tier up; 0 when there is none. */
  nextTier: number;
  /** The next tier's threshold (units or fen, by the rule's basis). */
  nextMin: bigint;
  /** How many more units or fen reach the next tier. */
  nextNeeded: bigint;
  /**
   * How much more this order would earn at the next tier's rate: the next
   * tier's rebate on the order's qualifying units and amount, less
   * earnedCents (never negative).
   */
  nextExtraCents: bigint;
}

const MAX_INT64 = (1n << 63n) - 1n;

const none = (): RebateResult => ({ earnedCents: 0n, ruleId: "", tier: 0, nextTier: 0, nextMin: 0n, nextNeeded: 0n, nextExtraCents: 0n });

/**
 * Computes the rebate a quote (its lines, in its region) earns at time `at`
 * under `rules` (A7), offline. It is the Go SDK's records.Rebate, case for
 * case (testdata/rebate/cases.json holds the cases both run):
 *
 * - A rule applies when it is ACTIVE, validFrom <= at < validTo (no validTo:
 *   open-ended), its region is empty or the quote's, and it names a product
 *   of a line.
 * - Its volume is the qualifying lines' units (basis QUANTITY) or amount
 *   (quantity × unit price, basis AMOUNT); negative values count as 0.
 * - The tier reached is the one with the highest min at or below the
 *   volume; it pays on every qualifying unit or fen: units × perUnitCents +
 *   amount × basisPoints / 10000, the percentage rounded down to the fen.
 * - Rules do not stack: the result is the rule earning most, then the one
 *   whose next tier adds most, then the smallest id.
 * - Every sum and product saturates at 2^63 − 1, as int64 does in Go.
 *
 * @param quote - the draft or stored quote
 * @param rules - the rules the device holds
 * @param at - the time the rules are judged at (usually now)
 */
export function rebate(quote: Quote, rules: readonly RebateRuleRecord[], at: Date | Timestamp): RebateResult {
  const when = toNanos(at);
  let best: RebateResult | undefined;
  for (const r of rules) {
    const res = ruleRebate(quote, r, when);
    if (res && (!best || better(res, best))) {
      best = res;
    }
  }
  return best ?? none();
}

function better(a: RebateResult, b: RebateResult): boolean {
  if (a.earnedCents !== b.earnedCents) return a.earnedCents > b.earnedCents;
  if (a.nextExtraCents !== b.nextExtraCents) return a.nextExtraCents > b.nextExtraCents;
  return a.ruleId < b.ruleId;
}

/** Reports whether a rule is in force at time `at`. */
export function ruleInForce(rule: RebateRule, at: Date | Timestamp): boolean {
  return inForce(rule, toNanos(at));
}

function inForce(rule: RebateRule, at: bigint): boolean {
  return (
    rule.state === RebateRuleState.ACTIVE &&
    (rule.validFrom === undefined || toNanos(rule.validFrom) <= at) &&
    (rule.validTo === undefined || at < toNanos(rule.validTo))
  );
}

function ruleRebate(quote: Quote, rec: RebateRuleRecord, at: bigint): RebateResult | undefined {
  const r = rec.rule;
  if (!inForce(r, at) || (r.regionId !== "" && r.regionId !== quote.regionId)) {
    return undefined;
  }
  const q = qualifying(quote, r.productIds);
  if (!q) {
    return undefined;
  }
  const volume = r.basis === RebateBasis.AMOUNT ? q.amount : q.units;
  const tiers = [...r.tiers].sort((a, b) => (a.min < b.min ? -1 : a.min > b.min ? 1 : 0));
  const res: RebateResult = { ...none(), ruleId: rec.id };
  for (const [i, t] of tiers.entries()) {
    if (t.min <= volume) {
      res.tier = i + 1;
      continue;
    }
    res.nextTier = i + 1;
    res.nextMin = t.min;
    res.nextNeeded = t.min - volume;
    break;
  }
  if (res.tier > 0) {
    res.earnedCents = tierRebate(tiers[res.tier - 1]!, q.units, q.amount);
  }
  if (res.nextTier > 0) {
    const extra = tierRebate(tiers[res.nextTier - 1]!, q.units, q.amount) - res.earnedCents;
    res.nextExtraCents = extra > 0n ? extra : 0n;
  }
  return res;
}

function qualifying(quote: Quote, products: readonly string[]): { units: bigint; amount: bigint } | undefined {
  let units = 0n;
  let amount = 0n;
  let found = false;
  for (const l of quote.lines) {
    if (!products.includes(l.productId)) continue;
    const n = nonNeg(l.quantity);
    units = sat(units + n);
    amount = sat(amount + sat(n * nonNeg(l.unitPriceCents)));
    found = true;
  }
  return found ? { units, amount } : undefined;
}

/** units × perUnitCents + floor(amount × basisPoints / 10000), saturating. */
function tierRebate(t: RebateTier, units: bigint, amount: bigint): bigint {
  const bp = BigInt(Math.max(0, t.basisPoints));
  const pct = sat(sat((amount / 10000n) * bp) + ((amount % 10000n) * bp) / 10000n);
  return sat(sat(units * nonNeg(t.perUnitCents)) + pct);
}

const nonNeg = (v: bigint): bigint => (v > 0n ? v : 0n);
const sat = (v: bigint): bigint => (v > MAX_INT64 ? MAX_INT64 : v);

function toNanos(t: Date | Timestamp): bigint {
  if (t instanceof Date) {
    return BigInt(t.getTime()) * 1_000_000n;
  }
  return t.seconds * 1_000_000_000n + BigInt(t.nanos);
}
