package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// loadSummary is what `fieldsync load` prints at the end (--json: as is).
type loadSummary struct {
	Run     string `json:"run"`
	Server  string `json:"server"`
	Region  string `json:"region"`
	Mix     string `json:"mix"`
	Devices int    `json:"devices"`
	PerUser int    `json:"devices_per_user"`

	Setup   loadPhase     `json:"setup"`
	Elapsed time.Duration `json:"-"`
	Seconds float64       `json:"seconds"`
	Rounds  int64         `json:"rounds,omitempty"`

	Records loadRecords     `json:"records"`
	State   loadDeviceState `json:"device_state"`

	Syncs          int64 `json:"syncs"`
	Watches        int64 `json:"watches"`
	OfflinePeriods int64 `json:"offline_periods"`
	OfflineSkips   int64 `json:"offline_skips"`

	RecordsPerSec float64        `json:"records_per_sec"`
	CallsPerSec   float64        `json:"calls_per_sec"`
	RPCs          []rpcRow       `json:"rpcs"`
	Actions       []rpcRow       `json:"actions"`
	ErrorsByCode  map[string]int `json:"errors_by_code"`
	ActionErrors  map[string]int `json:"action_errors"`
	RateLimited   int64          `json:"rate_limited"`

	Drain   loadPhase `json:"drain"`
	RSS     loadRSS   `json:"server_rss"`
	Revoked int       `json:"revoked,omitempty"`
}

// loadRecords counts what the devices wrote.
type loadRecords struct {
	Created         int64 `json:"created"` // customers + visits + surgery supports
	Customers       int64 `json:"customers"`
	Visits          int64 `json:"visits"`
	SurgerySupports int64 `json:"surgery_supports"`
	Edits           int64 `json:"edits"`
	Photos          int64 `json:"photos"`
}

// loadDeviceState sums the devices' Status after the drain.
type loadDeviceState struct {
	OutboxLeft    int `json:"outbox_left"`
	Rejections    int `json:"rejections"`
	Conflicts     int `json:"conflicts"`
	PhotosPending int `json:"photos_pending"`
	PhotosFailed  int `json:"photos_failed"`
}

// loadPhase sums up the setup or the drain.
type loadPhase struct {
	Seconds     float64        `json:"seconds"`
	Calls       int            `json:"calls"`
	Errors      int            `json:"errors"`
	RateLimited int64          `json:"rate_limited"`
	Codes       map[string]int `json:"errors_by_code,omitempty"`
}

func phaseOf(s *loadStats, d time.Duration) loadPhase {
	calls, failed := s.calls()
	s.mu.Lock()
	defer s.mu.Unlock()
	return loadPhase{Seconds: d.Seconds(), Calls: calls, Errors: failed, RateLimited: s.limited.Load(), Codes: maps.Clone(s.codes)}
}

// fill takes the counters and the run phase's measures.
func (s *loadSummary) fill(l *loadRun, st *loadStats) {
	c := &l.count
	s.Seconds, s.Rounds = s.Elapsed.Seconds(), c.rounds.Load()
	s.Records = loadRecords{Customers: c.customers.Load(), Visits: c.visits.Load(), SurgerySupports: c.surgeries.Load(),
		Edits: c.edits.Load(), Photos: c.photos.Load()}
	s.Records.Created = s.Records.Customers + s.Records.Visits + s.Records.SurgerySupports
	s.Syncs, s.Watches, s.OfflinePeriods, s.OfflineSkips = c.syncs.Load(), c.watches.Load(), c.offlinePeriods.Load(), c.offlineSkips.Load()
	calls, _ := st.calls()
	secs := max(s.Seconds, 1e-3)
	s.RecordsPerSec, s.CallsPerSec = float64(s.Records.Visits+s.Records.SurgerySupports+s.Records.Edits)/secs, float64(calls)/secs
	st.mu.Lock()
	defer st.mu.Unlock()
	s.RPCs, s.Actions, s.ErrorsByCode, s.RateLimited = rows(st.rpcs), rows(st.ops), maps.Clone(st.codes), st.limited.Load()
	s.ActionErrors = maps.Clone(st.fails)
}

// failedActions counts the device actions that failed during the run.
func (s *loadSummary) failedActions() int {
	n := 0
	for _, v := range s.ActionErrors {
		n += v
	}
	return n
}

// readDevices sums the devices' state after the drain.
func (s *loadSummary) readDevices(ctx context.Context, l *loadRun) error {
	for _, d := range l.devices {
		st, err := d.c.Status(ctx)
		if err != nil {
			return fmt.Errorf("device %d: %w", d.n, err)
		}
		s.State.OutboxLeft += st.OutboxDepth
		s.State.Rejections += st.Rejections
		s.State.Conflicts += st.Conflicts
		s.State.PhotosPending += st.PhotoQueue
		s.State.PhotosFailed += st.PhotosFailed
	}
	return nil
}

// print writes the summary as a table, or as JSON.
func (s *loadSummary) print(w io.Writer, asJSON bool) error {
	if asJSON {
		return printJSONValue(w, s)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	s.printHead(tw)
	printRows(tw, "RPC", s.RPCs)
	printRows(tw, "action", s.Actions)
	s.printTail(tw)
	return tw.Flush()
}

func (s *loadSummary) printHead(w io.Writer) {
	fmt.Fprintf(w, "fieldsync load %s: %d devices (%d per user) in region %s, mix %s\n", s.Run, s.Devices, s.PerUser, s.Region, s.Mix)
	fmt.Fprintf(w, "setup\t%.1fs, %d calls, %d errors, %d rate-limited and retried\n", s.Setup.Seconds, s.Setup.Calls, s.Setup.Errors, s.Setup.RateLimited)
	run := fmt.Sprintf("%.1fs", s.Seconds)
	if s.Rounds > 0 {
		run += fmt.Sprintf(", %d round(s)", s.Rounds)
	}
	fmt.Fprintf(w, "run\t%s, %d syncs, %d watches, %d offline periods (%d actions offline)\n", run, s.Syncs, s.Watches, s.OfflinePeriods, s.OfflineSkips)
	r := s.Records
	fmt.Fprintf(w, "records\t%d created (%d customers at setup, %d visits, %d surgery supports), %d edits, %d photos\n",
		r.Created, r.Customers, r.Visits, r.SurgerySupports, r.Edits, r.Photos)
	d := s.State
	fmt.Fprintf(w, "after drain\toutbox left %d, rejections %d, conflicts %d, photos pending %d, photos failed %d\n",
		d.OutboxLeft, d.Rejections, d.Conflicts, d.PhotosPending, d.PhotosFailed)
	fmt.Fprintf(w, "throughput\t%.1f writes/s, %.1f calls/s\n\n", s.RecordsPerSec, s.CallsPerSec)
}

func printRows(w io.Writer, title string, rs []rpcRow) {
	fmt.Fprintf(w, "%s\tcalls\terrors\tp50\tp99\tmax\n", title)
	for _, r := range rs {
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%s\n", r.Name, r.Count, r.Errors, msText(r.P50ms), msText(r.P99ms), msText(r.MaxMs))
	}
	fmt.Fprintln(w)
}

func (s *loadSummary) printTail(w io.Writer) {
	fmt.Fprintf(w, "errors by code\t%s (RPCs); %s (actions)\n", codesText(s.ErrorsByCode), codesText(s.ActionErrors))
	fmt.Fprintf(w, "rate limited\t%d ResourceExhausted answers (devices waited for the server's hint, the SDK retried)\n", s.RateLimited)
	fmt.Fprintf(w, "drain\t%.1fs, %d calls, %d errors (%s)\n", s.Drain.Seconds, s.Drain.Calls, s.Drain.Errors, codesText(s.Drain.Codes))
	if r := s.RSS; r.PID > 0 {
		fmt.Fprintf(w, "server RSS\tpid %d: %.0f MB before setup, %.0f MB at start, peak %.0f MB, %.0f MB at end\n", r.PID, r.BeforeMB, r.StartMB, r.PeakMB, r.EndMB)
		if r.RunSec > 0 {
			fmt.Fprintf(w, "CPU in run\tserver %.1fs (%.0f%% of one core), load generator %.1fs (%.0f%%), over %.1fs\n",
				r.ServerCPUSec, 100*r.ServerCPUSec/r.RunSec, r.LoadCPUSec, 100*r.LoadCPUSec/r.RunSec, r.RunSec)
		}
		if r.RoundSec > 0 {
			fmt.Fprintf(w, "CPU in rounds	server %.2fs (%.2f ms per device sync), load generator %.2fs (%.2f ms per device sync), over %.1fs\n",
				r.RoundServerCPUSec, r.ServerCPUPerSyncMs, r.RoundLoadCPUSec, r.LoadCPUPerSyncMs, r.RoundSec)
		}
		if r.SyncsSec > 0 {
			fmt.Fprintf(w, "CPU to last sync	server %.2fs, load generator %.2fs, over %.1fs (receipts still in flight left out)\n",
				r.SyncsServerCPUSec, r.SyncsLoadCPUSec, r.SyncsSec)
		}
	} else {
		fmt.Fprintf(w, "server RSS\t%s\n", r.Unavailable)
	}
	if s.Revoked > 0 {
		fmt.Fprintf(w, "cleanup\t%d devices revoked\n", s.Revoked)
	}
}

// msText prints milliseconds as "850ms" or "12.3s".
func msText(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.1fs", v/1000)
	}
	return fmt.Sprintf("%.1fms", v)
}

// codesText is "none" or "resource_exhausted 12, unavailable 3".
func codesText(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
