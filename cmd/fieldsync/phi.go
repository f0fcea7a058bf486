package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

func init() { commands["phi"] = runPhi }

// runPhi prints a PHI table for a scope and date range.
func runPhi(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "recompute" {
		return runPhiRecompute(ctx, args[1:], stdout, stderr)
	}
	var c conn
	fs := newFlags("phi", stderr)
	c.register(fs)
	scope := fs.String("scope", "region", "rep, store or region")
	id := fs.String("id", "", "the rep's user id, the store id or the region id (required)")
	today := time.Now().UTC()
	from := fs.String("from", today.AddDate(0, 0, -13).Format(time.DateOnly), "first day, YYYY-MM-DD")
	to := fs.String("to", today.Format(time.DateOnly), "last day, YYYY-MM-DD")
	if err := fs.Parse(args); err != nil {
		return err
	}
	kind, ok := fieldsyncv1.ScopeKind_value["SCOPE_KIND_"+strings.ToUpper(*scope)]
	if !ok || kind == 0 || *id == "" {
		return fmt.Errorf("%w: fieldsync phi --scope rep|store|region --id ID [--from YYYY-MM-DD] [--to YYYY-MM-DD]", errUsage)
	}
	if err := c.needToken(); err != nil {
		return err
	}
	client := fieldsyncv1connect.NewInsightsServiceClient(httpClient(c.grpc), c.baseURL(), c.options()...)
	res, err := client.GetPhi(ctx, connect.NewRequest(&fieldsyncv1.GetPhiRequest{
		ScopeKind: fieldsyncv1.ScopeKind(kind), ScopeId: *id, FromDate: *from, ToDate: *to,
	}))
	if err != nil {
		return err
	}
	return printPhi(stdout, res.Msg.Days)
}

func printPhi(w io.Writer, days []*fieldsyncv1.PhiDay) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "date\tPHI\tkey action\tquality\tcollaboration\thigh-value share\tevents\t")
	for _, d := range days {
		fmt.Fprintf(tw, "%s\t%.1f\t%s\t%s\t%s\t%s\t%d\t\n", d.Date, d.Index,
			pct(d.KeyActionCompletion, d.HasKeyAction), pct(d.ActionQuality, d.HasQuality),
			pct(d.CollaborationTimeliness, d.HasCollaboration), pct(d.HighValueActionShare, d.HasVisits), d.EventCount)
	}
	if len(days) == 0 {
		fmt.Fprintln(tw, "(no PHI in this range)\t\t\t\t\t\t\t")
	}
	return tw.Flush()
}

func pct(v float64, has bool) string {
	if !has {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", 100*v)
}
