package e2e

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/fieldsync/fieldsync/internal/benchenv"
	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/demo"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/syncengine"
)

// BenchmarkEventsEndToEnd is the event pipeline's throughput with the
// embedded JetStream fsyncing every message (sync_always, the former
// default) against its periodic sync (the default since the outbox is the
// events' durable copy; docs/events.md, "Durability"), side by side in
// one run. Two daemons run, one of each; each op pushes rounds of 2,000
// submitted visits in calls of 100 over HTTP to each daemon in turn
// (alternating which goes first) and stops its clock when the daemon is
// idle again: the relay has published every event and every durable
// consumer (the insights consumer) has applied and acknowledged it. It
// reports both rates (visits/s from the first push to idle), their ratio,
// the process's CPU time per visit on each side (both daemons run in this
// process, one at a time; contention inflates CPU time far less than wall
// time) and the machine's load average.
//
//	go test ./e2e/ -run '^$' -bench EventsEndToEnd -benchtime 5x
//
// -events-periodic-only runs the periodic side alone, so that a CPU
// profile (-cpuprofile) holds the default path only.
var eventsPeriodicOnly = flag.Bool("events-periodic-only", false, "BenchmarkEventsEndToEnd: run the periodic side only (for a profile of the default path)")

// -events-devices pushes each round from that many devices of the rep at
// once, each its share of the 2,000 visits in calls of 100, as a team's
// phones do: one client's calls one after another are bound by a durable
// commit's latency each (the pipeline then idles a core), several share
// commits (group commit) and keep both cores busy.
var eventsDevices = flag.Int("events-devices", 1, "BenchmarkEventsEndToEnd: devices pushing at once (2,000 visits a round between them)")

func BenchmarkEventsEndToEnd(b *testing.B) {
	type side struct {
		name    string
		d       *daemon.Daemon
		clients []fieldsyncv1connect.SyncServiceClient // one per device
		clock   *syncengine.Clock
		seq     []uint64 // per device
		took    time.Duration
		cpu     time.Duration
	}
	newSide := func(name string, syncAlways bool) *side {
		cfg := daemon.DefaultConfig()
		cfg.Addr, cfg.DataDir, cfg.Demo, cfg.LogLevel = "127.0.0.1:0", b.TempDir(), true, "error"
		cfg.MetricsAddr = ""
		cfg.WatchPerPrincipal, cfg.RateLimit, cfg.InFlight = 0, 0, 0
		cfg.NATSSyncAlways = syncAlways
		d, err := daemon.Start(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { d.Close() })
		creds, err := demo.Load(filepath.Join(cfg.DataDir, "demo-credentials.json"))
		if err != nil {
			b.Fatal(err)
		}
		rep, _ := creds.User("rep")
		tokens := []string{rep.DeviceToken}
		if *eventsDevices > 1 {
			tokens = append(tokens, enrollRepDevices(b, &deployment{name: name, url: d.URL(), creds: creds}, *eventsDevices-1)...)
		}
		s := &side{name: name, d: d, clock: syncengine.NewClock(nil), seq: make([]uint64, len(tokens))}
		for _, t := range tokens {
			s.clients = append(s.clients, fieldsyncv1connect.NewSyncServiceClient(benchClient(len(tokens)), d.URL(), bearer(t)))
		}
		return s
	}
	sides := []*side{newSide("sync_always", true), newSide("periodic", false)}
	if *eventsPeriodicOnly {
		sides = sides[1:]
	}
	const visits, perCall = 2000, 100
	// push sends device dev's share of a round's calls.
	push := func(s *side, dev int) error {
		for c := dev; c < visits/perCall; c += len(s.clients) {
			res, err := s.clients[dev].Push(context.Background(), connect.NewRequest(submittedVisits(s.clock, &s.seq[dev], perCall)))
			if err != nil {
				return err
			}
			if r := res.Msg.Results[perCall-1]; r.Outcome != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED {
				return fmt.Errorf("%s push: %v", s.name, r)
			}
		}
		return nil
	}
	round := func(s *side) {
		waitIdle(b, s.d)
		start, cpu := time.Now(), benchenv.CPUTime()
		errs := make(chan error, len(s.clients))
		for dev := range s.clients {
			go func() { errs <- push(s, dev) }()
		}
		for range s.clients {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		waitIdle(b, s.d)
		took := time.Since(start)
		s.took, s.cpu = s.took+took, s.cpu+benchenv.CPUTime()-cpu
		b.Logf("%s: %d visits in %s (%.0f/s)", s.name, visits, took.Round(time.Millisecond), visits/took.Seconds())
	}
	benchenv.ReportLoad(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range sides {
			round(sides[(i+j)%len(sides)]) // alternating which goes first
		}
	}
	b.StopTimer()
	n := float64(b.N * visits)
	for _, s := range sides {
		b.ReportMetric(n/s.took.Seconds(), s.name+"_visits/s")
		b.ReportMetric(float64(s.cpu.Microseconds())/n, s.name+"_cpu_us/visit")
	}
	if len(sides) == 2 {
		b.ReportMetric(sides[0].took.Seconds()/sides[1].took.Seconds(), "periodic/sync_always")
	}
	benchenv.ReportLoad(b)
}
