package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// visitFlags are the visit fields settable from the command line.
type visitFlags struct {
	fs                                  *flag.FlagSet
	customer, notes, kind, tags, status *string
	coreProblem, commitments, nextAppt  *string
	visitTime                           *string
}

func addVisitFlags(fs *flag.FlagSet) *visitFlags {
	return &visitFlags{
		fs:          fs,
		customer:    fs.String("customer", "", "customer record id"),
		notes:       fs.String("notes", "", "free notes"),
		kind:        fs.String("kind", "routine", "routine, clinical_director, procurement or store_customer"),
		tags:        fs.String("tags", "", "action tags, comma-separated (first_contact, price_negotiation, …)"),
		status:      fs.String("status", "draft", "draft or submitted"),
		coreProblem: fs.String("core-problem", "", "clinical-director visits: core problem solved"),
		commitments: fs.String("commitments", "", "clinical-director visits: follow-up commitments"),
		nextAppt:    fs.String("next-appointment", "", "clinical-director visits: next appointment (RFC 3339)"),
		visitTime:   fs.String("time", "", "visit time (RFC 3339; create defaults to now)"),
	}
}

// flagFields maps flag names to the Visit fields they set.
var flagFields = map[string]string{
	"customer": "customer_id", "notes": "notes", "kind": "kind", "tags": "action_tags", "status": "status",
	"core-problem": "core_problem_solved", "commitments": "follow_up_commitments",
	"next-appointment": "next_appointment_time", "time": "visit_time",
}

// visit builds the Visit the flags describe.
func (v *visitFlags) visit() (*fieldsyncv1.Visit, error) {
	out := &fieldsyncv1.Visit{
		CustomerId: *v.customer, Notes: *v.notes, ActionTags: splitList(*v.tags),
		CoreProblemSolved: *v.coreProblem, FollowUpCommitments: *v.commitments,
	}
	kind, ok := fieldsyncv1.VisitKind_value["VISIT_KIND_"+strings.ToUpper(*v.kind)]
	if !ok || kind == 0 {
		return nil, fmt.Errorf("--kind %q: want routine, clinical_director, procurement or store_customer", *v.kind)
	}
	status, ok := fieldsyncv1.RecordStatus_value["RECORD_STATUS_"+strings.ToUpper(*v.status)]
	if !ok || status == 0 {
		return nil, fmt.Errorf("--status %q: want draft or submitted", *v.status)
	}
	out.Kind, out.Status = fieldsyncv1.VisitKind(kind), fieldsyncv1.RecordStatus(status)
	var err error
	if out.VisitTime, err = parseTime("time", *v.visitTime); err != nil {
		return nil, err
	}
	out.NextAppointmentTime, err = parseTime("next-appointment", *v.nextAppt)
	return out, err
}

func parseTime(flagName, s string) (*timestamppb.Timestamp, error) {
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flagName, err)
	}
	return timestamppb.New(t), nil
}

// setFields lists the Visit fields of the flags given on the command line.
func (v *visitFlags) setFields() []string {
	var out []string
	v.fs.Visit(func(f *flag.Flag) {
		if field, ok := flagFields[f.Name]; ok {
			out = append(out, field)
		}
	})
	return out
}

func setupVisitCreate(fs *flag.FlagSet) deviceRun {
	vf := addVisitFlags(fs)
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		v, err := vf.visit()
		if err != nil {
			return err
		}
		if *vf.customer == "" {
			return fmt.Errorf("%w: fieldsync device visit create --customer <id> [--notes …]", errUsage)
		}
		if v.VisitTime == nil {
			v.VisitTime = timestamppb.Now()
		}
		id := c.NewID()
		if err := c.Put(ctx, id, v); err != nil {
			return err
		}
		return printRecord(ctx, c, out, "fieldsync.v1.Visit", id)
	}
}

func setupVisitEdit(fs *flag.FlagSet) deviceRun {
	vf := addVisitFlags(fs)
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		if len(args) != 1 || len(vf.setFields()) == 0 {
			return fmt.Errorf("%w: fieldsync device visit edit <id> [--notes …] [--tags …] (at least one field)", errUsage)
		}
		v, err := vf.visit()
		if err != nil {
			return err
		}
		id := args[0]
		if found, err := c.Get(ctx, "fieldsync.v1.Visit", id, &fieldsyncv1.Visit{}); err != nil || !found {
			return fmt.Errorf("visit %s: not on this device (%v)", id, err)
		}
		if err := c.Put(ctx, id, v, vf.setFields()...); err != nil {
			return err
		}
		return printRecord(ctx, c, out, "fieldsync.v1.Visit", id)
	}
}
