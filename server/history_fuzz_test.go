package server_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/storage/sqlite"
	"github.com/fieldsync/fieldsync/syncengine"
)

// FuzzImportHistory feeds arbitrary bytes, decoded as an
// ImportHistoryRequest, through the row decoding (HistoryRowOf) and the
// engine: nothing may panic or fail internally, every row gets one result,
// and a row HistoryRowOf refuses is rejected naming its field.
func FuzzImportHistory(f *testing.F) {
	at := timestamppb.New(time.Now().Add(-48 * time.Hour))
	seed, _ := proto.Marshal(&fieldsyncv1.ImportHistoryRequest{RequestId: "r", Rows: []*fieldsyncv1.HistoryRow{
		{SourceId: "v1", EventTime: at, Record: &fieldsyncv1.HistoryRow_Visit{Visit: &fieldsyncv1.Visit{Notes: "n", ActionTags: []string{"first_contact"}}}},
		{SourceId: "d1", EventTime: at, Record: &fieldsyncv1.HistoryRow_Diagnosis{Diagnosis: &fieldsyncv1.Diagnosis{Conclusion: "c"}}},
		{SourceId: "c1", Record: &fieldsyncv1.HistoryRow_Commitment{Commitment: &fieldsyncv1.Commitment{}}},
		{EventTime: at, Record: &fieldsyncv1.HistoryRow_Opportunity{Opportunity: &fieldsyncv1.Opportunity{AmountCents: -1}}},
	}})
	f.Add(seed)
	f.Add([]byte{})
	db, err := sqlite.Open(context.Background(), filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	engine, err := syncengine.New(syncengine.Config{Store: db})
	if err != nil {
		f.Fatal(err)
	}
	p := &syncengine.Principal{TenantID: "t", APIKeyID: "k", Permissions: []string{syncengine.HistoryPermission}}
	var request int
	f.Fuzz(func(t *testing.T, data []byte) {
		var req fieldsyncv1.ImportHistoryRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		rows := make([]syncengine.HistoryRow, len(req.Rows))
		for i, r := range req.Rows {
			rows[i] = server.HistoryRowOf("t", r)
			if rows[i].Reject == "" && (rows[i].Value == nil || !strings.HasPrefix(rows[i].ID, syncengine.IngestIDPrefix)) {
				t.Fatalf("row %d accepted without a value or an ingest id: %+v", i, rows[i])
			}
		}
		request++
		res, err := engine.ImportHistory(context.Background(), p, string(rune(request)), rows)
		if err != nil {
			if syncengine.ErrorCode(err) == syncengine.CodeInternal {
				t.Fatalf("internal error for input %x: %v", data, err)
			}
			return
		}
		if len(res.Results) != len(rows) {
			t.Fatalf("%d results for %d rows", len(res.Results), len(rows))
		}
		for i, r := range res.Results {
			if rows[i].Reject != "" && (r.Outcome != fieldsyncv1.RowOutcome_ROW_OUTCOME_REJECTED || !strings.Contains(r.Reason, rows[i].Reject)) {
				t.Fatalf("row %d: %v %q, want rejected with %q", i, r.Outcome, r.Reason, rows[i].Reject)
			}
		}
	})
}
