package fieldsync

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// errNoProgress: the server answered a push without a result for any of
// its mutations; retrying the same batch would loop forever.
var errNoProgress = errors.New("the server answered none of the batch's mutations")

// push sends the outbox's pending entries in seq order, one batch at a
// time, storing each answer before sending the next batch.
func (c *Client) push(ctx context.Context, b *backoff) error {
	for {
		batch, err := pendingHead(ctx, c.db.read, c.cfg.batchSize)
		if err != nil || len(batch) == 0 {
			return err
		}
		status, err := c.wireStatus(ctx, batch[len(batch)-1].Seq)
		if err != nil {
			return err
		}
		req := &fieldsyncv1.PushRequest{Mutations: make([]*fieldsyncv1.Mutation, len(batch)), Status: status}
		for i := range batch {
			req.Mutations[i] = batch[i].toWire()
		}
		res, err := c.rpc.Push(ctx, connect.NewRequest(req))
		if gap := sequenceGap(err); gap != nil {
			if err := c.resequence(ctx, batch[0].Seq, gap.GetExpectedSeq()); err != nil {
				return fmt.Errorf("push: %w", err)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("push seq %d-%d: %w", batch[0].Seq, batch[len(batch)-1].Seq, err)
		}
		b.reset()
		if err := c.storeResults(ctx, batch, res.Msg); err != nil {
			return fmt.Errorf("push: %w", err)
		}
	}
}

// sequenceGap returns the SequenceGap detail of an Aborted push, or nil.
func sequenceGap(err error) *fieldsyncv1.SequenceGap {
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeAborted {
		return nil
	}
	for _, d := range ce.Details() {
		if v, derr := d.Value(); derr == nil {
			if gap, ok := v.(*fieldsyncv1.SequenceGap); ok {
				return gap
			}
		}
	}
	return nil
}

// storeResults records a push's answers in one transaction: applied
// entries are acked (their fields that lost the merge noted), rejected ones
// leave the outbox for the rejections list, conflicts are kept, views
// touched by a loss or a rejection are rebuilt, and the server's HLC joins
// the device clock. A resent seq's answer is its first one; it is stored the
// same way. An answer that belongs to another mutation (see collides) is
// not taken: the unanswered entries move after the server's last seq.
func (c *Client) storeResults(ctx context.Context, batch []entry, res *fieldsyncv1.PushResponse) error {
	bySeq := make(map[uint64]*entry, len(batch))
	for i := range batch {
		bySeq[batch[i].Seq] = &batch[i]
	}
	return c.db.update(ctx, func(tx *sql.Tx) error {
		touched, answered, collided := map[string]bool{}, 0, false
		for _, r := range res.GetResults() {
			e := bySeq[r.GetSeq()]
			switch {
			case e == nil:
				continue
			case collides(e, r):
				collided = true
				continue
			}
			answered++
			if err := c.storeResult(ctx, tx, e, r); err != nil {
				return err
			}
			if r.GetOutcome() == fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_REJECTED || len(r.GetLostFields()) > 0 {
				touched[e.RecordID] = true
			}
		}
		if err := c.afterResults(ctx, tx, res, touched, answered, collided); err != nil {
			return err
		}
		return setMeta(ctx, tx, "hlc", int64(c.clock.Observe(res.GetServerHlc())))
	})
}

// afterResults rebuilds the touched views and renumbers after a collision.
func (c *Client) afterResults(ctx context.Context, tx *sql.Tx, res *fieldsyncv1.PushResponse, touched map[string]bool, answered int, collided bool) error {
	if collided {
		c.cfg.logger.WarnContext(ctx, "fieldsync: the server holds other mutations under this device's seqs (store reinstalled or restored?); renumbering the outbox",
			"server_last_seq", res.GetLastSeq())
		if err := renumber(ctx, tx, res.GetLastSeq()+1); err != nil {
			return err
		}
	} else if answered == 0 {
		return errNoProgress
	}
	for id := range touched {
		if err := refresh(ctx, tx, id); err != nil {
			return err
		}
	}
	return nil
}

// collides reports whether an answer is for another mutation that the
// server applied under the entry's seq earlier: the device token was used
// by another store (a reinstall, a restored backup) whose seqs the server
// already holds. Taking that answer would drop the entry unapplied.
func collides(e *entry, r *fieldsyncv1.MutationResult) bool {
	if r.GetRecordId() != e.RecordID {
		return true
	}
	return r.GetAppliedHlc() != 0 && r.GetClampedSkewMs() == 0 && r.GetAppliedHlc() != e.HLC
}

func (c *Client) storeResult(ctx context.Context, tx *sql.Tx, e *entry, r *fieldsyncv1.MutationResult) error {
	for _, cf := range r.GetConflicts() {
		if err := c.insertConflict(ctx, tx, cf); err != nil {
			return err
		}
	}
	if r.GetOutcome() == fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_REJECTED {
		if err := c.insertRejection(ctx, tx, e, r); err != nil {
			return err
		}
		return deleteEntry(ctx, tx, e.Seq)
	}
	return ackEntry(ctx, tx, e.Seq, r.GetLostFields())
}

func (c *Client) insertConflict(ctx context.Context, tx *sql.Tx, cf *fieldsyncv1.Conflict) error {
	b, err := proto.Marshal(cf)
	if err != nil {
		return fmt.Errorf("encode conflict %d: %w", cf.GetId(), err)
	}
	_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO conflicts (id, record_id, wire, received_at) VALUES (?, ?, ?, ?)`,
		cf.GetId(), cf.GetRecordId(), b, c.cfg.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("store conflict %d: %w", cf.GetId(), err)
	}
	return nil
}

func (c *Client) insertRejection(ctx context.Context, tx *sql.Tx, e *entry, r *fieldsyncv1.MutationResult) error {
	_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO rejections (seq, type, record_id, fields, value, del, hlc, created_at, code, reason, rejected_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.Seq, e.Type, e.RecordID, joinFields(e.Fields), e.Value, e.Delete, e.HLC,
		e.Created.UnixMilli(), int32(r.GetRejectCode()), r.GetReason(), c.cfg.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("store rejection of seq %d: %w", e.Seq, err)
	}
	return nil
}

// resequence answers a SequenceGap: the server expects seq next while the
// outbox's first pending entry is first. Entries below next were applied
// (their answers are lost): they are acked. When next is below first, the
// server has lost seqs it had acknowledged (a restore from backup): entries
// from next on that are still in the outbox are marked pending again and
// every pending entry is renumbered from next, so the device can go on.
func (c *Client) resequence(ctx context.Context, first, next uint64) error {
	if next == first {
		return fmt.Errorf("server expects seq %d, which it was sent", next)
	}
	return c.db.update(ctx, func(tx *sql.Tx) error {
		if next > first {
			_, err := tx.ExecContext(ctx, `UPDATE outbox SET acked = 1 WHERE acked = 0 AND seq < ?`, next)
			return err
		}
		c.cfg.logger.WarnContext(ctx, "fieldsync: the server lost acknowledged seqs; renumbering the outbox", "expected_seq", next, "first_pending", first)
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET acked = 0, lost = '' WHERE seq >= ?`, next); err != nil {
			return err
		}
		return renumber(ctx, tx, next)
	})
}

// renumber gives the pending entries consecutive seqs from next, in order,
// and moves next_seq after them.
func renumber(ctx context.Context, tx *sql.Tx, next uint64) error {
	rows, err := tx.QueryContext(ctx, `SELECT seq FROM outbox WHERE acked = 0 ORDER BY seq`)
	if err != nil {
		return err
	}
	var seqs []uint64
	for rows.Next() {
		var s uint64
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return err
		}
		seqs = append(seqs, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for i, s := range seqs {
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET seq = ? WHERE seq = ?`, next+uint64(i), s); err != nil {
			return fmt.Errorf("renumber seq %d: %w", s, err)
		}
	}
	return setMeta(ctx, tx, "next_seq", int64(next)+int64(len(seqs)))
}
