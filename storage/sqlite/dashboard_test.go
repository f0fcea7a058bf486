package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/insights/insightstore"
	"github.com/fieldsync/fieldsync/storage/sqlite"
	"github.com/fieldsync/fieldsync/syncengine"
)

// TestPhiSeriesManyReadsEachPlaceInItsRange: the days of the asked places
// of the asked kind within the range, by place, oldest first; bad input is
// CodeInvalid.
func TestPhiSeriesManyReadsEachPlaceInItsRange(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "fs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, rep := fieldsyncv1.ScopeKind_SCOPE_KIND_STORE, fieldsyncv1.ScopeKind_SCOPE_KIND_REP
	err = db.InsightsWrite(ctx, func(tx insightstore.Tx) error {
		for _, d := range []*fieldsyncv1.PhiDay{
			{ScopeKind: store, ScopeId: "s1", Date: "2026-05-02", Index: 2},
			{ScopeKind: store, ScopeId: "s1", Date: "2026-05-01", Index: 1},
			{ScopeKind: store, ScopeId: "s1", Date: "2026-04-30", Index: 0}, // before the range
			{ScopeKind: store, ScopeId: "s2", Date: "2026-05-01", Index: 5},
			{ScopeKind: store, ScopeId: "s3", Date: "2026-05-01", Index: 7}, // not asked for
			{ScopeKind: rep, ScopeId: "s1", Date: "2026-05-01", Index: 9},   // another kind
		} {
			if err := tx.PutPhiDay("t1", d); err != nil {
				return err
			}
		}
		return tx.PutPhiDay("t2", &fieldsyncv1.PhiDay{ScopeKind: store, ScopeId: "s1", Date: "2026-05-01", Index: 8})
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.PhiSeriesMany(ctx, "t1", store, []string{"s1", "s2", "none"}, "2026-05-01", "2026-05-31")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got["s1"]) != 2 || got["s1"][0].GetIndex() != 1 || got["s1"][1].GetIndex() != 2 || len(got["s2"]) != 1 || got["s2"][0].GetIndex() != 5 {
		t.Fatalf("PhiSeriesMany = %v", got)
	}
	for name, call := range map[string]func() error{
		"no kind": func() error {
			_, err := db.PhiSeriesMany(ctx, "t1", 0, []string{"s1"}, "2026-05-01", "2026-05-02")
			return err
		},
		"reversed": func() error {
			_, err := db.PhiSeriesMany(ctx, "t1", store, []string{"s1"}, "2026-05-02", "2026-05-01")
			return err
		},
		"bad date": func() error {
			_, err := db.PhiSeriesMany(ctx, "t1", store, []string{"s1"}, "May 1", "2026-05-01")
			return err
		},
		"too many ids": func() error {
			_, err := db.PhiSeriesMany(ctx, "t1", store, make([]string, 1001), "2026-05-01", "2026-05-01")
			return err
		},
	} {
		if err := call(); !syncengine.IsCode(err, syncengine.CodeInvalid) {
			t.Errorf("%s: %v, want CodeInvalid", name, err)
		}
	}
}
