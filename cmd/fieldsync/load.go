package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// loadConfig is what `fieldsync load` was asked to do.
type loadConfig struct {
	conn
	devices, perUser int
	duration         time.Duration
	mix              loadMix
	offline          float64       // share of its time a device spends offline
	offlinePeriod    time.Duration // mean length of one offline period
	photoSize        int64         // bytes per photo; 0: surgery supports without photos
	concurrency      int           // devices acting at once; 0: no limit
	think            time.Duration // mean pause between a device's actions
	watchFor         time.Duration // length of one watch stint
	rounds           int           // push5-pull rounds; 0: while --duration lasts
	deviceTimeout    time.Duration // a device's wait for an answer, and for a reachable server
	region           string        // existing region id; "": create one
	serverPID        int
	dataDir          string
	storeDir         string
	cpuProfile       string // --cpuprofile: the load generator's own CPU profile of the run
	cleanup, json    bool
}

// loadUsage is the command's help, before the flags.
const loadUsage = `usage: fieldsync load [flags]

Enrolls --devices devices through the admin API (FIELDSYNC_TOKEN: an admin's
token), each with its own local store, and drives them against --server for
--duration with a mix of actions; then prints throughput, latencies per RPC,
errors by code and, for a local server, its memory (RSS).

Mixes (--mix): a preset or weights such as visit=40,surgery=5,edit=20,pull=25,watch=10
` + loadPresetHelp + `
Devices are named "fieldsync-load <run> #<n>" (users "load <run> rep <n>") so
they can be found with 'fieldsync admin devices'; --cleanup revokes them.
`

// registerLoadFlags adds the command's flags to fs, filling cfg.
func registerLoadFlags(fs *flag.FlagSet, cfg *loadConfig) (mix, photos *string) {
	cfg.conn.register(fs)
	fs.IntVar(&cfg.devices, "devices", 20, "devices to enroll and drive")
	fs.IntVar(&cfg.perUser, "devices-per-user", 2, "devices per user (a user's devices share and edit the same records)")
	fs.DurationVar(&cfg.duration, "duration", 30*time.Second, "how long to drive the devices (push5-pull: at least one round)")
	mix = fs.String("mix", "field", "a preset (field, push5-pull, read) or weights: visit=40,surgery=5,edit=20,pull=25,watch=10")
	fs.Float64Var(&cfg.offline, "offline", 0.2, "share of the time each device is offline (0 to 0.95): it writes locally and syncs when back")
	fs.DurationVar(&cfg.offlinePeriod, "offline-period", 10*time.Second, "mean length of one offline period")
	photos = fs.String("photos", "128KiB", "size of each surgery-support photo (B, KiB, MiB); 0: no photos")
	fs.IntVar(&cfg.concurrency, "concurrency", 0, "devices acting at once (0: no limit); setup uses at most 16 workers")
	fs.DurationVar(&cfg.think, "think", time.Second, "mean pause between two actions of a device")
	fs.IntVar(&cfg.rounds, "rounds", 0, "push5-pull: run exactly this many rounds, whatever --duration (0: rounds while --duration lasts, at least one)")
	fs.DurationVar(&cfg.deviceTimeout, "device-timeout", 10*time.Second, "how long a device waits for the server to start answering a call, and keeps retrying before Sync gives up as unreachable (the SDK's defaults: 10s)")
	fs.DurationVar(&cfg.watchFor, "watch-for", 10*time.Second, "how long one watch action keeps the Watch stream open")
	fs.StringVar(&cfg.region, "region", "", "region id for the users (default: a new region per run)")
	fs.IntVar(&cfg.serverPID, "server-pid", 0, "pid of a local server, to report its RSS")
	fs.StringVar(&cfg.dataDir, "data-dir", "", "data dir of a local server: its pid is read from fieldsyncd.lock there")
	fs.StringVar(&cfg.storeDir, "store-dir", "", "where the device stores go (default: a temp dir in /dev/shm when there is one, else the system's, removed at the end)")
	fs.BoolVar(&cfg.cleanup, "cleanup", false, "revoke the devices of the run at the end")
	fs.BoolVar(&cfg.json, "json", false, "print the summary as JSON")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write the load generator's own CPU profile of the run to this file (push5-pull: of the rounds' syncs only), for go tool pprof")
	return mix, photos
}

// parseLoadFlags parses and validates the command line.
func parseLoadFlags(args []string, stderr io.Writer) (*loadConfig, error) {
	cfg := &loadConfig{}
	fs := newFlags("load", stderr)
	mix, photos := registerLoadFlags(fs, cfg)
	usage := fs.Usage
	fs.Usage = func() { fmt.Fprint(stderr, loadUsage); usage() }
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: fieldsync load takes no arguments (got %q)", errUsage, fs.Arg(0))
	}
	var err error
	if cfg.mix, err = parseMix(*mix); err != nil {
		return nil, err
	}
	if cfg.photoSize, err = parseSize(*photos); err != nil {
		return nil, fmt.Errorf("--photos: %w", err)
	}
	return cfg, cfg.validate()
}

// validate checks the flags' values, naming the flag at fault.
func (c *loadConfig) validate() error {
	var errs []error
	check := func(bad bool, format string, args ...any) {
		if bad {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.devices < 1 || c.devices > 100000, "--devices: %d: want 1 to 100000", c.devices)
	check(c.perUser < 1 || c.perUser > 10, "--devices-per-user: %d: want 1 to 10", c.perUser)
	check(c.duration <= 0, "--duration: %v: must be positive", c.duration)
	check(c.offline < 0 || c.offline > 0.95, "--offline: %g: want 0 to 0.95", c.offline)
	check(c.offline > 0 && c.offlinePeriod <= 0, "--offline-period: %v: must be positive", c.offlinePeriod)
	check(c.photoSize < 0 || c.photoSize > 64<<20, "--photos: %d bytes: want 0 to 64 MiB", c.photoSize)
	check(c.concurrency < 0, "--concurrency: %d: must not be negative", c.concurrency)
	check(c.think < 0, "--think: %v: must not be negative", c.think)
	check(c.deviceTimeout <= 0, "--device-timeout: %v: must be positive", c.deviceTimeout)
	check(c.watchFor <= 0, "--watch-for: %v: must be positive", c.watchFor)
	check(c.rounds < 0, "--rounds: %d: must not be negative", c.rounds)
	check(c.rounds > 0 && c.mix.burst == 0, "--rounds: only with --mix push5-pull")
	check(c.serverPID < 0, "--server-pid: %d: must not be negative", c.serverPID)
	check(c.serverPID > 0 && c.dataDir != "", "--server-pid and --data-dir: give one of them")
	check(c.token == "", "--token: an admin's token is needed (or set FIELDSYNC_TOKEN)")
	check(!strings.HasPrefix(c.server, "http://") && !strings.HasPrefix(c.server, "https://"), "--server: %q: want an http:// or https:// URL", c.server)
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", errUsage, errors.Join(errs...))
	}
	return nil
}

// parseSize reads "128KiB", "2MiB", "500KB", "4096" or "0".
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"KB", 1000}, {"MB", 1000 * 1000}, {"B", 1}}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q: want a size such as 128KiB, 2MiB or 0", s)
	}
	return n * mult, nil
}

// runLoad runs `fieldsync load`.
func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseLoadFlags(args, stderr)
	if err != nil {
		return err
	}
	l, err := newLoad(cfg, stderr)
	if err != nil {
		return err
	}
	defer l.close()
	sum, err := l.run(ctx)
	if sum == nil {
		return err
	}
	if perr := sum.print(stdout, cfg.json); perr != nil && err == nil {
		err = perr
	}
	if n := sum.failedActions(); n > 0 && err == nil {
		err = fmt.Errorf("%d device actions failed (see the summary)", n)
	}
	return err
}

// storeDir returns the folder for the device stores and how to remove it.
func (c *loadConfig) openStoreDir() (string, func(), error) {
	if c.storeDir != "" {
		return c.storeDir, func() {}, os.MkdirAll(c.storeDir, 0o700)
	}
	dir, err := os.MkdirTemp(storeParent(), "fieldsync-load-")
	if err != nil {
		return "", nil, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// storeParent is where the default store dir goes: a RAM-backed /dev/shm
// when there is one, so the devices' SQLite commits cost no fsync of the
// machine's disk (the devices' own durability is not what a load test
// sizes; each device still commits every write and pulled page); the
// system's temp dir otherwise.
func storeParent() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if f, err := os.CreateTemp("/dev/shm", "fieldsync-load-probe-"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "/dev/shm"
		}
	}
	return ""
}
