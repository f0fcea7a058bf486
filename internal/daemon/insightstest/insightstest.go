// Package insightstest replays history through a real fieldsyncd in a
// test: the daemon (SQLite or PostgreSQL, embedded NATS, the outbox relay,
// the PHI and alert consumer) runs on a manual clock, records are imported at
// simulated times through IntegrationService.ImportHistory, and the clock
// is advanced by hand, each step sweeping the time-based rules and waiting
// for the consumers to be idle. A month of history replays in seconds.
//
//	h := insightstest.Start(t, time.Now().AddDate(0, 0, -40))
//	h.Import(h.Row("v1", &fieldsyncv1.Visit{...}))  // at the clock's time
//	h.Advance(24 * time.Hour)                         // sweep, wait idle
//	days := h.Phi(fieldsyncv1.ScopeKind_SCOPE_KIND_REP, rep, from, to)
//
// The daemon runs --demo: a region, a store, users of every role with
// device tokens (Creds) and an integrator key holding "history:import".
// The clock starts in the past and should stay behind the real one: device
// pushes and the stored records' update times read the real clock, while
// the engine's HLC, the insights consumer and its sweeps read the manual one.
//
// The daemon runs on SQLite in its data dir, or on a fresh PostgreSQL
// database (internal/pgtest) when FIELDSYNC_TEST_STORE=postgres; a test
// binary using the harness then calls pgtest.Main from its TestMain.
package insightstest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"
	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/demo"
	"github.com/fieldsync/fieldsync/internal/pgtest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// Clock is a manual clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the time the clock was set to.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the clock d ahead and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// Harness is a running demo fieldsyncd on a manual clock.
type Harness struct {
	t      testing.TB
	Daemon *daemon.Daemon
	Clock  *Clock
	// Creds are the demo organisation's ids and tokens.
	Creds *demo.Credentials
	// OperatorToken guards SystemService (RecomputePhi).
	OperatorToken string
	requests      int
}

// StoreEnv selects the store the harness's daemon runs on: "postgres" is a
// fresh PostgreSQL database from internal/pgtest, anything else SQLite.
const StoreEnv = "FIELDSYNC_TEST_STORE"

// Start runs fieldsyncd --demo in a temporary data dir with its clock at
// start, on the store StoreEnv selects, and stops it when the test ends.
func Start(t testing.TB, start time.Time) *Harness {
	t.Helper()
	dir := t.TempDir()
	clock := &Clock{t: start}
	cfg := daemon.DefaultConfig()
	cfg.Addr, cfg.MetricsAddr, cfg.DataDir, cfg.Demo, cfg.LogLevel = "127.0.0.1:0", "", dir, true, "warn"
	cfg.Now = clock.Now
	if os.Getenv(StoreEnv) == "postgres" {
		cfg.Database = pgtest.DB(t)
	}
	d, err := daemon.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start fieldsyncd: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("close fieldsyncd: %v", err)
		}
	})
	h := &Harness{t: t, Daemon: d, Clock: clock}
	if h.Creds, err = demo.Load(filepath.Join(dir, "demo-credentials.json")); err != nil {
		t.Fatalf("demo credentials: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, daemon.OperatorTokenFile))
	if err != nil {
		t.Fatalf("operator token: %v", err)
	}
	h.OperatorToken = strings.TrimSpace(string(b))
	h.WaitIdle()
	return h
}

// User returns the first demo user with a role ("rep", "store_manager", …).
func (h *Harness) User(role string) demo.UserCreds {
	h.t.Helper()
	u, ok := h.Creds.User(role)
	if !ok {
		h.t.Fatalf("no demo user with role %s", role)
	}
	return u
}

func (h *Harness) opts(token string) []connect.ClientOption {
	return []connect.ClientOption{connect.WithInterceptors(fieldsync.BearerAuth(token))}
}

// Integration is an IntegrationService client with the demo integrator key.
func (h *Harness) Integration() fieldsyncv1connect.IntegrationServiceClient {
	return fieldsyncv1connect.NewIntegrationServiceClient(http.DefaultClient, h.Daemon.URL(), h.opts(h.Creds.IntegratorKey)...)
}

// Row is a history row keyed by sourceID holding record (a *Visit,
// *Diagnosis, *Commitment or *Opportunity) at the clock's time.
func (h *Harness) Row(sourceID string, record proto.Message) *fieldsyncv1.HistoryRow {
	return h.RowAt(sourceID, h.Clock.Now(), record)
}

// RowAt is Row at a given time.
func (h *Harness) RowAt(sourceID string, at time.Time, record proto.Message) *fieldsyncv1.HistoryRow {
	h.t.Helper()
	r := &fieldsyncv1.HistoryRow{SourceId: sourceID, EventTime: timestamppb.New(at)}
	switch m := record.(type) {
	case *fieldsyncv1.Visit:
		r.Record = &fieldsyncv1.HistoryRow_Visit{Visit: m}
	case *fieldsyncv1.Diagnosis:
		r.Record = &fieldsyncv1.HistoryRow_Diagnosis{Diagnosis: m}
	case *fieldsyncv1.Commitment:
		r.Record = &fieldsyncv1.HistoryRow_Commitment{Commitment: m}
	case *fieldsyncv1.Opportunity:
		r.Record = &fieldsyncv1.HistoryRow_Opportunity{Opportunity: m}
	default:
		h.t.Fatalf("insightstest: %T is not imported as history", record)
	}
	return r
}

// Import imports rows in one ImportHistory call, fails the test on an
// error or a rejected row, and waits for the consumers to be idle.
func (h *Harness) Import(rows ...*fieldsyncv1.HistoryRow) *fieldsyncv1.ImportHistoryResponse {
	h.t.Helper()
	h.requests++
	res, err := h.Integration().ImportHistory(context.Background(), connect.NewRequest(&fieldsyncv1.ImportHistoryRequest{
		RequestId: fmt.Sprintf("insightstest-%d", h.requests), Rows: rows}))
	if err != nil {
		h.t.Fatalf("ImportHistory: %v", err)
	}
	for _, r := range res.Msg.Results {
		if r.Outcome == fieldsyncv1.RowOutcome_ROW_OUTCOME_REJECTED {
			h.t.Fatalf("ImportHistory rejected row %d: %s", r.Index, r.Reason)
		}
	}
	h.WaitIdle()
	return res.Msg
}

// Advance moves the clock d ahead, runs the time-based rules as the
// periodic sweep would at that time, and waits for the consumers to be idle.
func (h *Harness) Advance(d time.Duration) {
	h.t.Helper()
	h.Clock.Advance(d)
	h.Sweep()
}

// Sweep runs the time-based rules at the clock's time and waits for the
// consumers to be idle.
func (h *Harness) Sweep() {
	h.t.Helper()
	if err := h.Daemon.Sweep(context.Background()); err != nil {
		h.t.Fatalf("sweep: %v", err)
	}
	h.WaitIdle()
}

// WaitIdle waits until every commit so far went through the relay and the
// consumers (Daemon.WaitIdle), for at most a minute.
func (h *Harness) WaitIdle() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := h.Daemon.WaitIdle(ctx); err != nil {
		h.t.Fatalf("wait idle: %v", err)
	}
}

// Phi reads a PHI series as the demo admin.
func (h *Harness) Phi(kind fieldsyncv1.ScopeKind, scopeID, fromDate, toDate string) []*fieldsyncv1.PhiDay {
	h.t.Helper()
	c := fieldsyncv1connect.NewInsightsServiceClient(http.DefaultClient, h.Daemon.URL(), h.opts(h.Creds.AdminToken)...)
	res, err := c.GetPhi(context.Background(), connect.NewRequest(&fieldsyncv1.GetPhiRequest{
		ScopeKind: kind, ScopeId: scopeID, FromDate: fromDate, ToDate: toDate}))
	if err != nil {
		h.t.Fatalf("GetPhi: %v", err)
	}
	return res.Msg.Days
}

// RecomputePhi recomputes the demo tenant's PHI and rules for a date
// range (SystemService.RecomputePhi) and waits for the consumers to be idle.
func (h *Harness) RecomputePhi(fromDate, toDate string) {
	h.t.Helper()
	c := fieldsyncv1connect.NewSystemServiceClient(http.DefaultClient, h.Daemon.URL(), h.opts(h.OperatorToken)...)
	if _, err := c.RecomputePhi(context.Background(), connect.NewRequest(&fieldsyncv1.RecomputePhiRequest{
		TenantId: h.Creds.TenantID, FromDate: fromDate, ToDate: toDate})); err != nil {
		h.t.Fatalf("RecomputePhi: %v", err)
	}
	h.WaitIdle()
}

// Alerts pulls every Alert record the demo user with a role receives.
func (h *Harness) Alerts(role string) []*fieldsyncv1.Alert {
	h.t.Helper()
	c := fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, h.Daemon.URL(), h.opts(h.User(role).DeviceToken)...)
	var out []*fieldsyncv1.Alert
	cursor := ""
	for {
		res, err := c.Pull(context.Background(), connect.NewRequest(&fieldsyncv1.PullRequest{Cursor: cursor}))
		if err != nil {
			h.t.Fatalf("pull as %s: %v", role, err)
		}
		for _, r := range res.Msg.Records {
			a := &fieldsyncv1.Alert{}
			if r.RecordType == "fieldsync.v1.Alert" && r.Value != nil && r.Value.UnmarshalTo(a) == nil {
				out = append(out, a)
			}
		}
		if cursor = res.Msg.NextCursor; !res.Msg.HasMore {
			return out
		}
	}
}
