package fieldsync

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	rectypes "github.com/fieldsync/fieldsync/records"
)

// quoteType is the Quote record type, which rebates are computed on.
const quoteType = "fieldsync.v1.Quote"

// Rebate returns what a draft quote earns under the rebate rules the
// device holds, at time at, and what the next tier would add (A7; see
// records.Rebate for the rules, which the server applies too). It reads
// the local store only, so it works offline. A quote without a region yet
// (a draft not synced, whose region the server fills from the user's) is
// taken to be in the region of every rule the device holds: a device holds
// only the rules of its user's region and the tenant-wide ones.
//
// Errors: a store or decode error.
func (c *Client) Rebate(ctx context.Context, q *fieldsyncv1.Quote, at time.Time) (rectypes.RebateResult, error) {
	recs, err := c.List(ctx, rectypes.RebateRuleType)
	if err != nil {
		return rectypes.RebateResult{}, fmt.Errorf("rebate: %w", err)
	}
	rules := make([]rectypes.RebateRuleRecord, 0, len(recs))
	for _, r := range recs {
		rule := r.Value.(*fieldsyncv1.RebateRule)
		if q.GetRegionId() == "" && rule.GetRegionId() != "" {
			rule = proto.Clone(rule).(*fieldsyncv1.RebateRule)
			rule.RegionId = ""
		}
		rules = append(rules, rectypes.RebateRuleRecord{ID: r.ID, Rule: rule})
	}
	return rectypes.Rebate(q, rules, at), nil
}

// QuoteRebate is Rebate for a quote the device holds, by id.
//
// Errors: ErrNotOnDevice when the device does not hold the quote,
// ErrInvalidID, or a store error.
func (c *Client) QuoteRebate(ctx context.Context, quoteID string, at time.Time) (rectypes.RebateResult, error) {
	q := &fieldsyncv1.Quote{}
	found, err := c.Get(ctx, quoteType, quoteID, q)
	if err != nil {
		return rectypes.RebateResult{}, fmt.Errorf("quote rebate: %w", err)
	}
	if !found {
		return rectypes.RebateResult{}, fmt.Errorf("quote rebate %q: %w", quoteID, ErrNotOnDevice)
	}
	return c.Rebate(ctx, q, at)
}

// SubmitQuote submits a quote the device holds (status SUBMITTED, which
// freezes its lines) with the rebate the device computes for it now
// (rebate_device_cents and rebate_device_rule_id), locally and to the
// outbox. The server records its own figure (rebate_server_cents) from the
// rules it holds and logs a disagreement. It returns the device's figure.
//
// Errors: as QuoteRebate.
func (c *Client) SubmitQuote(ctx context.Context, quoteID string) (rectypes.RebateResult, error) {
	res, err := c.QuoteRebate(ctx, quoteID, time.Now())
	if err != nil {
		return res, err
	}
	q := &fieldsyncv1.Quote{Status: fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED,
		RebateDeviceCents: res.EarnedCents, RebateDeviceRuleId: res.RuleID}
	if err := c.Put(ctx, quoteID, q, "status", "rebate_device_cents", "rebate_device_rule_id"); err != nil {
		return res, fmt.Errorf("submit quote: %w", err)
	}
	return res, nil
}
