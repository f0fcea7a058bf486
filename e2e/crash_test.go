package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/fieldsync/fieldsync/internal/demo"
	"github.com/fieldsync/fieldsync/internal/freeport"
	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/syncengine"
)

// process is fieldsyncd running as a child process.
type process struct {
	t    *testing.T
	bin  string
	dir  string
	addr string
	args []string // more flags
	cmd  *exec.Cmd
}

func buildDaemon(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fieldsyncd")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/fieldsync/fieldsync/cmd/fieldsyncd").CombinedOutput()
	if err != nil {
		t.Fatalf("build fieldsyncd: %v\n%s", err, out)
	}
	return bin
}

func (p *process) start() {
	p.t.Helper()
	p.cmd = exec.Command(p.bin, append([]string{"--demo", "--data-dir", p.dir, "--addr", p.addr, "--metrics-addr", "", "--log-level", "warn"}, p.args...)...)
	p.cmd.Stdout, p.cmd.Stderr = os.Stderr, os.Stderr
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if status, err := checkHealth(context.Background(), "http://"+p.addr, false); err == nil && status != "" {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatal("fieldsyncd did not become healthy")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *process) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

// device pushes batches and remembers what was acknowledged.
type crashDevice struct {
	token   string
	client  fieldsyncv1connect.SyncServiceClient
	seq     uint64
	counter string // a record whose notes every batch overwrites
	created []string
	first   map[uint64]uint64 // seq → applied HLC of its first acknowledged result
}

func (d *crashDevice) batch(clock *syncengine.Clock) *fieldsyncv1.PushRequest {
	req := &fieldsyncv1.PushRequest{}
	for i := 0; i < 5; i++ {
		d.seq++
		id, note := ids.New(), fmt.Sprintf("v%d", d.seq)
		fields := []string{"notes"}
		if i == 0 {
			id = d.counter
		}
		req.Mutations = append(req.Mutations, &fieldsyncv1.Mutation{Seq: d.seq, RecordType: "fieldsync.v1.Visit", RecordId: id,
			Value: mustAny(&fieldsyncv1.Visit{Notes: note}), FieldMask: &fieldmaskpb.FieldMask{Paths: fields}, Hlc: uint64(clock.Now())})
	}
	return req
}

// run pushes n batches, resending a batch (same seqs) until it is acknowledged.
func (d *crashDevice) run(ctx context.Context, n int, acked *atomic.Int64) error {
	clock := syncengine.NewClock(nil)
	for b := 0; b < n; b++ {
		req := d.batch(clock)
		for {
			res, err := d.client.Push(ctx, connect.NewRequest(req))
			if err == nil {
				d.record(req, res.Msg)
				acked.Add(1)
				break
			}
			if ctx.Err() != nil {
				return err
			}
			switch connect.CodeOf(err) {
			case connect.CodeAborted, connect.CodeInvalidArgument, connect.CodeUnauthenticated, connect.CodePermissionDenied:
				return fmt.Errorf("push: %w", err) // a protocol error, not an outage
			}
			time.Sleep(20 * time.Millisecond) // the server is down: resend the same batch
		}
	}
	return nil
}

func (d *crashDevice) record(req *fieldsyncv1.PushRequest, res *fieldsyncv1.PushResponse) {
	for i, r := range res.Results {
		m := req.Mutations[i]
		if _, seen := d.first[m.Seq]; !seen {
			d.first[m.Seq] = r.AppliedHlc
		}
		if m.RecordId != d.counter {
			d.created = append(d.created, m.RecordId)
		}
	}
}

func TestSIGKILLDuringPushesLosesAndDuplicatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a server process")
	}
	t.Parallel()
	p := &process{t: t, bin: buildDaemon(t), dir: t.TempDir(), addr: freeport.TestAddr(t)}
	p.start()
	defer func() { p.kill() }()
	creds, err := demo.Load(filepath.Join(p.dir, "demo-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	var devices []*crashDevice
	for _, role := range []string{"rep", "regional_director", "store_staff", "store_manager"} {
		u, _ := creds.User(role)
		devices = append(devices, &crashDevice{token: u.DeviceToken, counter: ids.New(), first: map[uint64]uint64{},
			client: fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, "http://"+p.addr, bearer(u.DeviceToken))})
	}
	const batches = 30
	var acked atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(devices))
	for _, d := range devices {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- d.run(ctx, batches, &acked) }()
	}
	for _, at := range []int64{20, 60} { // kill twice, mid-stream
		for acked.Load() < at && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		p.kill()
		p.start()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	verifyAfterCrash(t, p, creds, devices, batches)
}

func verifyAfterCrash(t *testing.T, p *process, creds *demo.Credentials, devices []*crashDevice, batches int) {
	t.Helper()
	ctx := context.Background()
	admin := fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, "http://"+p.addr, bearer(creds.AdminToken))
	all := map[string]*fieldsyncv1.Record{}
	cursor := ""
	for {
		res, err := admin.Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{Cursor: cursor, Limit: 1000}))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Msg.Records {
			all[r.Id] = r
		}
		if cursor = res.Msg.NextCursor; !res.Msg.HasMore {
			break
		}
	}
	for i, d := range devices {
		if len(d.first) != batches*5 {
			t.Fatalf("device %d: %d seqs acknowledged, want %d", i, len(d.first), batches*5)
		}
		for _, id := range d.created {
			if all[id] == nil {
				t.Fatalf("device %d: acknowledged record %s is lost", i, id)
			}
		}
		var v fieldsyncv1.Visit
		if err := all[d.counter].GetValue().UnmarshalTo(&v); err != nil || v.Notes != fmt.Sprintf("v%d", d.seq-4) {
			t.Fatalf("device %d: counter record = %v (%v), want the last acknowledged note v%d", i, &v, err, d.seq-4)
		}
		// Replaying every seq returns its first result: applied once.
		replay := &fieldsyncv1.PushRequest{}
		clock := syncengine.NewClock(nil)
		for s := uint64(1); s <= 5; s++ {
			replay.Mutations = append(replay.Mutations, &fieldsyncv1.Mutation{Seq: s, RecordType: "fieldsync.v1.Visit", RecordId: ids.New(),
				Value: mustAny(&fieldsyncv1.Visit{Notes: "replay"}), FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"notes"}}, Hlc: uint64(clock.Now())})
		}
		res, err := d.client.Push(ctx, connect.NewRequest(replay))
		if err != nil {
			t.Fatal(err)
		}
		for j, r := range res.Msg.Results {
			if r.AppliedHlc != d.first[uint64(j+1)] {
				t.Fatalf("device %d seq %d: replay result %v differs from the first", i, j+1, r)
			}
		}
	}
	// A re-applied old mutation would lose to a newer note and land in the conflict log.
	conflicts, err := admin.ListConflicts(ctx, connect.NewRequest(&fieldsyncv1.ListConflictsRequest{Limit: 1000}))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(conflicts.Msg.Conflicts); n != 0 {
		t.Fatalf("%d conflicts: some mutation was applied twice: %v", n, conflicts.Msg.Conflicts[0])
	}
}
