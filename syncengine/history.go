package syncengine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// HistoryPermission is the API-key permission that imports a team's past
// records (ImportHistory).
const HistoryPermission = "history:import"

// HistoryRow is one past record of an import.
type HistoryRow struct {
	// ID is the record id: IngestRecordID of the row's kind and source id.
	ID string
	// Value is the whole record. Scope fields left empty are placed as for
	// a device's write (a record naming a customer takes its place).
	Value proto.Message
	// Field names the row's value in its request ("visit"): rejections
	// of the value read rows[i].<Field>.<field>.
	Field string
	// At is when the record happened: its change event's commit time, the
	// time PHI and the rules count it at. A new record's version (HLC)
	// starts there too, so a diagnosis is created then.
	At time.Time
	// Reject, when set, rejects the row with this reason, relative to the
	// row ("event_time: required"): the caller's own checks.
	Reject string
}

// ImportHistory writes an integrator's past records in one transaction, as
// the API key p, which must hold HistoryPermission. Records are placed and
// validated as a device's writes are, and each change event carries the
// row's At as its commit time. A row whose values the record already holds
// is left alone. The results are stored under requestID: a retry with the
// same id returns them (Replayed set) without writing again.
func (e *Engine) ImportHistory(ctx context.Context, p *Principal, requestID string, rows []HistoryRow) (*fieldsyncv1.UpsertStockResponse, error) {
	if p == nil || !p.IsAPIKey() || !p.Can(HistoryPermission) {
		return nil, Errorf(CodePermissionDenied, "importing history needs an API key with the permission %q", HistoryPermission)
	}
	return e.ingestOnce(ctx, p, "history/"+requestID, func(in *ingest) (*fieldsyncv1.UpsertStockResponse, error) {
		return in.history(rows)
	})
}

func (in *ingest) history(rows []HistoryRow) (*fieldsyncv1.UpsertStockResponse, error) {
	ids := make([]string, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	known, err := in.tx.GetRecords(in.p.TenantID, ids)
	if err != nil {
		return nil, err
	}
	res := &fieldsyncv1.UpsertStockResponse{Results: make([]*fieldsyncv1.RowResult, len(rows))}
	for i := range rows {
		out, err := in.historyRow(i, &rows[i], known)
		if err != nil {
			return nil, fmt.Errorf("rows[%d]: %w", i, err)
		}
		res.Results[i] = out
		count(res, out.Outcome)
	}
	return res, nil
}

func count(res *fieldsyncv1.UpsertStockResponse, o fieldsyncv1.RowOutcome) {
	switch o {
	case fieldsyncv1.RowOutcome_ROW_OUTCOME_APPLIED:
		res.Applied++
	case fieldsyncv1.RowOutcome_ROW_OUTCOME_UNCHANGED:
		res.Unchanged++
	default:
		res.Rejected++
	}
}

// historyRow writes one past record. Domain errors become a rejected result.
func (in *ingest) historyRow(i int, r *HistoryRow, known map[string]*StoredRecord) (*fieldsyncv1.RowResult, error) {
	out := &fieldsyncv1.RowResult{Index: uint32(i), RecordId: r.ID}
	reject := func(reason string) (*fieldsyncv1.RowResult, error) {
		out.Outcome, out.Reason = fieldsyncv1.RowOutcome_ROW_OUTCOME_REJECTED, clipReason(fmt.Sprintf("rows[%d].", i)+reason)
		return out, nil
	}
	if r.Reject != "" {
		return reject(r.Reject)
	}
	if _, ahead := in.e.clock.Bound(MakeHLC(r.At.UnixMilli(), 0), in.e.cfg.MaxClockSkew); ahead > 0 || r.At.IsZero() {
		return reject(fmt.Sprintf("event_time: %s is not a past time of the server's clock", r.At.UTC().Format(time.RFC3339)))
	}
	rt, ok := in.e.reg.Lookup(string(r.Value.ProtoReflect().Descriptor().FullName()))
	if !ok || rt.Options.GetServerCreated() || rt.Options.GetSensitive() {
		return reject(fmt.Sprintf("%s: records of this type are not imported", r.Field))
	}
	holds, frozen := in.holdsHistory(rt, r, known)
	if holds {
		out.Outcome = fieldsyncv1.RowOutcome_ROW_OUTCOME_UNCHANGED
		if len(frozen) > 0 {
			out.Outcome, out.KeptFields = fieldsyncv1.RowOutcome_ROW_OUTCOME_REJECTED, frozen
			out.Reason = clipReason(keptReason(i, r.Field, frozen, LossFrozen))
		}
		return out, nil
	}
	at := Version{HLC: in.e.clock.Now(), Actor: in.p.Actor()}
	if _, seen := in.written[r.ID]; !seen && known[r.ID] == nil {
		at.HLC = MakeHLC(r.At.UnixMilli(), 0) // created when it happened
	}
	w := write{p: in.p, rt: rt, id: r.ID, at: at, ingest: true, history: true, eventTime: r.At,
		change: Change{Fields: historyMask(rt, r.Value), Value: r.Value, At: at}}
	o, err := in.e.write(in.tx, &w, in.batch)
	if err != nil {
		if _, isDomain := rejectCodes[ErrorCode(err)]; !isDomain {
			return nil, err
		}
		return reject(r.Field + "." + errMessage(err))
	}
	in.written[r.ID] = r.Value
	out.Outcome = fieldsyncv1.RowOutcome_ROW_OUTCOME_APPLIED
	var reasons []string
	for _, l := range o.losses {
		if l.LosingAt == at { // the row's value lost, not a stored one
			out.KeptFields = append(out.KeptFields, l.Field)
			reasons = append(reasons, keptReason(i, r.Field, []string{l.Field}, l.Reason))
		}
	}
	if len(reasons) > 0 {
		out.Reason = clipReason(strings.Join(reasons, "; "))
		if o.version == 0 {
			out.Outcome = fieldsyncv1.RowOutcome_ROW_OUTCOME_REJECTED // nothing of the row was written
		}
	}
	return out, nil
}

// keptReason says that the record kept its stored value of fields instead
// of rows[i]'s, and why (a Loss reason).
func keptReason(i int, record string, fields []string, why string) string {
	names := make([]string, len(fields))
	for j, f := range fields {
		names[j] = fmt.Sprintf("rows[%d].%s.%s", i, record, f)
	}
	return strings.Join(names, ", ") + ": " + why + "; the record kept its stored value"
}

// historyMask is every field of the type but the server-only ones the
// value leaves unset (one it sets is refused by the merge, naming it).
func historyMask(rt *RecordType, v proto.Message) []string {
	m := v.ProtoReflect()
	var out []string
	for name, spec := range rt.Fields {
		if spec.Merge != fieldsyncv1.MergePolicy_MERGE_POLICY_SERVER_ONLY || m.Has(spec.Desc) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// holdsHistory reports whether the record already holds the row's values,
// as this call wrote them or as stored before it, apart from what the
// server fills in (the scope fields the row leaves empty, server-only
// fields) and, for a submitted record, the fields frozen after submit:
// those the row would change are returned, sorted (a write could not
// change them).
func (in *ingest) holdsHistory(rt *RecordType, r *HistoryRow, known map[string]*StoredRecord) (holds bool, frozen []string) {
	if v, ok := in.written[r.ID]; ok {
		return proto.Equal(v, r.Value), nil
	}
	cur := known[r.ID]
	if cur == nil || cur.Type != string(rt.Name) || cur.State.Deleted() {
		return false, nil
	}
	stored := proto.Clone(cur.State.Value).ProtoReflect()
	row := r.Value.ProtoReflect()
	var keptRow protoreflect.Message // the row with the frozen fields it would change set as stored
	submitted := rt.Submitted(cur.State.Value)
	for _, spec := range rt.Fields {
		filled := spec.Scope != fieldsyncv1.ScopeKey_SCOPE_KEY_UNSPECIFIED && !row.Has(spec.Desc)
		switch {
		case filled || spec.Merge == fieldsyncv1.MergePolicy_MERGE_POLICY_SERVER_ONLY:
			stored.Clear(spec.Desc)
		case submitted && spec.Merge == fieldsyncv1.MergePolicy_MERGE_POLICY_FROZEN_AFTER_SUBMIT && !rt.fieldEqual(stored, row, spec.Desc):
			if keptRow == nil {
				keptRow = proto.Clone(r.Value).ProtoReflect()
			}
			if stored.Has(spec.Desc) {
				keptRow.Set(spec.Desc, stored.Get(spec.Desc))
			} else {
				keptRow.Clear(spec.Desc)
			}
			frozen = append(frozen, string(spec.Desc.Name()))
		}
	}
	if keptRow == nil {
		return proto.Equal(stored.Interface(), r.Value), nil
	}
	slices.Sort(frozen)
	return proto.Equal(stored.Interface(), keptRow.Interface()), frozen
}

// ingestOnce runs one bulk load's transaction under its request id: the
// results of an earlier call with the same id are returned (Replayed set)
// without running apply again.
func (e *Engine) ingestOnce(ctx context.Context, p *Principal, requestID string, apply func(*ingest) (*fieldsyncv1.UpsertStockResponse, error)) (*fieldsyncv1.UpsertStockResponse, error) {
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
		in := ingest{e: e, tx: tx, p: p, batch: &batch, written: map[string]proto.Message{}}
		if res, err = apply(&in); err != nil {
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

// checkWriter is checkWriter for the write's caller; a history import's
// key holds HistoryPermission instead of the type's writer permission.
func (w *write) checkWriter() error {
	if w.history {
		return nil
	}
	return checkWriter(w.p, w.rt)
}

// checkWrite is CheckWrite for the write; see checkWriter.
func (w *write) checkWrite(before *Scope, after Scope) error {
	if w.history {
		return nil
	}
	return CheckWrite(w.p, w.rt, before, after)
}
