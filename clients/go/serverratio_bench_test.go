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

	"github.com/fieldsync/fieldsync/internal/benchenv"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// The Go side of the server-vs-PouchDB benchmark (clients/bench,
// `npm run bench:server`): the benchmark starts fieldsyncd and
// pouchdb-server, and runs these against them. Both are skipped unless
// FIELDSYNC_TSRATIO_URL and FIELDSYNC_TSRATIO_TOKEN are set.

// TestServerRatioPush pushes FIELDSYNC_TSRATIO_N new visits (default 10,000)
// in Push calls of FIELDSYNC_TSRATIO_BATCH (default 100), one call after the
// other, each answered (acknowledged) before the next, as a device on a
// phone's connection does. The mutations are built before the clock starts.
// It prints one JSON line the benchmark reads.
func TestServerRatioPush(t *testing.T) {
	url, token := serverRatioEnv(t)
	n, batch := envInt(t, "FIELDSYNC_TSRATIO_N", 10_000), envInt(t, "FIELDSYNC_TSRATIO_BATCH", 100)
	sc := fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, url, connect.WithInterceptors(authInterceptor(token)))
	at := uint64(time.Now().UnixMilli()) << hlcLogicalBits
	var reqs []*fieldsyncv1.PushRequest
	for seq := 1; seq <= n; {
		req := &fieldsyncv1.PushRequest{}
		for ; seq <= n && len(req.Mutations) < batch; seq++ {
			req.Mutations = append(req.Mutations, seedMutation(t, uint64(seq), at+uint64(seq)))
		}
		reqs = append(reqs, req)
	}
	t0 := time.Now()
	for _, req := range reqs {
		res, err := sc.Push(context.Background(), connect.NewRequest(req))
		if err != nil {
			t.Fatalf("push: %v", err)
		}
		for _, r := range res.Msg.GetResults() {
			if r.GetOutcome() != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED {
				t.Fatalf("mutation %d: %v %s", r.GetSeq(), r.GetOutcome(), r.GetReason())
			}
		}
	}
	ms := float64(time.Since(t0).Microseconds()) / 1000
	out, _ := json.Marshal(map[string]any{"n": n, "batch": batch, "ms": ms})
	fmt.Printf("serverratio push: %s\n", out)
}

// TestServerRatioFirstSync is a new device's first Sync into the SDK's
// store (a SQLite file), timed; it prints how many visits it then holds.
func TestServerRatioFirstSync(t *testing.T) {
	url, token := serverRatioEnv(t)
	ctx := context.Background()
	opts := []Option{WithServer(url), WithToken(token)}
	if n, err := strconv.Atoi(os.Getenv("FIELDSYNC_TSRATIO_PULL_LIMIT")); err == nil {
		opts = append(opts, WithPullLimit(n)) // pages of a fixed size instead of the default's growing ones
	}
	c := openDevice(t, filepath.Join(t.TempDir(), "device.db"), opts...)
	sys0, flt0 := kernelShare()
	cpu0 := benchenv.CPUTime()
	t0 := time.Now()
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ms := float64(time.Since(t0).Microseconds()) / 1000
	cpuMs := float64((benchenv.CPUTime() - cpu0).Microseconds()) / 1000
	sys1, flt1 := kernelShare()
	visits, err := c.List(ctx, visitType)
	if err != nil {
		t.Fatal(err)
	}
	// sysMs (the kernel's share of cpuMs) and minflt (pages the process
	// touched for the first time) show what fresh memory costs.
	sysMs := float64((sys1 - sys0).Microseconds()) / 1000
	out, _ := json.Marshal(map[string]any{"visits": len(visits), "ms": ms, "cpuMs": cpuMs, "sysMs": sysMs, "minflt": flt1 - flt0})
	fmt.Printf("serverratio first sync: %s\n", out)
}

func serverRatioEnv(t *testing.T) (url, token string) {
	url, token = os.Getenv("FIELDSYNC_TSRATIO_URL"), os.Getenv("FIELDSYNC_TSRATIO_TOKEN")
	if url == "" || token == "" {
		t.Skip("the server-vs-PouchDB benchmark runs this (FIELDSYNC_TSRATIO_URL, FIELDSYNC_TSRATIO_TOKEN)")
	}
	return url, token
}
