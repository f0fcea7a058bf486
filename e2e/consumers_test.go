package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// TestConsumersRunAsASeparateProcess runs the API with --consumers=false
// and a second daemon with --serve=false against the first one's NATS
// server and data dir: alerts still reach the manager's phone.
func TestConsumersRunAsASeparateProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := daemon.DefaultConfig()
	cfg.Addr, cfg.DataDir, cfg.Demo, cfg.LogLevel, cfg.Consumers = "127.0.0.1:0", dir, true, "error", false
	cfg.MetricsAddr = "" // daemons run side by side
	api := startWith(t, cfg)
	url, err := os.ReadFile(filepath.Join(dir, daemon.NATSURLFile))
	if err != nil {
		t.Fatal(err)
	}
	ccfg := daemon.DefaultConfig()
	ccfg.DataDir, ccfg.LogLevel, ccfg.Serve, ccfg.NATSURL = dir, "error", false, strings.TrimSpace(string(url))
	ccfg.MetricsAddr = ""
	onTestStore(t, &ccfg)
	consumers, err := daemon.Start(context.Background(), ccfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { consumers.Close() })

	staff := api.token("store_staff")
	fields := &fieldmaskpb.FieldMask{Paths: []string{"status", "customer_id", "conclusion", "vehicle_model", "photos"}}
	for i, conclusion := range []string{"worn brake pads", "warped brake discs"} {
		r, err := pushOne(t, api, staff, &fieldsyncv1.Mutation{Seq: uint64(i + 1), RecordType: "fieldsync.v1.Diagnosis", RecordId: ids.New(),
			Value: anyOf(t, diagnosis("cust-lin", conclusion, byte(i))), FieldMask: fields, Hlc: uint64(time.Now().UnixMilli()) << 16})
		if err != nil || r.Outcome != applied {
			t.Fatalf("push diagnosis %d: %v %v", i, r, err)
		}
	}
	manager := api.sync(api.token("store_manager"))
	eventually(t, "an alert from the separate consumer process", func() bool {
		res, err := manager.Pull(context.Background(), connect.NewRequest(&fieldsyncv1.PullRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Msg.Records {
			var a fieldsyncv1.Alert
			if r.RecordType == "fieldsync.v1.Alert" && r.Value.UnmarshalTo(&a) == nil && a.Kind == fieldsyncv1.AlertKind_ALERT_KIND_CONFLICTING_DIAGNOSES {
				return true
			}
		}
		return false
	})
}
