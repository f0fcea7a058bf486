package syncengine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"google.golang.org/protobuf/proto"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// StockIDPrefix starts the record id of every StockLevel an ERP ingest
// writes; devices do not create StockLevel records.
const StockIDPrefix = "stock-"

// StockRecordID is the StockLevel record id of an ERP row: derived from the
// tenant and the ERP's (terminal_id, product_id), so re-sending a row
// updates the same record.
func StockRecordID(tenantID, terminalID, productID string) string {
	h := sha256.Sum256([]byte(tenantID + "\x00" + terminalID + "\x00" + productID))
	return StockIDPrefix + hex.EncodeToString(h[:16])
}

var (
	stockType    = (&fieldsyncv1.StockLevel{}).ProtoReflect().Descriptor().FullName()
	customerType = string((&fieldsyncv1.Customer{}).ProtoReflect().Descriptor().FullName())
)

// IngestStock upserts an ERP's stock rows as StockLevel records in one
// transaction, as the API key p. regions holds the tenant's region ids. A
// row whose values the record already holds is left alone (no version, no
// event). The results are stored under requestID: a retry with the same
// id returns them (Replayed set) without writing again. Errors:
// CodePermissionDenied for a caller that is not a key holding the
// StockLevel writer permission.
func (e *Engine) IngestStock(ctx context.Context, p *Principal, requestID string, rows []*fieldsyncv1.StockRow, regions map[string]bool) (*fieldsyncv1.UpsertStockResponse, error) {
	rt, ok := e.reg.byName[stockType]
	if !ok {
		return nil, Errorf(CodeInvalid, "StockLevel is not a registered record type")
	}
	if p == nil || !p.IsAPIKey() {
		return nil, Errorf(CodePermissionDenied, "only API keys ingest ERP rows")
	}
	if err := checkKeyWrite(p, rt); err != nil {
		return nil, err
	}
	actor := ingestActor(p, requestID)
	res := &fieldsyncv1.UpsertStockResponse{}
	var batch commitBatch
	err := e.store.Update(ctx, func(tx Tx) error {
		batch = commitBatch{}
		stored, ok, err := tx.PushResult(actor, 1)
		if err != nil || ok {
			res.Reset()
			if err == nil {
				err = proto.Unmarshal(stored, res)
				res.Replayed = true
			}
			return err
		}
		in := ingest{e: e, tx: tx, p: p, rt: rt, regions: regions, batch: &batch}
		if res, err = in.rows(rows); err != nil {
			return err
		}
		b, err := proto.Marshal(res)
		if err != nil {
			return err
		}
		return tx.SavePushResult(actor, 1, b)
	})
	if err != nil {
		return nil, err
	}
	e.committed(p.TenantID, batch.version, batch.scopes)
	return res, nil
}

// ingestActor is the push-results key of a key's request: one stored
// result (seq 1) per request id.
func ingestActor(p *Principal, requestID string) string {
	h := sha256.Sum256([]byte(requestID))
	return p.Actor() + "/ingest/" + hex.EncodeToString(h[:16])
}

// ingest is one IngestStock transaction.
type ingest struct {
	e       *Engine
	tx      Tx
	p       *Principal
	rt      *RecordType
	regions map[string]bool
	batch   *commitBatch
}

func (in *ingest) rows(rows []*fieldsyncv1.StockRow) (*fieldsyncv1.UpsertStockResponse, error) {
	ids := make([]string, 0, 2*len(rows))
	for _, r := range rows {
		ids = append(ids, r.GetTerminalId(), StockRecordID(in.p.TenantID, r.GetTerminalId(), r.GetProductId()))
	}
	known, err := in.tx.GetRecords(in.p.TenantID, ids)
	if err != nil {
		return nil, err
	}
	res := &fieldsyncv1.UpsertStockResponse{Results: make([]*fieldsyncv1.RowResult, len(rows))}
	for i, r := range rows {
		out, err := in.row(i, r, known)
		if err != nil {
			return nil, fmt.Errorf("rows[%d]: %w", i, err)
		}
		res.Results[i] = out
		switch out.Outcome {
		case fieldsyncv1.RowOutcome_ROW_OUTCOME_APPLIED:
			res.Applied++
		case fieldsyncv1.RowOutcome_ROW_OUTCOME_UNCHANGED:
			res.Unchanged++
		default:
			res.Rejected++
		}
	}
	return res, nil
}

// row writes one row. Domain errors become a rejected result.
func (in *ingest) row(i int, r *fieldsyncv1.StockRow, known map[string]*StoredRecord) (*fieldsyncv1.RowResult, error) {
	id := StockRecordID(in.p.TenantID, r.GetTerminalId(), r.GetProductId())
	out := &fieldsyncv1.RowResult{Index: uint32(i), RecordId: id}
	reject := func(format string, args ...any) (*fieldsyncv1.RowResult, error) {
		out.Outcome, out.Reason = fieldsyncv1.RowOutcome_ROW_OUTCOME_REJECTED, clipReason(fmt.Sprintf("rows[%d].", i)+fmt.Sprintf(format, args...))
		return out, nil
	}
	region := r.GetRegionId()
	if c := known[r.GetTerminalId()]; c != nil && c.Type == customerType && !c.State.Deleted() && c.Scope.Region != "" {
		region = c.Scope.Region
	} else if region == "" {
		return reject("region_id: required when terminal_id %q is not a known customer", r.GetTerminalId())
	} else if !in.regions[region] {
		return reject("region_id: no region %q in this tenant", region)
	}
	v := &fieldsyncv1.StockLevel{
		RegionId: region, TerminalId: r.GetTerminalId(), ProductId: r.GetProductId(),
		OnHand: r.GetOnHand(), SafetyStock: r.GetSafetyStock(),
		HistoricalPurchasePriceCents: r.GetHistoricalPurchasePriceCents(),
		AgreementPriceCents:          r.GetAgreementPriceCents(), Currency: r.GetCurrency(),
	}
	if cur := known[id]; cur != nil && cur.Type == string(stockType) && !cur.State.Deleted() && proto.Equal(cur.State.Value, v) {
		out.Outcome = fieldsyncv1.RowOutcome_ROW_OUTCOME_UNCHANGED
		return out, nil
	}
	at := Version{HLC: in.e.clock.Now(), Actor: in.p.Actor()}
	w := write{p: in.p, rt: in.rt, id: id, at: at, change: Change{Fields: AllFields(v), Value: v, At: at}}
	if _, err := in.e.write(in.tx, &w, in.batch); err != nil {
		if _, isDomain := rejectCodes[ErrorCode(err)]; !isDomain {
			return nil, err
		}
		return reject("%s", errMessage(err))
	}
	out.Outcome = fieldsyncv1.RowOutcome_ROW_OUTCOME_APPLIED
	return out, nil
}
