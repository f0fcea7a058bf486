package fieldsync

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// TestTSRatioPush is the Go side of the TypeScript SDK's push benchmark
// (clients/bench, `npm run bench`): against a server the benchmark runs,
// a device syncs once (not timed), writes FIELDSYNC_TSRATIO_N visits (default
// 10 000) offline, then one timed Sync pushes them (and pulls them back), in
// batches of FIELDSYNC_TSRATIO_BATCH (default 200, the TS SDK's default). It
// prints one JSON line the benchmark reads. Skipped unless
// FIELDSYNC_TSRATIO_URL and FIELDSYNC_TSRATIO_TOKEN are set.
func TestTSRatioPush(t *testing.T) {
	url, token := os.Getenv("FIELDSYNC_TSRATIO_URL"), os.Getenv("FIELDSYNC_TSRATIO_TOKEN")
	if url == "" || token == "" {
		t.Skip("the TS SDK's benchmark runs this (FIELDSYNC_TSRATIO_URL, FIELDSYNC_TSRATIO_TOKEN)")
	}
	n, batch := envInt(t, "FIELDSYNC_TSRATIO_N", 10_000), envInt(t, "FIELDSYNC_TSRATIO_BATCH", 200)
	ctx := context.Background()
	c := openDevice(t, filepath.Join(t.TempDir(), "device.db"), WithServer(url), WithToken(token), WithBatchSize(batch))
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	for i := range n {
		v := &fieldsyncv1.Visit{
			CustomerId: fmt.Sprintf("hospital-%d", i%500), Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE,
			Notes:     fmt.Sprintf("visit %d: demo of the new stent, follow up on pricing next week", i),
			VisitTime: timestamppb.Now(), ActionTags: []string{"technical_demo"},
		}
		if err := c.Put(ctx, ids.New(), v); err != nil {
			t.Fatal(err)
		}
	}
	write := time.Since(t0)
	t0 = time.Now()
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	push := time.Since(t0)
	out, _ := json.Marshal(map[string]any{"n": n, "batch": batch, "writeMs": write.Milliseconds(), "syncMs": push.Milliseconds()})
	fmt.Printf("tsratio push: %s\n", out)
}

// TestTSRatioSeed seeds the TypeScript SDK's initial-sync benchmark: it
// pushes FIELDSYNC_TSRATIO_SEED visits (the same ones BenchmarkInitialSync
// seeds) as the device of FIELDSYNC_TSRATIO_TOKEN, a new one, 500 per push.
func TestTSRatioSeed(t *testing.T) {
	url, token, n := os.Getenv("FIELDSYNC_TSRATIO_URL"), os.Getenv("FIELDSYNC_TSRATIO_TOKEN"), envInt(t, "FIELDSYNC_TSRATIO_SEED", 0)
	if url == "" || token == "" || n == 0 {
		t.Skip("the TS SDK's benchmark runs this (FIELDSYNC_TSRATIO_URL, FIELDSYNC_TSRATIO_TOKEN, FIELDSYNC_TSRATIO_SEED)")
	}
	sc := fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, url, connect.WithInterceptors(authInterceptor(token)))
	at := uint64(time.Now().UnixMilli()) << hlcLogicalBits
	for seq := 1; seq <= n; {
		req := &fieldsyncv1.PushRequest{}
		for ; seq <= n && len(req.Mutations) < maxBatchSize; seq++ {
			req.Mutations = append(req.Mutations, seedMutation(t, uint64(seq), at+uint64(seq)))
		}
		if _, err := sc.Push(context.Background(), connect.NewRequest(req)); err != nil {
			t.Fatalf("seed push: %v", err)
		}
	}
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}
