package syncengine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// IngestIDPrefix starts the record id of every record an integrator's bulk
// load (Ingest) writes; no other write may use such an id, so nothing can
// squat the id of a row an ERP will send.
const IngestIDPrefix = "ingest-"

// IngestRecordID is the record id of an integrator's row of a kind (e.g.
// "stock"), derived from the tenant and the integrator's own keys, so
// re-sending a row updates the same record.
func IngestRecordID(tenantID, kind string, keys ...string) string {
	h := sha256.Sum256([]byte(tenantID + "\x00" + strings.Join(keys, "\x00")))
	return IngestIDPrefix + kind + "-" + hex.EncodeToString(h[:16])
}

// checkIngestID refuses an id of the ingest prefix to every caller write
// but an ingest.
func checkIngestID(w *write) error {
	if w.p != nil && !w.ingest && strings.HasPrefix(w.id, IngestIDPrefix) {
		return Errorf(CodeInvalid, "record_id: ids starting with %q are reserved for integrators' bulk loads", IngestIDPrefix)
	}
	return nil
}

// IngestRow is one whole record of a bulk load.
type IngestRow struct {
	ID    string
	Value proto.Message
	// RegionFromType and RegionFromID name a record whose region the row
	// takes when it is live and has one; otherwise the row's own region
	// must be set and be one of the tenant's.
	RegionFromType, RegionFromID string
}

// Ingest writes an integrator's rows as whole records of one type in one
// transaction, as the API key p; regions holds the tenant's region ids. A
// row whose values the record already holds is left alone (no version, no
// event). The results are stored under requestID: a retry with the same
// id returns them (Replayed set) without writing again. Errors:
// CodePermissionDenied for a caller that is not a key holding the type's
// writer permission.
func (e *Engine) Ingest(ctx context.Context, p *Principal, recordType, requestID string, rows []IngestRow, regions map[string]bool) (*fieldsyncv1.UpsertStockResponse, error) {
	rt, ok := e.reg.Lookup(recordType)
	if !ok {
		return nil, Errorf(CodeInvalid, "unknown record type %q", recordType)
	}
	if p == nil || !p.IsAPIKey() {
		return nil, Errorf(CodePermissionDenied, "only API keys make bulk loads")
	}
	if err := checkKeyWrite(p, rt); err != nil {
		return nil, err
	}
	return e.ingestOnce(ctx, p, requestID, func(in *ingest) (*fieldsyncv1.UpsertStockResponse, error) {
		in.rt, in.regions = rt, regions
		return in.rows(rows)
	})
}

// ingestActor is the push-results key of a key's request: one stored
// result (seq 1) per request id.
func ingestActor(p *Principal, requestID string) string {
	h := sha256.Sum256([]byte(requestID))
	return p.Actor() + "/ingest/" + hex.EncodeToString(h[:16])
}

// ingest is one Ingest transaction.
type ingest struct {
	e       *Engine
	tx      Tx
	p       *Principal
	rt      *RecordType
	regions map[string]bool
	batch   *commitBatch
	written map[string]proto.Message // values this call wrote, by id
}

func (in *ingest) rows(rows []IngestRow) (*fieldsyncv1.UpsertStockResponse, error) {
	ids := make([]string, 0, 2*len(rows))
	for _, r := range rows {
		ids = append(ids, r.ID)
		if r.RegionFromID != "" {
			ids = append(ids, r.RegionFromID)
		}
	}
	known, err := in.tx.GetRecords(in.p.TenantID, ids)
	if err != nil {
		return nil, err
	}
	res := &fieldsyncv1.UpsertStockResponse{Results: make([]*fieldsyncv1.RowResult, len(rows))}
	for i := range rows {
		out, err := in.row(i, &rows[i], known)
		if err != nil {
			return nil, fmt.Errorf("rows[%d]: %w", i, err)
		}
		res.Results[i] = out
		count(res, out.Outcome)
	}
	return res, nil
}

// row writes one row. Domain errors become a rejected result.
func (in *ingest) row(i int, r *IngestRow, known map[string]*StoredRecord) (*fieldsyncv1.RowResult, error) {
	out := &fieldsyncv1.RowResult{Index: uint32(i), RecordId: r.ID}
	reject := func(reason string) (*fieldsyncv1.RowResult, error) {
		out.Outcome, out.Reason = fieldsyncv1.RowOutcome_ROW_OUTCOME_REJECTED, clipReason(fmt.Sprintf("rows[%d].", i)+reason)
		return out, nil
	}
	if reason := in.place(r, known); reason != "" {
		return reject(reason)
	}
	if in.holds(r, known) {
		out.Outcome = fieldsyncv1.RowOutcome_ROW_OUTCOME_UNCHANGED
		return out, nil
	}
	at := Version{HLC: in.e.clock.Now(), Actor: in.p.Actor()}
	w := write{p: in.p, rt: in.rt, id: r.ID, at: at, ingest: true, change: Change{Fields: AllFields(r.Value), Value: r.Value, At: at}}
	if _, err := in.e.write(in.tx, &w, in.batch); err != nil {
		if _, isDomain := rejectCodes[ErrorCode(err)]; !isDomain {
			return nil, err
		}
		return reject(errMessage(err))
	}
	in.written[r.ID] = r.Value
	out.Outcome = fieldsyncv1.RowOutcome_ROW_OUTCOME_APPLIED
	return out, nil
}

// holds reports whether the record already holds the row's values: as
// this call wrote them, or as stored before it.
func (in *ingest) holds(r *IngestRow, known map[string]*StoredRecord) bool {
	if v, ok := in.written[r.ID]; ok {
		return proto.Equal(v, r.Value)
	}
	cur := known[r.ID]
	return cur != nil && cur.Type == string(in.rt.Name) && !cur.State.Deleted() && proto.Equal(cur.State.Value, r.Value)
}

// place sets the row's region from the record it names, or checks its
// own; it returns why the row cannot be placed ("" when it can).
func (in *ingest) place(r *IngestRow, known map[string]*StoredRecord) string {
	fd := in.rt.Region
	if fd == nil {
		return ""
	}
	m := r.Value.ProtoReflect()
	if from := known[r.RegionFromID]; from != nil && from.Type == r.RegionFromType && !from.State.Deleted() && from.Scope.Region != "" {
		m.Set(fd, protoreflect.ValueOfString(from.Scope.Region))
		return ""
	}
	switch region := m.Get(fd).String(); {
	case region == "":
		return fmt.Sprintf("%s: required when %q is not a known record with a region", fd.Name(), r.RegionFromID)
	case !in.regions[region]:
		return fmt.Sprintf("%s: no region %q in this tenant", fd.Name(), region)
	}
	return ""
}
