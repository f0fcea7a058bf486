package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// serverLockFile is the file in fieldsyncd's data dir that holds its pid
// (internal/daemon.APILockFile).
const serverLockFile = "fieldsyncd.lock"

// rssWatch samples a local server's resident memory from /proc while
// the run lasts: at the start of the load, its peak and at the end.
type rssWatch struct {
	pid  int
	quit chan struct{}
	done chan struct{}

	mu          sync.Mutex
	before, run int64 // KiB: before the setup, when the load started
	peak, last  int64 // KiB, since the load started
	err         error

	// CPU time when the load started: the server's (from /proc) and this
	// process's (the load generator, which runs the devices).
	markedAt           time.Time
	serverCPU, selfCPU time.Duration
	cpuErr             error

	// push5-pull: CPU and wall time inside the rounds only (each device's
	// Sync, not the local writes before it), summed over the rounds.
	roundAt                      time.Time
	roundServer0, roundSelf0     time.Duration
	roundServer, roundSelf, wall time.Duration
	rounds                       int
	// The same up to the round's last sync, before the receipts the SDK
	// sends in the background are all answered.
	syncsServer, syncsSelf, syncsWall time.Duration
}

// loadRSS is the server memory the summary reports, in MB.
type loadRSS struct {
	PID      int     `json:"pid,omitempty"`
	BeforeMB float64 `json:"before_setup_mb,omitempty"`
	StartMB  float64 `json:"start_mb,omitempty"`
	// CPU seconds each process used during the load (setup and drain
	// excluded): the server's share of the machine beside the devices'.
	ServerCPUSec float64 `json:"server_cpu_sec,omitempty"`
	LoadCPUSec   float64 `json:"load_generator_cpu_sec,omitempty"`
	RunSec       float64 `json:"run_sec,omitempty"`
	// push5-pull: the same inside the rounds only (from the moment every
	// device starts its Sync until the last one ends), and per device sync.
	RoundServerCPUSec  float64 `json:"round_server_cpu_sec,omitempty"`
	RoundLoadCPUSec    float64 `json:"round_load_generator_cpu_sec,omitempty"`
	RoundSec           float64 `json:"round_sec,omitempty"`
	ServerCPUPerSyncMs float64 `json:"server_cpu_per_sync_ms,omitempty"`
	LoadCPUPerSyncMs   float64 `json:"load_generator_cpu_per_sync_ms,omitempty"`
	// The same until the last sync of each round ended (the receipts
	// still in flight then left out).
	SyncsServerCPUSec float64 `json:"syncs_server_cpu_sec,omitempty"`
	SyncsLoadCPUSec   float64 `json:"syncs_load_generator_cpu_sec,omitempty"`
	SyncsSec          float64 `json:"syncs_sec,omitempty"`
	PeakMB            float64 `json:"peak_mb,omitempty"`
	EndMB             float64 `json:"end_mb,omitempty"`
	Unavailable       string  `json:"unavailable,omitempty"`
}

// newRSSWatch starts sampling the server of --server-pid or --data-dir;
// without either it samples nothing.
func newRSSWatch(cfg *loadConfig) *rssWatch {
	w := &rssWatch{pid: cfg.serverPID, quit: make(chan struct{}), done: make(chan struct{})}
	if cfg.dataDir != "" {
		w.pid, w.err = lockPID(cfg.dataDir)
	}
	if w.pid == 0 {
		close(w.done)
		return w
	}
	w.before, w.err = readRSS(w.pid)
	go w.loop()
	return w
}

// lockPID reads the pid fieldsyncd wrote into its data dir's lock file.
func lockPID(dataDir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, serverLockFile))
	if err != nil {
		return 0, fmt.Errorf("server pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("server pid: %s holds %q, not a pid", serverLockFile, strings.TrimSpace(string(b)))
	}
	return pid, nil
}

// readRSS reads VmRSS (KiB) from /proc/<pid>/status.
func readRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("server rss: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("server rss: no VmRSS in /proc/%d/status", pid)
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times (100 on
// every Linux the project runs on).
const clockTicks = 100

// readCPU reads a process's user and system CPU time from /proc/<pid>/stat.
func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("server cpu: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// fields count from after its closing one.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("server cpu: /proc/%d/stat has no utime and stime", pid)
	}
	var ticks int64
	for _, s := range f[11:13] { // utime, stime: fields 14 and 15
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("server cpu: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// selfCPU is this process's user and system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (w *rssWatch) loop() {
	defer close(w.done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-w.quit:
			return
		case <-t.C:
			w.read()
		}
	}
}

// read takes one sample.
func (w *rssWatch) read() {
	kb, err := readRSS(w.pid)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.err = err
		return
	}
	w.last, w.peak = kb, max(w.peak, kb)
}

// mark notes the start of the load: the peak counts from here.
func (w *rssWatch) mark() {
	if w.pid == 0 {
		return
	}
	w.read()
	server, err := readCPU(w.pid)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.run, w.peak = w.last, w.last
	w.markedAt, w.serverCPU, w.selfCPU, w.cpuErr = time.Now(), server, selfCPU(), err
}

// roundStart notes the CPU times as a round's syncs start.
func (w *rssWatch) roundStart() {
	if w.pid == 0 {
		return
	}
	server, err := readCPU(w.pid)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.cpuErr = err
	}
	w.roundAt, w.roundServer0, w.roundSelf0 = time.Now(), server, selfCPU()
}

// syncsEnd adds the CPU and wall time since roundStart to the syncs'
// (the round's last sync ended; its receipts may still be in flight).
func (w *rssWatch) syncsEnd() {
	w.sinceRoundStart(func(server, self, wall time.Duration) {
		w.syncsServer += server
		w.syncsSelf += self
		w.syncsWall += wall
	})
}

// roundEnd adds the CPU and wall time since roundStart to the rounds'.
func (w *rssWatch) roundEnd() {
	w.sinceRoundStart(func(server, self, wall time.Duration) {
		w.roundServer += server
		w.roundSelf += self
		w.wall += wall
		w.rounds++
	})
}

// sinceRoundStart passes add the server's and this process's CPU time and
// the wall time since roundStart, under w.mu.
func (w *rssWatch) sinceRoundStart(add func(server, self, wall time.Duration)) {
	if w.pid == 0 {
		return
	}
	server, err := readCPU(w.pid)
	self := selfCPU()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.cpuErr = err
	}
	add(server-w.roundServer0, self-w.roundSelf0, time.Since(w.roundAt))
}

// sample returns what was measured so far (the end being now); syncs is
// how many device syncs the rounds made.

func (w *rssWatch) sample(syncs int64) loadRSS {
	if w.pid == 0 {
		if w.err != nil {
			return loadRSS{Unavailable: w.err.Error()}
		}
		return loadRSS{Unavailable: "not measured: give --server-pid or --data-dir for a local server"}
	}
	w.read()
	server, err := readCPU(w.pid)
	w.mu.Lock()
	defer w.mu.Unlock()
	r := loadRSS{PID: w.pid, BeforeMB: mb(w.before), StartMB: mb(w.run), PeakMB: mb(w.peak), EndMB: mb(w.last)}
	if err == nil && w.cpuErr == nil && !w.markedAt.IsZero() {
		r.ServerCPUSec, r.LoadCPUSec = (server - w.serverCPU).Seconds(), (selfCPU() - w.selfCPU).Seconds()
		r.RunSec = time.Since(w.markedAt).Seconds()
	}
	if w.cpuErr == nil && w.rounds > 0 {
		r.RoundServerCPUSec, r.RoundLoadCPUSec, r.RoundSec = w.roundServer.Seconds(), w.roundSelf.Seconds(), w.wall.Seconds()
		r.SyncsServerCPUSec, r.SyncsLoadCPUSec, r.SyncsSec = w.syncsServer.Seconds(), w.syncsSelf.Seconds(), w.syncsWall.Seconds()
		if syncs > 0 {
			r.ServerCPUPerSyncMs = 1000 * r.RoundServerCPUSec / float64(syncs)
			r.LoadCPUPerSyncMs = 1000 * r.RoundLoadCPUSec / float64(syncs)
		}
	}
	if w.err != nil {
		r.Unavailable = w.err.Error()
	}
	return r
}

func (w *rssWatch) stop() {
	select {
	case <-w.done:
	default:
		close(w.quit)
		<-w.done
	}
}

func mb(kib int64) float64 { return float64(kib*1024) / 1e6 }
