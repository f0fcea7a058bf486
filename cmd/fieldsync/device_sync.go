package main

import (
	"context"
	"flag"
	"io"
	"time"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"
)

func setupSync(fs *flag.FlagSet) deviceRun {
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		if err := c.Sync(ctx); err != nil {
			return err
		}
		return printStatus(ctx, c, out)
	}
}

func setupWatch(fs *flag.FlagSet) deviceRun {
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		if err := c.Watch(ctx); err != nil {
			return err
		}
		return printStatus(context.WithoutCancel(ctx), c, out)
	}
}

func setupStatus(fs *flag.FlagSet) deviceRun {
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		return printStatus(ctx, c, out)
	}
}

func printStatus(ctx context.Context, c *fieldsync.Client, out io.Writer) error {
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	m := map[string]any{
		"outboxDepth": st.OutboxDepth, "cursor": st.Cursor, "conflicts": st.Conflicts, "rejections": st.Rejections,
		"photoQueue": st.PhotoQueue, "photoBytesPending": st.PhotoBytesPending, "photosFailed": st.PhotosFailed,
	}
	if !st.OldestPending.IsZero() {
		m["oldestPending"], m["oldestPendingAge"] = st.OldestPending.UTC().Format(time.RFC3339), st.OldestPendingAge.Round(time.Second).String()
	}
	if !st.LastSync.IsZero() {
		m["lastSync"] = st.LastSync.UTC().Format(time.RFC3339)
	}
	return printJSONValue(out, m)
}

func setupConflicts(fs *flag.FlagSet) deviceRun {
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		cs, err := c.Conflicts(ctx)
		if err != nil {
			return err
		}
		list := []map[string]any{}
		for _, cf := range cs {
			list = append(list, map[string]any{
				"id": cf.ID, "recordType": cf.RecordType, "recordId": cf.RecordID, "field": cf.Field, "reason": cf.Reason,
				"losing": protoJSON{cf.Losing}, "winning": protoJSON{cf.Winning},
				"losingDeviceId": cf.LosingDeviceID, "winningDeviceId": cf.WinningDeviceID,
			})
		}
		return printJSONValue(out, map[string]any{"conflicts": list})
	}
}

func setupRejections(fs *flag.FlagSet) deviceRun {
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		rs, err := c.Rejections(ctx)
		if err != nil {
			return err
		}
		list := []map[string]any{}
		for _, r := range rs {
			list = append(list, map[string]any{
				"seq": r.Seq, "recordType": r.RecordType, "recordId": r.RecordID, "fields": r.Fields, "delete": r.Delete,
				"value": protoJSON{r.Value}, "code": r.Code.String(), "reason": r.Reason,
			})
		}
		return printJSONValue(out, map[string]any{"rejections": list})
	}
}
