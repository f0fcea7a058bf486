package syncengine

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// Mutation is one change a device (or key) made to one record, decoded
// from the wire.
type Mutation struct {
	Seq      uint64
	Type     string
	RecordID string
	Value    proto.Message // of Type; nil for deletes
	Fields   []string      // the field mask
	Delete   bool
	HLC      HLC
	// DecodeErr is set when the wire form could not be decoded; the mutation
	// is rejected with this reason without blocking the batch.
	DecodeErr error
}

// PushResult is the answer to a push: one result per mutation, in order.
type PushResult struct {
	Results   []*fieldsyncv1.MutationResult
	ServerHLC HLC
	LastSeq   uint64
}

// Push applies a batch of the caller's mutations in seq order, exactly once,
// in one transaction committed before it returns. A seq already applied
// returns its stored first result. Errors: CodeSequenceGap (detail
// *fieldsyncv1.SequenceGap) when the first new seq is not the next expected
// one; CodeInvalid when the batch's seqs are not consecutive;
// CodePermissionDenied for a caller that may not push at all. Invalid or
// forbidden mutations are rejected in their results instead.
func (e *Engine) Push(ctx context.Context, p *Principal, muts []Mutation) (*PushResult, error) {
	if p == nil || (!p.IsDevice() && !p.IsAPIKey()) {
		return nil, Errorf(CodePermissionDenied, "only devices and API keys push")
	}
	if err := checkConsecutive(muts); err != nil {
		return nil, err
	}
	res := &PushResult{}
	var batch commitBatch
	preps := e.prepare(muts) // beside the transaction: see prepared
	err := preps.beside(e, p, muts, func() error {
		return e.store.Update(ctx, func(tx Tx) error {
			batch = commitBatch{}
			res.Results = res.Results[:0]
			last, err := tx.LastSeq(p.Actor())
			if err != nil {
				return err
			}
			if tx, err = e.readAhead(tx, p, muts, last); err != nil {
				return err
			}
			for i := range muts {
				r, err := e.pushOne(tx, p, &muts[i], preps.take(i), &last, &batch)
				if err != nil {
					return fmt.Errorf("apply mutation %d: %w", muts[i].Seq, err)
				}
				res.Results = append(res.Results, r)
			}
			res.LastSeq = last
			return tx.SetLastSeq(p.Actor(), last)
		})
	})
	if err != nil {
		return nil, err
	}
	res.ServerHLC = e.clock.Now()
	e.committed(p.TenantID, batch.version, batch.scopes)
	return res, nil
}

// checkConsecutive refuses batches whose seqs do not count up by one.
func checkConsecutive(muts []Mutation) error {
	for i := 1; i < len(muts); i++ {
		if muts[i].Seq != muts[i-1].Seq+1 {
			return Errorf(CodeInvalid, "mutations[%d].seq: %d follows %d; seqs in a batch must count up by one", i, muts[i].Seq, muts[i-1].Seq)
		}
	}
	return nil
}

// pushOne applies one mutation, or returns its stored result when already applied.
func (e *Engine) pushOne(tx Tx, p *Principal, m *Mutation, pr *prepared, last *uint64, batch *commitBatch) (*fieldsyncv1.MutationResult, error) {
	switch {
	case m.Seq <= *last:
		return storedResult(tx, p.Actor(), m)
	case m.Seq != *last+1:
		return nil, Errorf(CodeSequenceGap, "seq %d skips ahead: the next expected seq is %d; resend from it", m.Seq, *last+1).
			WithDetail(&fieldsyncv1.SequenceGap{ExpectedSeq: *last + 1, ReceivedSeq: m.Seq})
	}
	r, err := e.apply(tx, p, m, pr, batch)
	if err != nil {
		return nil, err
	}
	b, err := proto.Marshal(r)
	if err != nil {
		return nil, err
	}
	if err := tx.SavePushResult(p.Actor(), m.Seq, b); err != nil {
		return nil, err
	}
	*last = m.Seq
	return r, nil
}

func storedResult(tx Tx, actor string, m *Mutation) (*fieldsyncv1.MutationResult, error) {
	b, ok, err := tx.PushResult(actor, m.Seq)
	if err != nil {
		return nil, err
	}
	r := &fieldsyncv1.MutationResult{}
	if !ok {
		// Results older than the retention window are gone; the seq was applied.
		r.Seq, r.RecordId, r.Outcome = m.Seq, m.RecordID, fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED
		r.Reason = "applied earlier; its detailed result has expired"
		return r, nil
	}
	if err := proto.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("decode stored result: %w", err)
	}
	r.Reason = clipReason(r.Reason) // stored before reasons were clipped
	return r, nil
}

// rejected builds the result of a refused mutation.
func rejected(m *Mutation, code fieldsyncv1.RejectCode, reason string) *fieldsyncv1.MutationResult {
	return &fieldsyncv1.MutationResult{
		Seq: m.Seq, RecordId: m.RecordID,
		Outcome:    fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_REJECTED,
		RejectCode: code, Reason: clipReason(reason),
	}
}

// maxReason bounds a result's reason: it is stored for replays and may
// quote what the device sent.
const maxReason = 512

// clipReason cuts reason to maxReason bytes at a rune boundary.
func clipReason(reason string) string {
	if len(reason) <= maxReason {
		return reason
	}
	cut := maxReason - len("…")
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut--
	}
	return reason[:cut] + "…"
}

// rejectCodes maps domain error codes to the reject codes of a result.
var rejectCodes = map[Code]fieldsyncv1.RejectCode{
	CodeInvalid:            fieldsyncv1.RejectCode_REJECT_CODE_INVALID,
	CodeFailedPrecondition: fieldsyncv1.RejectCode_REJECT_CODE_INVALID,
	CodePermissionDenied:   fieldsyncv1.RejectCode_REJECT_CODE_PERMISSION_DENIED,
	CodeNotFound:           fieldsyncv1.RejectCode_REJECT_CODE_NOT_FOUND,
}

// apply merges one new mutation. Domain errors become a rejected result;
// other errors abort the transaction.
// pr is the mutation's create prepared ahead (nil for none).
func (e *Engine) apply(tx Tx, p *Principal, m *Mutation, pr *prepared, batch *commitBatch) (*fieldsyncv1.MutationResult, error) {
	rt, ok := e.reg.Lookup(m.Type)
	if !ok {
		return rejected(m, fieldsyncv1.RejectCode_REJECT_CODE_UNKNOWN_TYPE, fmt.Sprintf("record_type: unknown record type %q", m.Type)), nil
	}
	if m.DecodeErr != nil {
		return rejected(m, fieldsyncv1.RejectCode_REJECT_CODE_INVALID, m.DecodeErr.Error()), nil
	}
	at, skew := e.clock.Bound(m.HLC, e.cfg.MaxClockSkew)
	if next := e.clock.Update(at); skew > 0 {
		// Clamped values would tie with each other: take a fresh server HLC.
		at = next
	}
	w := write{p: p, rt: rt, id: m.RecordID, at: Version{HLC: at, Actor: p.Actor()},
		change: Change{Fields: m.Fields, Value: m.Value, Delete: m.Delete, At: Version{HLC: at, Actor: p.Actor()}}, prep: pr}
	out, err := e.write(tx, &w, batch)
	if err != nil {
		code, isDomain := rejectCodes[ErrorCode(err)]
		if !isDomain {
			return nil, err
		}
		if errors.Is(err, ErrServerOnlyField) {
			code = fieldsyncv1.RejectCode_REJECT_CODE_SERVER_ONLY_FIELD
		}
		return rejected(m, code, errMessage(err)), nil
	}
	r := out.result(m)
	r.ClampedSkewMs = skew.Milliseconds()
	hideWriters(p, r.Conflicts)
	return r, nil
}

// errMessage is a domain error's caller-facing message.
func errMessage(err error) string {
	var de *Error
	if errors.As(err, &de) {
		return de.Message
	}
	return err.Error()
}
