package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	rectypes "github.com/fieldsync/fieldsync/records"
)

// The A7 rebate preview, added to deviceCommands here.
func init() {
	deviceCommands["rebate"] = deviceCommand{"preview a quote's rebate under the synced rules, offline: --quote <id> [--at RFC3339]", setupDeviceRebate}
	deviceCommands["quote create"] = deviceCommand{"draft a quote (an order): --lines product:qty:unit_price_fen,… [--diagnosis <id> --photos sha256,…]", setupQuoteCreate}
	deviceCommands["quote submit"] = deviceCommand{"submit a quote with the rebate the device computes for it: <id>", setupQuoteSubmit}
}

const quoteRecordType = "fieldsync.v1.Quote"

func setupQuoteCreate(fs *flag.FlagSet) deviceRun {
	lines, diagnosis := fs.String("lines", "", "product:quantity:unit_price_fen, comma-separated"), fs.String("diagnosis", "", "diagnosis record id")
	photos := fs.String("photos", "", "SHA-256 of the diagnosis photos the quote cites, comma-separated")
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		ql, err := parseQuoteLines(*lines)
		if err != nil || len(args) != 0 {
			return fmt.Errorf("%w: fieldsync device quote create --lines product:qty:unit_price_fen,… [--diagnosis <id>] (%v)", errUsage, err)
		}
		id := c.NewID()
		q := &fieldsyncv1.Quote{Status: fieldsyncv1.RecordStatus_RECORD_STATUS_DRAFT, DiagnosisId: *diagnosis, DiagnosisPhotoSha256S: splitList(*photos), Lines: ql}
		if err := c.Put(ctx, id, q); err != nil {
			return err
		}
		return printRecord(ctx, c, out, quoteRecordType, id)
	}
}

// parseQuoteLines parses "p1:10:5000,p2:3:120".
func parseQuoteLines(s string) ([]*fieldsyncv1.QuoteLine, error) {
	var out []*fieldsyncv1.QuoteLine
	for _, item := range splitList(s) {
		parts := strings.Split(item, ":")
		if len(parts) != 3 || parts[0] == "" {
			return nil, fmt.Errorf("--lines %q: want product:quantity:unit_price_fen", item)
		}
		qty, err1 := strconv.ParseInt(parts[1], 10, 64)
		price, err2 := strconv.ParseInt(parts[2], 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("--lines %q: %w", item, err)
		}
		out = append(out, &fieldsyncv1.QuoteLine{ProductId: parts[0], Quantity: qty, UnitPriceCents: price})
	}
	if len(out) == 0 {
		return nil, errors.New("--lines: at least one line")
	}
	return out, nil
}

func setupQuoteSubmit(fs *flag.FlagSet) deviceRun {
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: fieldsync device quote submit <id>", errUsage)
		}
		if _, err := c.SubmitQuote(ctx, args[0]); err != nil {
			return err
		}
		return printRecord(ctx, c, out, quoteRecordType, args[0])
	}
}

func setupDeviceRebate(fs *flag.FlagSet) deviceRun {
	quote, at := fs.String("quote", "", "quote record id"), fs.String("at", "", "judge the rules at this time (default now)")
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		if *quote == "" || len(args) != 0 {
			return fmt.Errorf("%w: fieldsync device rebate --quote <id> [--at RFC3339]", errUsage)
		}
		when := time.Now()
		if *at != "" {
			t, err := time.Parse(time.RFC3339Nano, *at)
			if err != nil {
				return fmt.Errorf("%w: --at %q: want RFC 3339, e.g. 2026-07-01T00:00:00Z", errUsage, *at)
			}
			when = t
		}
		res, err := c.QuoteRebate(ctx, *quote, when)
		if err != nil {
			return err
		}
		return printJSONValue(out, rebateJSON(res))
	}
}

// rebateJSON prints a RebateResult as the TypeScript SDK's rebate() returns
// it, int64 as strings (as protobuf JSON has them), plus a summary line.
func rebateJSON(r rectypes.RebateResult) map[string]any {
	s := func(v int64) string { return strconv.FormatInt(v, 10) }
	out := map[string]any{
		"earnedCents": s(r.EarnedCents), "ruleId": r.RuleID, "tier": r.Tier, "nextTier": r.NextTier,
		"nextMin": s(r.NextMin), "nextNeeded": s(r.NextNeeded), "nextExtraCents": s(r.NextExtraCents),
	}
	switch {
	case r.RuleID == "":
		out["summary"] = "no rebate rule applies to this quote"
	case r.NextTier > 0:
		out["summary"] = fmt.Sprintf("earns %s; %d more reaches tier %d, about %s more", yuan(r.EarnedCents), r.NextNeeded, r.NextTier, yuan(r.NextExtraCents))
	default:
		out["summary"] = "earns " + yuan(r.EarnedCents) + " (top tier)"
	}
	return out
}

// yuan formats fen as "¥12.34".
func yuan(fen int64) string { return fmt.Sprintf("¥%d.%02d", fen/100, fen%100) }
