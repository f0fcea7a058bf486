package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// setupWorkers bounds the users set up at once: the admin token's calls
// in flight are capped by the server (32 by default).
const setupWorkers = 16

// maxLimitedRetries bounds the retries of one setup call the server
// keeps refusing with ResourceExhausted.
const maxLimitedRetries = 50

// loadRun is one run of the load generator: its devices, their stores
// and what they measured.
type loadRun struct {
	cfg       *loadConfig
	id        string // names the run's region, users and devices
	stderr    io.Writer
	dir       string
	removeDir func()
	stats     atomic.Pointer[loadStats] // the current phase's
	admin     fieldsyncv1connect.AdminServiceClient
	identity  fieldsyncv1connect.IdentityServiceClient
	region    string
	sem       chan struct{} // --concurrency; nil: no limit
	count     loadCounters
	rss       *rssWatch  // set by run
	prof      cpuProfile // --cpuprofile

	mu      sync.Mutex
	devices []*loadDevice
}

// loadUser is one user of the run and the customer its devices visit.
type loadUser struct {
	n            int
	id, customer string
}

func newLoad(cfg *loadConfig, stderr io.Writer) (*loadRun, error) {
	dir, remove, err := cfg.openStoreDir()
	if err != nil {
		return nil, fmt.Errorf("--store-dir: %w", err)
	}
	l := &loadRun{cfg: cfg, id: time.Now().UTC().Format("20060102-150405"), stderr: stderr, dir: dir, removeDir: remove,
		rss: &rssWatch{}, prof: cpuProfile{path: cfg.cpuProfile}}
	l.stats.Store(newLoadStats())
	hc := l.httpClient()
	l.admin = fieldsyncv1connect.NewAdminServiceClient(hc, cfg.baseURL(), cfg.options()...)
	l.identity = fieldsyncv1connect.NewIdentityServiceClient(hc, cfg.baseURL(), cfg.options()...)
	if cfg.concurrency > 0 {
		l.sem = make(chan struct{}, cfg.concurrency)
	}
	return l, nil
}

// httpClient is a client like the CLI's whose calls are measured.
func (l *loadRun) httpClient() *measuredHTTP {
	hc := httpClient(l.cfg.grpc)
	tr := &measuredTransport{next: hc.Transport, stats: &l.stats}
	hc.Transport = tr
	return &measuredHTTP{Client: hc, tr: tr}
}

// measuredHTTP is an HTTP client with its measuring transport at hand.
type measuredHTTP struct {
	*http.Client
	tr *measuredTransport
}

// close closes the device stores and removes them unless --store-dir.
func (l *loadRun) close() {
	for _, d := range l.devices {
		d.c.Close()
	}
	l.removeDir()
}

// setup creates the region (unless --region), the users and their
// devices, each enrolled, opened on its own store and synced once.
func (l *loadRun) setup(ctx context.Context) error {
	l.region = l.cfg.region
	if l.region == "" {
		var res *connect.Response[fieldsyncv1.CreateRegionResponse]
		err := l.limited(ctx, func() (err error) {
			res, err = l.admin.CreateRegion(ctx, connect.NewRequest(&fieldsyncv1.CreateRegionRequest{Name: "load " + l.id}))
			return err
		})
		if err != nil {
			return fmt.Errorf("create region: %w", err)
		}
		l.region = res.Msg.GetRegion().GetId()
	}
	users := (l.cfg.devices + l.cfg.perUser - 1) / l.cfg.perUser
	bar := newLoadBar(l.stderr, "setup", int64(l.cfg.devices))
	defer bar.finish()
	return l.parallel(ctx, users, l.setupWorkers(), func(ctx context.Context, u int) error {
		return l.setupUser(ctx, u+1, bar)
	})
}

// setupWorkers is how many users are set up at once: --concurrency, at
// most setupWorkers.
func (l *loadRun) setupWorkers() int {
	if l.cfg.concurrency > 0 {
		return min(l.cfg.concurrency, setupWorkers)
	}
	return setupWorkers
}

// setupUser creates user n and its devices; the first device records
// the customer the user's devices visit.
func (l *loadRun) setupUser(ctx context.Context, n int, bar *loadBar) error {
	u := &loadUser{n: n, customer: fmt.Sprintf("load-%s-cust-%d", l.id, n)}
	err := l.limited(ctx, func() error {
		res, err := l.admin.CreateUser(ctx, connect.NewRequest(&fieldsyncv1.CreateUserRequest{
			DisplayName: fmt.Sprintf("load %s rep %d", l.id, n), Role: fieldsyncv1.Role_ROLE_REP, RegionId: l.region}))
		if err == nil {
			u.id = res.Msg.GetUser().GetId()
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create user %d: %w", n, err)
	}
	for i := 0; i < l.cfg.perUser; i++ {
		dn := (n-1)*l.cfg.perUser + i + 1
		if dn > l.cfg.devices {
			break
		}
		if err := l.setupDevice(ctx, u, dn, i == 0); err != nil {
			return fmt.Errorf("device %d: %w", dn, err)
		}
		bar.add(1)
	}
	return nil
}

// setupDevice enrolls device n of user u, opens its store and syncs it.
func (l *loadRun) setupDevice(ctx context.Context, u *loadUser, n int, first bool) error {
	token, id, err := l.enroll(ctx, u, n)
	if err != nil {
		return err
	}
	hc := l.httpClient()
	hc.tr.next.(*http.Transport).ResponseHeaderTimeout = l.cfg.deviceTimeout
	c, err := fieldsync.Open(ctx, filepath.Join(l.dir, fmt.Sprintf("device-%05d.db", n)),
		fieldsync.WithServer(l.cfg.baseURL()), fieldsync.WithToken(token), fieldsync.WithHTTPClient(hc.Client),
		fieldsync.WithProtocol(l.protocol()), fieldsync.WithUnreachableAfter(l.cfg.deviceTimeout),
		fieldsync.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return err
	}
	d := &loadDevice{n: n, id: id, user: u, c: c, tr: hc.tr, rng: rand.New(rand.NewPCG(uint64(n), uint64(time.Now().UnixNano())))}
	l.mu.Lock()
	l.devices = append(l.devices, d)
	l.mu.Unlock()
	if first {
		if err := d.putCustomer(ctx, l); err != nil {
			return err
		}
	}
	return c.Sync(ctx)
}

func (l *loadRun) protocol() fieldsync.Protocol {
	if l.cfg.grpc {
		return fieldsync.ProtocolGRPC
	}
	return fieldsync.ProtocolConnect
}

// enroll issues a code for u and exchanges it for device n's token.
func (l *loadRun) enroll(ctx context.Context, u *loadUser, n int) (token, id string, err error) {
	var code string
	err = l.limited(ctx, func() error {
		res, err := l.admin.IssueEnrollmentCode(ctx, connect.NewRequest(&fieldsyncv1.IssueEnrollmentCodeRequest{UserId: u.id, Ttl: durationpb.New(time.Hour)}))
		if err == nil {
			code = res.Msg.GetEnrollmentCode()
		}
		return err
	})
	if err != nil {
		return "", "", fmt.Errorf("enrollment code: %w", err)
	}
	err = l.limited(ctx, func() error {
		res, err := l.identity.Enroll(ctx, connect.NewRequest(&fieldsyncv1.EnrollRequest{
			EnrollmentCode: code, DeviceName: l.deviceName(n), Platform: "fieldsync-load"}))
		if err == nil {
			token, id = res.Msg.GetDeviceToken(), res.Msg.GetDeviceId()
		}
		return err
	})
	if err != nil {
		return "", "", fmt.Errorf("enroll: %w", err)
	}
	return token, id, nil
}

// deviceName is how the run's device n is named on the server.
func (l *loadRun) deviceName(n int) string { return fmt.Sprintf("fieldsync-load %s #%d", l.id, n) }

// limited runs call, again while the server answers ResourceExhausted:
// the measuring transport counts each such answer and holds the next
// call back for the server's Retry-After hint.
func (l *loadRun) limited(ctx context.Context, call func() error) error {
	for i := 0; ; i++ {
		err := call()
		if connect.CodeOf(err) != connect.CodeResourceExhausted || i == maxLimitedRetries || ctx.Err() != nil {
			return err
		}
	}
}

// parallel runs fn(0…n-1) on at most workers goroutines, stopping at
// the first error, which it returns.
func (l *loadRun) parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				if err := fn(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

// revoke revokes every device of the run (--cleanup) and returns how
// many it revoked.
func (l *loadRun) revoke(ctx context.Context) (int, error) {
	var n atomic.Int64
	err := l.parallel(ctx, len(l.devices), setupWorkers, func(ctx context.Context, i int) error {
		err := l.limited(ctx, func() error {
			_, err := l.admin.RevokeDevice(ctx, connect.NewRequest(&fieldsyncv1.RevokeDeviceRequest{DeviceId: l.devices[i].id}))
			return err
		})
		if err == nil {
			n.Add(1)
		}
		return err
	})
	return int(n.Load()), err
}

// sleepCtx sleeps for d or until ctx ends (returning its error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
