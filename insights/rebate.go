package insights

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/records"
	"github.com/fieldsync/fieldsync/syncengine"
)

// A7: a rebate rule reaches the people who sell under it. Each of them
// gets one alert per version of the rule's terms, and the server records
// the rebate a submitted quote earns beside the device's own figure.

// MaxRebateRules is the most rebate rules of a tenant the server applies
// to a quote; further ones (by id) are ignored.
const MaxRebateRules = 1000

// rebateAudience are the roles that sell under rebate rules: reps (R2
// orders) and the store roles that write quotes.
var rebateAudience = []fieldsyncv1.Role{fieldsyncv1.Role_ROLE_REP, fieldsyncv1.Role_ROLE_STORE_STAFF, fieldsyncv1.Role_ROLE_STORE_MANAGER}

// RecordReader reads stored records: the rebate rules of a tenant and a
// quote's current state (sqlite.DB implements it).
type RecordReader interface {
	RecordsByType(ctx context.Context, tenantID, recordType string, limit int) ([]*syncengine.StoredRecord, error)
	GetRecords(ctx context.Context, tenantID string, ids []string) (map[string]*syncengine.StoredRecord, error)
}

// RegisterRebateMetrics creates the counter of quotes whose device rebate
// disagreed with the server's, registered with reg, for
// Consumer.RebateDisagreements.
func RegisterRebateMetrics(reg prometheus.Registerer) (prometheus.Counter, error) {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "fieldsync_rebate_disagreements_total",
		Help: "Submitted quotes whose device-computed rebate differs from the server's.",
	})
	return c, reg.Register(c)
}

// rebateRule evaluates A7 for a rule's new version: when the rule is in
// force now or later, every user of the audience roles in its region (the
// tenant, for a rule without region) who may read it gets one alert for
// this version of its terms.
func (h *handler) rebateRule(r *fieldsyncv1.RebateRule) error {
	if r.State != fieldsyncv1.RebateRuleState_REBATE_RULE_STATE_ACTIVE ||
		(r.ValidTo != nil && !h.ev.CommitTime.AsTime().Before(r.ValidTo.AsTime())) {
		return nil
	}
	to, err := h.ruleAudience(r.RegionId)
	if err != nil {
		return err
	}
	tmpl := &fieldsyncv1.Alert{
		Kind:             fieldsyncv1.AlertKind_ALERT_KIND_RULE_CHANGE,
		Title:            rebateTitle(r),
		Body:             rebateBody(r),
		RelatedRecordIds: []string{h.ev.RecordId},
		Params:           rebateParams(r),
	}
	return h.raise("A7:"+h.ev.RecordId+":"+ruleTerms(r), tmpl, to)
}

// ruleAudience lists the users of the audience roles in a region (every
// region when empty) who may read a rule placed there.
func (w *work) ruleAudience(regionID string) ([]string, error) {
	var ids []string
	for _, role := range rebateAudience {
		users, err := w.tx.UsersByRole(w.tenantID, role, regionID, "")
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			ids = append(ids, u.ID)
		}
	}
	readers, err := w.readers(ids)
	if err != nil {
		return nil, err
	}
	to := recipients{}
	for _, rd := range readers {
		if rd.canRead(records.RebateRuleType, Scope{RegionID: regionID}) {
			to[rd.id] = true
		}
	}
	return to.list(), nil
}

// ruleTerms identifies a version of a rule's terms: everything but its
// name, so renaming a rule alerts nobody again.
func ruleTerms(r *fieldsyncv1.RebateRule) string {
	c := proto.Clone(r).(*fieldsyncv1.RebateRule)
	c.Name = ""
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

func rebateTitle(r *fieldsyncv1.RebateRule) string {
	if r.Revision > 0 {
		return fmt.Sprintf("Rebate rule changed: %s (v%d)", r.Name, r.Revision)
	}
	return "Rebate rule changed: " + r.Name
}

// rebateParams are A7's named facts: the rule, its revision and validity.
func rebateParams(r *fieldsyncv1.RebateRule) []*fieldsyncv1.AlertParam {
	kv := []string{"rule", r.Name, "revision", strconv.FormatInt(int64(r.Revision), 10), "valid_from", r.ValidFrom.AsTime().Format(time.DateOnly)}
	if r.ValidTo != nil {
		kv = append(kv, "valid_to", r.ValidTo.AsTime().Format(time.DateOnly))
	}
	return alertParams(kv...)
}

// rebateBody lists the rule's products, tiers and validity.
func rebateBody(r *fieldsyncv1.RebateRule) string {
	unit := "units"
	if r.Basis == fieldsyncv1.RebateBasis_REBATE_BASIS_AMOUNT {
		unit = "fen"
	}
	body := fmt.Sprintf("Products %v, valid from %s", r.ProductIds, r.ValidFrom.AsTime().Format(time.DateOnly))
	if r.ValidTo != nil {
		body += " until " + r.ValidTo.AsTime().Format(time.DateOnly)
	}
	for _, t := range r.Tiers {
		rate := fmt.Sprintf("%s per unit", money(t.PerUnitCents, r.Currency))
		if t.BasisPoints > 0 {
			rate = fmt.Sprintf("%d.%02d%%", t.BasisPoints/100, t.BasisPoints%100)
		}
		body += fmt.Sprintf("\nFrom %d %s: %s", t.Min, unit, rate)
	}
	return body + "\nOpen a quote to see what it earns now."
}

// quoteRebateFields are the server-only fields the server records.
var quoteRebateFields = []string{"rebate_server_cents", "rebate_server_rule_id", "rebate_recorded_time"}

// recordRebates records, on every submitted quote among evs whose rebate
// the server has not recorded yet, the rebate it earns under the tenant's
// rules at the event's commit (the server's receipt of the submit), and
// logs and counts a disagreement with the device's figure. A quote
// recorded once keeps its figure: redelivery changes nothing. A write the
// engine refuses for good is logged and skipped; another failure is
// returned, so the batch is delivered again and the recording retried.
func (c *Consumer) recordRebates(ctx context.Context, evs []*fieldsyncv1.ChangeEvent) error {
	if c.Alerts == nil {
		return nil // nothing to write with (a consumer computing PHI only)
	}
	for _, ev := range evs {
		if ev.Op != fieldsyncv1.ChangeOp_CHANGE_OP_UPSERT || ev.RecordType != quoteType {
			continue
		}
		q := &fieldsyncv1.Quote{}
		if err := ev.Value.UnmarshalTo(q); err != nil {
			return syncengine.Errorf(syncengine.CodeInvalid, "change event %s: value: %v", ev.EventId, err)
		}
		if q.Status != fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED || q.RebateRecordedTime != nil {
			continue
		}
		err := c.recordRebate(ctx, ev, q)
		switch {
		case err != nil && permanentFailure(err):
			c.logger().Error("insights: cannot record a quote's rebate", "tenant", ev.TenantId, "quote", ev.RecordId, "err", err)
		case err != nil:
			return fmt.Errorf("record rebate of quote %s: %w", ev.RecordId, err)
		}
	}
	return nil
}

func (c *Consumer) recordRebate(ctx context.Context, ev *fieldsyncv1.ChangeEvent, q *fieldsyncv1.Quote) error {
	rd := c.records()
	if rd == nil {
		return nil // no store to read the rules from (see records)
	}
	cur, err := rd.GetRecords(ctx, ev.TenantId, []string{ev.RecordId})
	if err != nil {
		return err
	}
	if rec := cur[ev.RecordId]; rec == nil || rec.State.Deleted() || rec.State.Value.(*fieldsyncv1.Quote).RebateRecordedTime != nil {
		return nil
	}
	stored, err := rd.RecordsByType(ctx, ev.TenantId, records.RebateRuleType, MaxRebateRules)
	if err != nil {
		return err
	}
	rules := make([]records.RebateRuleRecord, 0, len(stored))
	for _, s := range stored {
		rules = append(rules, records.RebateRuleRecord{ID: s.ID, Rule: s.State.Value.(*fieldsyncv1.RebateRule)})
	}
	at := ev.CommitTime.AsTime()
	res := records.Rebate(q, rules, at)
	v := &fieldsyncv1.Quote{RebateServerCents: res.EarnedCents, RebateServerRuleId: res.RuleID, RebateRecordedTime: timestamppb.New(at)}
	if _, err := c.Alerts.ServerWrite(ctx, ev.TenantId, quoteType, ev.RecordId, v, quoteRebateFields); err != nil {
		return err
	}
	if res.EarnedCents != q.RebateDeviceCents || res.RuleID != q.RebateDeviceRuleId {
		c.logger().Warn("insights: device and server disagree on a quote's rebate", "tenant", ev.TenantId, "quote", ev.RecordId,
			"device", ev.DeviceId, "device_cents", q.RebateDeviceCents, "device_rule", q.RebateDeviceRuleId,
			"server_cents", res.EarnedCents, "server_rule", res.RuleID)
		if c.RebateDisagreements != nil {
			c.RebateDisagreements.Inc()
		}
	}
	return nil
}

// records is Records, else the insights store when it reads records too
// (storage/sqlite's does), else nil: quotes then get no server figure.
func (c *Consumer) records() RecordReader {
	if c.Records != nil {
		return c.Records
	}
	if rd, ok := c.DB.(RecordReader); ok {
		return rd
	}
	return nil
}
