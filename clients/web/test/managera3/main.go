// Command managera3 is the browser test's A3 fixture (clients/web/test/
// manager.journey.test.ts). PHI days are the days records are committed, so
// a test cannot make a region's PHI fall over three days with real records;
// and the A3 sweep runs every 10 minutes. Against a running fieldsyncd's
// SQLite database, this command:
//
//  1. writes the region's PHI for the three days before today, each more
//     than 20% above the next, ending at today's real PHI (as a history
//     import would), so the region falls on each of the last three days;
//  2. creates the director's grant to read the rep's operation logs, for
//     -grant from now, under the dedup key the A3 rule uses, so the rule
//     finds it (a grant the rule made itself would start tomorrow);
//  3. runs the insights sweep as of tomorrow 00:00:30 in the tenant's zone
//     (UTC), which raises the real A3 alert over today's abnormal records.
//
// With -history it performs step 1 only; without, steps 2 and 3, printing
// the grant as JSON.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/fieldsync/fieldsync/insights"
	"github.com/fieldsync/fieldsync/insights/insightstore"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/records"
	"github.com/fieldsync/fieldsync/storage/sqlite"
	"github.com/fieldsync/fieldsync/syncengine"
)

func main() {
	dbPath := flag.String("db", "", "the fieldsyncd database (data dir/fieldsync.db)")
	tenant := flag.String("tenant", "", "tenant id")
	region := flag.String("region", "", "region id")
	director := flag.String("director", "", "the director's user id")
	rep := flag.String("rep", "", "the rep's user id")
	grant := flag.Duration("grant", 45*time.Second, "how long the grant lasts from now")
	history := flag.Bool("history", false, "only write the PHI history (step 1)")
	flag.Parse()
	var err error
	if *history {
		err = onlyHistory(context.Background(), *dbPath, *tenant, *region)
	} else {
		err = run(context.Background(), *dbPath, *tenant, *region, *director, *rep, *grant)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "managera3:", err)
		os.Exit(1)
	}
}

func onlyHistory(ctx context.Context, dbPath, tenant, region string) error {
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.InsightsWrite(ctx, func(tx insightstore.Tx) error { return writeHistory(tx, tenant, region, time.Now().UTC()) })
}

// run performs steps 2 and 3.
func run(ctx context.Context, dbPath, tenant, region, director, rep string, grant time.Duration) error {
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now().UTC()
	today := now.Format(time.DateOnly)
	var g *fieldsyncv1.AccessGrant
	err = db.InsightsWrite(ctx, func(tx insightstore.Tx) error {
		key := "A3:" + region + ":" + today + ":" + director + ":" + rep
		g, err = tx.CreateGrant(tenant, director, rep, "A3 browser test", key, now, now.Add(grant))
		return err
	})
	if err != nil {
		return err
	}
	engine, err := syncengine.New(syncengine.Config{Store: db, Hooks: records.Hooks{}})
	if err != nil {
		return err
	}
	defer engine.Close()
	sweepAt := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 30, 0, time.UTC)
	c := &insights.Consumer{DB: db, Records: db, Alerts: engine, Flags: engine, Now: func() time.Time { return sweepAt }}
	if err := c.Sweep(ctx, sweepAt); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"grant_id": g.Id, "expire_ms": g.ExpireTime.AsTime().UnixMilli()})
}

// writeHistory writes the region's PHI for the three days before today,
// each 1/0.8 of the next (today's index must be at most 51), from today's real index.
func writeHistory(tx insightstore.Tx, tenant, region string, now time.Time) error {
	today := now.Format(time.DateOnly)
	days, err := tx.PhiDays(tenant, fieldsyncv1.ScopeKind_SCOPE_KIND_REGION, region, today, today)
	if err != nil {
		return err
	}
	if len(days) != 1 || !days[0].HasKeyAction {
		return fmt.Errorf("region %s has no PHI today (%d days): push records first", region, len(days))
	}
	index := max(days[0].Index, 1)
	for i := 1; i <= 3; i++ {
		index /= 0.8
		k := min(index/100, 1)
		err := tx.PutPhiDay(tenant, &fieldsyncv1.PhiDay{
			Date: now.AddDate(0, 0, -i).Format(time.DateOnly), ScopeKind: fieldsyncv1.ScopeKind_SCOPE_KIND_REGION, ScopeId: region,
			KeyActionCompletion: k, HasKeyAction: true, Index: index, EventCount: 4,
		})
		if err != nil {
			return err
		}
	}
	return nil
}
